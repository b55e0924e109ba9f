# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.driver import QemuDriver
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir, TaskRecord
from ansible_collections.nomadic.qemu.plugins.module_utils._process import is_qemu_program, program_name
from ansible_collections.nomadic.qemu.plugins.module_utils._task.stop import QemuShutdownRunner


@pytest.mark.parametrize('name, expected', [
    ('qemu-system-x86_64', True),
    ('qemu-system-aarch64', True),
    ('qemu-kvm', True),
    ('python3.13', False),
    ('dbus-daemon', False),
    ('', False),
    (None, False),
])
def test_is_qemu_program(name, expected):
    assert is_qemu_program(name) is expected


def _fake_proc(tmp_path, pid, exe=None, cmdline=None):
    d = tmp_path / str(pid)
    d.mkdir()
    if exe is not None:
        os.symlink(exe, str(d / 'exe'))
    if cmdline is not None:
        (d / 'cmdline').write_bytes(b'\0'.join(part.encode() for part in cmdline) + b'\0')
    return str(tmp_path)


@pytest.mark.parametrize('exe, cmdline, expected', [
    ('/usr/bin/qemu-system-x86_64', None, 'qemu-system-x86_64'),
    ('/usr/bin/qemu-system-x86_64 (deleted)', None, 'qemu-system-x86_64'),
    (None, ['/usr/libexec/qemu-kvm', '-m', '128'], 'qemu-kvm'),
    (None, None, None),
])
def test_program_name(tmp_path, exe, cmdline, expected):
    proc = _fake_proc(tmp_path, 42, exe, cmdline)
    assert program_name(42, proc=proc) == expected


def _runner(params, check_mode=False, warnings=None):
    warn = warnings.append if warnings is not None else None
    return QemuShutdownRunner(params, QemuDriver(), check_mode=check_mode, warn=warn)


def test_missing_task_is_unchanged_with_a_warning(tmp_path):
    warnings = []
    result = _runner({'name': 'never', 'state_dir': str(tmp_path / 'state')}, warnings=warnings).run()
    assert result['changed'] is False
    assert result['notes'] == ["task 'never' does not exist in %s" % (tmp_path / 'state')]
    assert warnings == ["task 'never' does not exist in %s; nothing was shut down (check the name and state_dir)" % (tmp_path / 'state')]
    # looking creates nothing
    assert not os.path.exists(str(tmp_path / 'state'))


def test_dead_task_is_unchanged_and_recorded_stopped(tmp_path):
    task = TaskDir(str(tmp_path), 'vm1')
    task.ensure()
    task.write(TaskRecord(name='vm1', state='running', pid=2 ** 22 + 1, start_time=1, argv=['qemu-system-x86_64']))
    result = _runner({'name': 'vm1', 'state_dir': str(tmp_path)}).run()
    assert result['changed'] is False
    assert result['notes'] == ["task 'vm1' is not running"]
    record = task.read()
    assert record.state == 'stopped' and record.pid is None


def test_dead_task_check_mode_writes_nothing(tmp_path):
    task = TaskDir(str(tmp_path), 'vm1')
    task.ensure()
    task.write(TaskRecord(name='vm1', state='running', pid=2 ** 22 + 1, start_time=1, argv=['x']))
    result = _runner({'name': 'vm1', 'state_dir': str(tmp_path)}, check_mode=True).run()
    assert result['changed'] is False
    assert task.read().state == 'running'


@pytest.mark.parametrize('params, message', [
    ({'name': 'vm1', 'kill_timeout': 'soon'},
     "kill_timeout 'soon' is not a duration; use seconds (30) or a Nomad duration such as 30s, 1m30s or 500ms"),
    ({'name': 'vm1', 'state_dir': 'relative'}, "state_dir 'relative' is not an absolute path; give an absolute directory"),
    ({'name': 'vm1', 'kill_timeout': '2h'}, "kill_timeout '2h' is longer than the maximum of 1h0m0s; use 1h0m0s or less"),
    ({'name': 'vm1\n'}, "name 'vm1\\n' is not a valid task name; use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
    ({'name': '../x'}, "name '../x' is not a valid task name; use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
])
def test_bad_input(tmp_path, params, message):
    params.setdefault('state_dir', str(tmp_path))
    with pytest.raises(QemuTaskError) as exc:
        _runner(params).run()
    assert str(exc.value) == message


def test_unserved_socket_is_unchanged(tmp_path):
    path = str(tmp_path / 'qmp.sock')
    result = _runner({'monitor_socket': path}).run()
    assert result['changed'] is False
    assert result['notes'] == ['no QEMU is serving the QMP socket %s' % path]
