# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A scripted fake QMP server on a real unix socket, served from a thread.

A script is a list of steps (tuples), run in order on the first accepted connection:

``('greet',)``                 send a QEMU 7.2 greeting
``('handshake',)``             ``greet``, then expect ``qmp_capabilities`` and answer it
``('read', COMMAND)``          read one request and check its ``execute`` is COMMAND
``('answer', VALUE)``          send ``{"return": VALUE, "id": <id of the last request>}``
``('answer_error', CLS, DESC)`` send an error reply with the id of the last request
``('reply', COMMAND, VALUE)``  ``read`` + ``answer``
``('event', NAME)``            send an event (with timestamp)
``('send', BYTES)``            send raw bytes; ``@ID@`` is replaced by the last request id
``('dribble', BYTES)``         like ``send``, one byte per send with a short pause
``('pause', SECONDS)``         sleep
``('close',)``                 close the connection (the script ends here)
``('reset',)``                 wait until the client sent something, then close without
                               reading it: Linux reports ECONNRESET to the client, as
                               QEMU 7.2 does after ``quit``

When the script ends without ``close``, the server waits for the client to disconnect
(EOF), so a client is never surprised by an EOF it did not ask for. Failures inside the
thread (unexpected request, client gone too early) are re-raised by ``stop()``.
"""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time


GREETING = (b'{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, '
            b'"package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n')

_STEP_TIMEOUT = 5.0


def encode(msg):
    """Encode a message the way QEMU does: compact-ish JSON ended by CRLF."""
    return json.dumps(msg).encode('utf-8') + b'\r\n'


def event(name, data=None):
    msg = {'timestamp': {'seconds': 1795550237, 'microseconds': 306530}, 'event': name}
    if data is not None:
        msg['data'] = data
    return msg


def bind_unix(sock, path):
    """Bind ``sock`` to ``path`` of any length without changing the working directory."""
    if len(os.fsencode(path)) <= 107:
        sock.bind(path)
        return
    directory, name = os.path.split(path)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.bind('/proc/self/fd/{0}/{1}'.format(dir_fd, name))
    finally:
        os.close(dir_fd)


class FakeQMPServer:
    """Serve one scripted QMP conversation on a unix socket at ``path``."""

    def __init__(self, path, script):
        self.path = str(path)
        self.script = list(script)
        self.requests = []
        self.client_closed = threading.Event()
        self._error = None
        self._stopping = False
        self._buffer = b''
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bind_unix(self._listener, self.path)
        self._listener.listen(1)
        self._listener.settimeout(_STEP_TIMEOUT)
        self._thread = threading.Thread(target=self._serve, name='fake-qmp', daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.stop(check=exc_type is None)

    def stop(self, check=True):
        self._stopping = True
        self._thread.join(_STEP_TIMEOUT + 1)
        self._listener.close()
        if check:
            assert not self._thread.is_alive(), 'fake QMP server thread did not finish'
            if self._error is not None:
                raise AssertionError('fake QMP server failed: {0}'.format(self._error))

    # Server thread

    def _serve(self):
        try:
            conn, dummy_addr = self._listener.accept()
        except OSError as exc:
            if not self._stopping:
                self._error = 'no client connected: {0!r}'.format(exc)
            return
        try:
            self._run(conn)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self._error = repr(exc)
        finally:
            conn.close()

    def _run(self, conn):
        last_id = None
        for step in self.script:
            kind, args = step[0], step[1:]
            if kind == 'greet':
                conn.sendall(GREETING)
            elif kind == 'handshake':
                conn.sendall(GREETING)
                last_id = self._expect(conn, 'qmp_capabilities')
                conn.sendall(encode({'return': {}, 'id': last_id}))
            elif kind == 'read':
                last_id = self._expect(conn, args[0])
            elif kind == 'answer':
                conn.sendall(encode({'return': args[0], 'id': last_id}))
            elif kind == 'answer_error':
                conn.sendall(encode({'id': last_id, 'error': {'class': args[0], 'desc': args[1]}}))
            elif kind == 'reply':
                last_id = self._expect(conn, args[0])
                conn.sendall(encode({'return': args[1], 'id': last_id}))
            elif kind == 'event':
                conn.sendall(encode(event(*args)))
            elif kind == 'send':
                conn.sendall(args[0].replace(b'@ID@', json.dumps(last_id).encode()))
            elif kind == 'dribble':
                for byte in args[0].replace(b'@ID@', json.dumps(last_id).encode()):
                    conn.sendall(bytes([byte]))
                    time.sleep(0.001)
            elif kind == 'pause':
                time.sleep(args[0])
            elif kind == 'close':
                return
            elif kind == 'reset':
                readable = select.select([conn], [], [], _STEP_TIMEOUT)[0]
                if not readable:
                    raise AssertionError('client sent nothing to reset on')
                return
            else:
                raise ValueError('unknown script step {0!r}'.format(step))
        self._wait_for_client_close(conn)

    def _expect(self, conn, command):
        """Read one request line; check its command; return its id."""
        conn.settimeout(_STEP_TIMEOUT)
        while b'\n' not in self._buffer:
            chunk = conn.recv(65536)
            if not chunk:
                raise AssertionError('client closed the connection while the server expected {0!r}'.format(command))
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b'\n', 1)
        request = json.loads(line.decode('utf-8'))
        self.requests.append(request)
        if request.get('execute') != command:
            raise AssertionError('expected command {0!r}, got {1!r}'.format(command, request))
        return request.get('id')

    def _wait_for_client_close(self, conn):
        deadline = time.monotonic() + _STEP_TIMEOUT
        conn.settimeout(0.05)
        while time.monotonic() < deadline and not self._stopping:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            self._buffer += chunk
        self.client_closed.set()
