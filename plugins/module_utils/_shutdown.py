# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Stopping a QEMU VM: gracefully (ACPI power button over QMP, or the guest agent), then by force.

The wait for the end is driven by events (QMP's SHUTDOWN, the QMP connection closing,
the process's pidfd), never by fixed sleeps, and is bounded: a paused or hung QEMU
still ends within kill_timeout plus twice KILL_GRACE (the kill signal, then SIGKILL).
When no request can reach the guest at all (no usable monitor, an error reply), waiting
is pointless and the VM is forced right away.
"""

from __future__ import annotations

import signal
import socket
import struct
import time

from ansible_collections.nomadic.qemu.plugins.module_utils._process import QemuProcess, terminate
from ansible_collections.nomadic.qemu.plugins.module_utils._qga import (
    QGAClient,
    QGACommandError,
    QGAConnectionClosed,
    QGAConnectionError,
    QGAError,
    QGATimeout,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._qmp import (
    QMPClient,
    QMPConnectionClosed,
    QMPError,
    QMPTimeout,
    _connect_unix,
)

# After kill_timeout: how long the kill signal gets before SIGKILL, and SIGKILL before we give up.
KILL_GRACE = 2.0
# Upper bound for connecting to QMP and for one QMP command (never more than what is left of kill_timeout).
QMP_TIMEOUT = 2.0
# How long a guest agent gets to answer guest-sync-delimited before we fall back to ACPI.
AGENT_TIMEOUT = 1.0
# After QEMU reported the guest's shutdown, how long it gets to either exit or announce that it
# stays (a STOP event: -no-shutdown) before it is told to `quit`.
EXIT_AFTER_SHUTDOWN = 1.0
# The floor of every QMP or agent timeout, so a request still gets a chance at the deadline.
MIN_TIMEOUT = 0.05
# How long an error reply to guest-shutdown is waited for (on success there is none; the guest powers off meanwhile).
SHUTDOWN_ERROR_WAIT = 0.5

METHODS = ('acpi', 'agent', 'signal')


class StopResult:
    """How one stop of a VM ended: the one result type of every stop path.

    graceful: the guest powered itself off in time. method: acpi, agent, signal (the kill
    signal) or kill (SIGKILL); None when QEMU ended by itself before anything was done.
    seconds: from the request to the end. exit_status: None (QEMU runs detached, so its
    status is not ours to collect). reason: QEMU's SHUTDOWN reason when reported. notes:
    what went differently from the request. ended: False only when even SIGKILL did not end it.
    """

    __slots__ = ('graceful', 'method', 'seconds', 'exit_status', 'reason', 'notes', 'ended')

    def __init__(self, graceful=False, method=None, seconds=0.0, reason=None, notes=None, ended=True):
        self.graceful = graceful
        self.method = method
        self.seconds = round(seconds, 3)
        self.exit_status = None
        self.reason = reason
        self.notes = list(notes or [])
        self.ended = ended

    @classmethod
    def forced(cls, terminated):
        """The result of a stop by signal alone (a _process.terminate() result)."""
        return cls(False, terminated['method'], terminated['seconds'], ended=terminated['ended'])

    def as_dict(self):
        """What the modules return (everything but ``ended``, which is checked before)."""
        return {'graceful': self.graceful, 'method': self.method, 'seconds': self.seconds, 'exit_status': self.exit_status,
                'reason': self.reason, 'notes': list(self.notes)}


def peer_pid(path, timeout=QMP_TIMEOUT):
    """The pid of the process serving a unix socket (SO_PEERCRED), or None."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        _connect_unix(sock, path)
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize('3i'))
        pid = struct.unpack('3i', creds)[0]
        return pid or None
    except (OSError, QMPError):
        return None
    finally:
        sock.close()


def _agent_client(path, timeout):
    """A guest agent client of ``path`` that answered guest-sync-delimited: (client, None), or (None, why)."""
    deadline = time.monotonic() + timeout
    try:
        client = QGAClient.unix(path, timeout)
    except QGAConnectionError as exc:
        return None, 'the guest agent socket %s cannot be used: %s' % (path, exc.strerror or exc)
    try:
        client.sync(timeout=max(MIN_TIMEOUT, deadline - time.monotonic()))
    except QGATimeout as exc:
        client.close()
        if exc.held:
            return None, ('no answer from the guest agent within %g s: another client holds its socket (QEMU serves one client at '
                          'a time)' % timeout)
        return None, 'no answer from the guest agent within %g s' % timeout
    except QGAConnectionClosed:
        client.close()
        return None, 'the guest agent socket closed'
    except QGAError as exc:
        client.close()
        return None, 'the guest agent socket %s cannot be used: %s' % (path, exc)
    return client, None


def agent_ping(path, timeout=AGENT_TIMEOUT):
    """Whether the QEMU guest agent answers guest-sync-delimited: (True, None) or (False, why)."""
    client, why = _agent_client(path, timeout)
    if client is None:
        return False, why
    client.close()
    return True, None


def agent_shutdown(path, timeout=AGENT_TIMEOUT):
    """Ask the QEMU guest agent to power the guest off. Returns (True, None) or (False, why).

    The agent is first asked for guest-sync-delimited (it answers with the same id); only an
    agent that answered gets guest-shutdown, which has no reply on success.
    """
    client, why = _agent_client(path, timeout)
    if client is None:
        return False, why
    try:
        # No reply on success; an error reply (e.g. the shutdown command failed in the guest) comes at once, so it is
        # awaited briefly rather than the whole kill_timeout spent waiting for a power-off that will not come.
        client.execute('guest-shutdown', {'mode': 'powerdown'}, timeout=SHUTDOWN_ERROR_WAIT)
    except (QGATimeout, QGAConnectionClosed):
        pass
    except QGACommandError as exc:
        return False, 'the guest agent refused guest-shutdown: %s' % exc.desc
    except QGAError as exc:
        return False, 'the guest agent socket %s cannot be used: %s' % (path, exc)
    finally:
        client.close()
    return True, None


class Shutdown:
    """One stop of one VM: graceful first (unless method is 'signal'), forced when that fails or times out.

    process: a QemuProcess; monitor_socket: its QMP socket; agent_socket: the guest agent
    socket or None. method: 'acpi', 'agent' (falls back to ACPI), or 'signal' (the kill
    signal right away, SIGKILL after kill_timeout). run() returns a StopResult.
    """

    def __init__(self, process, monitor_socket, kill_timeout, method='acpi', agent_socket=None,
                 kill_signal=signal.SIGTERM, grace=KILL_GRACE):
        if method not in METHODS:
            raise ValueError("method '%s' is not supported; use one of %s" % (method, ', '.join(METHODS)))
        self.process = process
        self.monitor_socket = monitor_socket
        self.kill_timeout = float(kill_timeout)
        self.method = method
        self.agent_socket = agent_socket
        self.kill_signal = kill_signal
        self.grace = float(grace)
        self.notes = []
        self.reason = None
        self._deadline = None

    def _remaining(self):
        return max(0.0, self._deadline - time.monotonic())

    def _timeout(self, limit):
        """A timeout for one request: at most limit, at most what is left of kill_timeout (with a small floor).

        Rounded to milliseconds: it appears in notes ("timed out after 0.5 s ...").
        """
        return round(max(MIN_TIMEOUT, min(limit, self._remaining())), 3)

    def run(self):
        started = time.monotonic()
        self._deadline = started + self.kill_timeout
        if self.method == 'signal':
            return self._result(started, False, self._force(self.kill_timeout))
        used = None
        client = self._connect()
        try:
            used = self._ask(client)
            if used is not None and self._wait_graceful(client):
                return self._result(started, True, used)
        finally:
            if client is not None:
                client.close()
        if used is None and self.process.is_alive():
            if self._remaining() > 0:
                self.notes.append('no shutdown request reached the guest; forced it without waiting for kill_timeout')
            else:
                self.notes.append('no shutdown request reached the guest within kill_timeout; forced it')
        forced = self._force(self.grace)
        if forced is None:
            # It ended by itself after the wait but before the signal: nothing was forced.
            return self._result(started, used is not None, used)
        return self._result(started, False, forced)

    def _connect(self):
        # The greeting may take all of kill_timeout: QEMU serves one QMP client at a time, and
        # a monitoring tool holding the socket must not turn a graceful stop into a forced one.
        client = QMPClient(self.monitor_socket, timeout=self._timeout(self.kill_timeout))
        try:
            client.connect()
        except QMPError as exc:
            self.notes.append('the QMP monitor could not be used: %s' % exc)
            return None
        return client

    def _ask(self, client):
        """Send the shutdown request; returns the method used, or None when none could be sent."""
        if client is not None:
            try:
                status = client.execute('query-status', timeout=self._timeout(QMP_TIMEOUT))
            except QMPConnectionClosed:
                return None  # QEMU went away before anything was asked
            except QMPError as exc:
                self.notes.append('query-status failed: %s' % exc)
            else:
                state = status.get('status') if isinstance(status, dict) else None
                if state == 'shutdown':
                    # The guest already powered off and QEMU stayed (-no-shutdown): only `quit` ends it.
                    self.notes.append("the guest had already powered off (QEMU state 'shutdown', as with -no-shutdown); told QEMU to quit")
                    self._quit(client)
                    return 'acpi'
                if state is not None and not status.get('running'):
                    self.notes.append("the VM was in QEMU state '%s' and may not react before kill_timeout" % state)
        if self.method == 'agent':
            if not self.agent_socket:
                self.notes.append('no guest agent socket is known (a task needs guest_agent, a monitor_socket needs agent_socket); '
                                  'used the ACPI power button')
            else:
                ok, why = agent_shutdown(self.agent_socket, timeout=self._timeout(AGENT_TIMEOUT))
                if ok:
                    return 'agent'
                self.notes.append('%s; fell back to the ACPI power button' % why)
        if client is None:
            return None
        try:
            client.execute('system_powerdown', timeout=self._timeout(QMP_TIMEOUT))
        except QMPConnectionClosed:
            return 'acpi'  # QEMU went away while we asked: the wait sees it
        except QMPError as exc:
            self.notes.append('system_powerdown failed: %s' % exc)
            return None
        return 'acpi'

    def _quit(self, client):
        try:
            client.quit(timeout=self._timeout(QMP_TIMEOUT))
        except QMPError as exc:
            self.notes.append('quit failed: %s' % exc)

    def _wait_graceful(self, client):
        """Wait for the end of the process until the deadline, event-driven. True when it ended."""
        if client is not None and client.connected:
            try:
                event = client.wait_event('SHUTDOWN', timeout=self._remaining())
            except QMPConnectionClosed:
                pass  # QEMU exited (or is exiting): the process wait below sees it
            except QMPTimeout:
                return self.process.wait(0)
            except QMPError as exc:
                self.notes.append('waiting on the QMP monitor failed: %s' % exc)
            else:
                self.reason = (event.get('data') or {}).get('reason')
                self._after_shutdown_event(client)
        return self.process.wait(self._remaining())

    def _after_shutdown_event(self, client):
        """The guest is off. QEMU now exits by itself, or (-no-shutdown) pauses with a STOP event and stays."""
        del client.events[:]  # a STOP from before the SHUTDOWN says nothing about what QEMU does now
        patience = min(EXIT_AFTER_SHUTDOWN, self._remaining())
        try:
            client.wait_event('STOP', timeout=patience)
        except QMPConnectionClosed:
            return  # exiting as usual
        except QMPTimeout:
            if self.process.wait(0):
                return
            self.notes.append('QEMU did not exit within %g s after the guest powered off; told it to quit' % patience)
        except QMPError as exc:
            self.notes.append('waiting on the QMP monitor failed: %s' % exc)
            return
        else:
            self.notes.append('QEMU paused instead of exiting after the guest powered off (-no-shutdown); told it to quit')
        self._quit(client)

    def _force(self, patience):
        """The kill signal, SIGKILL after patience seconds. Returns 'signal', 'kill', or None when it was already gone."""
        return terminate(self.process, patience, self.kill_signal, self.grace)['method']

    def _result(self, started, graceful, method):
        return StopResult(graceful, method, time.monotonic() - started, self.reason, self.notes, ended=not self.process.is_alive())


def shutdown(process, monitor_socket, kill_timeout, method='acpi', agent_socket=None, kill_signal=signal.SIGTERM, grace=KILL_GRACE):
    """Stop one VM; see Shutdown."""
    if not isinstance(process, QemuProcess):
        raise TypeError('process must be a QemuProcess')
    stop = Shutdown(process, monitor_socket, kill_timeout, method, agent_socket, kill_signal, grace)
    if not process.is_alive():
        return StopResult()
    return stop.run()
