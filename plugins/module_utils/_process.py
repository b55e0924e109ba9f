# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""QEMU processes: identity (so pid reuse cannot fool us), exit detection, signals."""

from __future__ import annotations

import os
import select
import signal
import time

PROC = '/proc'


def read_stat(pid, proc=PROC):
    """(state letter, start time in clock ticks since boot) of a pid, or None when there is no such process."""
    try:
        with open(os.path.join(proc, str(pid), 'stat'), 'rb') as f:
            data = f.read().decode('utf-8', 'replace')
    except (OSError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces or ')'.
    rest = data[data.rfind(')') + 2:].split()
    if len(rest) < 20:
        return None
    return rest[0], int(rest[19])


def start_epoch(start_time):
    """The wall-clock time (seconds since the epoch) of a start time in clock ticks since boot (read_stat), to 1/HZ s."""
    since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.time() - (since_boot - start_time / os.sysconf('SC_CLK_TCK'))


def read_cmdline(pid, proc=PROC):
    try:
        with open(os.path.join(proc, str(pid), 'cmdline'), 'rb') as f:
            data = f.read()
    except OSError:
        return None
    if not data:
        return None
    return [part.decode('utf-8', 'surrogateescape') for part in data.rstrip(b'\0').split(b'\0')]


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


def option_value(argv, option):
    """The word after the first ``option`` in argv, or None."""
    try:
        return argv[argv.index(option) + 1]
    except (ValueError, IndexError):
        return None


def find_by_pidfile(pidfile, proc=PROC):
    """The live QEMU processes whose command line names ``pidfile`` (the collection's identity of a task's QEMU).

    Found by scanning /proc, so a task's QEMU is recognised even when its record, its pidfile
    or its whole task directory is gone. Returns QemuProcess objects with their argv read.
    """
    found = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        argv = read_cmdline(entry, proc)
        if not argv or option_value(argv, '-pidfile') != pidfile or not is_qemu_program(program_name(entry, proc)):
            continue
        process = QemuProcess.observe(int(entry), proc)
        if process is not None:
            process.argv = argv
            found.append(process)
    return sorted(found, key=lambda process: process.pid)


def read_pidfile(path):
    """The pid in a QEMU pidfile, or None when it is missing, empty or not a number."""
    try:
        with open(path, 'r', encoding='ascii', errors='replace') as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


class QemuProcess:
    """One QEMU process, identified by pid AND start time AND command line.

    A pid alone is not an identity: after a crash or a reboot the number can belong to
    any other process. The start time (from /proc/PID/stat) and the exact argv we
    started it with must match too.
    """

    def __init__(self, pid, start_time=None, proc=PROC):
        self.pid = int(pid)
        self.start_time = start_time
        self.proc = proc
        self.argv = None

    @classmethod
    def observe(cls, pid, proc=PROC):
        """A QemuProcess with the start time read now, or None when the pid does not run."""
        stat = read_stat(pid, proc)
        if stat is None or stat[0] in ('Z', 'X'):
            return None
        return cls(pid, stat[1], proc)

    def is_alive(self):
        """True while the process runs; a zombie (exited, not yet reaped) counts as ended."""
        stat = read_stat(self.pid, self.proc)
        if stat is None or stat[0] in ('Z', 'X'):
            return False
        return self.start_time is None or stat[1] == self.start_time

    def matches(self, argv):
        """True when this is a live process running exactly argv (our QEMU, not a reused pid)."""
        return self.is_alive() and read_cmdline(self.pid, self.proc) == list(argv)

    def send_signal(self, sig):
        """Send sig if the process is still ours; False when it was already gone."""
        if not self.is_alive():
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout):
        """Wait up to timeout seconds for the process to end. True when it ended.

        Uses a pidfd where the kernel and Python offer one (woken at the exit itself,
        no polling); otherwise polls /proc with a short, growing interval.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        pidfd = None
        if hasattr(os, 'pidfd_open'):
            try:
                pidfd = os.pidfd_open(self.pid)
            except OSError:
                pidfd = None
        try:
            if not self.is_alive():
                return True
            if pidfd is not None:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                while True:
                    remaining = deadline - time.monotonic()
                    if poller.poll(max(0, int(remaining * 1000) + 1)):
                        return True
                    if not self.is_alive():
                        return True
                    if time.monotonic() >= deadline:
                        return False
            interval = 0.002
            while True:
                if not self.is_alive():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(interval, remaining))
                interval = min(interval * 2, 0.05)
        finally:
            if pidfd is not None:
                os.close(pidfd)


def terminate(process, kill_timeout, kill_signal=signal.SIGTERM, grace=2.0):
    """Stop a process by signal: kill_signal, up to kill_timeout, then SIGKILL.

    This is the one forced-stop sequence of the collection (qemu_task, qemu_shutdown and the
    bench all end here). Returns a dict: method ('signal', 'kill', or None when the process
    was already gone), seconds taken, ended (bool). The process is sent SIGCONT after the
    signal: a QEMU stopped with SIGSTOP must run to act on it.
    """
    started = time.monotonic()
    if not process.send_signal(kill_signal):
        return {'method': None, 'seconds': 0.0, 'ended': True}
    process.send_signal(signal.SIGCONT)
    if process.wait(kill_timeout):
        return {'method': 'signal', 'seconds': time.monotonic() - started, 'ended': True}
    process.send_signal(signal.SIGKILL)
    ended = process.wait(grace)
    return {'method': 'kill', 'seconds': time.monotonic() - started, 'ended': ended}
