# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The logic behind the qemu_shutdown module: stop a task, or any VM given its QMP socket, through the driver."""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._process import QemuProcess, is_qemu_program, program_name
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import stop_timeout
from ansible_collections.nomadic.qemu.plugins.module_utils._task.reconcile import LOCK_WAIT
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir


class QemuShutdownRunner:
    """Shuts one VM down and reports how it ended.

    Needs only the module's params dict, a QemuDriver, check_mode and a warn(msg) callable.
    """

    def __init__(self, params, driver, check_mode=False, warn=None):
        self.params = params
        self.driver = driver
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)

    def _kill_timeout(self, recorded=None):
        return stop_timeout(self.params.get('kill_timeout'), recorded)

    def run(self):
        # A bad kill_timeout is reported whatever the VM's state, and before waiting for the lock.
        self._kill_timeout()
        if self.params.get('monitor_socket'):
            return self._by_socket(self.params['monitor_socket'])
        task_dir = TaskDir.from_params(self.params.get('state_dir'), self.params['name'])
        task_dir.check_trusted()
        if self.check_mode or not task_dir.exists():
            return self._by_task(task_dir)
        lock = task_dir.lock(LOCK_WAIT + self._kill_timeout())
        lock.acquire()
        try:
            return self._by_task(task_dir)
        finally:
            lock.release()

    @staticmethod
    def _unchanged(why, **extra):
        result = {'changed': False, 'graceful': False, 'method': None, 'seconds': 0.0, 'exit_status': None,
                  'reason': None, 'notes': [why], 'pid': None}
        result.update(extra)
        return result

    def _by_task(self, task_dir):
        record = task_dir.read()
        if record is None or record.damaged:
            why = "task '%s' does not exist in %s" % (task_dir.name, task_dir.state_dir)
            # A typo in a name must not pass for a VM that was shut down.
            self.warn('%s; nothing was shut down (check the name and state_dir)' % why)
            return self._unchanged(why)
        process = self.driver.observe(record, task_dir)
        if process is None:
            if record.state == 'running' and not self.check_mode:
                task_dir.mark_stopped(record)
            return self._unchanged("task '%s' is not running" % task_dir.name)
        if self.check_mode:
            return self._would(process)
        result = self.driver.stop(process, task_dir.monitor_socket, self._kill_timeout(record.config.get('kill_timeout')), True,
                                  method=self.params.get('method') or 'acpi',
                                  agent_socket=task_dir.agent_socket if record.config.get('guest_agent') else None,
                                  unit=record.config.get('unit'))
        task_dir.mark_stopped(record)
        return self._done(result, process)

    def _by_socket(self, path):
        # Imported here: the QMP code is needed only on the stop path.
        from ansible_collections.nomadic.qemu.plugins.module_utils._shutdown import peer_pid  # pylint: disable=import-outside-toplevel
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
        result = self.driver.stop(process, path, self._kill_timeout(), True, method=self.params.get('method') or 'acpi',
                                  agent_socket=self.params.get('agent_socket'))
        return self._done(result, process)

    @staticmethod
    def _would(process):
        return {'changed': True, 'graceful': None, 'method': None, 'seconds': 0.0, 'exit_status': None,
                'reason': None, 'notes': [], 'pid': process.pid}

    @staticmethod
    def _done(result, process):
        return dict(result.as_dict(), changed=True, pid=process.pid)
