# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The VMs of the bench: qemu_task run in-process (its Reconciler, and QemuShutdownRunner, over the
collection's QemuDriver), and bare QEMU started with the argv qemu_task builds. Every stop goes through
the collection (its driver, or _process.terminate for bare QEMU)."""

from __future__ import annotations

import os
import shutil

from . import processes
from .harness import BenchError, module_util, run_command, wait_for_line
from .settings import KILL_TIMEOUT, MEMORY_MB, READY_LINE, READY_TIMEOUT

# How long a bare QEMU gets to end after SIGTERM before it is killed (and the harness reports it broke).
BARE_STOP_TIMEOUT = 10.0
BARE_KILL_GRACE = 2.0


class Tasks:
    """qemu_task and qemu_shutdown in-process, on the boot-sector image; warn collects the collection's warnings."""

    def __init__(self, image, warn):
        self.image = image
        self.warn = warn

    def args(self, name, state_dir, **extra):
        args = {'name': name, 'state_dir': state_dir, 'image_path': self.image, 'memory': MEMORY_MB,
                'graceful_shutdown': True, 'kill_timeout': KILL_TIMEOUT}
        args.update(extra)
        return args

    def driver(self):
        return module_util('_task.driver').QemuDriver(run_command=run_command, warn=self.warn)

    def run(self, params):
        planner = module_util('_task.plan').Planner(params, find_binary=shutil.which, run_command=run_command)
        return module_util('_task.reconcile').Reconciler(params, planner, self.driver(), check_mode=False, warn=self.warn).run()

    def start(self, name, state_dir, wait_ready=True):
        result = self.run(self.args(name, state_dir))
        if result['task']['state'] != 'running' or not result['task'].get('pid'):
            raise BenchError('qemu_task did not start %s: %r' % (name, result))
        if wait_ready:
            wait_for_line(result['task']['console_log'], READY_LINE, READY_TIMEOUT)
        return result['task']

    def shutdown(self, name, state_dir):
        """qemu_shutdown in-process: the collection's graceful stop. Returns its result."""
        params = {'name': name, 'state_dir': state_dir, 'kill_timeout': KILL_TIMEOUT}
        return module_util('_task.stop').QemuShutdownRunner(params, self.driver(), warn=self.warn).run()

    def remove(self, name, state_dir):
        """Stop (by signal, fast) and remove a task; also after its QEMU was stopped some other way."""
        self.run({'name': name, 'state_dir': state_dir, 'state': 'absent', 'graceful_shutdown': False, 'kill_timeout': '5s'})


class Bare:
    """qemu-system-x86_64 -daemonize with the argv qemu_task builds, without the collection around it."""

    def __init__(self, qemu, image):
        self.qemu = qemu
        self.image = image

    def argv(self, name, directory):
        """The command line qemu_task builds, for a VM in directory: the same argv, started without the collection."""
        return module_util('_command').build_argv(self.qemu, name, self.image, machine_type='pc', accelerator='tcg',
                                                  memory=MEMORY_MB, task_dir=directory)

    @staticmethod
    def qmp_answers(directory, timeout=10.0):
        """Connect to the VM's QMP socket (the greeting read) and leave: QEMU is up."""
        client = module_util('_qmp').QMPClient(os.path.join(directory, 'qmp.sock'), timeout=timeout)
        client.connect()
        client.close()

    @staticmethod
    def process(directory):
        """The QEMU started in directory, from its pidfile (read before it is stopped: QEMU deletes it on exit)."""
        pid = processes.read_pidfile(os.path.join(directory, 'qemu.pid'))
        process = processes.observe(pid) if pid is not None else None
        if process is None:
            raise BenchError('the QEMU started in %s is not running (no live pid in its pidfile)' % directory)
        return process

    def stop(self, directory):
        """The clean-up of a bare QEMU, through the collection's terminate(): it must end on SIGTERM."""
        process = self.process(directory)
        result = processes.terminate(process, BARE_STOP_TIMEOUT, BARE_KILL_GRACE)
        if result['method'] == 'kill':
            raise BenchError('QEMU (pid %d) did not end within %g s of SIGTERM (%s)' % (
                process.pid, BARE_STOP_TIMEOUT, 'killed' if result['ended'] else 'not even SIGKILL ended it'))
