# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of tests/hosts/hosts.py, the script that makes the test hosts (no root, no containers, no network)."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os

import pytest

HOSTS_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'hosts', 'hosts.py')


def _load():
    spec = importlib.util.spec_from_file_location('nomadic_qemu_test_hosts', HOSTS_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hosts = _load()


# --- names and addresses --------------------------------------------------------


def test_run_id_follows_the_real_path(tmp_path):
    (tmp_path / 'a').mkdir()
    os.symlink(str(tmp_path / 'a'), str(tmp_path / 'link'))
    assert hosts.run_id(str(tmp_path / 'a')) == hosts.run_id(str(tmp_path / 'link'))
    assert hosts.run_id(str(tmp_path / 'a')) != hosts.run_id(str(tmp_path / 'b'))
    assert len(hosts.run_id(str(tmp_path))) == 8


def test_names_fit_the_kernel_limit():
    assert hosts.host_names(3) == ['h1', 'h2', 'h3']
    assert hosts.netns_name('0123abcd', 'h2') == 'nqh-0123abcd-h2'
    assert hosts.veth_name('0123abcd', 'h999') == 'nq0123abcdh999'
    with pytest.raises(hosts.HostsError, match='longer than 15'):
        hosts.veth_name('0123abcd', 'h10000')


def test_slots_of_a_16_skip_the_first_24():
    slots = hosts.subnet_slots('10.213.0.0/16')
    assert len(slots) == 255
    assert str(slots[0]) == '10.213.1.0/24'
    assert hosts.slot_addresses(slots[0]) == ('10.213.1.1', '10.213.1.2')
    assert [str(slot) for slot in hosts.subnet_slots('10.9.8.0/24')] == ['10.9.8.0/24']


@pytest.mark.parametrize('subnet', ['10.213.0.0/25', 'fd00::/64', '10.0.0.0/7'])
def test_unusable_subnets(subnet):
    with pytest.raises(hosts.HostsError, match='--subnet'):
        hosts.subnet_slots(subnet)


def test_used_networks_and_free_slots():
    addresses = json.dumps([
        {'ifname': 'lo', 'addr_info': [{'family': 'inet', 'local': '127.0.0.1', 'prefixlen': 8}]},
        {'ifname': 'nqx', 'addr_info': [{'family': 'inet', 'local': '10.213.1.1', 'prefixlen': 30}]},
    ])
    routes = json.dumps([{'dst': 'default'}, {'dst': '10.213.3.0/24'}, {'dst': '10.213.5.7'}])
    used = hosts.used_networks(addresses, routes)
    assert ipaddress.ip_network('10.213.1.0/30') in used
    chosen = hosts.free_slots(hosts.subnet_slots('10.213.0.0/16'), used, 3)
    assert [str(slot) for slot in chosen] == ['10.213.2.0/24', '10.213.4.0/24', '10.213.6.0/24']
    with pytest.raises(hosts.HostsError, match='only 0 of the 1'):
        hosts.free_slots(hosts.subnet_slots('10.213.3.0/24'), used, 1)


# --- state ----------------------------------------------------------------------


def test_state_records_before_and_reloads(tmp_path):
    state = hosts.State(str(tmp_path))
    state.record('netns', name='n1')
    entry = state.record('nspawn', host='h1', merged='/m', pid=None)
    entry['pid'] = 42
    state.save()
    loaded = hosts.State.load(str(tmp_path))
    assert [item['kind'] for item in loaded.data['resources']] == ['netns', 'nspawn']
    assert loaded.resources('nspawn')[0]['pid'] == 42
    assert hosts.State.load(str(tmp_path / 'none')) is None
    (tmp_path / 'state.json').write_text('{')
    with pytest.raises(hosts.HostsError, match='not valid JSON'):
        hosts.State.load(str(tmp_path))


# --- mounts and cgroups -----------------------------------------------------------

MOUNTINFO = '''\
22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw
31 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
40 22 0:40 / /tmp/run\\040dir/h1/merged rw - overlay overlay rw,lowerdir=/r
'''

CGROUP = '''\
9:name=systemd:/
4:memory:/process_api/x
0::/outer
'''


def test_mount_points_unescape(tmp_path):
    path = tmp_path / 'mountinfo'
    path.write_text(MOUNTINFO)
    points = hosts.mount_points(str(path))
    assert '/tmp/run dir/h1/merged' in points
    assert hosts.mounts_under('/tmp/run dir', points) == ['/tmp/run dir/h1/merged']
    assert hosts.mounts_under('/tmp/run', points) == []


def test_cgroup_hierarchies(tmp_path):
    (tmp_path / 'mountinfo').write_text(MOUNTINFO)
    (tmp_path / 'cgroup').write_text(CGROUP)
    assert hosts.cgroup_hierarchies(str(tmp_path / 'mountinfo'), str(tmp_path / 'cgroup')) == [
        '/sys/fs/cgroup/memory/process_api/x', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified/outer']


def test_remove_cgroup_deepest_first(tmp_path):
    (tmp_path / 'g' / 'payload' / 'init.scope').mkdir(parents=True)
    (tmp_path / 'g' / 'supervisor').mkdir()
    hosts.remove_cgroup(str(tmp_path / 'g'))
    assert not (tmp_path / 'g').exists()
    hosts.remove_cgroup(str(tmp_path / 'g'))  # gone already: nothing to do


# --- what up writes ----------------------------------------------------------------

HOST = {'name': 'h1', 'address': '10.213.1.2', 'port': 22, 'user': 'root', 'key_type': 'ssh-ed25519', 'key': 'AAAAC3',
        'merged': '/run dir/h1/merged', 'netns': 'nqh-01234567-h1'}


def test_ssh_config_matches_name_and_address():
    text = hosts.ssh_config([HOST], '/run dir/id_ed25519', '/run dir/known_hosts')
    assert 'Host h1 10.213.1.2\n' in text
    assert '    IdentityFile "/run dir/id_ed25519"\n' in text
    assert '    UserKnownHostsFile "/run dir/known_hosts"\n' in text
    assert '    StrictHostKeyChecking yes\n' in text
    assert '    BatchMode yes\n' in text
    with pytest.raises(hosts.HostsError, match='double quotes'):
        hosts.ssh_config([HOST], '/a"b', '/k')


def test_known_hosts_lines():
    assert hosts.known_hosts_lines([HOST]) == '10.213.1.2,h1 ssh-ed25519 AAAAC3\n'


def test_nspawn_argv_enters_its_cgroups_first():
    argv = hosts.nspawn_argv(HOST, [('/src', '/dst')], ['/sys/fs/cgroup/unified/nqh-01234567-h1'])
    assert argv[:2] == ['sh', '-c']
    separator = argv.index('--')
    assert argv[4:separator] == ['/sys/fs/cgroup/unified/nqh-01234567-h1']
    nspawn = argv[separator + 1:]
    assert nspawn[0] == 'systemd-nspawn'
    for option in ('--keep-unit', '--register=no', '-b', '--network-namespace-path=/run/netns/nqh-01234567-h1',
                   '--bind-ro=/src:/dst'):
        assert option in nspawn
    assert nspawn[nspawn.index('-D') + 1] == '/run dir/h1/merged'
    assert nspawn[nspawn.index('-M') + 1] == 'h1'


def test_parse_bind(tmp_path):
    assert hosts.parse_bind(str(tmp_path)) == (str(tmp_path), str(tmp_path))
    assert hosts.parse_bind('%s:/mnt/x' % tmp_path) == (str(tmp_path), '/mnt/x')
    with pytest.raises(hosts.HostsError, match='does not exist'):
        hosts.parse_bind(str(tmp_path / 'missing'))
    with pytest.raises(hosts.HostsError, match='absolute'):
        hosts.parse_bind('%s:relative' % tmp_path)


def test_console_tail(tmp_path):
    log = tmp_path / 'console.log'
    log.write_text(''.join('line %d\n' % index for index in range(100)))
    assert hosts.console_tail(str(log), 2) == 'line 98\nline 99'
    assert 'no console log' in hosts.console_tail(str(tmp_path / 'missing'))


# --- the cache key ----------------------------------------------------------------


def test_source_key_follows_the_file(tmp_path):
    one = tmp_path / 'one.py'
    one.write_text('a')
    two = tmp_path / 'two.py'
    two.write_text('b')
    assert hosts.source_key(str(one)) != hosts.source_key(str(two))
    assert hosts.source_key(str(one)) == hosts.source_key(str(one))
    assert hosts.entry_dir('/c', 'k') == '/c/root-k'


def test_down_of_a_missing_run_dir_does_nothing(tmp_path):
    assert hosts.down(str(tmp_path / 'never')) is False


def test_down_of_a_run_that_made_nothing(tmp_path, monkeypatch):
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    hosts.State(str(run_dir)).save()
    monkeypatch.setattr(hosts, 'run', lambda argv, what, hint='', timeout=None: '')
    assert hosts.down(str(run_dir)) is True
    assert not run_dir.exists()


def test_check_tools_names_the_packages():
    with pytest.raises(hosts.HostsError, match='apt-get install iproute2 systemd-container'):
        hosts.check_tools(hosts.UP_TOOLS, which=lambda tool: None if tool in ('ip', 'systemd-nspawn') else '/bin/' + tool, euid=0)
    with pytest.raises(hosts.HostsError, match='need root'):
        hosts.check_tools(hosts.UP_TOOLS, which=lambda tool: '/bin/' + tool, euid=1000)
