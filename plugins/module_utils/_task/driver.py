# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The driver: starts, observes and stops QEMU. qemu_task, qemu_shutdown and the bench stop VMs only through it."""

from __future__ import annotations

import os
import time

from ansible_collections.nomadic.qemu.plugins.module_utils._command import CONSOLE_CHARDEV_ID
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._process import (
    QemuProcess,
    find_by_pidfile,
    is_qemu_program,
    option_value,
    program_name,
    read_pidfile,
    terminate,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._task.console import needs_rotation, rotate
from ansible_collections.nomadic.qemu.plugins.module_utils._task.readiness import CONSOLE_TAIL, tail, wait_ready
from ansible_collections.nomadic.qemu.plugins.module_utils._task.supervise import Systemd, last_exit, restarting

# When a freshly started QEMU turns out not to be ours (or not alive), how long it gets to end.
FAILED_START_PATIENCE = 1.0
# How long a QEMU started by systemd gets to answer on its QMP socket (it is initialised then: its
# ports are bound); QEMU itself takes tens of milliseconds.
UNIT_START_TIMEOUT = 60.0
UNIT_POLL = 0.05


def _file_version(path):
    """What tells one version of a file from another (inode, size, modification time), or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class QemuDriver:
    """Starts, observes and stops the QEMU of a task.

    Needs only a run_command(argv, cwd=...) -> (rc, stdout, stderr) callable and a warn(msg)
    callable (AnsibleModule.run_command and warn fit).
    """

    def __init__(self, run_command=None, warn=None, systemd=None):
        self.run_command = run_command
        self.warn = warn or (lambda msg: None)
        self.systemd = systemd if systemd is not None else (Systemd(run_command) if run_command is not None else None)

    def observe(self, record, task_dir):
        """The task's live QEMU, or None.

        Never a process that merely reuses its pid (start time and exact argv must match),
        and never one that is not this task's QEMU whatever its record says: the program
        must be QEMU and its argv must name the task's own pidfile. A record written by
        someone else cannot make the collection signal a process of its choosing. Under
        systemd, the unit's main process is the task's QEMU when it runs the recorded argv,
        also after systemd restarted it (then its pid is not the recorded one).
        """
        if record is None or record.damaged or option_value(record.argv, '-pidfile') != task_dir.pidfile:
            return None
        candidates = [QemuProcess(record.pid, record.start_time)] if record.pid else []
        unit = (record.config or {}).get('unit')
        if unit and self.systemd is not None:
            main = _main_pid(self.systemd.show(unit))
            if main and main != record.pid:
                candidates.append(QemuProcess.observe(main))
        for process in candidates:
            if process is not None and process.matches(record.argv) and is_qemu_program(program_name(process.pid)):
                return process
        return None

    def unit_status(self, unit):
        """What systemd knows of a task's unit (supervise.status), or None for a task without one."""
        if not unit or self.systemd is None:
            return None
        return self.systemd.status(unit)

    @staticmethod
    def find(task_dir, known=None):
        """The task's QEMU processes found by their argv (their pidfile), other than ``known`` (a QemuProcess or None)."""
        return [process for process in find_by_pidfile(task_dir.pidfile) if known is None or process.pid != known.pid]

    def start(self, task_dir, argv, supervision=None):
        """Start QEMU with the task directory as its working directory; returns its QemuProcess.

        ``supervision`` is the plan's (see plan.Plan): with a unit, systemd starts QEMU in the
        foreground; without, QEMU detaches itself (-daemonize). The console log of an earlier
        run is rotated away first, never truncated. On failure nothing of this start is left
        running, and the error quotes QEMU and the guest console (when this QEMU wrote to it).
        """
        task_dir.remove_runtime_files()
        if supervision is not None:
            _rotate_for_start(task_dir.console_log, supervision['logs']['max_files'])
            if supervision['unit']:
                return self._start_unit(task_dir, argv, supervision)
        # The console log may still hold what an earlier VM printed: quote it on failure only if this QEMU wrote it.
        console_before = _file_version(task_dir.console_log)
        # -daemonize: the command returns once QEMU is initialised (its ports bound, the
        # pidfile written), with its standard streams already detached.
        try:
            rc, out, err = self.run_command(argv, cwd=task_dir.path)
        except OSError as exc:
            task_dir.remove_runtime_files()
            raise QemuTaskError('%s could not be run: %s; check the emulator option and the QEMU installation'
                                % (argv[0], exc.strerror), option='emulator')
        message = '\n'.join(part.strip() for part in (err, out) if part and part.strip())
        pid = read_pidfile(task_dir.pidfile)
        process = QemuProcess.observe(pid) if pid else None
        if rc != 0 or process is None or not process.matches(argv):
            if process is not None:
                terminate(process, FAILED_START_PATIENCE)
            console = tail(task_dir.console_log, CONSOLE_TAIL) if _file_version(task_dir.console_log) != console_before else ''
            task_dir.remove_runtime_files()
            why = 'failed to start (exit status %d)' % rc if rc != 0 else 'exited right after starting'
            raise QemuTaskError('%s %s: %s%s' % (os.path.basename(argv[0]), why, explain_qemu_error(message, task_dir) or '(no output)',
                                                 ('; guest console: %s' % console) if console else ''))
        if message:
            self.warn("task '%s': QEMU said on start: %s" % (task_dir.name, message))
        return process

    def _start_unit(self, task_dir, argv, supervision):
        """Have systemd start the task's unit, and wait until its QEMU runs argv and answers on QMP."""
        unit = supervision['unit']
        self.sync_unit(supervision)
        started = self.systemd.start(unit)
        deadline = time.monotonic() + UNIT_START_TIMEOUT
        # The start (systemctl returns once its job ran): what follows is judged against this invocation.
        invocation = self.systemd.show(unit).get('InvocationID')
        while True:
            props = self.systemd.show(unit)
            main = _main_pid(props)
            process = QemuProcess.observe(main) if main else None
            if props.get('ActiveState') == 'active' and process is not None and process.matches(argv) and _qmp_answers(task_dir):
                return process
            # Ended: the start failed, QEMU exited (systemd waits to restart it, or gave up), or systemd started it again.
            ended = not started or props.get('InvocationID') != invocation or restarting(props) \
                or (props.get('ActiveState') in ('failed', 'inactive') and not props.get('Job'))
            if ended or time.monotonic() > deadline:
                message = self.systemd.journal(unit, props.get('InvocationID'))
                self.systemd.stop(unit)
                task_dir.remove_runtime_files()
                console = tail(task_dir.console_log, CONSOLE_TAIL)
                exit_info = last_exit(props)
                why = ('failed to start under systemd (unit %s, %s %s)' % (unit, exit_info['code'], exit_info['status'])
                       if ended and exit_info else 'did not answer on its QMP socket within %ds of its start by systemd (unit %s)'
                       % (UNIT_START_TIMEOUT, unit))
                raise QemuTaskError('%s %s: %s%s' % (os.path.basename(argv[0]), why, explain_qemu_error(message, task_dir) or '(no output)',
                                                     ('; guest console: %s' % console) if console else ''))
            time.sleep(UNIT_POLL)

    def sync_unit(self, supervision, check_mode=False):
        """Bring the unit file and its enablement to the plan's; returns what changed ([] when nothing)."""
        unit = supervision['unit']
        changes = []
        if self.systemd.read(unit) != supervision['text']:
            changes.append('unit')
            if not check_mode:
                self.systemd.write(unit, supervision['text'])
        if self.systemd.set_enabled(unit, supervision['enabled'], check_mode=check_mode):
            changes.append('enabled')
        return changes

    def own_unit(self, unit):
        """``unit`` when its file is one the collection wrote, else None (for a task whose record names none)."""
        return unit if self.systemd is not None and self.systemd.own(unit) else None

    def set_unit_enabled(self, unit, enabled, check_mode=False):
        """Have a task's unit start at boot or not (nothing for a task without a unit file); returns whether that changes."""
        if not unit or self.systemd is None or self.systemd.read(unit) is None:
            return False
        return self.systemd.set_enabled(unit, enabled, check_mode=check_mode)

    def unit_text(self, unit):
        """The unit file as it is on the host, or None."""
        return self.systemd.read(unit) if unit and self.systemd is not None else None

    def stop_unit(self, unit):
        """Stop a task's unit (and a restart systemd has pending)."""
        self.systemd.stop(unit)

    def remove_unit(self, unit):
        """Stop, disable and delete a task's unit (nothing when it has none); returns whether a file was removed."""
        if not unit or self.systemd is None:
            return False
        return self.systemd.remove(unit)

    def rotate_console(self, task_dir, logs):
        """Rotate a running VM's console log once it reached max_file_size: QEMU is pointed at a new file over QMP.

        Returns whether it rotated. The module opens the new file and hands QEMU the open file
        (add-fd, then /dev/fdset/N): a QEMU that dropped its privileges (run_as) could not open it
        in the task directory, which stays the module's user's alone.
        """
        if not needs_rotation(task_dir.console_log, logs['max_file_size']):
            return False
        from ansible_collections.nomadic.qemu.plugins.module_utils._qmp import QMPClient, QMPError  # pylint: disable=import-outside-toplevel
        rotate(task_dir.console_log, logs['max_files'])
        fd = os.open(task_dir.console_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
        try:
            with QMPClient(task_dir.monitor_socket) as client:
                fdset = client.execute('add-fd', {'opaque': 'nomadic-qemu console'}, fd=fd)['fdset-id']
                try:
                    client.execute('chardev-change', {'id': CONSOLE_CHARDEV_ID, 'backend': {
                        'type': 'file', 'data': {'out': '/dev/fdset/%d' % fdset, 'append': True}}})
                finally:
                    # The chardev keeps its own copy; the set goes once that is closed.
                    client.execute('remove-fd', {'fdset-id': fdset})
        except QMPError as exc:
            self.warn('the console log %s was rotated, but QEMU could not be pointed at the new file (%s): it writes on into %s '
                      'until it restarts' % (task_dir.console_log, exc, task_dir.console_log + '.1'))
        finally:
            os.close(fd)
        return True

    def stop(self, process, monitor_socket, kill_timeout, graceful, method='acpi', agent_socket=None, what='QEMU', unit=None):
        """Stop a QEMU: gracefully (ACPI or the guest agent, then force after kill_timeout), or by signal. Returns a StopResult.

        A supervised QEMU is stopped the same way, and its unit then stopped too, so that
        systemd does not start it again. Raises QemuTaskError when even SIGKILL did not end it.
        """
        # Imported here: the QMP and shutdown code is needed only on the stop path.
        from ansible_collections.nomadic.qemu.plugins.module_utils._shutdown import StopResult, shutdown  # pylint: disable=import-outside-toplevel
        if graceful:
            result = shutdown(process, monitor_socket, kill_timeout, method=method, agent_socket=agent_socket)
        else:
            result = StopResult.forced(terminate(process, kill_timeout))
        if unit and self.systemd is not None:
            self.systemd.stop(unit)
        if not result.ended:
            raise QemuTaskError('%s (pid %s) did not end even after SIGKILL; check the host (a process in '
                                'uninterruptible sleep cannot be killed)' % (what, process.pid))
        return result

    @staticmethod
    def wait_ready(wait_for, task_dir, process, ports):
        """Wait for the guest to be ready (see readiness.wait_ready)."""
        from ansible_collections.nomadic.qemu.plugins.module_utils._shutdown import agent_ping  # pylint: disable=import-outside-toplevel
        return wait_ready(wait_for, task_dir, process, ports, agent_ping)


def _main_pid(props):
    try:
        return int(props.get('MainPID') or 0)
    except ValueError:
        return 0


def _qmp_answers(task_dir):
    """Whether QEMU greets on its QMP socket: it does so once it is initialised and runs its main loop."""
    from ansible_collections.nomadic.qemu.plugins.module_utils._qmp import QMPClient, QMPError  # pylint: disable=import-outside-toplevel
    try:
        with QMPClient(task_dir.monitor_socket, timeout=1.0):
            return True
    except QMPError:
        return False


def _rotate_for_start(path, max_files):
    """Before a start: the console of the earlier run (when it printed anything) becomes console.log.1."""
    try:
        if os.lstat(path).st_size == 0:
            return
    except FileNotFoundError:
        return
    rotate(path, max_files)


def _no_space(path):
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail == 0 or st.f_favail == 0


def explain_qemu_error(message, task_dir=None):
    """QEMU's start-up error, with what to do about the errors users meet most."""
    if task_dir is not None and ('pid file' in message or 'console.log' in message) and _no_space(task_dir.path):
        message += ('; state_dir %s: no space left on device (QEMU writes its pidfile and console log in the task directory); '
                    'free space there or choose another state_dir' % task_dir.state_dir)
    elif '"write" lock' in message:
        message += ('; another process (another task?) has this image open: give each VM its own copy of the image, '
                    'or add -snapshot to the args of every VM that uses it, so that none writes it')
    elif 'invalid option' in message:
        message += '; QEMU does not know this option: check its spelling in args, or the QEMU version (qemu-system-* -help)'
    return message
