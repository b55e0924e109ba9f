# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the bench's clean-up sweep (bench/nqbench/processes.py) on real child processes: it finds them by
the run directory on their command line and stops them through the collection's terminate()."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ansible_collections.nomadic.qemu.tests.unit.bench.bench_loader import load as _load


processes = _load('processes')

# A child that names its directory on its command line; 'ignore' makes it ignore SIGTERM.
CHILD = 'import signal, sys, time\nif sys.argv[2] == "ignore": signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint("up", flush=True)\ntime.sleep(60)\n'


@pytest.fixture
def child(tmp_path):
    started = []

    def start(behaviour):
        proc = subprocess.Popen([sys.executable, '-c', CHILD, str(tmp_path / 'vm' / 'disk.img'), behaviour], stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b'up\n'
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def reaped(proc, timeout=5.0):
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc.returncode


@pytest.mark.parametrize('behaviour, returncode', [
    ('default', -15),  # ends on SIGTERM
    ('ignore', -9),    # ignores it: SIGKILL after the grace time
])
def test_sweep_finds_and_stops_processes_of_the_run(child, tmp_path, behaviour, returncode):
    other = child(behaviour)
    assert processes.processes_naming(str(tmp_path / 'elsewhere')) == []
    found = processes.processes_naming(str(tmp_path))
    assert found == [other.pid]
    assert processes.is_running(other.pid)
    assert processes.stop_processes(found, grace=0.3) == [other.pid]
    assert reaped(other) == returncode
    assert processes.processes_naming(str(tmp_path)) == []
    # Gone: nothing is signalled again.
    assert processes.stop_processes([other.pid], grace=0.3) == []


def test_stop_naming(child, tmp_path):
    procs = [child('default'), child('ignore')]
    assert processes.stop_naming(str(tmp_path), grace=0.3) == sorted(proc.pid for proc in procs)
    assert sorted(reaped(proc) for proc in procs) == [-15, -9]
    assert processes.stop_naming(str(tmp_path)) == []


def test_cmdline_and_cpu_of_a_gone_process(child):
    proc = child('default')
    assert processes.cmdline(proc.pid)[:2] == [sys.executable, '-c']
    proc.kill()
    proc.wait()
    assert (processes.cmdline(proc.pid), processes.cpu_ticks(proc.pid), processes.is_running(proc.pid)) == ([], 0, False)
