# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Supervision by systemd: which supervisor a task gets, and its unit's file and state, through systemctl.

The unit's text comes from unit.render_unit(); this file reads and writes it, and asks systemd
what it knows of the unit (its main process, restarts, last exit).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import tempfile
import time

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.unit import UNIT_HEADER, unit_name

UNIT_DIR = '/etc/systemd/system'
# Where systemd says it runs as the service manager (sd_booted()).
SYSTEMD_RUNTIME = '/run/systemd/system'
# What systemctl show is asked for.
PROPERTIES = ('LoadState', 'ActiveState', 'SubState', 'Result', 'MainPID', 'NRestarts', 'ExecMainCode', 'ExecMainStatus',
              'ExecMainExitTimestampMonotonic', 'UnitFileState', 'InvocationID', 'Job')
# The oldest systemd whose units this works with: Type=exec came with systemd 240.
MIN_SYSTEMD_VERSION = 240
_VERSION_RE = re.compile(r'^systemd ([0-9]+)')
# The unit's ExecStop (systemctl stop, and the host's shutdown): the collection's graceful stop in the
# Python standard library alone. It asks QEMU over QMP to press the power button and waits for the
# main process ($MAINPID, given by systemd) to end, at most kill_timeout; systemd then sends SIGTERM to
# what is left, and SIGKILL after TimeoutStopSec. Not graceful: it returns at once (SIGTERM ends QEMU).
STOP_SCRIPT = '''import json, os, socket, sys, time
timeout, graceful = float(sys.argv[1]), sys.argv[2] == "1"
pid = int(os.environ.get("MAINPID") or 0)
alive = lambda: pid > 0 and os.path.exists("/proc/%d" % pid)
if graceful and alive():
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(min(5.0, timeout) or 1.0)
        s.connect("qmp.sock")
        f = s.makefile("rw")
        f.readline()
        for command in ("qmp_capabilities", "system_powerdown"):
            f.write(json.dumps({"execute": command}) + "\\n")
            f.flush()
            f.readline()
    except (OSError, ValueError):
        pass
    end = time.monotonic() + timeout
    while alive() and time.monotonic() < end:
        time.sleep(0.1)
'''
# ExecMainCode: how the main process ended (siginfo's CLD_* codes).
EXIT_CODES = {'1': 'exited', '2': 'killed', '3': 'dumped'}
# The journal entry systemd writes when a unit's process exits (SD_MESSAGE_UNIT_PROCESS_EXIT), with
# EXIT_CODE and EXIT_STATUS: what is left of a run that systemd restarted (show then tells of the new one).
PROCESS_EXIT_MESSAGE = '98e322203f7a4ed290d09fe03c09fe15'


def stop_argv(python, kill_timeout, graceful):
    """The unit's ExecStop command line (see STOP_SCRIPT)."""
    return [python, '-c', STOP_SCRIPT, '%g' % kill_timeout, '1' if graceful else '0']


def systemd_usable(find_binary, run_command=None, euid=None, runtime=SYSTEMD_RUNTIME):
    """(usable, why not): systemd is the service manager, systemctl is there, new enough, and this user may write system units."""
    if not os.path.isdir(runtime):
        return False, 'systemd is not the service manager of this host (%s does not exist)' % runtime
    systemctl = find_binary('systemctl')
    if not systemctl:
        return False, 'systemctl was not found on PATH'
    if (os.geteuid() if euid is None else euid) != 0:
        return False, 'system units can only be written by root (become: true)'
    if run_command is not None:
        rc, out, dummy = run_command([systemctl, '--version'])
        match = _VERSION_RE.match(out or '') if rc == 0 else None
        if match is None or int(match.group(1)) < MIN_SYSTEMD_VERSION:
            return False, 'systemd %s is older than %d, the first with Type=exec units' % (
                match.group(1) if match else '(version unknown)', MIN_SYSTEMD_VERSION)
    return True, ''


def resolve_supervisor(requested, find_binary, run_command=None, euid=None, runtime=SYSTEMD_RUNTIME):
    """'none' or 'systemd' for the supervisor option's value; 'systemd' where systemd cannot be used is an error."""
    if requested == 'none':
        return 'none'
    usable, why = systemd_usable(find_binary, run_command=run_command, euid=euid, runtime=runtime)
    if usable:
        return 'systemd'
    if requested == 'auto':
        return 'none'
    raise QemuTaskError("supervisor 'systemd' was requested but cannot be used here: %s; use supervisor: auto (systemd where "
                        "it can be used) or none" % why, option='supervisor')


def task_unit_name(task_dir, default_state_dir):
    """The unit of a task: by its name under the default state_dir, with a hash of the state_dir under any other."""
    if os.path.realpath(task_dir.state_dir) == os.path.realpath(default_state_dir):
        return unit_name(task_dir.name)
    return unit_name(task_dir.name, hashlib.sha256(os.path.realpath(task_dir.state_dir).encode('utf-8')).hexdigest()[:8])


def restarting(props):
    """Whether systemd is about to start the unit's QEMU again (a restart delay, or a start under way)."""
    return props.get('SubState') == 'auto-restart' or props.get('ActiveState') == 'activating'


class Systemd:
    """The units of tasks, through systemctl. Needs a run_command(argv) -> (rc, out, err) callable."""

    def __init__(self, run_command, unit_dir=UNIT_DIR):
        self.run_command = run_command
        self.unit_dir = unit_dir

    def path(self, unit):
        return os.path.join(self.unit_dir, unit)

    def _systemctl(self, *args, **kwargs):
        check = kwargs.get('check', True)
        rc, out, err = self.run_command(['systemctl'] + list(args))
        if check and rc != 0:
            raise QemuTaskError('systemctl %s failed (exit status %d): %s' % (' '.join(args), rc, (err or out or '').strip()[:500]),
                                option='supervisor')
        return rc, out

    def show(self, unit):
        """What systemd knows of ``unit``: PROPERTIES as strings ({} when systemctl cannot tell)."""
        rc, out = self._systemctl('show', '--property=' + ','.join(PROPERTIES), '--', unit, check=False)
        if rc != 0:
            return {}
        props = {}
        for line in (out or '').splitlines():
            key, sep, value = line.partition('=')
            if sep:
                props[key] = value
        return props

    def own(self, unit):
        """Whether ``unit`` is a file the collection wrote (its first line says so)."""
        text = self.read(unit)
        return text is not None and text.startswith(UNIT_HEADER)

    def read(self, unit):
        """The unit file's text, or None when there is none."""
        try:
            with open(self.path(unit), encoding='utf-8', errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write(self, unit, text):
        """Write the unit file atomically and have systemd read it again."""
        temp = None
        try:
            fd, temp = tempfile.mkstemp(prefix='.%s.' % unit, dir=self.unit_dir)
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, self.path(unit))
        except OSError as exc:
            raise QemuTaskError('the unit %s could not be written in %s: %s; check that it is writable by root, or use '
                                'supervisor: none' % (unit, self.unit_dir, exc.strerror or exc), option='supervisor') from None
        finally:
            if temp is not None and os.path.exists(temp):
                os.unlink(temp)
        self.reload()

    def reload(self):
        self._systemctl('daemon-reload')

    def set_enabled(self, unit, enabled, check_mode=False):
        """Start at boot or not; returns whether that changes (in check mode, would change)."""
        props = self.show(unit)
        if (props.get('UnitFileState') == 'enabled') == enabled:
            return False
        if not check_mode:
            self._systemctl('enable' if enabled else 'disable', '--', unit)
        return True

    def start(self, unit):
        # A unit that failed (attempts exhausted) keeps its start limit until reset.
        self._systemctl('reset-failed', '--', unit, check=False)
        # restart, not start: a unit waiting out its restart delay starts at once (a start job would
        # wait behind it). Blocking: systemctl returns once QEMU was executed (Type=exec).
        return self._systemctl('restart', '--', unit, check=False)[0] == 0

    def stop(self, unit):
        self._systemctl('stop', '--', unit, check=False)
        self._systemctl('reset-failed', '--', unit, check=False)

    def remove(self, unit):
        """Stop, disable and delete the unit; returns whether there was a file to delete."""
        if self.read(unit) is None:
            return False
        self.stop(unit)
        self._systemctl('disable', '--', unit, check=False)
        os.unlink(self.path(unit))
        self.reload()
        return True

    def status(self, unit):
        """The unit's state for results (see status()), or None when systemd does not know it."""
        props = self.show(unit)
        if not props or props.get('LoadState') == 'not-found':
            return None
        return status(props, self.journal_exit(unit))

    def journal_exit(self, unit):
        """The last exit of the unit's main process the journal holds: {code, status, at}, or None."""
        try:
            rc, out, err = self.run_command(['journalctl', '--no-pager', '-o', 'json', '-n', '1', '-u', unit,
                                             'MESSAGE_ID=%s' % PROCESS_EXIT_MESSAGE, '_PID=1'])
        except OSError:
            return None
        lines = (out or '').strip().splitlines() if rc == 0 else []
        try:
            entry = json.loads(lines[-1]) if lines else None
        except ValueError:
            return None
        if not isinstance(entry, dict) or entry.get('EXIT_CODE') is None:
            return None
        return {'code': entry['EXIT_CODE'], 'status': entry.get('EXIT_STATUS'), 'at': _journal_time(entry.get('__REALTIME_TIMESTAMP'))}

    def journal(self, unit, invocation=None, lines=20):
        """The last lines the unit's processes printed (QEMU's errors), or ''."""
        command = ['journalctl', '--no-pager', '-o', 'cat', '-n', str(lines)]
        command += ['_SYSTEMD_INVOCATION_ID=%s' % invocation] if invocation else ['-u', unit]
        try:
            rc, out, err = self.run_command(command)
        except OSError:
            return ''
        return (out or '').strip() if rc == 0 else ''


def utc_time(seconds):
    """Seconds since the epoch as the collection writes times: UTC, whole seconds, ``2026-12-02T19:03:31Z``."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(microsecond=0).isoformat().replace('+00:00', 'Z')


def _journal_time(micros):
    try:
        return utc_time(int(micros) / 1e6)
    except (TypeError, ValueError):
        return None


def last_exit(props):
    """How the unit's main process ended, while it has not been started again: {code, status, at}, or None."""
    code = EXIT_CODES.get(props.get('ExecMainCode', ''))
    if code is None:
        return None
    return {'code': code, 'status': props.get('ExecMainStatus'), 'at': _monotonic_time(props.get('ExecMainExitTimestampMonotonic'))}


def _monotonic_time(micros):
    """A time systemd gives on the monotonic clock (microseconds) as UTC, or None."""
    try:
        micros = int(micros)
    except (TypeError, ValueError):
        return None
    if micros <= 0:
        return None
    return _journal_time((time.time() - (time.monotonic() - micros / 1e6)) * 1e6)


def status(props, journal_exit=None):
    """The unit's state for results: active state, sub state, restarts, enablement and the last exit
    (from systemd's state while the unit is down, else from the journal)."""
    try:
        restarts = int(props.get('NRestarts') or 0)
    except ValueError:
        restarts = 0
    return {'active_state': props.get('ActiveState'), 'sub_state': props.get('SubState'), 'result': props.get('Result'),
            'restarts': restarts, 'enabled': props.get('UnitFileState') == 'enabled', 'restarting': restarting(props),
            'last_exit': last_exit(props) or journal_exit}
