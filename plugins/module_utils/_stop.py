# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The logic behind the qemu_shutdown module: stop a task, or any VM given its QMP socket."""

from __future__ import annotations

import os

from ansible_collections.nomadic.qemu.plugins.module_utils._duration import parse_duration
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._process import PROC, QemuProcess, read_cmdline
from ansible_collections.nomadic.qemu.plugins.module_utils._shutdown import peer_pid, shutdown
from ansible_collections.nomadic.qemu.plugins.module_utils._state import TaskDir
from ansible_collections.nomadic.qemu.plugins.module_utils._task import LOCK_WAIT, QemuTaskRunner

DEFAULT_KILL_TIMEOUT = 5.0


def program_name(pid, proc=PROC):
    """The file name of the program a process runs (/proc/PID/exe, else its argv[0]), or None when unknown."""
    try:
        path = os.readlink(os.path.join(proc, str(pid), 'exe'))
    except OSError:
        argv = read_cmdline(pid, proc)
        path = argv[0] if argv else ''
    if path.endswith(' (deleted)'):  # the binary was replaced (an upgrade) while QEMU runs
        path = path[:-len(' (deleted)')]
    return os.path.basename(path) or None


def is_qemu_program(name):
    """True for QEMU's emulators (qemu-system-x86_64, qemu-kvm...)."""
    return bool(name) and name.startswith('qemu')


class QemuShutdownRunner:
    """Shuts one VM down and reports how it ended.

    Needs only the module's params dict, check_mode and a warn(msg) callable.
    """

    def __init__(self, params, check_mode=False, warn=None):
        self.params = params
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)

    def _kill_timeout(self, recorded=None):
        if self.params.get('kill_timeout') is not None:
            return parse_duration(self.params['kill_timeout'], option='kill_timeout')
        return DEFAULT_KILL_TIMEOUT if recorded is None else recorded

    def run(self):
        # A bad kill_timeout is reported whatever the VM's state, and before waiting for the lock.
        self._kill_timeout()
        if self.params.get('monitor_socket'):
            return self._by_socket(self.params['monitor_socket'])
        task_dir = TaskDir.from_params(self.params.get('state_dir'), self.params['name'])
        if self.check_mode or not task_dir.exists():
            return self._by_task(task_dir)
        lock = task_dir.lock(LOCK_WAIT + self._kill_timeout())
        lock.acquire()
        try:
            return self._by_task(task_dir)
        finally:
            lock.release()

    def _unchanged(self, why, **extra):
        result = {'changed': False, 'graceful': False, 'method': None, 'seconds': 0.0, 'exit_status': None,
                  'reason': None, 'notes': [why], 'pid': None}
        result.update(extra)
        return result

    def _by_task(self, task_dir):
        record = task_dir.read_record()
        if not record or record.get('damaged'):
            return self._unchanged("task '%s' does not exist in %s" % (task_dir.name, task_dir.state_dir))
        process = QemuTaskRunner.running_process(record)
        config = record.get('config') or {}
        if process is None:
            if record.get('state') == 'running' and not self.check_mode:
                task_dir.mark_stopped(record)
            return self._unchanged("task '%s' is not running" % task_dir.name)
        kill_timeout = self._kill_timeout(config.get('kill_timeout'))
        if self.check_mode:
            return self._would(process)
        result = shutdown(process, task_dir.monitor_socket, kill_timeout, method=self.params.get('method') or 'acpi',
                          agent_socket=task_dir.agent_socket if config.get('guest_agent') else None)
        self._check_ended(result, process)
        task_dir.mark_stopped(record)
        return self._done(result, process)

    def _by_socket(self, path):
        pid = peer_pid(path)
        process = QemuProcess.observe(pid) if pid else None
        if process is None:
            return self._unchanged('no QEMU is serving the QMP socket %s' % path)
        program = program_name(process.pid)
        if not is_qemu_program(program):
            # Never signal a process that is not QEMU: any daemon serving a unix socket would do otherwise.
            raise QemuTaskError('monitor_socket %s is served by pid %d (%s), which is not QEMU; give the QMP socket of a QEMU '
                                '(-qmp unix:PATH,server=on,wait=off)' % (path, process.pid, program or 'an unknown program'),
                                option='monitor_socket')
        if self.check_mode:
            return self._would(process)
        result = shutdown(process, path, self._kill_timeout(), method=self.params.get('method') or 'acpi',
                          agent_socket=self.params.get('agent_socket'))
        self._check_ended(result, process)
        return self._done(result, process)

    @staticmethod
    def _would(process):
        return {'changed': True, 'graceful': None, 'method': None, 'seconds': 0.0, 'exit_status': None,
                'reason': None, 'notes': [], 'pid': process.pid}

    @staticmethod
    def _check_ended(result, process):
        if not result['ended']:
            raise QemuTaskError('QEMU (pid %s) did not end even after SIGKILL; check the host (a process in '
                                'uninterruptible sleep cannot be killed)' % process.pid)

    @staticmethod
    def _done(result, process):
        out = dict(result, changed=True, pid=process.pid)
        out.pop('ended', None)
        return out
