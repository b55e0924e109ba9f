# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""wait_for: when a started guest counts as ready (a console line, a forwarded port, the guest agent)."""

from __future__ import annotations

import os
import re
import socket
import time

from ansible_collections.nomadic.qemu.plugins.module_utils._duration import format_duration
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._process import start_epoch
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import WAIT_FOR_OPTIONS

WAIT_FOR_KEYS = tuple(WAIT_FOR_OPTIONS)
POLL_INTERVAL = 0.2
# How long one probe of a forwarded port waits for the guest's side of the connection.
PORT_PROBE = 0.3
CONSOLE_TAIL = 600


def check_wait_for(wait_for, port_map, guest_agent):
    """The wait_for option checked and normalized ({console: compiled regex or None, port, agent, timeout}), or None."""
    if wait_for is None:
        return None
    if not isinstance(wait_for, dict):
        raise QemuTaskError('wait_for must be a mapping with console, port, agent and timeout, such as '
                            '{port: ssh, timeout: 2m}', option='wait_for')
    unknown = sorted(set(wait_for) - set(WAIT_FOR_KEYS))
    if unknown:
        raise QemuTaskError('wait_for has the unknown key %s; use %s' % (', '.join(unknown), ', '.join(WAIT_FOR_KEYS)),
                            option='wait_for')
    console = wait_for.get('console')
    port = wait_for.get('port')
    agent = wait_for.get('agent') or False
    if not console and not port and not agent:
        raise QemuTaskError('wait_for needs at least one of console (a regular expression), port (a label of port_map) '
                            'or agent: true', option='wait_for')
    if console is not None:
        if not isinstance(console, str):
            raise QemuTaskError('wait_for.console must be a regular expression (a string), not %r' % (console,), option='wait_for')
        try:
            re.compile(console, re.MULTILINE)
        except re.error as exc:
            raise QemuTaskError('wait_for.console %r is not a valid regular expression: %s; fix the expression'
                                % (console, exc), option='wait_for') from None
    if port is not None and port not in port_map:
        raise QemuTaskError("wait_for.port '%s' is not a label of port_map (%s); name a forwarded port"
                            % (port, ', '.join(sorted(port_map)) or 'empty'), option='wait_for')
    if not isinstance(agent, bool):
        raise QemuTaskError('wait_for.agent must be true or false, not %r' % (agent,), option='wait_for')
    if agent and not guest_agent:
        raise QemuTaskError('wait_for.agent needs the guest agent channel; set guest_agent: true', option='wait_for')
    try:
        timeout = WAIT_FOR_OPTIONS['timeout'].check(wait_for.get('timeout'))
    except QemuTaskError as exc:
        raise QemuTaskError('wait_for.%s' % exc, option='wait_for') from None
    return {'console': console, 'port': port, 'agent': agent, 'timeout': timeout}


def tail(path, limit=2000):
    """The end of a text file (the guest console), or '' when it cannot be read."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode('utf-8', 'replace').strip()
    except OSError:
        return ''


class ConsoleWatch:
    """Searches a growing console log for a regular expression, reading each byte once.

    ``since`` (seconds since the epoch: when the VM's QEMU started) has the older console files
    this QEMU wrote searched first: those rotated while it ran (console.py), modified after its
    start. The console of an earlier run, rotated away at the start, is older than that.
    """

    def __init__(self, path, pattern, since=None):
        self.path = path
        self.pattern = re.compile(pattern, re.MULTILINE)
        self.text = ''
        self.offset = 0
        if since is not None:
            self.text = ''.join(_read_text(name) for name in reversed(_written_since(path, since)))[-65536:]

    def matched(self):
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return False
        self.offset += len(data)
        self.text += data.decode('utf-8', 'replace')
        if self.pattern.search(self.text):
            return True
        # Keep a window: a match spanning reads is still found, memory stays bounded.
        self.text = self.text[-65536:]
        return False


def _written_since(path, since):
    """The rotated files of ``path`` (path.1, path.2, ...: newest first) modified at or after ``since``."""
    found = []
    index = 1
    while True:
        name = '%s.%d' % (path, index)
        try:
            if os.lstat(name).st_mtime < since:
                break
        except FileNotFoundError:
            break
        found.append(name)
        index += 1
    return found


def _read_text(path):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            return f.read().decode('utf-8', 'replace')
    except OSError:
        return ''


def port_accepts(host_address, host_port, guest_port, monitor_socket):
    """Whether the guest accepts a TCP connection on a forwarded port.

    QEMU's user network accepts every connection on the host side at once and only then
    connects to the guest: a closed guest port shows as the connection closing, a guest that
    is not up yet as silence. Data means the guest answered; silence is settled by asking QEMU
    (``info usernet``) whether its connection to the guest port is established.
    """
    try:
        conn = socket.create_connection((host_address or '127.0.0.1', host_port), timeout=1.0)
    except OSError:
        return False
    try:
        conn.settimeout(PORT_PROBE)
        try:
            return bool(conn.recv(1))
        except socket.timeout:
            return _usernet_established(monitor_socket, host_port, guest_port)
        except OSError:
            return False
    finally:
        conn.close()


def _usernet_established(monitor_socket, host_port, guest_port):
    # The QMP client is imported where it is used: a run that waits for no port or state needs none.
    from ansible_collections.nomadic.qemu.plugins.module_utils._qmp import QMPClient, QMPError
    try:
        with QMPClient(monitor_socket, timeout=1.0) as client:
            table = client.execute('human-monitor-command', {'command-line': 'info usernet'})
    except QMPError:
        return False
    for line in str(table).splitlines():
        fields = line.split()
        # Protocol[State] FD SourceAddress Port DestAddress Port RecvQ SendQ
        if len(fields) >= 6 and fields[0] == 'TCP[ESTABLISHED]' and fields[3] == str(host_port) and fields[5] == str(guest_port):
            return True
    return False


# Run states in which QEMU has stopped the guest for good: waiting longer cannot help.
STUCK_STATES = {
    'internal-error': 'the accelerator failed to run the guest (under KVM, often firmware that nested virtualization cannot '
                      'run: try accelerator tcg)',
    'guest-panicked': 'the guest kernel panicked',
    'io-error': 'a disk reported an I/O error (a full disk on the host?)',
    'shutdown': 'the guest shut down',
}
# How often wait_for asks QEMU whether it still runs the guest.
STATUS_INTERVAL = 5.0


def guest_stuck(monitor_socket):
    """Why QEMU stopped the guest for good (see STUCK_STATES), or None while it runs (or cannot be asked)."""
    from ansible_collections.nomadic.qemu.plugins.module_utils._qmp import QMPClient, QMPError
    try:
        with QMPClient(monitor_socket, timeout=1.0) as client:
            status = client.execute('query-status')
    except QMPError:
        return None
    state = status.get('status') if isinstance(status, dict) else None
    return '%s: %s' % (state, STUCK_STATES[state]) if state in STUCK_STATES else None


def wait_ready(wait_for, task_dir, process, ports, agent_ping, clock=time.monotonic, sleep=time.sleep, stuck=guest_stuck):
    """Wait until every condition of wait_for holds. Raises QemuTaskError on a timeout or when QEMU exits.

    ``ports`` is the plan's {label: {host, guest, host_address}}; ``agent_ping(path, timeout)`` -> (ok, why).
    Returns the seconds waited.
    """
    started = clock()
    deadline = started + wait_for['timeout']
    since = start_epoch(process.start_time) if process.start_time is not None else None
    watch = ConsoleWatch(task_dir.console_log, wait_for['console'], since) if wait_for['console'] else None
    pending = _pending(wait_for, watch)
    next_status = started + STATUS_INTERVAL
    while True:
        if watch is not None and 'console' in pending and watch.matched():
            pending.discard('console')
        if 'port' in pending:
            forward = ports[wait_for['port']]
            if port_accepts(forward['host_address'], forward['host'], forward['guest'], task_dir.monitor_socket):
                pending.discard('port')
        if 'agent' in pending and agent_ping(task_dir.agent_socket, min(1.0, max(0.05, deadline - clock())))[0]:
            pending.discard('agent')
        if not pending:
            return round(clock() - started, 3)
        if not process.is_alive():
            raise QemuTaskError("task '%s': QEMU exited while waiting for the guest to be ready (wait_for: %s); guest console: %s"
                                % (task_dir.name, _describe(wait_for, pending), tail(task_dir.console_log, CONSOLE_TAIL) or '(empty)'),
                                option='wait_for')
        if clock() >= next_status:
            next_status = clock() + STATUS_INTERVAL
            why = stuck(task_dir.monitor_socket)
            if why:
                raise QemuTaskError("task '%s': QEMU stopped the guest while waiting for it to be ready (wait_for: %s), status %s; "
                                    "the VM was left as it is, for a look with qemu_task_info or its QMP socket. Guest console: %s"
                                    % (task_dir.name, _describe(wait_for, pending), why,
                                       tail(task_dir.console_log, CONSOLE_TAIL) or '(empty)'), option='wait_for')
        if clock() >= deadline:
            raise QemuTaskError(
                "task '%s': the guest was not ready within %s (still waiting for %s); the VM was left running, so a later "
                "run can wait again or stop it. Guest console: %s"
                % (task_dir.name, format_duration(wait_for['timeout']), _describe(wait_for, pending),
                   tail(task_dir.console_log, CONSOLE_TAIL) or '(empty)'), option='wait_for')
        sleep(min(POLL_INTERVAL, max(0.0, deadline - clock())))


def _pending(wait_for, watch):
    pending = set()
    if watch is not None:
        pending.add('console')
    if wait_for['port']:
        pending.add('port')
    if wait_for['agent']:
        pending.add('agent')
    return pending


def _describe(wait_for, pending):
    parts = []
    if 'console' in pending:
        parts.append('console matching %r' % wait_for['console'])
    if 'port' in pending:
        parts.append("port '%s' accepting a connection" % wait_for['port'])
    if 'agent' in pending:
        parts.append('the guest agent answering')
    return ', '.join(parts)
