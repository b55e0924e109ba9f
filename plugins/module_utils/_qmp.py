# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A small, synchronous QMP (QEMU Machine Protocol) client.

Standard library only. It talks to the unix socket QEMU opens with
``-qmp unix:PATH,server=on,wait=off``:

* every read has a deadline, so a stopped or busy QEMU cannot hang the caller;
* messages are newline-delimited JSON (QEMU ends them with CRLF); partial lines and
  several messages per read are handled;
* events that arrive before or between replies are kept in ``events`` until
  ``wait_event()`` consumes them;
* socket paths longer than the AF_UNIX limit (107 bytes) are reached through
  ``/proc/self/fd/<dirfd>/<name>`` (or a temporary ``fchdir`` when /proc is missing).

QEMU serves one QMP client at a time: a second client is accepted by the kernel but gets
no greeting until the first one disconnects. Always close the client (it is a context
manager), and expect ``QMPTimeout`` from ``connect()`` when someone else holds the socket.

Observed with QEMU 7.2: ``stop``/``cont`` emit their ``STOP``/``RESUME`` event *before*
the reply; ``quit`` emits ``SHUTDOWN`` before its reply and then resets the connection
(ECONNRESET rather than a clean EOF), which this client reports as a normal close.
``quit()`` also accepts QEMU closing before the reply is written.

The client is not thread-safe; use one client per thread.
"""

from __future__ import annotations

import array
import errno
import json
import os
import select
import socket
import stat
import time


# Longest path connect() accepts in sockaddr_un.sun_path on Linux (108 bytes with the NUL).
UNIX_PATH_MAX = 107

# Where the running process sees its own file descriptors; tests point this elsewhere
# to exercise the fallback for systems without /proc.
_PROC_FD_DIR = '/proc/self/fd'

# A message larger than this without a newline means we are not talking to QMP.
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

_RECV_SIZE = 65536
_EXCERPT_CHARS = 200

_CLOSED_ERRNOS = (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN)


class QMPError(Exception):
    """Base class of all QMP client errors."""


class QMPTimeout(QMPError):
    """A connect, send or read did not complete before its deadline."""


class QMPConnectionError(QMPError):
    """The QMP socket cannot be connected to (missing, refused, not a socket...)."""


class QMPConnectionClosed(QMPError):
    """QEMU closed the connection (EOF or reset). This is normal when QEMU exits."""


class QMPProtocolError(QMPError):
    """QEMU sent something that is not valid QMP (bad JSON, no greeting, unexpected message)."""


class QMPCommandError(QMPError):
    """QEMU answered a command with an error reply.

    Attributes: ``command`` (the command name), ``error_class`` (QEMU's ``class``,
    e.g. ``GenericError`` or ``CommandNotFound``) and ``desc`` (QEMU's description).
    """

    def __init__(self, command, error_class, desc):
        self.command = command
        self.error_class = error_class
        self.desc = desc
        super().__init__('QMP command {0!r} failed: {1}: {2}'.format(command, error_class, desc))


def _fmt_seconds(seconds):
    return '{0:g} s'.format(seconds)


def _excerpt(data):
    """Return a printable, bounded excerpt of received bytes for error messages."""
    text = data.decode('utf-8', errors='backslashreplace')
    text = ''.join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + '...'
    return "'" + text + "'"


def _describe_connect_error(path, exc):
    """Turn an OSError from connect() into a message that names the path and the likely cause."""
    code = exc.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return 'QMP socket {0} does not exist; QEMU is not running or was started with another -qmp path'.format(path)
    if code in (errno.EACCES, errno.EPERM):
        return 'permission denied connecting to QMP socket {0}; run as the user that started QEMU'.format(path)
    if code == errno.ECONNREFUSED:
        try:
            is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
        except OSError:
            is_socket = True
        if not is_socket:
            return '{0} is not a socket; point the QMP path at the socket QEMU created with -qmp unix:...'.format(path)
        return 'connection refused by QMP socket {0}; QEMU has probably exited and left a stale socket'.format(path)
    if code == errno.ENOTSOCK:
        return '{0} is not a socket; point the QMP path at the socket QEMU created with -qmp unix:...'.format(path)
    return 'cannot connect to QMP socket {0}: {1}'.format(path, exc.strerror or exc)


def _connect_unix(sock, path):
    """Connect ``sock`` to the unix socket ``path``, whatever the length of ``path``.

    Raises OSError from connect(), or QMPConnectionError when even the short form is
    too long (a socket file name longer than about 90 bytes).
    """
    if len(os.fsencode(path)) <= UNIX_PATH_MAX:
        sock.connect(path)
        return
    directory, name = os.path.split(path)
    if not name:
        raise QMPConnectionError('QMP socket path {0} names a directory, not a socket'.format(path))
    # '<proc fd dir>/<fd, up to 10 digits>/<name>' must fit in sun_path.
    name_limit = UNIX_PATH_MAX - len(_PROC_FD_DIR) - 12
    if len(os.fsencode(name)) > name_limit:
        raise QMPConnectionError(
            'QMP socket file name {0!r} is too long to connect to (limit about {1} bytes); use a shorter socket file name'.format(
                name, name_limit))
    dir_fd = os.open(directory or '.', os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    try:
        proc_dir = '{0}/{1}'.format(_PROC_FD_DIR, dir_fd)
        if os.path.isdir(proc_dir):
            sock.connect('{0}/{1}'.format(proc_dir, name))
            return
        # No /proc: connect relative to the directory. This changes the process-wide
        # working directory for the duration of connect(), so it is not thread-safe.
        old_cwd_fd = os.open('.', os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
        try:
            os.fchdir(dir_fd)
            sock.connect(name)
        finally:
            os.fchdir(old_cwd_fd)
            os.close(old_cwd_fd)
    finally:
        os.close(dir_fd)


def _wait_readable(sock, seconds):
    """Wait up to ``seconds`` for ``sock`` to become readable (data, EOF or error)."""
    seconds = max(0.0, seconds)
    if hasattr(select, 'poll'):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(int(seconds * 1000 + 0.999)))
    readable, dummy_w, dummy_x = select.select([sock], [], [], seconds)
    return bool(readable)


class QMPClient:
    """Synchronous client for one QMP unix socket.

    ``timeout`` (seconds) bounds connect() plus the greeting, and is the default for
    every other call that takes a ``timeout`` argument.
    """

    def __init__(self, path, timeout=5.0):
        self.path = os.fspath(path)
        self.timeout = timeout
        self.greeting = None
        self.events = []
        self._sock = None
        self._buffer = b''
        self._eof = False
        self._last_id = 0

    # Context manager: ``with QMPClient(path) as qmp:`` connects and always closes.
    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    @property
    def connected(self):
        """True while the socket is open and QEMU has not closed it."""
        return self._sock is not None and not self._eof

    @property
    def closed_by_peer(self):
        """True once QEMU closed the connection (EOF or reset was seen)."""
        return self._eof

    @property
    def version(self):
        """QEMU's version from the greeting as a (major, minor, micro) tuple, or None."""
        try:
            ver = self.greeting['QMP']['version']['qemu']
            return (int(ver['major']), int(ver['minor']), int(ver['micro']))
        except (TypeError, KeyError, ValueError):
            return None

    def connect(self):
        """Connect, read the greeting, negotiate capabilities and return the greeting.

        On any failure the socket is closed before the exception propagates.
        """
        if self._sock is not None:
            raise QMPError('QMP client for {0} is already connected; close() it first'.format(self.path))
        self._buffer = b''
        self._eof = False
        self.greeting = None
        deadline = time.monotonic() + self.timeout
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            try:
                _connect_unix(sock, self.path)
            except socket.timeout:
                raise QMPTimeout('timed out after {0} connecting to QMP socket {1}; QEMU is not accepting connections'.format(
                    _fmt_seconds(self.timeout), self.path)) from None
            except OSError as exc:
                raise QMPConnectionError(_describe_connect_error(self.path, exc)) from None
            self._sock = sock
            greeting = self._read_message(
                deadline, 'the QMP greeting',
                '; another client may be connected (QEMU serves one QMP client at a time)',
                self.timeout)
            if not isinstance(greeting.get('QMP'), dict):
                raise QMPProtocolError('expected the QMP greeting from {0}, got {1}'.format(
                    self.path, _excerpt(json.dumps(greeting).encode())))
            self.execute('qmp_capabilities')
            self.greeting = greeting
            return greeting
        except BaseException:
            self._sock = None
            sock.close()
            raise

    def close(self):
        """Close the socket. Safe to call several times; kept events stay in ``events``."""
        sock, self._sock = self._sock, None
        self._buffer = b''
        if sock is not None:
            sock.close()

    def execute(self, command, arguments=None, timeout=None, fd=None):
        """Run a QMP command and return its ``return`` value.

        ``fd``, an open file descriptor, is passed to QEMU with the command (SCM_RIGHTS), as
        ``add-fd`` and ``getfd`` expect.

        Raises QMPCommandError on an error reply, QMPTimeout when no reply arrives in
        ``timeout`` seconds (default: the client timeout), QMPConnectionClosed when QEMU
        closes the connection first. Events received meanwhile are appended to ``events``.
        A late reply to an earlier command that timed out is recognised by its id and dropped.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._check_open('run {0!r}'.format(command))
        self._last_id += 1
        request_id = self._last_id
        request = {'execute': command, 'id': request_id}
        if arguments is not None:
            request['arguments'] = arguments
        self._send(request, deadline, command, timeout, fd)
        awaited = 'the reply to {0!r}'.format(command)
        while True:
            msg = self._read_message(deadline, awaited, '', timeout)
            if 'event' in msg:
                self.events.append(msg)
                continue
            if 'return' not in msg and 'error' not in msg:
                raise QMPProtocolError('unexpected message from QMP socket {0} while waiting for {1}: {2}'.format(
                    self.path, awaited, _excerpt(json.dumps(msg).encode())))
            # QEMU omits the id only when it could not parse the request, so an id-less
            # reply belongs to the request in flight.
            if 'id' in msg and msg['id'] != request_id:
                continue
            if 'error' in msg:
                error = msg['error'] if isinstance(msg['error'], dict) else {}
                raise QMPCommandError(command, error.get('class', 'GenericError'), error.get('desc', repr(msg['error'])))
            return msg['return']

    def quit(self, timeout=None):
        """Ask QEMU to exit with the ``quit`` command and wait for it to close the socket.

        QEMU exits right after ``quit``; should the connection close before its reply
        arrives, that counts as success. Returns True when the socket closed in time.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            self.execute('quit', timeout=timeout)
        except QMPConnectionClosed:
            return True
        return self.wait_closed(max(0.0, deadline - time.monotonic()))

    def wait_event(self, names, timeout=None):
        """Return the first event whose name is in ``names`` (a string or an iterable).

        Events already kept in ``events`` are searched first (oldest first); the returned
        event is removed from ``events``, other events received meanwhile are kept.
        Raises QMPTimeout after ``timeout`` seconds, QMPConnectionClosed if QEMU closes
        the connection first (usually: it exited).
        """
        wanted = {names} if isinstance(names, str) else set(names)
        for index, event in enumerate(self.events):
            if event.get('event') in wanted:
                return self.events.pop(index)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        awaited = 'event {0}'.format(' or '.join(sorted(wanted)))
        self._check_open('wait for {0}'.format(awaited))
        while True:
            msg = self._read_message(deadline, awaited, '', timeout)
            if 'event' not in msg:
                continue  # a late reply to a command that timed out
            if msg['event'] in wanted:
                return msg
            self.events.append(msg)

    def wait_closed(self, timeout=None):
        """Read until QEMU closes the connection or ``timeout`` seconds pass.

        Events received meanwhile are kept in ``events``. Returns True if the connection
        was closed by QEMU (EOF or reset), False on timeout.
        """
        if self._eof:
            return True
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._check_open('wait for QEMU to close the connection')
        while True:
            try:
                msg = self._read_message(deadline, 'QEMU to close the connection', '', timeout)
            except QMPConnectionClosed:
                return True
            except QMPTimeout:
                return False
            if 'event' in msg:
                self.events.append(msg)

    # Internals

    def _check_open(self, what):
        if self._sock is None:
            raise QMPError('cannot {0}: the QMP client for {1} is not connected; call connect() first'.format(what, self.path))
        if self._eof:
            raise QMPConnectionClosed('cannot {0}: QEMU already closed QMP socket {1}'.format(what, self.path))

    def _send(self, request, deadline, command, timeout, fd=None):
        data = json.dumps(request).encode('utf-8') + b'\n'
        self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            if fd is not None:
                # The descriptor travels with the first byte; the rest of the line follows as usual.
                sent = self._sock.sendmsg([data[:1]], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])
                data = data[sent:]
            self._sock.sendall(data)
        except socket.timeout:
            raise QMPTimeout('timed out after {0} sending {1!r} to QMP socket {2}'.format(_fmt_seconds(timeout), command, self.path)) from None
        except OSError as exc:
            if exc.errno in _CLOSED_ERRNOS:
                self._eof = True
                raise QMPConnectionClosed('QEMU closed QMP socket {0} before {1!r} could be sent'.format(self.path, command)) from None
            raise QMPError('cannot send {0!r} to QMP socket {1}: {2}'.format(command, self.path, exc)) from None

    def _pop_line(self):
        """Return the next non-empty line from the buffer (without line end), or None."""
        while True:
            newline = self._buffer.find(b'\n')
            if newline < 0:
                return None
            line = self._buffer[:newline].strip()
            self._buffer = self._buffer[newline + 1:]
            if line:
                return line

    def _parse(self, line):
        try:
            msg = json.loads(line.decode('utf-8'))
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise QMPProtocolError('malformed JSON from QMP socket {0}: {1} ({2})'.format(self.path, _excerpt(line), exc)) from None
        if not isinstance(msg, dict):
            raise QMPProtocolError('unexpected message from QMP socket {0}: {1} is not a JSON object'.format(self.path, _excerpt(line)))
        return msg

    def _read_message(self, deadline, awaited, timeout_hint, timeout):
        """Return the next message as a dict, reading from the socket as needed."""
        while True:
            line = self._pop_line()
            if line is not None:
                return self._parse(line)
            if self._eof:
                rest = self._buffer.strip()
                self._buffer = b''
                if rest:
                    # A last message without its line end: accept it if it is complete.
                    try:
                        return self._parse(rest)
                    except QMPProtocolError:
                        raise QMPConnectionClosed(
                            'QEMU closed QMP socket {0} in the middle of a message while we waited for {1} (received {2})'.format(
                                self.path, awaited, _excerpt(rest))) from None
                raise QMPConnectionClosed('QEMU closed QMP socket {0} while we waited for {1}'.format(self.path, awaited))
            if len(self._buffer) > _MAX_MESSAGE_BYTES:
                raise QMPProtocolError('message from QMP socket {0} exceeds {1} bytes without a line end: {2}'.format(
                    self.path, _MAX_MESSAGE_BYTES, _excerpt(self._buffer)))
            if not _wait_readable(self._sock, deadline - time.monotonic()):
                raise QMPTimeout('timed out after {0} waiting for {1} on QMP socket {2}{3}'.format(
                    _fmt_seconds(timeout), awaited, self.path, timeout_hint))
            try:
                chunk = self._sock.recv(_RECV_SIZE)
            except socket.timeout:
                continue  # spurious wake-up; the deadline check above decides
            except OSError as exc:
                if exc.errno not in _CLOSED_ERRNOS:
                    raise QMPError('cannot read from QMP socket {0}: {1}'.format(self.path, exc)) from None
                chunk = b''
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True
