# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The systemd unit of a supervised task: Nomad's restart policy, resource limits and confinement as unit text.

Pure functions, no I/O: the same options always give the same text, byte for byte, so a unit
edited by hand is told from the collection's by comparing the file with render_unit().

How Nomad's ``restart`` block maps onto systemd:

- ``mode = "fail"``: ``Restart=on-failure``, ``RestartSec=<delay>``, and a start limit of
  ``attempts`` restarts (``attempts + 1`` starts) within ``interval``
  (``StartLimitIntervalSec``, ``StartLimitBurst``). One more failure within the interval leaves
  the unit ``failed``, as Nomad fails the task.
- ``mode = "delay"``: Nomad restarts ``attempts`` times, then waits until ``interval`` has passed
  and goes on. systemd 252 (Debian 12) has no such pause, so the restarts are spread instead:
  ``RestartSec`` is the larger of ``delay`` and ``interval / attempts``, and there is no start
  limit. That keeps Nomad's bound (at most ``attempts`` restarts in any ``interval``) and never
  gives up.
- ``attempts = 0``: no restart (``Restart=no``), as in Nomad.

Exit by the guest powering off (QEMU exits 0) is not a failure: the VM stays down, as Nomad
leaves a task that exited successfully (``Restart=on-failure``).
"""

from __future__ import annotations

import math
import re

from ansible_collections.nomadic.qemu.plugins.module_utils._duration import format_duration, parse_duration
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._size import whole_number

RESTART_MODES = ('fail', 'delay')
# Nomad's restart defaults for service jobs (and system jobs).
DEFAULT_RESTART = {'attempts': 2, 'interval': 1800.0, 'delay': 15.0, 'mode': 'fail'}
# Nomad requires interval >= delay, and rejects a negative attempts count; a restart delay of zero
# would make systemd restart a crashing QEMU in a tight loop, so at least this is waited.
MIN_RESTART_DELAY = 0.1
# What QEMU uses beyond the guest's memory: its own heap, device emulation, I/O buffers. With the
# limit equal to the guest memory, the kernel OOM-kills QEMU as soon as the guest touches all of
# it (hashicorp/nomad#27392). Measured RSS of QEMU 7.2 beyond guest RAM is tens of MB under KVM;
# this leaves room for a busy guest's I/O without letting a runaway QEMU take the host.
QEMU_OVERHEAD_MB = 256
# ... plus a share of the guest memory (page tables, dirty bitmaps grow with it).
QEMU_OVERHEAD_FRACTION = 1.0 / 16
# Under TCG, QEMU also holds its translated code: the cache is 1 GiB on 64-bit hosts by default
# (QEMU 5.0 and later), touched as the guest runs more code.
TCG_CODE_CACHE_MB = 1024
# How long systemd waits for ExecStop beyond kill_timeout before it sends SIGKILL itself: the
# graceful stop ends a QEMU by signal once kill_timeout passed, with a short grace after SIGTERM.
STOP_MARGIN = 5.0
# The devices a task's QEMU may open (everything else under /dev is refused): KVM and TAP.
ALLOWED_DEVICES = ('/dev/kvm', '/dev/net/tun')
UNIT_PREFIX = 'nomadic-qemu-'
# The first line of every unit the collection writes: what tells its units from others of the same name.
UNIT_HEADER = '# Written by nomadic.qemu for the task '
_CPU_SET_RE = re.compile(r'^[0-9]+(?:-[0-9]+)?(?:,[0-9]+(?:-[0-9]+)?)*$')
_USER_RE = re.compile(r'^[a-z_][a-z0-9_-]{0,31}$|^[0-9]+$')


def unit_name(task_name, instance=''):
    """The unit of a task: nomadic-qemu-<name>.service (task names are valid in unit names as they are).

    ``instance`` tells the state directories apart when there is more than the default one: a
    short hash after a ``:``, which unit names may have and task names may not, so that two tasks
    of one name in two state directories get two units, and no task name makes another's unit
    (``@`` would make a template instance).
    """
    return '%s%s%s.service' % (UNIT_PREFIX, task_name, (':' + instance) if instance else '')


def check_restart(value, option='restart'):
    """The restart block, normalized: {attempts, interval, delay, mode} with durations in seconds.

    ``value`` None is Nomad's default; a mapping may give any of the keys, the others taking
    their defaults. Errors name the key at fault.
    """
    if value is None:
        return dict(DEFAULT_RESTART)
    if not isinstance(value, dict):
        raise QemuTaskError('%s must be a mapping with attempts, interval, delay and mode, such as {attempts: 3, delay: 15s}' % option,
                            option=option)
    unknown = sorted(set(value) - set(DEFAULT_RESTART))
    if unknown:
        raise QemuTaskError('%s has the unknown key(s) %s; it takes %s' % (option, ', '.join(unknown), ', '.join(DEFAULT_RESTART)),
                            option=option)
    restart = dict(DEFAULT_RESTART)
    restart.update((key, item) for key, item in value.items() if item is not None)
    attempts = whole_number(restart['attempts'])
    if attempts is None or attempts < 0:
        raise QemuTaskError('%s.attempts %r is not a restart count; use a whole number, 0 (never restart) or more'
                            % (option, restart['attempts']), option=option)
    restart['attempts'] = attempts
    for key in ('interval', 'delay'):
        try:
            restart[key] = parse_duration(restart[key], option='%s.%s' % (option, key))
        except QemuTaskError as exc:
            raise QemuTaskError(exc.msg, option=option) from None
    if restart['mode'] not in RESTART_MODES:
        raise QemuTaskError('%s.mode %r is not valid; use one of %s' % (option, restart['mode'], ', '.join(RESTART_MODES)), option=option)
    if attempts and restart['interval'] < restart['delay']:
        raise QemuTaskError('%s.interval %s is shorter than %s.delay %s; Nomad requires interval >= delay: lengthen the interval'
                            % (option, format_duration(restart['interval']), option, format_duration(restart['delay'])), option=option)
    return restart


def restart_directives(restart):
    """([Unit] lines, [Service] lines) for a normalized restart block (see the module docstring)."""
    if restart['attempts'] == 0:
        return [], ['Restart=no']
    delay = max(restart['delay'], MIN_RESTART_DELAY)
    if restart['mode'] == 'delay':
        spread = max(delay, restart['interval'] / restart['attempts'])
        return ['StartLimitIntervalSec=0'], ['Restart=on-failure', 'RestartSec=%s' % _seconds(spread)]
    # systemd counts starts, the first one included: attempts restarts are attempts + 1 starts. The
    # restart delays are part of the interval, so it must hold them all or the limit never trips.
    interval = max(restart['interval'], delay * restart['attempts'] + 1)
    return (['StartLimitIntervalSec=%s' % _seconds(interval), 'StartLimitBurst=%d' % (restart['attempts'] + 1)],
            ['Restart=on-failure', 'RestartSec=%s' % _seconds(delay)])


def memory_max_mb(memory, accelerator):
    """MemoryMax for a VM of ``memory`` MB: the guest memory plus QEMU's own (see QEMU_OVERHEAD_MB)."""
    overhead = QEMU_OVERHEAD_MB + int(math.ceil(memory * QEMU_OVERHEAD_FRACTION))
    if accelerator == 'tcg':
        overhead += TCG_CODE_CACHE_MB
    return memory + overhead


def cpu_quota(cpus):
    """CPUQuota for ``cpus`` virtual CPUs, one host CPU each (unset: QEMU's default of one vCPU)."""
    return '%d%%' % (100 * (cpus or 1))


def check_cpu_set(value, option='cpu_set'):
    """A CPU list such as ``0-3,6`` (systemd's AllowedCPUs, Nomad's cpuset syntax), normalized; None stays None."""
    if value is None:
        return None
    text = ','.join(str(part).strip() for part in value) if isinstance(value, list) else str(value).replace(' ', '')
    if not _CPU_SET_RE.fullmatch(text):
        raise QemuTaskError("%s %r is not a CPU list; use CPU numbers and ranges such as '0-3,6'" % (option, value), option=option)
    cpus = set()
    for part in text.split(','):
        low, _sep, high = part.partition('-')
        low, high = int(low), int(high or low)
        if high < low:
            raise QemuTaskError("%s %r has the range %s, which ends before it starts; write it low-high, such as '%d-%d'"
                                % (option, value, part, high, low), option=option)
        cpus.update(range(low, high + 1))
    return _cpu_ranges(sorted(cpus))


def _cpu_ranges(cpus):
    parts = []
    start = previous = cpus[0]
    for cpu in cpus[1:] + [None]:
        if cpu is not None and cpu == previous + 1:
            previous = cpu
            continue
        parts.append(str(start) if start == previous else '%d-%d' % (start, previous))
        start = previous = cpu
    return ','.join(parts)


def check_run_as(value, option='run_as'):
    """A user name (or uid) to run QEMU as; None is the module's own user."""
    if value is None:
        return None
    if not isinstance(value, str) or not _USER_RE.fullmatch(value):
        raise QemuTaskError('%s %r is not a user name; give the name of an existing user, such as qemu' % (option, value), option=option)
    return value


def quote_word(word):
    """One word of an Exec*= command line, quoted so that systemd reads it back unchanged.

    Every word is double-quoted (so spaces and quotes survive); backslashes, quotes and control
    characters are C-escaped, and systemd's specifiers (%) and variables ($) are doubled.
    """
    escaped = []
    for char in word:
        if char in '\\"':
            escaped.append('\\' + char)
        elif char == '%':
            escaped.append('%%')
        elif char == '$':
            escaped.append('$$')
        elif char == '\n':
            escaped.append('\\n')
        elif char == '\t':
            escaped.append('\\t')
        elif ord(char) < 0x20 or ord(char) == 0x7f:
            escaped.append('\\x%02x' % ord(char))
        else:
            escaped.append(char)
    return '"%s"' % ''.join(escaped)


def command_line(argv):
    """An argv as the value of an Exec*= line."""
    return ' '.join(quote_word(word) for word in argv)


def _seconds(value):
    """A duration as systemd reads it: whole seconds, or milliseconds when it has a fraction."""
    if float(value).is_integer():
        return '%ds' % int(value)
    return '%dms' % int(round(value * 1000))


def _path_value(path):
    """A path in a directive that takes a list of paths: systemd unescapes \\ and splits at spaces, so both are escaped."""
    return path.replace('\\', '\\\\').replace(' ', '\\x20').replace('%', '%%')


def render_unit(task_name, task_dir, argv, stop_argv, restart, kill_timeout, memory, accelerator, cpus=None, cpu_set=None,
                writable=(), devices=(), private_tmp=True, confine=True, description=None):
    """The text of a task's unit.

    ``argv`` is QEMU's command line in the foreground (no -daemonize: systemd is its parent, so it
    sees the exit and its status). ``stop_argv`` the collection's graceful stop (ACPI, then force
    after ``kill_timeout``), run as ExecStop; systemd waits for it ``kill_timeout`` plus a margin
    before it kills what is left. ``restart`` is a normalized restart block (check_restart).
    ``writable`` are files or directories outside the task directory QEMU writes (disks given
    by file); everything else but the task directory is read-only to it. ``devices`` are the
    block devices QEMU opens (images or disks on LVM or a raw device): ``(path, 'r' or 'rw')``.
    ``private_tmp`` False keeps the host's /tmp and /var/tmp (a task that keeps files there).
    ``confine`` False (the task's sandbox turned off) leaves out the file system and device
    confinement.

    QEMU runs as root and drops to the task's ``run_as`` user itself (-runas), once it has opened
    its files: the task directory stays root's (the collection trusts no record another user can
    write), so the unit has no User=.
    """
    unit_lines, restart_lines = restart_directives(restart)
    lines = [
        '%s%s; edits are replaced on the next run of qemu_task.' % (UNIT_HEADER, task_name),
        '[Unit]',
        'Description=%s' % (description or 'nomadic.qemu task %s' % task_name),
        'Wants=network-online.target',
        'After=network-online.target',
    ]
    lines += unit_lines
    lines += [
        '',
        '[Service]',
        # exec: systemctl start fails at once when QEMU cannot be run at all.
        'Type=exec',
        'WorkingDirectory=%s' % _path_value(task_dir),
        'ExecStart=%s' % command_line(argv),
        'ExecStop=%s' % command_line(stop_argv),
        'TimeoutStopSec=%s' % _seconds(kill_timeout + STOP_MARGIN),
        # Whatever ExecStop left is ended by SIGTERM to QEMU alone, then SIGKILL to all.
        'KillMode=mixed',
    ]
    lines += restart_lines
    lines += [
        'MemoryMax=%dM' % memory_max_mb(memory, accelerator),
        'CPUQuota=%s' % cpu_quota(cpus),
    ]
    if cpu_set is not None:
        lines.append('AllowedCPUs=%s' % cpu_set)
    lines.append('NoNewPrivileges=yes')
    if confine:
        lines += [
            'ProtectSystem=strict',
            'ReadWritePaths=%s' % ' '.join(_path_value(path) for path in [task_dir] + list(writable)),
        ]
        if private_tmp:
            lines.append('PrivateTmp=yes')
        lines.append('DevicePolicy=closed')
        lines += ['DeviceAllow=%s rw' % device for device in ALLOWED_DEVICES]
        lines += ['DeviceAllow=%s %s' % (_path_value(path), mode) for path, mode in devices]
    lines += [
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
    ]
    return '\n'.join(lines)
