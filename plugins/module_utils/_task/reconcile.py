# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The reconciler: brings one task to running, stopped, restarted or absent, with check mode and diff."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._process import start_epoch
from ansible_collections.nomadic.qemu.plugins.module_utils._task.readiness import tail
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir, TaskRecord, default_state_dir
from ansible_collections.nomadic.qemu.plugins.module_utils._task.supervise import task_unit_name, utc_time
from ansible_collections.nomadic.qemu.plugins.module_utils._task.view import diff_view, plan_view, task_view

# Waiting for another run on the same task: beyond its own stop time (kill_timeout).
LOCK_WAIT = 300
# A QEMU this run started but could not record is ended at once: it must not outlive the run.
UNRECORDED_STOP = 1.0
# For the fault-injection tests only, off unless set: seconds to pause between QEMU's start and its record.
TEST_PAUSE_AFTER_START = 'NOMADIC_QEMU_TEST_PAUSE_AFTER_START'
_HOSTFWD_PORT_RE = re.compile(r'hostfwd=(?:tcp|udp):[^:,]*:([0-9]+)-')


@contextlib.contextmanager
def interruptible_by_sigterm():
    """Within: SIGTERM raises KeyboardInterrupt, as SIGINT does, so the clean-up of an interrupted start runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt('SIGTERM')

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def utc_now():
    return utc_time(time.time())


def _unit(record):
    """The systemd unit a task's record names, or None."""
    return (record.config or {}).get('unit') if record is not None and not record.damaged else None


def _describe_exit(last_exit):
    if not last_exit:
        return 'unknown'
    if last_exit['code'] == 'exited':
        return 'exit status %s at %s' % (last_exit['status'], last_exit['at'])
    return 'signal %s at %s' % (last_exit['status'], last_exit['at'])


class Reconciler:
    """Brings one task to the requested state.

    Needs: the module's params dict, a Planner (options -> Plan), a QemuDriver (or a stand-in
    with observe/start/stop/wait_ready), check_mode and a warn(msg) callable. Errors are
    raised as QemuTaskError.
    """

    def __init__(self, params, planner, driver, check_mode=False, warn=None, now=utc_now):
        self.params = params
        self.planner = planner
        self.driver = driver
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)
        self.now = now
        self.recovered = False
        self.actions = []
        self.shutdown_result = None
        self.ready_seconds = None

    def run(self):
        state = self.planner.option('state')
        task_dir = TaskDir.from_params(self.params.get('state_dir'), self.params.get('name'))
        # Before anything is read, or a lock file made, in directories others could write.
        task_dir.check_trusted()
        if self.check_mode or (state in ('absent', 'stopped') and not task_dir.exists()):
            return self._reconcile(state, task_dir)
        lock_wait = LOCK_WAIT
        try:
            lock_wait += self.planner.kill_timeout()
        except QemuTaskError:
            pass  # reported with the rest of the configuration
        made_state_dir = not os.path.isdir(task_dir.state_dir)
        lock = task_dir.lock(lock_wait)
        lock.acquire()
        try:
            return self._reconcile(state, task_dir)
        finally:
            # No task left (removed, never there, or a new task that could not start): no lock file left either.
            lock.release(remove=state == 'absent' or not task_dir.exists())
            if made_state_dir:
                task_dir.remove_state_dir_if_empty()

    def _reconcile(self, state, task_dir):
        record = task_dir.read()
        if record is not None and record.damaged:
            self.warn('the state record %s is damaged; treating the task as not running' % task_dir.record_path)
            record = None
        process = self.driver.observe(record, task_dir)
        # The task's QEMUs that no record names (a run interrupted between QEMU's start and its
        # record, a task directory removed under a running VM). Looked for only when they matter.
        orphans = self.driver.find(task_dir, process) if process is None or state in ('stopped', 'absent') else []
        crashed = record is not None and record.state == 'running' and process is None and not orphans
        before = diff_view(record, process or (orphans[0] if orphans else None))
        if state == 'absent':
            return self._absent(task_dir, record, process, orphans, before)
        if state == 'stopped':
            return self._stopped(task_dir, record, process, orphans, before, crashed)
        if state == 'present':
            return self._present(task_dir, record, process, before)
        return self._running(task_dir, record, process, orphans, before, crashed, restart=(state == 'restarted'))

    def _stop_orphans(self, task_dir, record, orphans):
        """End the task's QEMUs that no record names, saying so."""
        for orphan in orphans:
            self.actions.append('stopped')
            self.warn("task '%s': %s its QEMU (pid %d) that no record named (an earlier run was interrupted, or the task "
                      "directory was removed under it)" % (task_dir.name, 'would stop' if self.check_mode else 'stopped', orphan.pid))
            if not self.check_mode:
                self._stop(task_dir, record, orphan)

    def _result(self, changed, task, before, after):
        result = {'changed': changed, 'task': task, 'diff': {'before': before, 'after': after},
                  'recovered': self.recovered, 'actions': self.actions}
        if self.shutdown_result is not None:
            result['shutdown'] = self.shutdown_result
        if self.ready_seconds is not None:
            result['ready_seconds'] = self.ready_seconds
        return result

    def _stop(self, task_dir, record, process):
        result = self.driver.stop(process, task_dir.monitor_socket, self.planner.kill_timeout(record), self.planner.graceful(record),
                                  what="task '%s': QEMU" % task_dir.name, unit=_unit(record))
        self.shutdown_result = result.as_dict()

    def _wait_ready(self, plan, task_dir, process):
        if plan.wait_for is not None and not self.check_mode:
            self.ready_seconds = self.driver.wait_ready(plan.wait_for, task_dir, process, plan.ports)

    def _running(self, task_dir, record, process, orphans, before, crashed, restart):
        own = set(record.host_ports.values()) if process else set()
        for orphan in orphans:
            own.update(int(port) for port in _HOSTFWD_PORT_RE.findall(' '.join(orphan.argv or [])))
        plan = self.planner.plan(task_dir, record, own)
        adopted = next((orphan for orphan in orphans if orphan.argv == plan.argv), None) if not restart else None
        if adopted is not None:
            return self._adopt(task_dir, record, plan, adopted, [o for o in orphans if o is not adopted], before)
        if orphans:
            self._stop_orphans(task_dir, record, orphans)
        same_argv = process is not None and not plan.needs_restart(record)
        same_config = same_argv and record.config == plan.config and record.labels == plan.labels
        after = plan_view(plan)
        unit = plan.supervision['unit']
        if unit:
            before = dict(before, unit=self.driver.unit_text(unit))
            after = dict(after, unit=plan.supervision['text'])
        if process is not None and process.pid != record.pid and not self.check_mode:
            # systemd started the VM (a restart, a boot, systemctl start): its process is the task's, not a recovery.
            record = record.copy(state='running', pid=process.pid, start_time=process.start_time,
                                 started_at=utc_time(start_epoch(process.start_time)))
            task_dir.write(record)
        if process is not None and not self.check_mode:
            self.driver.rotate_console(task_dir, plan.supervision['logs'])
        unit_changes = self.driver.sync_unit(plan.supervision, check_mode=True) if unit and same_argv and not restart else []
        if same_config and not restart and not unit_changes:
            self._wait_ready(plan, task_dir, process)
            return self._result(False, task_view(task_dir, record, process), before, after)
        new_record = TaskRecord(name=task_dir.name, state='running', argv=plan.argv, config=plan.config, accelerator=plan.accelerator,
                                ports=plan.ports, labels=plan.labels, created_dir=record is not None and record.created_dir,
                                recoveries=record.recoveries if record is not None else 0)
        if same_argv and not restart:
            # Only how the VM is stopped, restarted or labelled changed (or its unit was edited): no restart needed.
            new_record = new_record.copy(pid=record.pid, start_time=record.start_time, started_at=record.started_at)
            self.actions.append('updated')
            if not self.check_mode:
                task_dir.write(new_record)
                if unit:
                    self.driver.sync_unit(plan.supervision)
            self._wait_ready(plan, task_dir, process)
            return self._result(True, task_view(task_dir, new_record, process), before, after)
        if crashed:
            self.recovered = True
            new_record = new_record.copy(recoveries=new_record.recoveries + 1)
            status = self.driver.unit_status(_unit(record))
            if status is not None and status['active_state'] == 'failed':
                why = ('its unit %s failed after %d restart(s) by systemd (last exit: %s); starting it again'
                       % (_unit(record), status['restarts'], _describe_exit(status['last_exit'])))
            else:
                why = 'its QEMU process (pid %s) was no longer running; starting it again' % record.pid
            self.warn("task '%s': %s. Last console output: %s" % (task_dir.name, why, tail(task_dir.console_log, 300) or '(none)'))
        for warning in plan.media.warnings if plan.media is not None else ():
            self.warn(warning)
        if self.check_mode:
            if process:
                self.actions.append('stopped')
            self.actions.append('started')
            return self._result(True, task_view(task_dir, new_record, None, state='running'), before, after)
        if process:
            self._stop(task_dir, record, process)
            self.actions.append('stopped')
            # Say so now: if the start below fails, the record must not claim a running VM.
            record = task_dir.mark_stopped(record)
        if _unit(record) and _unit(record) != unit:
            # Another supervisor (or another unit): the old one goes, or systemd would start the old VM again.
            self.driver.remove_unit(_unit(record))
        # Whether the collection made the task directory: only then may state=absent remove it whole.
        new_record.created_dir = (record is not None and record.created_dir) or not task_dir.exists()
        task_dir.ensure()
        try:
            if plan.ports:
                # Pick and check the ports again under the state directory's port lock, now that
                # the old VM (if any) released its own, so two tasks never race for one port.
                with task_dir.ports_lock(LOCK_WAIT):
                    plan = self.planner.plan(task_dir, record, set())
                    new_record, started = self._start_and_record(task_dir, plan, new_record)
            else:
                new_record, started = self._start_and_record(task_dir, plan, new_record)
        except QemuTaskError:
            if record is None:
                # A new task that could not start leaves nothing behind.
                self.driver.remove_unit(unit)
                task_dir.remove(keep_user_files=True)
            else:
                task_dir.mark_stopped(new_record)
                # Nor does it leave a unit that would start it at the next boot.
                if unit and unit != _unit(record):
                    self.driver.remove_unit(unit)
                elif unit:
                    self.driver.set_unit_enabled(unit, False)
            raise
        self.actions.append('started')
        self._wait_ready(plan, task_dir, started)
        after = plan_view(plan)
        return self._result(True, task_view(task_dir, new_record, started), before, after)

    def _adopt(self, task_dir, record, plan, adopted, others, before):
        """Take back a QEMU of this task that runs the desired argv but that no record names."""
        self._stop_orphans(task_dir, record, others)
        self.actions.append('adopted')
        self.warn("task '%s': %s its running QEMU (pid %d), which no record named (an earlier run was interrupted, or the "
                  "task directory was removed under it)" % (task_dir.name, 'would adopt' if self.check_mode else 'adopted', adopted.pid))
        new_record = TaskRecord(name=task_dir.name, state='running', argv=plan.argv, config=plan.config, accelerator=plan.accelerator,
                                ports=plan.ports, labels=plan.labels, pid=adopted.pid, start_time=adopted.start_time,
                                started_at=self.now(), created_dir=record.created_dir if record is not None else False,
                                recoveries=record.recoveries if record is not None else 0)
        if not self.check_mode:
            task_dir.ensure()
            task_dir.write(new_record)
            self._wait_ready(plan, task_dir, adopted)
        after = plan_view(plan)
        return self._result(True, task_view(task_dir, new_record, adopted), before, after)

    def _start_and_record(self, task_dir, plan, new_record):
        # The disks and the overlay first: qemu-img must not race QEMU for them.
        created = plan.prepare()
        try:
            return self._start_intended(task_dir, plan, new_record)
        except BaseException:
            # What this run created for a VM that did not start goes with it.
            for path in created:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            raise

    def _start_intended(self, task_dir, plan, new_record):
        # Intent before action: a durable record says a start is under way, with the argv that
        # identifies the QEMU, before QEMU runs; an interrupted run leaves it for the next one.
        task_dir.write(new_record.copy(state='starting', argv=plan.argv, config=plan.config, ports=plan.ports, pid=None,
                                       start_time=None, started_at=None))
        with interruptible_by_sigterm():
            return self._start_recorded(task_dir, plan, new_record)

    def _start_recorded(self, task_dir, plan, new_record):
        started = self.driver.start(task_dir, plan.argv, plan.supervision)
        try:
            pause = os.environ.get(TEST_PAUSE_AFTER_START)
            if pause:
                time.sleep(float(pause))
            new_record = new_record.copy(argv=plan.argv, config=plan.config, ports=plan.ports, pid=started.pid,
                                         start_time=started.start_time, started_at=self.now())
            task_dir.write(new_record)
        except BaseException:
            # Nothing durable says this QEMU runs (an error, or the run interrupted): it must not outlive this run.
            self.driver.stop(started, task_dir.monitor_socket, UNRECORDED_STOP, False, what="task '%s': QEMU" % task_dir.name,
                             unit=plan.supervision['unit'])
            task_dir.remove_runtime_files()
            raise
        return new_record, started

    def _present(self, task_dir, record, process, before):
        """The task exists (its directory and record), whatever its VM does: nothing is started or stopped."""
        labels = self.planner.option('labels')
        if record is not None:
            after = dict(before, labels=labels)
            if record.labels == labels:
                return self._result(False, task_view(task_dir, record, process), before, after)
            record = record.copy(labels=labels)
            self.actions.append('updated')
        else:
            record = TaskRecord(name=task_dir.name, state='stopped', labels=labels, created_dir=not task_dir.exists())
            after = diff_view(record, None)
            self.actions.append('created')
        if not self.check_mode:
            task_dir.ensure()
            task_dir.write(record)
        return self._result(True, task_view(task_dir, record, process), before, after)

    def _stopped(self, task_dir, record, process, orphans, before, crashed):
        result = self._stop_vm(task_dir, record, process, orphans, before, crashed)
        unit = _unit(record)
        enabled = bool(self.planner.option('enabled'))
        if unit and self.driver.set_unit_enabled(unit, enabled, check_mode=self.check_mode):
            # A stopped VM whose unit stays enabled would start at the next boot: the unit follows enabled.
            self.actions.append('updated')
            result['changed'] = True
            result['diff']['after'] = dict(result['diff']['after'], config=dict(record.config, enabled=enabled))
            if not self.check_mode:
                current = task_dir.read()
                task_dir.write(current.copy(config=dict(current.config, enabled=enabled)))
        return result

    def _stop_vm(self, task_dir, record, process, orphans, before, crashed):
        if orphans:
            self._stop_orphans(task_dir, record, orphans)
            if record is not None and not self.check_mode:
                record = task_dir.mark_stopped(record)
        if record is None:
            return self._result(bool(orphans), task_view(task_dir, None, None), before, before)
        after = dict(before, state='stopped')
        if orphans and process is None:
            return self._result(True, task_view(task_dir, record, None), before, after)
        if process is None:
            status = self.driver.unit_status(_unit(record))
            if status is not None and (status['restarting'] or status['active_state'] == 'active'):
                # systemd is about to start it again (a restart delay): the stop is a change.
                self.actions.append('stopped')
                if not self.check_mode:
                    self.driver.stop_unit(_unit(record))
                    record = task_dir.mark_stopped(record)
                return self._result(True, task_view(task_dir, record, None), before, after)
            if record.state != 'stopped':
                # It died on its own: record what is true, nothing to do for the user.
                if crashed:
                    self.warn("task '%s': its QEMU process (pid %s) had already ended" % (task_dir.name, record.pid))
                if not self.check_mode:
                    task_dir.mark_stopped(record)
            return self._result(False, task_view(task_dir, record, None), before, after)
        self.actions.append('stopped')
        if not self.check_mode:
            self._stop(task_dir, record, process)
            record = task_dir.mark_stopped(record)
        return self._result(True, task_view(task_dir, record, None), before, after)

    def _absent(self, task_dir, record, process, orphans, before):
        after = {'state': 'absent'}
        self._stop_orphans(task_dir, record, orphans)
        # The task's unit, also when its record is damaged or its directory gone: the unit of its name, if the collection wrote it.
        unit = _unit(record) or self.driver.own_unit(task_unit_name(task_dir, default_state_dir()))
        if not task_dir.exists():
            if unit:
                self.actions.append('removed')
                if not self.check_mode:
                    self.driver.remove_unit(unit)
            return self._result(bool(orphans) or bool(unit), task_view(task_dir, None, None), before, after)
        if record is None and not task_dir.own_leftovers():
            # A directory that is not a task's (no record, nothing of ours in it) is never touched.
            self.warn('%s exists but holds no task; left alone' % task_dir.path)
            return self._result(bool(orphans), task_view(task_dir, None, None), before, after)
        if process:
            self.actions.append('stopped')
        self.actions.append('removed')
        if not self.check_mode:
            if process:
                self._stop(task_dir, record, process)
            self.driver.remove_unit(unit)
            # A directory the collection created goes whole; one that was there before (say, with
            # images downloaded into it) keeps what is not the collection's.
            task_dir.remove(keep_user_files=not (record is not None and record.created_dir))
            if task_dir.exists():
                self.warn('%s holds files that are not the collection\'s (it existed before the task); they were left there'
                          % task_dir.path)
        return self._result(True, task_view(task_dir, None, None), before, after)
