# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The driver: starts, observes and stops QEMU. qemu_task, qemu_shutdown and the bench stop VMs only through it."""

from __future__ import annotations

import os

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
from ansible_collections.nomadic.qemu.plugins.module_utils._task.readiness import CONSOLE_TAIL, tail, wait_ready

# When a freshly started QEMU turns out not to be ours (or not alive), how long it gets to end.
FAILED_START_PATIENCE = 1.0


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

    def __init__(self, run_command=None, warn=None):
        self.run_command = run_command
        self.warn = warn or (lambda msg: None)

    @staticmethod
    def observe(record, task_dir):
        """The task's live QEMU, or None.

        Never a process that merely reuses its pid (start time and exact argv must match),
        and never one that is not this task's QEMU whatever its record says: the program
        must be QEMU and its argv must name the task's own pidfile. A record written by
        someone else cannot make the collection signal a process of its choosing.
        """
        if record is None or record.damaged or not record.pid:
            return None
        if option_value(record.argv, '-pidfile') != task_dir.pidfile:
            return None
        process = QemuProcess(record.pid, record.start_time)
        if not process.matches(record.argv) or not is_qemu_program(program_name(process.pid)):
            return None
        return process

    @staticmethod
    def find(task_dir, known=None):
        """The task's QEMU processes found by their argv (their pidfile), other than ``known`` (a QemuProcess or None)."""
        return [process for process in find_by_pidfile(task_dir.pidfile) if known is None or process.pid != known.pid]

    def start(self, task_dir, argv):
        """Start QEMU detached with the task directory as its working directory; returns its QemuProcess.

        On failure nothing of this start is left running, and the error quotes QEMU and the
        guest console (when this QEMU wrote to it).
        """
        task_dir.remove_runtime_files()
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
            self.warn('QEMU said on start: %s' % message)
        return process

    def stop(self, process, monitor_socket, kill_timeout, graceful, method='acpi', agent_socket=None, what='QEMU'):
        """Stop a QEMU: gracefully (ACPI or the guest agent, then force after kill_timeout), or by signal. Returns a StopResult.

        Raises QemuTaskError when even SIGKILL did not end it.
        """
        # Imported here: the QMP and shutdown code is needed only on the stop path.
        from ansible_collections.nomadic.qemu.plugins.module_utils._shutdown import StopResult, shutdown  # pylint: disable=import-outside-toplevel
        if graceful:
            result = shutdown(process, monitor_socket, kill_timeout, method=method, agent_socket=agent_socket)
        else:
            result = StopResult.forced(terminate(process, kill_timeout))
        if not result.ended:
            raise QemuTaskError('%s (pid %s) did not end even after SIGKILL; check the host (a process in '
                                'uninterruptible sleep cannot be killed)' % (what, process.pid))
        return result

    @staticmethod
    def wait_ready(wait_for, task_dir, process, ports):
        """Wait for the guest to be ready (see readiness.wait_ready)."""
        from ansible_collections.nomadic.qemu.plugins.module_utils._shutdown import agent_ping  # pylint: disable=import-outside-toplevel
        return wait_ready(wait_for, task_dir, process, ports, agent_ping)


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
