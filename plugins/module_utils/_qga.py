# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A small, synchronous client of the QEMU guest agent (qemu-ga) protocol.

Standard library only, so modules can use it as well as the ``qga`` connection plugin.

The agent speaks newline-delimited JSON over a virtio-serial port that QEMU exposes on
the hypervisor as a chardev (here a unix socket, ``-chardev socket,server=on``). Unlike
QMP there is no greeting and no request id: a client that connects may first read the
late reply to someone else's request, and the agent's parser may hold half a request
from a client that went away. ``sync()`` resynchronises the way qemu-ga documents it:
send a 0xFF byte (the agent's parser resets on it), then ``guest-sync-delimited`` with a
random id; the agent answers with 0xFF followed by the JSON reply, so everything before
the 0xFF is stale and discarded, and a reply with another id is skipped.

QEMU serves one client on the chardev at a time: a second client's connect() succeeds
(the kernel queues it) but it gets no answer until the first one disconnects. When
``sync()`` times out on a local socket, the kernel's socket diagnostics (netlink
sock_diag: is our connection's peer accepted yet?) tell that case from an agent that does
not run; where they are not available, the message says both possible causes.

The transport is a pair of byte streams: a connected AF_UNIX socket (``SocketTransport``)
or any pair of file descriptors such as a subprocess's stdout and stdin
(``StreamTransport``), which is how ``BRIDGE`` relays the socket of a remote hypervisor
over ssh. Every read and write has a deadline.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import random
import select
import socket
import struct
import time

from ansible_collections.nomadic.qemu.plugins.module_utils._qmp import UNIX_PATH_MAX, QMPError, _connect_unix, _excerpt


# The delimiter qemu-ga puts before the reply to guest-sync-delimited (and resets its parser on).
DELIMITER = b'\xff'
# A reply larger than this without a line end means we are not talking to a guest agent.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# qemu-ga's JSON parser refuses a token or message over 64 MiB (and drops the connection's parser state): requests
# larger than this are refused here, with a message, instead of being sent.
MAX_REQUEST_BYTES = 60 * 1024 * 1024
_RECV_SIZE = 262144

# Where disabled RPCs are configured, for the message that says how to allow them.
ALLOW_HINT = ("allow it in the guest: remove it from qemu-ga's --block-rpcs (block-rpcs in /etc/qemu/qemu-ga.conf), "
              "or add it to --allow-rpcs when that is used (on RHEL, Fedora and CentOS: BLOCK_RPCS or FILTER_RPC_ARGS "
              "in /etc/sysconfig/qemu-ga), then restart qemu-guest-agent")

_CLOSED_ERRNOS = (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN)


class QGAError(Exception):
    """Base class of all guest agent client errors."""


class QGATimeout(QGAError):
    """No complete reply before the deadline.

    ``held`` (from sync()): True when another client holds the socket, False when it does not, None when unknown.
    """

    held = None


class QGAConnectionError(QGAError):
    """The agent socket cannot be connected to (missing, refused, not a socket, permission).

    ``errno`` and ``strerror`` are those of the failed connect(), when it was one.
    """

    def __init__(self, msg, errno_=None, strerror=None):
        super().__init__(msg)
        self.errno = errno_
        self.strerror = strerror


class QGAConnectionClosed(QGAError):
    """The other end closed the stream (QEMU exited, or the bridge ended)."""


class QGAProtocolError(QGAError):
    """Something that is not a guest agent reply (bad JSON, not an object, too large)."""


class QGACommandError(QGAError):
    """The agent answered a command with an error.

    Attributes: ``command``, ``error_class`` (the agent's ``class``, e.g. ``GenericError``
    or ``CommandNotFound``) and ``desc`` (the agent's description).
    """

    def __init__(self, command, error_class, desc):
        self.command = command
        self.error_class = error_class
        self.desc = desc
        super().__init__('guest agent command {0} failed: {1}: {2}'.format(command, error_class, desc))

    @property
    def disabled(self):
        """True when the agent refuses the command because its configuration disables it."""
        return self.error_class == 'CommandNotFound' and 'has been disabled' in self.desc


class QGADisabledError(QGACommandError):
    """The agent has the command but its configuration disables it (--block-rpcs, --allow-rpcs)."""

    def __init__(self, command, error_class, desc):
        super().__init__(command, error_class, desc)
        self.args = ('the guest agent refuses {0} ({1}); {2}'.format(command, desc, ALLOW_HINT),)


def describe_connect_error(path, exc):
    """A message for an OSError from connect() that names the socket and the likely cause."""
    code = exc.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return ('guest agent socket {0} does not exist; the VM is not running, or was started without the agent channel '
                '(qemu_task guest_agent: true)'.format(path))
    if code in (errno.EACCES, errno.EPERM):
        return 'permission denied connecting to guest agent socket {0}; connect as the user that started QEMU'.format(path)
    if code == errno.ECONNREFUSED:
        return 'connection refused by guest agent socket {0}; QEMU has probably exited and left a stale socket'.format(path)
    if code == errno.ENOTSOCK:
        return '{0} is not a socket; point it at the guest agent socket QEMU created'.format(path)
    if code == errno.EAGAIN:
        return ('guest agent socket {0} accepts no more connections; another client holds it '
                '(QEMU serves one client at a time)'.format(path))
    return 'cannot connect to guest agent socket {0}: {1}'.format(path, exc.strerror or exc)


# netlink sock_diag, to find out whether a unix connection has been accepted (linux/sock_diag.h, linux/unix_diag.h).
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_UDIAG_SHOW_PEER = 4
_UNIX_DIAG_PEER = 2
_NO_COOKIE = 0xffffffff


def queued(sock):
    """Whether a connected AF_UNIX socket still waits in the server's accept queue: True, False, or None when unknown.

    The server side of a connection gets its inode when it is accepted, so the peer inode
    the kernel reports for ours is 0 until then.
    """
    try:
        inode = os.fstat(sock.fileno()).st_ino
        request = struct.pack('=BBHIIIII', socket.AF_UNIX, 0, 0, 0xffffffff, inode, _UDIAG_SHOW_PEER, _NO_COOKIE, _NO_COOKIE)
        header = struct.pack('=IHHII', 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0)
        netlink = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
        try:
            netlink.settimeout(1.0)
            netlink.sendto(header + request, (0, 0))
            data = netlink.recv(65536)
        finally:
            netlink.close()
        length, kind = struct.unpack_from('=IH', data)
        if kind != _SOCK_DIAG_BY_FAMILY:
            return None  # an error reply: no unix_diag in this kernel, or not allowed
        offset = 16 + 16  # nlmsghdr, unix_diag_msg
        while offset + 4 <= min(length, len(data)):
            attr_length, attr_type = struct.unpack_from('=HH', data, offset)
            if attr_length < 4:
                return None
            if attr_type == _UNIX_DIAG_PEER:
                return struct.unpack_from('=I', data, offset + 4)[0] == 0
            offset += (attr_length + 3) & ~3
    except (OSError, AttributeError, struct.error):
        return None
    return None


def _wait(fileno, events, seconds):
    seconds = max(0.0, seconds)
    poller = select.poll()
    poller.register(fileno, events)
    return bool(poller.poll(int(seconds * 1000 + 0.999)))


class _DescriptorTransport:
    """Bytes over a descriptor to read from and one to write to (the same one for a socket), non-blocking, with deadlines."""

    def __init__(self, read_fd, write_fd, name):
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.name = name
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)

    def send(self, data, deadline):
        view = memoryview(data)
        while view:
            if not _wait(self.write_fd, select.POLLOUT, deadline - time.monotonic()):
                raise QGATimeout('timed out writing to {0}'.format(self.name))
            try:
                sent = os.write(self.write_fd, view)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if exc.errno in _CLOSED_ERRNOS:
                    raise QGAConnectionClosed('{0} was closed by the other end'.format(self.name)) from None
                raise QGAError('cannot write to {0}: {1}'.format(self.name, exc.strerror or exc)) from None
            view = view[sent:]

    def recv(self, deadline):
        """Some bytes, b'' at EOF; QGATimeout when nothing came before the deadline."""
        while True:
            if not _wait(self.read_fd, select.POLLIN | select.POLLPRI, deadline - time.monotonic()):
                raise QGATimeout('timed out reading from {0}'.format(self.name))
            try:
                return os.read(self.read_fd, _RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if exc.errno in _CLOSED_ERRNOS:
                    return b''
                raise QGAError('cannot read from {0}: {1}'.format(self.name, exc.strerror or exc)) from None


class SocketTransport(_DescriptorTransport):
    """A connected AF_UNIX stream socket."""

    def __init__(self, sock, name):
        self.sock = sock
        super().__init__(sock.fileno(), sock.fileno(), name)

    def queued(self):
        """True while QEMU has not accepted this connection (it serves another client), None when unknown."""
        return queued(self.sock)

    def close(self):
        self.sock.close()


class StreamTransport(_DescriptorTransport):
    """Two file descriptors: one to read the agent's replies from, one to write requests to.

    ``on_close`` (optional) is called by close(), e.g. to end the subprocess they belong to.
    """

    def __init__(self, read_fd, write_fd, name, on_close=None):
        super().__init__(read_fd, write_fd, name)
        self.on_close = on_close

    def close(self):
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            on_close()


def connect_unix(path, timeout):
    """A SocketTransport connected to the agent socket ``path``; QGAConnectionError when that fails."""
    path = os.fspath(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        _connect_unix(sock, path)
    except socket.timeout:
        sock.close()
        raise QGAConnectionError('timed out after {0:g} s connecting to guest agent socket {1}'.format(timeout, path)) from None
    except OSError as exc:
        sock.close()
        raise QGAConnectionError(describe_connect_error(path, exc), exc.errno, exc.strerror) from None
    except QMPError as exc:
        sock.close()
        raise QGAConnectionError(str(exc).replace('QMP socket', 'guest agent socket')) from None
    return SocketTransport(sock, 'guest agent socket {0}'.format(path))


class QGAClient:
    """Synchronous client of one guest agent stream.

    ``transport`` is a SocketTransport or StreamTransport; ``timeout`` (seconds) is the
    default for every call that takes one. Use ``QGAClient.unix(path)`` for a local socket.
    Not thread-safe.
    """

    def __init__(self, transport, timeout=10.0):
        self.transport = transport
        self.timeout = timeout
        # Received bytes not yet parsed, and how far the search for a line end has got in them (a reply of many
        # megabytes comes in many reads: appending to a bytearray and resuming the search keeps that linear).
        self._buffer = bytearray()
        self._scanned = 0
        self._eof = False
        # After a timeout the late reply may still come: the stream must be resynchronised before the next request.
        self.needs_sync = False

    @classmethod
    def unix(cls, path, timeout=10.0):
        """A client connected (not yet synchronised) to the agent socket ``path``."""
        return cls(connect_unix(path, timeout), timeout)

    @property
    def name(self):
        return self.transport.name

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def close(self):
        transport, self.transport = self.transport, None
        if transport is not None:
            self.transport = _Closed(transport.name)
            transport.close()

    def sync(self, timeout=None):
        """Resynchronise with guest-sync-delimited; returns the seconds it took.

        Raises QGATimeout when no reply with our id came in ``timeout`` seconds (the agent
        is not running in the guest, or another client holds the socket).
        """
        timeout = self.timeout if timeout is None else timeout
        started = time.monotonic()
        deadline = started + timeout
        token = random.randint(1, 2 ** 31 - 1)
        request = {'execute': 'guest-sync-delimited', 'arguments': {'id': token}}
        try:
            self.transport.send(DELIMITER + json.dumps(request).encode() + b'\n', deadline)
            while True:
                self._skip_to_delimiter(deadline)
                reply = self._read_message(deadline, 'guest-sync-delimited')
                if reply.get('return') == token:
                    self.needs_sync = False
                    return time.monotonic() - started
                # A reply to an earlier client's sync (or an error about the 0xFF byte): not ours.
        except QGATimeout:
            waiting = getattr(self.transport, 'queued', lambda: None)()
            if waiting:
                why = ('another client is connected to the socket (QEMU serves one client at a time, and has not accepted this one); '
                       'wait for it to finish, or end it')
            elif waiting is False:
                why = 'the agent is not running in the guest (still booting, not installed, or stopped)'
            else:
                why = ('the agent is not running in the guest (still booting, not installed, or stopped), or another client is '
                       'connected to the socket (QEMU serves one client at a time)')
            error = QGATimeout('no answer from the guest agent on {0} within {1:g} s: {2}'.format(self.name, timeout, why))
            error.held = waiting
            raise error from None

    def execute(self, command, arguments=None, timeout=None):
        """Run one agent command and return its ``return`` value (None when it has none).

        Raises QGADisabledError when the agent's configuration disables the command,
        QGACommandError for other error replies, QGATimeout, QGAConnectionClosed.
        """
        timeout = self.timeout if timeout is None else timeout
        if self.needs_sync:
            raise QGAError('the client of {0} timed out earlier and must sync() before {1}'.format(self.name, command))
        deadline = time.monotonic() + timeout
        self.send(command, arguments, deadline)
        try:
            reply = self._read_message(deadline, command)
        except QGATimeout:
            self.needs_sync = True
            raise QGATimeout('no reply to {0} from the guest agent on {1} within {2:g} s'.format(command, self.name, timeout)) from None
        if 'error' in reply:
            error = reply['error'] if isinstance(reply['error'], dict) else {}
            cls = QGACommandError(command, error.get('class', 'GenericError'), error.get('desc', repr(reply['error'])))
            if cls.disabled:
                cls = QGADisabledError(command, cls.error_class, cls.desc)
            raise cls
        if 'return' not in reply:
            raise QGAProtocolError('unexpected message from the guest agent on {0} while waiting for the reply to {1}: {2}'.format(
                self.name, command, _excerpt(json.dumps(reply).encode())))
        return reply['return']

    def send(self, command, arguments=None, deadline=None):
        """Send one request without reading a reply (guest-shutdown has none on success)."""
        if deadline is None:
            deadline = time.monotonic() + self.timeout
        request = {'execute': command}
        if arguments is not None:
            request['arguments'] = arguments
        data = json.dumps(request).encode() + b'\n'
        if len(data) > MAX_REQUEST_BYTES:
            raise QGAProtocolError('the request {0} is {1} bytes, over the {2} that can be sent to the guest agent (qemu-ga '
                                   'refuses JSON over 64 MiB); send less at a time'.format(command, len(data), MAX_REQUEST_BYTES))
        try:
            self.transport.send(data, deadline)
        except QGATimeout:
            self.needs_sync = True
            raise QGATimeout('timed out sending {0} to the guest agent on {1}'.format(command, self.name)) from None

    # Internals

    def _fill(self, deadline, awaited):
        if not self._eof:
            chunk = self.transport.recv(deadline)
            if chunk:
                self._buffer += chunk
                return
            self._eof = True
        raise QGAConnectionClosed('{0} was closed while we waited for the reply to {1}'.format(self.name, awaited))

    def _skip_to_delimiter(self, deadline):
        while True:
            index = self._buffer.find(DELIMITER)
            if index >= 0:
                del self._buffer[:index + 1]
                self._scanned = 0
                return
            self._buffer.clear()
            self._scanned = 0
            self._fill(deadline, 'guest-sync-delimited')

    def _read_message(self, deadline, awaited):
        while True:
            newline = self._buffer.find(b'\n', self._scanned)
            if newline >= 0:
                line = bytes(self._buffer[:newline]).strip(b' \r\t' + DELIMITER)
                del self._buffer[:newline + 1]
                self._scanned = 0
                if not line:
                    continue
                try:
                    msg = json.loads(line.decode('utf-8'))
                except ValueError as exc:
                    raise QGAProtocolError('malformed JSON from the guest agent on {0}: {1} ({2})'.format(
                        self.name, _excerpt(line), exc)) from None
                if not isinstance(msg, dict):
                    raise QGAProtocolError('unexpected message from the guest agent on {0}: {1} is not a JSON object'.format(
                        self.name, _excerpt(line)))
                return msg
            self._scanned = len(self._buffer)
            if len(self._buffer) > MAX_MESSAGE_BYTES:
                raise QGAProtocolError('the reply to {0} from {1} exceeds {2} bytes without a line end'.format(
                    awaited, self.name, MAX_MESSAGE_BYTES))
            self._fill(deadline, awaited)


class _Closed:
    """The transport of a closed client: every use says so."""

    def __init__(self, name):
        self.name = name

    def send(self, data, deadline):
        raise QGAError('the client of {0} is closed'.format(self.name))

    recv = send

    def close(self):
        pass


def b64encode(data):
    return base64.b64encode(data).decode('ascii')


def b64decode(text):
    """Decode the agent's base64; anything else in it is an error, not silently dropped."""
    try:
        return base64.b64decode(text or '', validate=True)
    except ValueError as exc:
        raise QGAProtocolError('malformed base64 from the guest agent: {0}'.format(exc)) from None


# A relay between its stdin/stdout and the unix socket named by argv[1], started on a
# remote hypervisor as `python3 -c BRIDGE SOCKET` (over ssh). Standard library only,
# Python 3. A failure to connect is one line on stderr starting with 'bridge:' and exit 2.
BRIDGE = r'''
import errno, os, select, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    if len(os.fsencode(path)) > %(limit)d:
        d = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        s.connect("/proc/self/fd/%%d/%%s" %% (d, os.path.basename(path)))
    else:
        s.connect(path)
except OSError as e:
    sys.stderr.write("bridge: %%s: %%s\n" %% (errno.errorcode.get(e.errno, e.errno), e.strerror or e))
    sys.exit(2)
fin, fout = sys.stdin.fileno(), sys.stdout.fileno()
while True:
    r = select.select([fin, s], [], [])[0]
    if fin in r:
        data = os.read(fin, 262144)
        if not data:
            break
        s.sendall(data)
    if s in r:
        data = s.recv(262144)
        if not data:
            break
        while data:
            data = data[os.write(fout, data):]
''' % {'limit': UNIX_PATH_MAX}
