# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What is measured for one VM: start, the no-op re-run and the graceful stop, each against its floor.

Each stage is a function of the Bench. Its variants run interleaved (harness.interleaved), so the
floor is measured next to what it is compared with.
"""

from __future__ import annotations

import os
import shutil
import time

from . import processes
from .harness import BenchError, excerpt, interleaved, module_util, run_command
from .settings import KILL_TIMEOUT


def ping_variant(bench, key):
    """A variant running ansible.builtin.ping ad hoc, recorded under key: the floor, measured next to what it is compared with."""
    def ping(record):
        seconds, result = bench.ansible.adhoc('ansible.builtin.ping')
        if result.get('ping') != 'pong':
            raise BenchError('ping did not answer pong: %r' % result)
        if record:
            bench.sample_run(key, seconds)
    return ping


def stage_start(bench):
    state_dir = bench.state_dir('start')
    cmd_dir = os.path.join(bench.rundir, 'start-cmd')
    bare_dir = os.path.join(bench.rundir, 'start-bare')
    tasks, bare = bench.tasks, bench.bare

    def adhoc_task(record):
        seconds, result = bench.ansible.adhoc('nomadic.qemu.qemu_task', tasks.args('adhoc', state_dir))
        if not result.get('changed') or result.get('task', {}).get('state') != 'running':
            raise BenchError('qemu_task ad hoc did not start the VM: %r' % result)
        if record:
            bench.sample_run('start.adhoc.qemu_task', seconds)
        tasks.remove('adhoc', state_dir)

    def adhoc_command(record):
        shutil.rmtree(cmd_dir, ignore_errors=True)
        os.makedirs(cmd_dir)
        seconds, _result = bench.ansible.adhoc('ansible.builtin.command', {'argv': bare.argv('cmd', cmd_dir), 'chdir': cmd_dir})
        if record:
            bench.sample_run('start.adhoc.command', seconds)
        bare.stop(cmd_dir)

    def inproc_runner(record):
        started = time.perf_counter()
        result = tasks.run(tasks.args('inproc', state_dir))
        bare.qmp_answers(result['task']['task_dir'])
        seconds = time.perf_counter() - started
        if record:
            bench.sample('start.inproc.runner', seconds)
        tasks.remove('inproc', state_dir)

    def inproc_bare(record):
        shutil.rmtree(bare_dir, ignore_errors=True)
        os.makedirs(bare_dir)
        argv = bare.argv('bare', bare_dir)
        started = time.perf_counter()
        rc, _out, err = run_command(argv, cwd=bare_dir)
        if rc != 0:
            raise BenchError('bare QEMU failed to start: %s' % excerpt(err))
        bare.qmp_answers(bare_dir)
        seconds = time.perf_counter() - started
        if record:
            bench.sample('start.inproc.bare', seconds)
        bare.stop(bare_dir)

    interleaved([adhoc_task, adhoc_command, ping_variant(bench, 'start.adhoc.ping')], bench.args.runs)
    # In-process runs are cheap and their differences small: three times as many.
    interleaved([inproc_runner, inproc_bare], 3 * bench.args.runs)


def stage_noop(bench):
    state_dir = bench.state_dir('noop')
    tasks = bench.tasks
    tasks.start('noop', state_dir)
    args = tasks.args('noop', state_dir)

    def adhoc_task(record):
        seconds, result = bench.ansible.adhoc('nomadic.qemu.qemu_task', args)
        if result.get('changed') is not False:
            raise BenchError('qemu_task on a running VM reported a change: %r' % result)
        if record:
            bench.sample_run('noop.adhoc.qemu_task', seconds)

    def inproc_runner(record):
        started = time.perf_counter()
        result = tasks.run(args)
        seconds = time.perf_counter() - started
        if result['changed']:
            raise BenchError('the Reconciler on a running VM reported a change: %r' % result)
        if record:
            bench.sample('noop.inproc.runner', seconds)

    try:
        interleaved([adhoc_task, ping_variant(bench, 'noop.adhoc.ping')], bench.args.runs)
        interleaved([inproc_runner], 3 * bench.args.runs)
    finally:
        tasks.remove('noop', state_dir)


def powerdown(task, poll_interval):
    """The guest's own shutdown, by hand: system_powerdown over QMP (the one command measured), then the wait for
    QEMU's exit: on its pidfd (poll_interval None), or by looking every poll_interval seconds. Returns the seconds."""
    process = processes.observe(task['pid'])
    if process is None:
        raise BenchError('the QEMU of the task (pid %d) does not run' % task['pid'])
    client = module_util('_qmp').QMPClient(task['monitor_socket'], timeout=10)
    client.connect()
    try:
        started = time.perf_counter()
        client.execute('system_powerdown')
        if poll_interval is None:
            ended = process.wait(30)
        else:
            ended = False
            deadline = time.monotonic() + 30
            while not ended and time.monotonic() < deadline:
                time.sleep(poll_interval)
                ended = not process.is_alive()
        seconds = time.perf_counter() - started
    finally:
        client.close()
    if not ended:
        # The stage's clean-up (state=absent) forces it through the collection.
        raise BenchError('the guest did not power off within 30 s of system_powerdown')
    return seconds


def stage_stop(bench):
    state_dir = bench.state_dir('stop')
    tasks = bench.tasks

    def fresh():
        tasks.remove('vm', state_dir)
        return tasks.start('vm', state_dir)

    def runner(record):
        fresh()
        started = time.perf_counter()
        result = tasks.shutdown('vm', state_dir)
        seconds = time.perf_counter() - started
        if not result.get('graceful') or result.get('method') != 'acpi':
            raise BenchError('QemuShutdownRunner did not stop the guest gracefully: %r' % result)
        if record:
            bench.sample('stop.inproc.runner', seconds)
            bench.sample('stop.inproc.runner_reported', result['seconds'])

    def by_hand(record):
        seconds = powerdown(fresh(), None)
        if record:
            bench.sample('stop.guest', seconds)

    def naive(record):
        seconds = powerdown(fresh(), 1.0)
        if record:
            bench.sample('stop.naive_poll', seconds)

    def adhoc(record):
        fresh()
        seconds, result = bench.ansible.adhoc('nomadic.qemu.qemu_shutdown', {'name': 'vm', 'state_dir': state_dir, 'kill_timeout': KILL_TIMEOUT})
        if not result.get('graceful') or result.get('method') != 'acpi':
            raise BenchError('qemu_shutdown ad hoc did not stop the guest gracefully: %r' % result)
        if record:
            bench.sample_run('stop.adhoc.qemu_shutdown', seconds)
            bench.sample('stop.adhoc.qemu_shutdown_reported', result['seconds'])

    try:
        interleaved([runner, by_hand], 3 * bench.args.runs)
        interleaved([naive, adhoc, ping_variant(bench, 'stop.adhoc.ping')], bench.args.runs)
    finally:
        tasks.remove('vm', state_dir)
