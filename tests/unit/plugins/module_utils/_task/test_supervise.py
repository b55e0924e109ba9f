# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which supervisor a task gets, and what systemd's answers become (systemctl and journalctl played by a table)."""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir
from ansible_collections.nomadic.qemu.plugins.module_utils._task.supervise import (
    PROCESS_EXIT_MESSAGE,
    STOP_SCRIPT,
    Systemd,
    resolve_supervisor,
    restarting,
    status,
    stop_argv,
    systemd_usable,
    task_unit_name,
)


def which(*found):
    return lambda name: '/usr/bin/' + name if name in found else None


@pytest.fixture
def runtime(tmp_path):
    path = tmp_path / 'run-systemd-system'
    path.mkdir()
    return str(path)


def test_auto_is_systemd_where_it_can_be_used(runtime):
    assert resolve_supervisor('auto', which('systemctl'), euid=0, runtime=runtime) == 'systemd'
    assert resolve_supervisor('systemd', which('systemctl'), euid=0, runtime=runtime) == 'systemd'
    assert resolve_supervisor('none', which('systemctl'), euid=0, runtime=runtime) == 'none'


@pytest.mark.parametrize('find, euid, exists, why', [
    (which('systemctl'), 0, False, 'systemd is not the service manager of this host'),
    (which(), 0, True, 'systemctl was not found on PATH'),
    (which('systemctl'), 1000, True, 'system units can only be written by root'),
])
def test_auto_falls_back_to_none_and_systemd_says_why_not(tmp_path, find, euid, exists, why):
    runtime = str(tmp_path / 'run-systemd-system')
    if exists:
        os.mkdir(runtime)
    usable, reason = systemd_usable(find, euid=euid, runtime=runtime)
    assert not usable and why in reason
    assert resolve_supervisor('auto', find, euid=euid, runtime=runtime) == 'none'
    with pytest.raises(QemuTaskError) as error:
        resolve_supervisor('systemd', find, euid=euid, runtime=runtime)
    assert error.value.option == 'supervisor' and why in str(error.value) and 'use supervisor: auto' in str(error.value)


def test_unit_names_tell_state_dirs_apart(tmp_path):
    default = str(tmp_path / 'default')
    assert task_unit_name(TaskDir(default, 'web'), default) == 'nomadic-qemu-web.service'
    other = task_unit_name(TaskDir(str(tmp_path / 'other'), 'web'), default)
    assert other.startswith('nomadic-qemu-web:') and other.endswith('.service') and other != task_unit_name(
        TaskDir(str(tmp_path / 'third'), 'web'), default)


class FakeSystemctl:
    """Answers systemctl and journalctl from a table; records the commands."""

    def __init__(self, props=None, journal='', rc=0):
        self.props = props or {}
        self.journal = journal
        self.rc = rc
        self.commands = []

    def __call__(self, argv):
        self.commands.append(argv)
        if argv[0] == 'journalctl':
            return 0, self.journal, ''
        if argv[1] == 'show':
            return self.rc, ''.join('%s=%s\n' % item for item in self.props.items()), ''
        return self.rc, '', 'Unit not found.' if self.rc else ''


def test_show_reads_properties_and_status_reads_them_for_results():
    ago = time.monotonic() / 2  # within this boot
    exited = time.monotonic() - ago
    fake = FakeSystemctl({'ActiveState': 'failed', 'SubState': 'failed', 'Result': 'start-limit-hit', 'MainPID': '0', 'NRestarts': '3',
                          'ExecMainCode': '2', 'ExecMainStatus': '9', 'ExecMainExitTimestampMonotonic': str(int(exited * 1e6)),
                          'UnitFileState': 'enabled', 'LoadState': 'loaded'})
    result = Systemd(fake).status('u.service')
    at = result['last_exit'].pop('at')
    assert result == {'active_state': 'failed', 'sub_state': 'failed', 'result': 'start-limit-hit', 'restarts': 3, 'enabled': True,
                      'restarting': False, 'last_exit': {'code': 'killed', 'status': '9'}}
    # That long ago on the wall clock (the monotonic clock of systemd and of this process is one).
    moment = datetime.datetime.strptime(at, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp()
    assert abs(moment - (time.time() - ago)) < 2
    assert fake.commands[0][:2] == ['systemctl', 'show']


@pytest.mark.parametrize('props, expected', [
    ({'ActiveState': 'activating', 'SubState': 'auto-restart'}, True),
    ({'ActiveState': 'activating', 'SubState': 'start'}, True),
    ({'ActiveState': 'active', 'SubState': 'running'}, False),
    ({'ActiveState': 'failed', 'SubState': 'failed'}, False),
])
def test_restarting_is_one_rule(props, expected):
    assert restarting(props) is expected
    assert status(props)['restarting'] is expected


def test_a_restarted_unit_tells_its_last_exit_from_the_journal():
    entry = {'MESSAGE_ID': PROCESS_EXIT_MESSAGE, 'EXIT_CODE': 'killed', 'EXIT_STATUS': '9', '__REALTIME_TIMESTAMP': '1796238211000000'}
    fake = FakeSystemctl({'ActiveState': 'active', 'SubState': 'running', 'MainPID': '213', 'NRestarts': '1', 'ExecMainCode': '0',
                          'LoadState': 'loaded'}, journal=json.dumps(entry) + '\n')
    result = Systemd(fake).status('u.service')
    assert result['restarts'] == 1 and result['last_exit'] == {'code': 'killed', 'status': '9', 'at': '2026-12-02T19:03:31Z'}
    journal = [command for command in fake.commands if command[0] == 'journalctl'][0]
    assert 'MESSAGE_ID=%s' % PROCESS_EXIT_MESSAGE in journal and '-u' in journal


def test_unknown_units_have_no_status():
    assert Systemd(FakeSystemctl({'LoadState': 'not-found'})).status('u.service') is None
    assert Systemd(FakeSystemctl(rc=1)).status('u.service') is None
    assert status({'ActiveState': 'inactive', 'NRestarts': 'x'})['restarts'] == 0


def test_unit_files_are_written_whole_and_removed_with_their_enablement(tmp_path):
    fake = FakeSystemctl({'UnitFileState': 'disabled', 'LoadState': 'loaded'})
    systemd = Systemd(fake, unit_dir=str(tmp_path))
    assert systemd.read('u.service') is None
    systemd.write('u.service', '[Service]\n')
    assert systemd.read('u.service') == '[Service]\n' and os.listdir(str(tmp_path)) == ['u.service']
    assert oct(os.stat(str(tmp_path / 'u.service')).st_mode & 0o777) == '0o644'
    assert ['systemctl', 'daemon-reload'] in fake.commands
    assert systemd.set_enabled('u.service', True) and ['systemctl', 'enable', '--', 'u.service'] in fake.commands
    assert not systemd.set_enabled('u.service', False)
    assert systemd.remove('u.service') and os.listdir(str(tmp_path)) == []
    assert ['systemctl', 'stop', '--', 'u.service'] in fake.commands and ['systemctl', 'disable', '--', 'u.service'] in fake.commands
    assert not systemd.remove('u.service')


def test_a_failing_systemctl_is_an_error_naming_it(tmp_path):
    with pytest.raises(QemuTaskError) as error:
        Systemd(FakeSystemctl(rc=5), unit_dir=str(tmp_path)).write('u.service', '[Service]\n')
    assert "systemctl daemon-reload failed (exit status 5): Unit not found." in str(error.value)


def test_the_stop_script_presses_the_power_button_and_waits_for_the_main_process(tmp_path, monkeypatch):
    """ExecStop, run for real against a QMP server played by a thread, with a process that ends once the button was pressed."""
    monkeypatch.chdir(str(tmp_path))
    server = socket.socket(socket.AF_UNIX)
    server.bind('qmp.sock')
    server.listen(1)
    main = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    seen = []

    def serve():
        conn, dummy = server.accept()
        f = conn.makefile('rw')
        f.write('{"QMP": {}}\n')
        f.flush()
        for dummy in range(2):
            seen.append(json.loads(f.readline())['execute'])
            f.write('{"return": {}}\n')
            f.flush()
        main.terminate()
        main.wait()

    thread = threading.Thread(target=serve)
    thread.start()
    argv = stop_argv(sys.executable, 20, True)
    assert argv[1:3] == ['-c', STOP_SCRIPT] and argv[3:] == ['20', '1']
    result = subprocess.run(argv, env=dict(os.environ, MAINPID=str(main.pid)), timeout=15, check=False)
    thread.join()
    assert result.returncode == 0 and seen == ['qmp_capabilities', 'system_powerdown']


def test_the_stop_script_without_graceful_shutdown_returns_at_once():
    result = subprocess.run(stop_argv(sys.executable, 20, False), env=dict(os.environ, MAINPID='1'), timeout=5, check=False)
    assert result.returncode == 0
