# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import shlex
import subprocess

import pytest
from hypothesis import given, strategies as st

from ansible_collections.nomadic.qemu.plugins.plugin_utils._guest_hosts import (
    Hypervisor,
    HypervisorError,
    connection_vars,
    parse_hypervisors,
    unique_names,
)


@pytest.mark.parametrize('destination, user, host, port, name', [
    ('local', None, None, None, 'local'),
    ('hv1', None, 'hv1', None, 'hv1'),
    ('root@10.0.0.1', 'root', '10.0.0.1', None, '10.0.0.1'),
    ('admin@hv2.example.com:2222', 'admin', 'hv2.example.com', 2222, 'hv2.example.com'),
    ('[fd00::1]:22', None, 'fd00::1', 22, None),
])
def test_destinations(destination, user, host, port, name):
    if name is None:
        with pytest.raises(HypervisorError, match='name'):
            Hypervisor(destination)
        assert Hypervisor(destination, name='v6').host == host
        return
    hypervisor = Hypervisor(destination)
    assert (hypervisor.user, hypervisor.host, hypervisor.port, hypervisor.name) == (user, host, port, name)
    assert hypervisor.local == (destination == 'local')


@pytest.mark.parametrize('destination', ['', 'a b', 'u@', 'host:99999', 'host:port', 'ssh://host', 'a@b@c'])
def test_bad_destinations(destination):
    with pytest.raises(HypervisorError, match='hypervisors'):
        Hypervisor(destination)


def test_parse_entries():
    hv2 = {'ssh': 'admin@10.0.0.2:2200', 'name': 'hv2', 'state_dir': '/srv/vms', 'python': 'sudo -n python3'}
    hypervisors = parse_hypervisors(['local', 'root@hv1', hv2], state_dir='/var/lib/x')
    assert [h.name for h in hypervisors] == ['local', 'hv1', 'hv2']
    assert [h.state_dir for h in hypervisors] == ['/var/lib/x', '/var/lib/x', '/srv/vms']
    assert hypervisors[2].reader_command() == 'sudo -n python3 - /srv/vms'
    assert hypervisors[2].ssh_argv(['-F', '/c'], 5) == ['ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-F', '/c',
                                                        '-p', '2200', 'admin@10.0.0.2']
    assert Hypervisor('hv').reader_command() == 'python3 -'
    assert Hypervisor('hv', state_dir="/a b/c'd").reader_command() == "python3 - '/a b/c'\"'\"'d'"


@pytest.mark.parametrize('entries, message', [
    ([], 'empty'),
    (['hv1', 'root@hv1'], 'more than one hypervisor'),
    ([{'name': 'x'}], 'no ssh'),
    ([{'ssh': 'hv', 'port': 22}], 'unknown key port'),
    ([{'ssh': 'hv', 'state_dir': 'rel'}], 'not an absolute path'),
    ([42], 'neither'),
])
def test_parse_errors(entries, message):
    with pytest.raises(HypervisorError, match=message):
        parse_hypervisors(entries)


def test_resolve_address_asks_ssh():
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, b'user root\nhostname 10.213.1.2\nport 22\n', b'')

    assert Hypervisor('h1').resolve_address(['-F', '/c'], run=run) == '10.213.1.2'
    assert calls == [['ssh', '-G', '-F', '/c', 'h1']]
    assert Hypervisor('h1').resolve_address([], run=lambda argv, **kw: subprocess.CompletedProcess(argv, 255, b'', b'')) == 'h1'
    assert Hypervisor('local').resolve_address([]) == '127.0.0.1'


def _task(bound, guest_agent=False, state='running'):
    return {'name': 't', 'state': state, 'ports': {'ssh': {'host': 2222, 'guest': 22, 'host_address': bound}},
            'guest_agent': guest_agent, 'agent_socket': '/s/t/qga.sock' if guest_agent else None}


def test_connection_vars_by_binding():
    local, remote = Hypervisor('local'), Hypervisor('root@hv1:2200')
    assert connection_vars(_task(''), local, '127.0.0.1', 'ssh', False, [], False) == {'ansible_host': '127.0.0.1', 'ansible_port': 2222}
    assert connection_vars(_task('127.0.0.1'), local, '127.0.0.1', 'ssh', True, [], False) == {'ansible_host': '127.0.0.1', 'ansible_port': 2222}
    assert connection_vars(_task(''), remote, '10.0.0.5', 'ssh', False, [], False) == {'ansible_host': '10.0.0.5', 'ansible_port': 2222}
    assert connection_vars(_task('0.0.0.0'), remote, '10.0.0.5', 'ssh', False, [], False)['ansible_host'] == '10.0.0.5'
    assert connection_vars(_task('192.168.1.4'), remote, '10.0.0.5', 'ssh', True, [], False) == {'ansible_host': '192.168.1.4', 'ansible_port': 2222}
    assert connection_vars(_task('127.0.0.1'), remote, '10.0.0.5', 'ssh', False, [], False)['_unreachable'] is True
    proxied = connection_vars(_task('127.0.0.1'), remote, '10.0.0.5', 'ssh', True, ['-F', '/my ssh/config'], False)
    assert proxied['ansible_host'] == '127.0.0.1'
    # What the ssh connection plugin does with it: split it, and give ssh the ProxyCommand, which a shell runs.
    option, value = shlex.split(proxied['ansible_ssh_common_args'])
    assert option == '-o' and value.startswith('ProxyCommand=')
    expected = ['ssh', '-o', 'BatchMode=yes', '-F', '/my ssh/config', '-W', '%h:%p', '-p', '2200', 'root@hv1']
    assert shlex.split(value[len('ProxyCommand='):]) == expected
    assert connection_vars(_task('', state='stopped'), remote, '10.0.0.5', 'ssh', False, [], False) == {}
    assert connection_vars(_task(''), remote, '10.0.0.5', 'web', False, [], False) == {}


def test_guest_agent_vars():
    remote = Hypervisor('root@hv1', python='/usr/bin/python3.11')
    found = connection_vars(_task('', guest_agent=True), remote, 'hv1', 'ssh', False, ['-F', '/c'], True)
    assert found['ansible_qga_socket'] == '/s/t/qga.sock' and found['ansible_qga_hypervisor'] == 'root@hv1'
    assert found['ansible_qga_ssh_args'] == ['-F', '/c'] and found['ansible_qga_hypervisor_python'] == '/usr/bin/python3.11'
    assert found['ansible_connection'] == 'nomadic.qemu.qga'
    found = connection_vars(_task('', guest_agent=True, state='stopped'), Hypervisor('local'), '127.0.0.1', 'ssh', False, [], False)
    assert found == {'ansible_qga_socket': '/s/t/qga.sock', 'ansible_qga_hypervisor': 'local'}


def test_unique_names():
    assert unique_names(['a', 'b'], ['h1', 'h2']) == (['a', 'b'], set())
    assert unique_names(['a', 'a', 'b'], ['h1', 'h2', 'h2']) == (['a@h1', 'a@h2', 'b'], {'a'})
    with pytest.raises(HypervisorError, match='same hypervisor'):
        unique_names(['a', 'a'], ['h1', 'h1'])


@given(st.lists(st.tuples(st.sampled_from(['web', 'db', 'cache', 'web@h2']), st.sampled_from(['h1', 'h2', 'h3'])), unique=True))
def test_unique_names_are_unique_and_order_free(pairs):
    """Whatever the tasks, names are unique, and a task's name does not depend on the order hypervisors are read."""
    wanted = [name for name, _h in pairs]
    owners = [hypervisor for _n, hypervisor in pairs]
    try:
        names, _renamed = unique_names(wanted, owners)
    except HypervisorError:
        return
    assert len(set(names)) == len(names)
    again, _renamed = unique_names(wanted[::-1], owners[::-1])
    assert again == names[::-1]
