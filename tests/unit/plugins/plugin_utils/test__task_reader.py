# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The standalone task reader: each rule it restates is held to the module_utils version."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._command import AGENT_SOCKET, CONSOLE_LOG, MONITOR_SOCKET, PIDFILE
from ansible_collections.nomadic.qemu.plugins.module_utils._task import record as record_mod
from ansible_collections.nomadic.qemu.plugins.plugin_utils import _task_reader as reader
from ansible_collections.nomadic.qemu.plugins.plugin_utils._guest_hosts import Hypervisor
from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils.qemu_process_fakes import FakeQemus


def test_constants_match_the_modules():
    assert (reader.PIDFILE, reader.AGENT_SOCKET, reader.MONITOR_SOCKET, reader.CONSOLE_LOG) == (PIDFILE, AGENT_SOCKET, MONITOR_SOCKET, CONSOLE_LOG)
    assert (reader.RECORD_FILE, reader.RECORD_VERSION) == (record_mod.RECORD_FILE, record_mod.RECORD_VERSION)
    assert reader.TASK_NAME_RE.pattern == record_mod.TASK_NAME_RE.pattern


@pytest.mark.parametrize('euid, environ', [
    (0, {}), (0, {'XDG_STATE_HOME': '/x'}), (1000, {}), (1000, {'XDG_STATE_HOME': '/srv/state'}), (1000, {'XDG_STATE_HOME': ''}),
])
def test_default_state_dir_matches_the_modules(euid, environ):
    assert reader.default_state_dir(euid, environ) == record_mod.default_state_dir(euid, environ)


def _modules_trust(path, euid):
    try:
        record_mod.check_trusted_dir(path, 'the directory', euid=euid)
    except QemuTaskError:
        return False
    return True


@pytest.mark.parametrize('kind, mode, owner', [
    ('dir', 0o700, 'me'), ('dir', 0o755, 'me'), ('dir', 0o775, 'me'), ('dir', 0o757, 'me'), ('dir', 0o1777, 'me'),
    ('dir', 0o700, 'root'), ('dir', 0o700, 'other'), ('link', 0o700, 'me'), ('file', 0o600, 'me'), ('missing', 0, 'me'),
])
def test_trust_matches_the_modules(tmp_path, kind, mode, owner):
    path = str(tmp_path / 'd')
    if kind == 'dir':
        os.mkdir(path)
        os.chmod(path, mode)
    elif kind == 'link':
        os.mkdir(path + '-real')
        os.symlink(path + '-real', path)
    elif kind == 'file':
        with open(path, 'w'):
            pass
    uid = os.stat(str(tmp_path)).st_uid
    # Run as the owner, as root (root owns everything here when the tests run as root), or as someone else.
    euid = {'me': uid, 'root': 4242 if uid == 0 else uid, 'other': uid + 4242}[owner]
    assert (reader.untrusted_reason(path, euid) is None) == _modules_trust(path, euid)


def _record(state_dir, name, **fields):
    task_dir = os.path.join(state_dir, name)
    os.makedirs(task_dir, mode=0o700)
    data = record_mod.TaskRecord(name=name, **fields).to_dict()
    with open(os.path.join(task_dir, 'task.json'), 'w') as f:
        json.dump(data, f)
    return task_dir


@pytest.fixture
def fake_qemu(tmp_path):
    """Start a process whose program is named qemu-* and whose argv names a pidfile, as a task's QEMU."""
    fakes = FakeQemus(tmp_path)
    yield fakes.start
    fakes.close()


def test_running_and_stopped_tasks(tmp_path, fake_qemu):
    state_dir = str(tmp_path / 'state')
    os.mkdir(state_dir, 0o700)
    web = _record(state_dir, 'web', state='running', accelerator='tcg', started_at='2026-12-02T00:00:00Z', labels={'role': 'web'},
                  config={'guest_agent': True, 'image': '/img', 'memory': 512, 'cpus': 2, 'emulator': 'x86_64', 'secret': 'x'},
                  ports={'ssh': {'host': 2222, 'guest': 22, 'host_address': '127.0.0.1'}, 'bad': {'host': 'x'}})
    _record(state_dir, 'db', state='running', ports={'ssh': {'host': 2223, 'guest': 22, 'host_address': ''}})
    process = fake_qemu(os.path.join(web, PIDFILE))
    result = reader.read_state_dir(state_dir)
    assert result['error'] is None and result['skipped'] == []
    tasks = dict((task['name'], task) for task in result['tasks'])
    assert sorted(tasks) == ['db', 'web']
    assert tasks['web']['state'] == 'running' and tasks['web']['pid'] == process.pid
    assert tasks['web']['ports'] == {'ssh': {'host': 2222, 'guest': 22, 'host_address': '127.0.0.1'}}
    assert tasks['web']['agent_socket'] == os.path.join(web, AGENT_SOCKET)
    assert tasks['web']['labels'] == {'role': 'web'} and tasks['web']['memory'] == 512 and tasks['web']['accelerator'] == 'tcg'
    assert 'secret' not in json.dumps(tasks['web'])
    # A record that says running, without a QEMU naming its pidfile, is a stopped task.
    assert tasks['db']['state'] == 'stopped' and tasks['db']['pid'] is None and tasks['db']['accelerator'] is None
    assert tasks['db']['agent_socket'] is None


def test_a_pidfile_naming_another_process_is_not_running(tmp_path, fake_qemu):
    state_dir = str(tmp_path / 'state')
    os.mkdir(state_dir, 0o700)
    task_dir = _record(state_dir, 'web', state='running')
    other = fake_qemu(str(tmp_path / 'other.pid'), write_pidfile=False)
    with open(os.path.join(task_dir, PIDFILE), 'w') as f:
        f.write('%d\n' % other.pid)
    assert reader.read_state_dir(state_dir)['tasks'][0]['state'] == 'stopped'
    with open(os.path.join(task_dir, PIDFILE), 'w') as f:
        f.write('%d\n' % os.getpid())
    assert reader.read_state_dir(state_dir)['tasks'][0]['state'] == 'stopped'


def test_untrusted_damaged_and_foreign_entries(tmp_path):
    state_dir = str(tmp_path / 'state')
    os.mkdir(state_dir, 0o700)
    open_dir = _record(state_dir, 'open', state='stopped')
    os.chmod(open_dir, 0o777)
    broken = os.path.join(state_dir, 'broken')
    os.mkdir(broken, 0o700)
    with open(os.path.join(broken, 'task.json'), 'w') as f:
        f.write('{not json')
    old = os.path.join(state_dir, 'old')
    os.mkdir(old, 0o700)
    with open(os.path.join(old, 'task.json'), 'w') as f:
        json.dump({'version': 99}, f)
    os.mkdir(os.path.join(state_dir, 'empty'), 0o700)
    os.mkdir(os.path.join(state_dir, '.images'), 0o700)
    os.symlink(open_dir, os.path.join(state_dir, 'linked'))
    target = str(tmp_path / 'elsewhere.json')
    with open(target, 'w') as f:
        json.dump(record_mod.TaskRecord(name='x').to_dict(), f)
    os.mkdir(os.path.join(state_dir, 'sneaky'), 0o700)
    os.symlink(target, os.path.join(state_dir, 'sneaky', 'task.json'))
    result = reader.read_state_dir(state_dir)
    assert result['tasks'] == []
    reasons = dict((item['name'], item['reason']) for item in result['skipped'])
    assert sorted(reasons) == ['broken', 'linked', 'old', 'open', 'sneaky']
    assert reasons['linked'].endswith('it is a symbolic link')
    assert 'writable by group or others (mode 0777)' in reasons['open']
    assert 'version 1' in reasons['old']


@pytest.mark.parametrize('fields, reason', [
    ({'labels': ['x', 'y']}, 'labels is not a mapping'),
    ({'ports': 'ssh'}, 'ports is not a mapping'),
    ({'config': []}, 'config is not a mapping'),
    ({'labels': {'a': {'b': 1}}}, 'label a is not a string'),
    ({'labels': {'a': True}}, 'label a is not a string'),
])
def test_malformed_records_are_skipped_not_fatal(tmp_path, fields, reason):
    """A record the modules would count as damaged is skipped with the reason; the others are still read."""
    state_dir = str(tmp_path / 'state')
    os.mkdir(state_dir, 0o700)
    _record(state_dir, 'good')
    bad = os.path.join(state_dir, 'bad')
    os.mkdir(bad, 0o700)
    data = record_mod.TaskRecord(name='bad').to_dict()
    data.update(fields)
    with open(os.path.join(bad, 'task.json'), 'w') as f:
        json.dump(data, f)
    result = reader.read_state_dir(state_dir)
    assert [task['name'] for task in result['tasks']] == ['good']
    assert result['skipped'] == [{'name': 'bad', 'reason': 'its record is damaged: ' + reason}]


def test_ports_without_a_usable_host_port_are_left_out(tmp_path):
    state_dir = str(tmp_path / 'state')
    os.mkdir(state_dir, 0o700)
    _record(state_dir, 'web', ports={'a': {'host': True}, 'b': {'host': 70000}, 'c': 22, 'd': {'host': 22, 'host_address': 5},
                                     'e': {'host': 2222, 'guest': 'x'}, 'ssh': {'host': 2200, 'guest': 22}})
    task = reader.read_state_dir(state_dir)['tasks'][0]
    assert task['ports'] == {'e': {'host': 2222, 'guest': None, 'host_address': ''}, 'ssh': {'host': 2200, 'guest': 22, 'host_address': ''}}


def test_state_dir_problems(tmp_path):
    assert reader.read_state_dir(str(tmp_path / 'missing')) == {'state_dir': str(tmp_path / 'missing'), 'tasks': [], 'skipped': [], 'error': None}
    assert 'not an absolute path' in reader.read_state_dir('relative/dir')['error']
    open_dir = str(tmp_path / 'open')
    os.mkdir(open_dir)
    os.chmod(open_dir, 0o777)
    assert reader.read_state_dir(open_dir)['error'] == 'state_dir %s is not trusted: it is writable by group or others (mode 0777)' % open_dir


def test_runs_as_a_script_from_stdin(tmp_path):
    """What a remote hypervisor runs: the file's source on python3's standard input, nothing else importable."""
    state_dir = str(tmp_path / 'state')
    os.mkdir(state_dir, 0o700)
    _record(state_dir, 'web', labels={'a': 'b'})
    with open(reader.__file__, 'rb') as f:
        source = f.read()
    # The command a remote hypervisor runs (Hypervisor.reader_command), from a directory holding a module
    # that would shadow the standard library's json if the reader imported from there.
    (tmp_path / 'json.py').write_text('raise SystemExit("imported from the login directory")\n')
    command = Hypervisor('hv', state_dir=state_dir, python=sys.executable).reader_command()
    done = subprocess.run(command, shell=True, input=source, stdout=subprocess.PIPE, check=True, cwd=str(tmp_path))
    result = json.loads(done.stdout)
    assert [task['name'] for task in result['tasks']] == ['web'] and result['tasks'][0]['labels'] == {'a': 'b'}
