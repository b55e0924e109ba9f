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
    task_problem,
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


@pytest.mark.parametrize('destination', ['', 'a b', 'u@', 'host:99999', 'host:port', 'ssh://host', 'a@b@c', '-oProxyCommand=id'])
def test_bad_destinations(destination):
    with pytest.raises(HypervisorError, match='hypervisors'):
        Hypervisor(destination)


def test_parse_entries():
    hv2 = {'ssh': 'admin@10.0.0.2:2200', 'name': 'hv2', 'state_dir': '/srv/vms', 'python': 'sudo -n python3'}
    hypervisors = parse_hypervisors(['local', 'root@hv1', hv2], state_dir='/var/lib/x')
    assert [h.name for h in hypervisors] == ['local', 'hv1', 'hv2']
    assert [h.state_dir for h in hypervisors] == ['/var/lib/x', '/var/lib/x', '/srv/vms']
    assert hypervisors[2].reader_command() == 'sudo -n python3 -I - /srv/vms'
    expected = ['ssh', '-T', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-o', 'ControlPersist=no', '-F', '/c', '-p', '2200', 'admin@10.0.0.2']
    assert hypervisors[2].ssh_argv(['-F', '/c'], 5) == expected
    assert Hypervisor('hv').reader_command() == 'python3 -I -'
    assert Hypervisor('hv', state_dir="/a b/c'd").reader_command() == "python3 -I - '/a b/c'\"'\"'d'"


@pytest.mark.parametrize('entries, message', [
    ([], 'empty'),
    (['hv1', 'root@hv1'], 'more than one hypervisor'),
    ([{'name': 'x'}], 'no ssh'),
    ([{'ssh': 'hv', 'port': 22}], 'unknown key port'),
    ([{'ssh': 'hv', 'state_dir': 'rel'}], 'not an absolute path'),
    ([{'ssh': 'hv', 'state_dir': '~/vms'}], 'not an absolute path'),
    (['running'], 'share its group with the tasks that are running'),
    ([{'ssh': 'root@h', 'name': 'guest-agent'}], 'share its group'),
    (['hv-1', 'hv_1'], 'would share the group qemu_hv_1'),
    ([42], 'neither'),
])
def test_parse_errors(entries, message):
    with pytest.raises(HypervisorError, match=message):
        parse_hypervisors(entries)


def test_state_dir_is_never_expanded_on_the_controller():
    with pytest.raises(HypervisorError, match="state_dir '~/vms' is not an absolute path"):
        parse_hypervisors(['hv'], state_dir='~/vms')
    assert parse_hypervisors(['hv'], state_dir='/srv/vms')[0].reader_command() == 'python3 -I - /srv/vms'


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
    unreachable = connection_vars(_task('127.0.0.1'), remote, '10.0.0.5', 'ssh', False, [], False)
    assert unreachable['_unreachable'] is True and unreachable['ansible_host'] == 't.hv1.invalid'
    proxied = connection_vars(_task('127.0.0.1'), remote, '10.0.0.5', 'ssh', True, ['-F', '/my ssh/config', '-o', 'ControlPath=~/.ssh/cm-%C'], False)
    # A name of its own, which ssh never looks up: the ProxyCommand connects to the real address.
    assert proxied['ansible_host'] == 't.hv1.invalid' and proxied['ansible_port'] == 2222
    # What the ssh connection plugin does with it: split it, and give ssh the ProxyCommand, which a shell runs.
    option, value = shlex.split(proxied['ansible_ssh_common_args'])
    assert option == '-o' and value.startswith('ProxyCommand=')
    # OpenSSH expands %-tokens in a ProxyCommand: a % of the user's arguments is doubled, the port is %p.
    expected = ['ssh', '-o', 'BatchMode=yes', '-F', '/my ssh/config', '-o', 'ControlPath=~/.ssh/cm-%%C', '-W', '127.0.0.1:%p',
                '-p', '2200', 'root@hv1']
    assert shlex.split(value[len('ProxyCommand='):]) == expected
    # Stopped, or without the label: no SSH address, and a name that ssh cannot reach by mistake.
    assert connection_vars(_task('', state='stopped'), remote, '10.0.0.5', 'ssh', False, [], False) == {'ansible_host': 't.hv1.invalid'}
    assert connection_vars(_task(''), remote, '10.0.0.5', 'web', False, [], False) == {'ansible_host': 't.hv1.invalid'}


def test_proxied_guests_of_two_hypervisors_on_one_port_get_their_own_names():
    one, two = Hypervisor('root@hv1'), Hypervisor('root@hv2')
    first = connection_vars(_task('127.0.0.1'), one, 'hv1', 'ssh', True, [], False)
    second = connection_vars(_task('127.0.0.1'), two, 'hv2', 'ssh', True, [], False)
    # ansible's ssh plugin names its control socket after host, port and user: they must differ.
    assert first['ansible_port'] == second['ansible_port'] and first['ansible_host'] != second['ansible_host']


def test_task_problem():
    good = {'name': 'web', 'state': 'running', 'labels': {'a': 'b'}, 'ports': {'ssh': {'host': 22, 'host_address': ''}},
            'agent_socket': '/s/web/qga.sock'}
    assert task_problem(good) is None
    for change, message in [
        ({'name': '../x'}, 'task name'), ({'name': 'other-inventory-host\n'}, 'task name'), ({'state': 'crashed'}, 'state'),
        ({'labels': ['x']}, 'labels'), ({'labels': {'a': 1}}, 'labels'), ({'ports': []}, 'ports'),
        ({'ports': {'ssh': {'host': True}}}, 'port'), ({'ports': {'ssh': {'host': 70000}}}, 'port'),
        ({'agent_socket': 'rel'}, 'agent socket'),
    ]:
        assert message in task_problem(dict(good, **change)), change
    assert 'not a task' in task_problem(['web'])


def test_guest_agent_vars():
    remote = Hypervisor('root@hv1', python='/usr/bin/python3.11')
    found = connection_vars(_task('', guest_agent=True), remote, 'hv1', 'ssh', False, ['-F', '/c'], True)
    assert found['ansible_qga_socket'] == '/s/t/qga.sock' and found['ansible_qga_hypervisor'] == 'root@hv1'
    assert found['ansible_qga_ssh_args'] == ['-F', '/c'] and found['ansible_qga_hypervisor_python'] == '/usr/bin/python3.11'
    assert found['ansible_connection'] == 'nomadic.qemu.qga'
    found = connection_vars(_task('', guest_agent=True, state='stopped'), Hypervisor('local'), '127.0.0.1', 'ssh', False, [], False)
    assert found == {'ansible_host': 't.local.invalid', 'ansible_qga_socket': '/s/t/qga.sock', 'ansible_qga_hypervisor': 'local'}


def test_unique_names():
    assert unique_names(['a', 'b'], ['h1', 'h2']) == (['a', 'b'], set())
    assert unique_names(['a', 'a', 'b'], ['h1', 'h2', 'h2']) == (['a@h1', 'a@h2', 'b'], {'a'})
    with pytest.raises(HypervisorError, match='same hypervisor'):
        unique_names(['a', 'a'], ['h1', 'h1'])


@given(st.lists(st.tuples(st.sampled_from(['web', 'db', 'cache']), st.sampled_from(['h1', 'h2', 'h3'])), unique=True))
def test_unique_names_are_unique_and_order_free(pairs):
    """Whatever the tasks (one name per hypervisor, as task names are), names are unique and do not depend on order."""
    wanted = [name for name, _h in pairs]
    owners = [hypervisor for _n, hypervisor in pairs]
    names, _renamed = unique_names(wanted, owners)
    assert len(set(names)) == len(names)
    for name, hypervisor, given_name in zip(wanted, owners, names):
        assert given_name == (name if wanted.count(name) == 1 else '%s@%s' % (name, hypervisor))
    again, _renamed = unique_names(wanted[::-1], owners[::-1])
    assert again == names[::-1]
