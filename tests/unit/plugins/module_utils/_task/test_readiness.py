# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._process import read_stat, start_epoch
from ansible_collections.nomadic.qemu.plugins.module_utils._task import readiness
from ansible_collections.nomadic.qemu.plugins.module_utils._task.readiness import (
    ConsoleWatch,
    check_wait_for,
    guest_stuck,
    port_accepts,
    wait_ready,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir


@pytest.mark.parametrize('given, expected', [
    (None, None),
    ({'console': 'login:'}, {'console': 'login:', 'port': None, 'agent': False, 'timeout': 300.0}),
    ({'port': 'ssh', 'timeout': '90s'}, {'console': None, 'port': 'ssh', 'agent': False, 'timeout': 90.0}),
    ({'agent': True, 'timeout': 0}, {'console': None, 'port': None, 'agent': True, 'timeout': 0.0}),
])
def test_check_wait_for(given, expected):
    assert check_wait_for(given, {'ssh': 22}, guest_agent=True) == expected


def test_unknown_key():
    with pytest.raises(QemuTaskError) as exc:
        check_wait_for({'console': 'x', 'http': 'y'}, {}, False)
    assert str(exc.value) == 'wait_for has the unknown key http; use console, port, agent, timeout'


def test_console_watch_reads_each_byte_once_and_finds_matches_across_reads(tmp_path):
    log = tmp_path / 'console.log'
    log.write_text('booting\nlog')
    watch = ConsoleWatch(str(log), r'^login:')
    assert not watch.matched()
    with open(str(log), 'a') as f:
        f.write('in:\n')
    assert watch.matched()
    assert watch.offset == len('booting\nlogin:\n')


def test_console_watch_of_a_missing_log(tmp_path):
    assert not ConsoleWatch(str(tmp_path / 'none.log'), 'x').matched()


def _server(reply):
    """A listener that answers each connection with ``reply`` (b'' closes it at once; None keeps it open silently)."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(4)
    held = []

    def serve():
        while True:
            try:
                conn = server.accept()[0]
            except OSError:
                return
            if reply is None:
                held.append(conn)
                continue
            if reply:
                conn.sendall(reply)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server, held


def test_port_with_data_is_ready(tmp_path):
    server = _server(b'SSH-2.0-test\r\n')[0]
    try:
        assert port_accepts('127.0.0.1', server.getsockname()[1], 22, str(tmp_path / 'qmp.sock')) is True
    finally:
        server.close()


def test_port_closed_by_the_guest_is_not_ready(tmp_path):
    server = _server(b'')[0]
    try:
        assert port_accepts('127.0.0.1', server.getsockname()[1], 22, str(tmp_path / 'qmp.sock')) is False
    finally:
        server.close()


def test_silent_port_asks_qemu(tmp_path, monkeypatch):
    server, held = _server(None)
    asked = []

    def established(monitor_socket, host_port, guest_port):
        asked.append((host_port, guest_port))
        return host_port == server.getsockname()[1]

    monkeypatch.setattr(readiness, '_usernet_established', established)
    try:
        assert port_accepts('127.0.0.1', server.getsockname()[1], 80, str(tmp_path / 'qmp.sock')) is True
        assert asked == [(server.getsockname()[1], 80)]
    finally:
        server.close()
        for conn in held:
            conn.close()


def test_silent_port_without_qemu_is_not_ready(tmp_path):
    server, held = _server(None)
    try:
        assert port_accepts('127.0.0.1', server.getsockname()[1], 80, str(tmp_path / 'no-qmp.sock')) is False
    finally:
        server.close()
        for conn in held:
            conn.close()


def test_refused_port_is_not_ready(tmp_path):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    assert port_accepts('127.0.0.1', port, 80, str(tmp_path / 'qmp.sock')) is False


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.01)


class Alive:
    def __init__(self, alive=True, start_time=None):
        self.alive = alive
        self.start_time = start_time

    def is_alive(self):
        return self.alive


def _task(tmp_path, console='booting\n'):
    task = TaskDir(str(tmp_path), 'vm1')
    task.ensure()
    with open(task.console_log, 'w') as f:
        f.write(console)
    return task


def test_wait_ready_agent_and_console(tmp_path):
    task = _task(tmp_path, 'booting\nready\n')
    clock = Clock()
    pings = []

    def ping(path, timeout):
        pings.append(path)
        return (len(pings) >= 3, 'no answer')

    waited = wait_ready({'console': 'ready', 'port': None, 'agent': True, 'timeout': 10}, task, Alive(), {}, ping,
                        clock=clock, sleep=clock.sleep)
    assert pings == [task.agent_socket] * 3
    assert waited == pytest.approx(0.4)


def test_wait_ready_times_out_quoting_the_console(tmp_path):
    task = _task(tmp_path, 'SeaBIOS\nBooting from Hard Disk...\n')
    clock = Clock()
    with pytest.raises(QemuTaskError) as exc:
        wait_ready({'console': 'login:', 'port': None, 'agent': False, 'timeout': 2}, task, Alive(), {}, None,
                   clock=clock, sleep=clock.sleep)
    assert str(exc.value) == ("task 'vm1': the guest was not ready within 2s (still waiting for console matching 'login:'); "
                              "the VM was left running, so a later run can wait again or stop it. Guest console: "
                              "SeaBIOS\nBooting from Hard Disk...")
    assert 2.0 <= clock.now <= 2.02


def test_wait_ready_fails_when_qemu_exits(tmp_path):
    task = _task(tmp_path, 'Kernel panic\n')
    with pytest.raises(QemuTaskError) as exc:
        wait_ready({'console': 'login:', 'port': None, 'agent': False, 'timeout': 60}, task, Alive(False), {}, None,
                   clock=Clock(), sleep=lambda s: None)
    assert str(exc.value) == ("task 'vm1': QEMU exited while waiting for the guest to be ready (wait_for: console matching "
                              "'login:'); guest console: Kernel panic")


def test_wait_ready_fails_at_once_when_qemu_stopped_the_guest(tmp_path):
    task = _task(tmp_path, '')
    clock = Clock()
    asked = []

    def stuck(path):
        asked.append(clock.now)
        return 'internal-error: the accelerator failed to run the guest' if clock.now >= 10 else None

    with pytest.raises(QemuTaskError) as exc:
        wait_ready({'console': 'login:', 'port': None, 'agent': False, 'timeout': 600}, task, Alive(), {}, None,
                   clock=clock, sleep=clock.sleep, stuck=stuck)
    assert str(exc.value) == ("task 'vm1': QEMU stopped the guest while waiting for it to be ready (wait_for: console matching "
                              "'login:'), status internal-error: the accelerator failed to run the guest; the VM was left as it "
                              "is, for a look with qemu_task_info or its QMP socket. Guest console: (empty)")
    assert 10 <= clock.now < 16 and len(asked) == 2


def test_guest_stuck_without_qemu_is_unknown(tmp_path):
    assert guest_stuck(str(tmp_path / 'qmp.sock')) is None


def test_a_running_vm_s_console_rotated_since_its_start_is_searched_and_an_earlier_run_s_is_not(tmp_path):
    live = str(tmp_path / 'console.log')
    with open(live, 'w') as f:
        f.write('after the rotation\n')
    for name, text, age in (('console.log.1', 'login: (this run, rotated)\n', 10), ('console.log.2', 'login: (an earlier run)\n', 1000)):
        path = str(tmp_path / name)
        with open(path, 'w') as f:
            f.write(text)
        os.utime(path, (time.time() - age, time.time() - age))
    assert ConsoleWatch(live, r'login: \(this run', since=time.time() - 100).matched()
    assert not ConsoleWatch(live, r'earlier run', since=time.time() - 100).matched()
    assert not ConsoleWatch(live, r'login:').matched()
    # Started after every rotated file was written: only the live file counts.
    assert not ConsoleWatch(live, r'login:', since=time.time()).matched()


def test_start_epoch_is_when_a_process_started():
    before = time.time()
    process = subprocess.Popen(['sleep', '5'])
    try:
        started = start_epoch(read_stat(process.pid)[1])
    finally:
        process.kill()
        process.wait()
    # Clock ticks are 1/100 s; the boot clock and the wall clock are read a moment apart.
    assert before - 0.05 <= started <= time.time() + 0.05
