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

from ansible_collections.nomadic.qemu.plugins.module_utils._command import PIDFILE

from ansible_collections.nomadic.qemu.plugins.inventory import qemu as plugin
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskRecord
from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils.qemu_process_fakes import FakeQemus

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
    # Stopped: no address to connect to (a name ssh never resolves), but the agent's socket is known.
    assert web['ansible_host'] == 'web.local.invalid' and 'ansible_port' not in web
    assert web['ansible_qga_socket'] == os.path.join(world.states['one'], 'web', 'qga.sock')
    assert hostvars['web@hv2']['qemu_task']['hypervisor'] == 'hv2'
    calls = world.log.read_text().splitlines()
    assert any(call.startswith('-T -o BatchMode=yes -o ConnectTimeout=10 -o ControlPersist=no -F /tmp/fleet ssh config -p 2200 root@hv2 python3 -I - ')
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


def test_a_record_cannot_template(world, tmp_path):
    marker = tmp_path / 'templated'
    _record(world.states['two'], 'evil', labels={'role': "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % marker})
    config = '''
        plugin: nomadic.qemu.qemu
        hypervisors: [{ssh: local, state_dir: %s}]
        include_stopped: true
        compose:
          role: qemu_task.labels.role
    ''' % world.states['two']
    inventory, stderr, rc = world(config, '--host', 'evil')
    assert rc == 0, stderr
    assert inventory['role'].startswith('{{ lookup(')
    # A play renders what it shows: the label stays text.
    source = tmp_path / 'guests.qemu.yml'
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR='1')
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible'), '-i', str(source), 'evil', '-m', 'ansible.builtin.debug',
                           '-a', 'var=qemu_task.labels.role'], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert done.returncode == 0, done.stderr
    assert b"lookup('ansible.builtin.pipe'" in done.stdout
    assert not marker.exists()


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


@pytest.fixture
def running(world, tmp_path):
    """Make a task of a state directory run: a process named qemu-* whose argv names the task's pidfile."""
    fakes = FakeQemus(tmp_path)
    yield lambda state_dir, name: fakes.start(os.path.join(state_dir, name, PIDFILE))
    fakes.close()


def test_running_guests_get_their_addresses(world, running):
    """Running tasks: forwarded on all addresses, on a local loopback, and on the loopbacks of two hypervisors on one port."""
    _record(world.states['two'], 'db', ports={'ssh': {'host': 2201, 'guest': 22, 'host_address': '127.0.0.1'}})
    for state_dir, name in ((world.states['one'], 'web'), (world.states['one'], 'db'), (world.states['two'], 'web'), (world.states['two'], 'db')):
        running(state_dir, name)
    config = '''
        plugin: nomadic.qemu.qemu
        hypervisors:
          - {ssh: local, state_dir: %s}
          - {ssh: root@hv1, state_dir: %s}
          - {ssh: root@hv2, state_dir: %s}
        proxy: %s
    '''
    inventory, stderr, rc = world(config % (world.states['one'], world.states['one'], world.states['two'], 'true'))
    assert rc == 0, stderr
    hostvars = inventory['_meta']['hostvars']
    assert sorted(hostvars) == ['db@hv1', 'db@hv2', 'db@local', 'web@hv1', 'web@hv2', 'web@local']
    assert hostvars['web@local']['ansible_host'] == '127.0.0.1' and hostvars['web@local']['ansible_port'] == 2201
    assert hostvars['db@local']['ansible_host'] == '127.0.0.1' and hostvars['db@local']['ansible_port'] == 2202
    # All addresses on hv1: the address ssh -G gives for hv1 (the fake ssh makes one up from the length of root@hv1).
    assert hostvars['db@hv1']['ansible_host'] == '10.213.9.8' and hostvars['db@hv1']['ansible_port'] == 2202
    # A loopback of hv1 and one of hv2, the same port: two names, each with a ProxyCommand to its hypervisor.
    assert hostvars['web@hv1']['ansible_host'] == 'web.hv1.invalid' and hostvars['db@hv2']['ansible_host'] == 'db.hv2.invalid'
    assert hostvars['web@hv1']['ansible_port'] == hostvars['db@hv2']['ansible_port'] == 2201
    assert hostvars['web@hv1']['ansible_ssh_common_args'].endswith("-W 127.0.0.1:%p root@hv1'")
    assert hostvars['db@hv2']['ansible_ssh_common_args'].endswith("-W 127.0.0.1:%p root@hv2'")
    assert hostvars['web@local']['qemu_task']['state'] == 'running' and hostvars['web@local']['qemu_task']['pid'] > 0
    assert 'WARNING' not in stderr
    inventory, stderr, rc = world(config % (world.states['one'], world.states['one'], world.states['two'], 'false'))
    assert rc == 0, stderr
    assert 'web@hv1 (task web on hv1) forwards SSH on 127.0.0.1, which only that hypervisor reaches' in ' '.join(stderr.split())
    assert 'ansible_ssh_common_args' not in inventory['_meta']['hostvars']['web@hv1']


def test_a_hostile_answer_is_left_out(world, tmp_path):
    """A reader's answer is checked: a bad task is a warning, not a broken inventory nor another source's host."""
    fake = tmp_path / 'fake-python'
    fake.write_text('#!/bin/sh\ncat > /dev/null\necho \'{"tasks": [{"name": "web", "state": "running", "labels": [], "ports": {}},'
                    ' {"name": "db", "state": "running", "labels": {}, "ports": {}}, {"name": "x/../../y", "state": "stopped",'
                    ' "labels": {}, "ports": {}}], "skipped": ["junk"]}\'\n')
    fake.chmod(0o755)
    inventory, stderr, rc = world('''
        plugin: nomadic.qemu.qemu
        hypervisors: [{ssh: root@hv1, python: %s}]
    ''' % fake)
    assert rc == 0, stderr
    assert sorted(inventory['_meta']['hostvars']) == ['db']
    assert 'a task on hypervisor hv1 was left out: the reader gave labels that are not strings' in ' '.join(stderr.split())
    assert 'the reader gave a task name that is not one' in ' '.join(stderr.split())


def test_a_failed_hypervisor_is_not_cached(world, tmp_path):
    config = '''
        plugin: nomadic.qemu.qemu
        hypervisors: [{ssh: local, state_dir: %s}, %s]
        include_stopped: true
        cache: true
        cache_plugin: ansible.builtin.jsonfile
        cache_connection: %s
    '''
    inventory, stderr, rc = world(config % (world.states['two'], "{ssh: root@down, name: hv9, state_dir: %s}" % world.states['one'],
                                            tmp_path / 'cache'))
    assert rc == 0 and sorted(inventory['_meta']['hostvars']) == ['web']
    # Next run: the hypervisor answers (a new destination, same name) and is read, not taken from the cache.
    inventory, stderr, rc = world(config % (world.states['two'], "{ssh: root@up, name: hv9, state_dir: %s}" % world.states['one'],
                                            tmp_path / 'cache'))
    assert rc == 0, stderr
    assert sorted(inventory['_meta']['hostvars']) == ['db', 'web@hv9', 'web@local']
    # A hypervisor added to the file is read too.
    inventory, stderr, rc = world(config % (world.states['two'], "{ssh: root@more, name: hv8, state_dir: %s}" % world.states['one'],
                                            tmp_path / 'cache'))
    assert rc == 0, stderr
    assert 'hv8' in ' '.join(inventory['_meta']['hostvars'])


def test_relative_state_dir_is_refused(world):
    _inventory, stderr, rc = world('''
        plugin: nomadic.qemu.qemu
        hypervisors: [root@hv1]
        state_dir: vms
    ''')
    assert rc != 0 and "state_dir 'vms' is not an absolute path" in ' '.join(stderr.split())
