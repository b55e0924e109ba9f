# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The inventory plugin, run by ansible-inventory, with local state directories and an ssh that runs commands here.

The fake ssh runs the remote command with this machine's shell, so the reader really travels on
standard input and runs as a script; the tests over real SSH are in the integration targets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from ansible_collections.nomadic.qemu.plugins.inventory import qemu as plugin
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskRecord

# <path>/ansible_collections/nomadic/qemu/plugins/inventory/qemu.py, as the tests import it.
COLLECTIONS_PATH = os.path.abspath(os.path.join(os.path.dirname(plugin.__file__), *['..'] * 5))
ANSIBLE_INVENTORY = os.path.join(os.path.dirname(sys.executable), 'ansible-inventory')

FAKE_SSH = r'''#!/bin/sh
# ssh [options] destination command: log the call, answer -G, refuse the host "down", run the command here.
echo "$*" >> "$FAKE_SSH_LOG"
last=""; dest=""; for a in "$@"; do dest="$last"; last="$a"; done
case " $* " in *" -G "*) echo "user root"; echo "hostname 10.213.9.$(printf %s "$last" | wc -c)"; exit 0;; esac
case "$dest" in *down*) echo "ssh: connect to host down port 22: Connection refused" >&2; exit 255;; esac
exec sh -c "$last"
'''


def test_documentation():
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc['name'] == 'qemu'
    for name, option in doc['options'].items():
        for line in option['description'] if isinstance(option['description'], list) else [option['description']]:
            assert isinstance(line, str), name
    assert len(list(yaml.safe_load_all(plugin.EXAMPLES))) == 3


def _record(state_dir, name, **fields):
    task_dir = os.path.join(state_dir, name)
    os.makedirs(task_dir, mode=0o700)
    with open(os.path.join(task_dir, 'task.json'), 'w') as f:
        json.dump(TaskRecord(name=name, **fields).to_dict(), f)


@pytest.fixture
def world(tmp_path):
    """Two state directories (one per hypervisor), a fake ssh on PATH, and a runner for ansible-inventory."""
    if not os.path.exists(ANSIBLE_INVENTORY):
        pytest.skip('ansible-inventory is not beside this Python')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'ssh').write_text(FAKE_SSH)
    (bin_dir / 'ssh').chmod(0o755)
    states = {}
    for hypervisor in ('one', 'two'):
        state_dir = str(tmp_path / hypervisor)
        os.mkdir(state_dir, 0o700)
        states[hypervisor] = state_dir
    # Stopped tasks (no QEMU runs here): include_stopped lists them.
    _record(states['one'], 'web', labels={'role': 'web'}, config={'guest_agent': True, 'memory': 256},
            ports={'ssh': {'host': 2201, 'guest': 22, 'host_address': '127.0.0.1'}})
    _record(states['one'], 'db', labels={'role': 'db'}, ports={'ssh': {'host': 2202, 'guest': 22, 'host_address': ''}})
    _record(states['two'], 'web', labels={'role': 'web', 'tier': 'front.end'})
    log = tmp_path / 'ssh.log'

    def run(config, *args):
        source = tmp_path / 'guests.qemu.yml'
        source.write_text(textwrap.dedent(config))
        env = dict(os.environ, PATH='%s:%s' % (bin_dir, os.environ['PATH']), FAKE_SSH_LOG=str(log), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH,
                   ANSIBLE_INVENTORY_UNPARSED_FAILED='true', ANSIBLE_NOCOLOR='1')
        done = subprocess.run([ANSIBLE_INVENTORY, '-i', str(source)] + (list(args) or ['--list', '--export']), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, cwd=str(tmp_path))
        inventory = _plain(json.loads(done.stdout)) if done.returncode == 0 else None
        return inventory, done.stderr.decode(), done.returncode

    run.states = states
    run.log = log
    return run


def _plain(data):
    """The inventory without the marks of values that are not templates ({'__ansible_unsafe': value})."""
    if isinstance(data, dict):
        if list(data) == ['__ansible_unsafe']:
            return data['__ansible_unsafe']
        return dict((key, _plain(value)) for key, value in data.items())
    if isinstance(data, list):
        return [_plain(value) for value in data]
    return data


def _hosts(inventory, group):
    return sorted(inventory.get(group, {}).get('hosts', []))


def test_local_and_remote_hypervisors(world):
    inventory, stderr, rc = world('''
        plugin: nomadic.qemu.qemu
        hypervisors:
          - {ssh: local, state_dir: %s}
          - {ssh: root@hv2:2200, name: hv2, state_dir: %s}
        include_stopped: true
        ssh_args: [-F, /tmp/fleet ssh config]
        keyed_groups:
          - key: qemu_task.labels.role
            prefix: role
        compose:
          vm_memory: qemu_task.memory
    ''' % (world.states['one'], world.states['two']))
    assert rc == 0, stderr
    assert 'WARNING' not in stderr
    hostvars = inventory['_meta']['hostvars']
    # "web" runs on both hypervisors: both are renamed, the others keep their task name.
    assert sorted(hostvars) == ['db', 'web@hv2', 'web@local']
    assert _hosts(inventory, 'qemu_local') == ['db', 'web@local'] and _hosts(inventory, 'qemu_hv2') == ['web@hv2']
    assert _hosts(inventory, 'qemu_stopped') == ['db', 'web@hv2', 'web@local']
    assert _hosts(inventory, 'role_web') == ['web@hv2', 'web@local']
    assert _hosts(inventory, 'qemu_label_tier_front_end') == ['web@hv2']
    assert _hosts(inventory, 'qemu_guest_agent') == ['web@local']
    web = hostvars['web@local']
    assert web['qemu_task']['hypervisor'] == 'local' and web['qemu_task']['state'] == 'stopped'
    assert web['vm_memory'] == 256
    # Stopped: no address to connect to, but the agent's socket is known.
    assert 'ansible_host' not in web and web['ansible_qga_socket'] == os.path.join(world.states['one'], 'web', 'qga.sock')
    assert hostvars['web@hv2']['qemu_task']['hypervisor'] == 'hv2'
    calls = world.log.read_text().splitlines()
    assert any(call.startswith('-o BatchMode=yes -o ConnectTimeout=10 -F /tmp/fleet ssh config -p 2200 root@hv2 python3 - ')
               for call in calls), calls


def test_only_running_by_default_and_strict(world):
    config = '''
        plugin: nomadic.qemu.qemu
        hypervisors:
          - {ssh: local, state_dir: %s}
          - {ssh: root@down, name: dead}
        %s
    '''
    inventory, stderr, rc = world(config % (world.states['one'], ''))
    assert rc == 0, stderr
    assert inventory['_meta']['hostvars'] == {}
    assert 'hypervisor dead (root@down) was left out: ssh failed: ssh: connect to host down port 22: Connection refused' in ' '.join(stderr.split())
    _inventory, stderr, rc = world(config % (world.states['one'], 'strict: true'))
    assert rc != 0 and 'hypervisor dead (root@down) was left out' in ' '.join(stderr.split())


def test_bad_configuration_names_the_option(world):
    _inventory, stderr, rc = world('''
        plugin: nomadic.qemu.qemu
        hypervisors: [hv1, root@hv1]
    ''')
    assert rc != 0 and 'the name hv1 is given to more than one hypervisor; set name: on each' in ' '.join(stderr.split())


def test_untrusted_task_is_a_warning(world):
    os.chmod(os.path.join(world.states['one'], 'web'), 0o777)
    inventory, stderr, rc = world('''
        plugin: nomadic.qemu.qemu
        hypervisors: [{ssh: local, state_dir: %s}]
        include_stopped: true
    ''' % world.states['one'])
    assert rc == 0, stderr
    assert sorted(inventory['_meta']['hostvars']) == ['db']
    assert 'task web on hypervisor local was left out: the task directory' in ' '.join(stderr.split())


def test_a_record_cannot_template(world):
    _record(world.states['two'], 'evil', labels={'role': "{{ lookup('ansible.builtin.pipe', 'touch /tmp/evil-ran') }}"})
    inventory, stderr, rc = world('''
        plugin: nomadic.qemu.qemu
        hypervisors: [{ssh: local, state_dir: %s}]
        include_stopped: true
        compose:
          role: qemu_task.labels.role
    ''' % world.states['two'], '--host', 'evil')
    assert rc == 0, stderr
    assert inventory['role'].startswith('{{ lookup(')
    assert not os.path.exists('/tmp/evil-ran')


def test_cache(world, tmp_path):
    config = '''
        plugin: nomadic.qemu.qemu
        hypervisors: [{ssh: local, state_dir: %s}]
        include_stopped: true
        cache: true
        cache_plugin: ansible.builtin.jsonfile
        cache_connection: %s
    ''' % (world.states['two'], tmp_path / 'cache')
    inventory, stderr, rc = world(config)
    assert rc == 0, stderr
    assert sorted(inventory['_meta']['hostvars']) == ['web']
    _record(world.states['two'], 'new')
    inventory, stderr, rc = world(config)
    assert sorted(inventory['_meta']['hostvars']) == ['web']
    inventory, stderr, rc = world(config, '--list', '--export', '--flush-cache')
    assert sorted(inventory['_meta']['hostvars']) == ['new', 'web']
