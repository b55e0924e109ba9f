# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._process import (
    QemuProcess,
    read_cmdline,
    read_pidfile,
    read_stat,
    terminate,
)

IGNORE_TERM = 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print("up", flush=True); time.sleep(60)'


@pytest.fixture
def child():
    procs = []

    def start(code='print("up", flush=True); import time; time.sleep(60)'):
        proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE)
        procs.append(proc)
        # The child has exec'd (its /proc cmdline is final) once it speaks.
        assert proc.stdout.readline() == b'up\n'
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_stat_and_cmdline_of_a_real_process(child):
    proc = child()
    state, start_time = read_stat(proc.pid)
    assert state in ('S', 'R')
    assert start_time > 0
    assert read_cmdline(proc.pid) == [sys.executable, '-c', 'print("up", flush=True); import time; time.sleep(60)']


def test_missing_process():
    assert read_stat(2 ** 22 + 1) is None
    assert read_cmdline(2 ** 22 + 1) is None
    assert QemuProcess.observe(2 ** 22 + 1) is None


def test_stat_with_odd_command_name(tmp_path):
    (tmp_path / '7').mkdir()
    fields = ['S'] + ['0'] * 18 + ['12345'] + ['0'] * 10
    (tmp_path / '7' / 'stat').write_text('7 (qemu) (evil) x) ' + ' '.join(fields))
    assert read_stat(7, proc=str(tmp_path)) == ('S', 12345)


@pytest.mark.parametrize('content, expected', [('1234\n', 1234), ('', None), ('abc', None), ('0', None), (None, None)])
def test_read_pidfile(tmp_path, content, expected):
    path = tmp_path / 'qemu.pid'
    if content is not None:
        path.write_text(content)
    assert read_pidfile(str(path)) == expected


def test_identity_requires_start_time_and_argv(child):
    proc = child()
    observed = QemuProcess.observe(proc.pid)
    assert observed.matches([sys.executable, '-c', 'print("up", flush=True); import time; time.sleep(60)'])
    assert not observed.matches([sys.executable, '-c', 'something else'])
    # same pid, different start time: a reused pid is not our process
    reused = QemuProcess(proc.pid, observed.start_time + 1)
    assert not reused.is_alive()
    assert not reused.send_signal(signal.SIGTERM)
    assert proc.poll() is None


def test_zombie_counts_as_ended(child):
    proc = child()
    observed = QemuProcess.observe(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    # not reaped yet: the kernel keeps a zombie, which must count as ended
    assert observed.wait(5)
    assert read_stat(proc.pid)[0] == 'Z'
    assert not observed.is_alive()


def test_terminate_by_signal(child):
    proc = child()
    result = terminate(QemuProcess.observe(proc.pid), kill_timeout=5)
    assert result['method'] == 'signal' and result['ended']
    assert proc.wait(5) == -signal.SIGTERM


def test_terminate_escalates_to_kill(child):
    proc = child(IGNORE_TERM)
    result = terminate(QemuProcess.observe(proc.pid), kill_timeout=0.3)
    assert result['method'] == 'kill' and result['ended']
    assert result['seconds'] >= 0.3
    assert proc.wait(5) == -signal.SIGKILL


def test_terminate_stopped_process(child):
    proc = child()
    os.kill(proc.pid, signal.SIGSTOP)
    result = terminate(QemuProcess.observe(proc.pid), kill_timeout=5)
    assert result['method'] == 'signal'
    assert proc.wait(5) == -signal.SIGTERM


def test_terminate_gone_process(child):
    proc = child()
    observed = QemuProcess.observe(proc.pid)
    proc.kill()
    proc.wait()
    assert terminate(observed, 1) == {'method': None, 'seconds': 0.0, 'ended': True}


def test_wait_times_out(child):
    proc = child()
    assert not QemuProcess.observe(proc.pid).wait(0.1)
