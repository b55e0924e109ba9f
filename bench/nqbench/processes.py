# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The processes of a run: found by the run directory on their command line, stopped through the
collection's own stop path (_process.terminate), and what they cost (CPU, memory).

The bench never writes its own signal sequence: every forced stop goes through terminate(),
with a QemuProcess observed (pid and start time) before it is signalled, so a reused pid is
never hit. The collection is imported when first used: harness.link_collection() makes it importable.
"""

from __future__ import annotations

import os

from .harness import module_util


def process_api():
    """The collection's plugins/module_utils/_process.py (QemuProcess, terminate, read_cmdline, read_pidfile)."""
    return module_util('_process')


def observe(pid):
    """A QemuProcess for a live pid (its start time read now), or None when it does not run."""
    return process_api().QemuProcess.observe(pid)


def is_running(pid):
    """True while pid runs; an exited process that is not reaped yet (zombie) counts as ended."""
    return process_api().QemuProcess(pid).is_alive()


def read_pidfile(path):
    return process_api().read_pidfile(path)


def cmdline(pid):
    """The argv of a process ([] when it is gone)."""
    return process_api().read_cmdline(pid) or []


def terminate(process, timeout, grace):
    """The collection's forced stop: SIGTERM (SIGCONT for a stopped one), SIGKILL after timeout. Returns its result dict."""
    return process_api().terminate(process, timeout, grace=grace)


def ancestors():
    pids = set()
    pid = os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open('/proc/%d/stat' % pid, 'rb') as f:
                data = f.read().decode('utf-8', 'replace')
            pid = int(data[data.rfind(')') + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def processes_naming(path):
    """Pids of live processes whose command line names path (our run directory), never us or our parents."""
    needle = path.rstrip('/') + '/'
    mine = ancestors()
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) in mine:
            continue
        pid = int(entry)
        if any(needle in part for part in cmdline(pid)) and is_running(pid):
            found.append(pid)
    return sorted(found)


def is_async_wrapper(pid):
    return any(part.endswith('/async_wrapper.py') for part in cmdline(pid)[:2])


def stop_processes(pids, grace=3.0):
    """Stop each pid with terminate() (SIGKILL after grace); returns the pids that were still running."""
    signalled = []
    for pid in pids:
        process = observe(pid)
        if process is None:
            continue
        terminate(process, grace, grace)
        signalled.append(pid)
    return signalled


def stop_naming(path, grace=3.0):
    """Stop whatever still runs from path (a state directory of a stage); returns the pids stopped."""
    left = processes_naming(path)
    return stop_processes(left, grace) if left else []


def count_other_qemu():
    """QEMU processes of other people on this machine (they share the CPU with the bench)."""
    count = 0
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            parts = cmdline(int(entry))
            if parts and os.path.basename(parts[0]).startswith('qemu-system') and 'nqbench-' not in ' '.join(parts):
                count += 1
    return count


def cpu_ticks(pid):
    """User plus system CPU time of a process, in clock ticks (0 when it is gone)."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            data = f.read().decode('utf-8', 'replace')
    except OSError:
        return 0
    fields = data[data.rfind(')') + 2:].split()
    return int(fields[11]) + int(fields[12])


def smaps_rollup(pid):
    """(Rss, Pss) of a process in bytes, from /proc/PID/smaps_rollup."""
    values = {}
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for line in f.read().splitlines():
            key, _sep, rest = line.partition(':')
            if key in ('Rss', 'Pss'):
                values[key] = int(rest.split()[0]) * 1024
    return values.get('Rss'), values.get('Pss')
