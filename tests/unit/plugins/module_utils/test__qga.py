# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils import _qga
from ansible_collections.nomadic.qemu.plugins.module_utils._qga import (
    BRIDGE,
    QGAClient,
    QGACommandError,
    QGAConnectionClosed,
    QGAConnectionError,
    QGADisabledError,
    QGAProtocolError,
    QGATimeout,
    StreamTransport,
)
from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils.qga_fakes import FakeAgent, needs_unix_diag


@pytest.fixture
def agent(tmp_path):
    started = []

    def start(**kwargs):
        fake = FakeAgent(tmp_path / 'qga.sock', **kwargs).__enter__()
        started.append(fake)
        return fake
    yield start
    for fake in started:
        fake.stop()


class RawServer:
    """A unix socket server that sends fixed bytes after the first request line, then keeps the connection open."""

    def __init__(self, path, reply, accept=True):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.reply = reply
        self.conns = []
        self.received = b''
        if accept:
            threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn = self.listener.accept()[0]
        self.conns.append(conn)
        while b'\n' not in self.received:
            chunk = conn.recv(4096)
            if not chunk:
                return
            self.received += chunk
        if self.reply is None:
            conn.close()
            return
        conn.sendall(self.reply)

    def close(self):
        for conn in self.conns:
            conn.close()
        self.listener.close()


def test_sync_skips_stale_replies_and_sends_the_delimiter_first(agent, tmp_path):
    fake = agent()
    with QGAClient.unix(str(tmp_path / 'qga.sock'), timeout=5) as client:
        assert client.sync() >= 0
        assert client.execute('guest-info')['version'] == '7.2.22'
    assert fake.commands() == ['guest-sync-delimited', 'guest-info']


def test_sync_reply_in_pieces_with_a_wrong_id_first(tmp_path):
    # What an agent answers to a 0xff byte, a stale delimited reply with another id, then ours (id read from the request).
    path = tmp_path / 'raw.sock'
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve():
        conn = listener.accept()[0]
        data = b''
        while b'\n' not in data:
            data += conn.recv(4096)
        assert data.startswith(b'\xff')
        token = json.loads(data[1:].decode())['arguments']['id']
        reply = b'\xff' + json.dumps({'return': token}).encode() + b'\n'
        conn.sendall(b'{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}\n\xff{"return": 7}\n')
        for index in range(len(reply)):
            conn.sendall(reply[index:index + 1])
        time.sleep(0.5)
        conn.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with QGAClient.unix(str(path), timeout=5) as client:
        client.sync()
    thread.join(5)
    listener.close()


@pytest.mark.parametrize('reply, error, message', [
    pytest.param(b'', QGATimeout, 'no answer from the guest agent on guest agent socket {path} within 0.3 s: the agent is not running in '
                 'the guest (still booting, not installed, or stopped)', id='no answer', marks=needs_unix_diag),
    pytest.param(None, QGAConnectionClosed, 'guest agent socket {path} was closed while we waited for the reply to guest-sync-delimited',
                 id='closed'),
    pytest.param(b'\xffnot json\n', QGAProtocolError, "malformed JSON from the guest agent on guest agent socket {path}: 'not json'",
                 id='not json'),
])
def test_sync_failures(tmp_path, reply, error, message):
    path = tmp_path / 'raw.sock'
    server = RawServer(path, reply)
    try:
        with QGAClient.unix(str(path), timeout=0.3) as client:
            with pytest.raises(error) as exc:
                client.sync()
        assert str(exc.value).startswith(message.format(path=path))
    finally:
        server.close()


@needs_unix_diag
def test_sync_when_another_client_holds_the_socket(tmp_path):
    # QEMU accepts one client: the kernel queues the next one, which gets no answer.
    path = tmp_path / 'busy.sock'
    server = RawServer(path, b'', accept=False)
    try:
        with QGAClient.unix(str(path), timeout=0.2) as client:
            assert _qga.queued(client.transport.sock) is True
            with pytest.raises(QGATimeout) as exc:
                client.sync()
            # Unknown (no sock_diag): both causes are named.
            client.transport.queued = lambda: None
            with pytest.raises(QGATimeout) as unknown:
                client.sync()
        assert str(exc.value) == ('no answer from the guest agent on guest agent socket %s within 0.2 s: another client is connected to '
                                  'the socket (QEMU serves one client at a time, and has not accepted this one); wait for it to finish, '
                                  'or end it' % path)
        assert str(unknown.value) == ('no answer from the guest agent on guest agent socket %s within 0.2 s: the agent is not running in '
                                      'the guest (still booting, not installed, or stopped), or another client is connected to the '
                                      'socket (QEMU serves one client at a time)' % path)
    finally:
        server.close()


@needs_unix_diag
def test_queued_once_accepted(tmp_path):
    path = tmp_path / 'accepting.sock'
    server = RawServer(path, b'')
    try:
        with QGAClient.unix(str(path), timeout=1) as client:
            client.transport.send(b'\n', time.monotonic() + 1)
            deadline = time.monotonic() + 2
            while not server.conns and time.monotonic() < deadline:
                time.sleep(0.01)
            assert _qga.queued(client.transport.sock) is False
    finally:
        server.close()


@pytest.mark.parametrize('kind, message', [
    pytest.param('missing', 'guest agent socket {path} does not exist; the VM is not running, or was started without the agent channel '
                 '(qemu_task guest_agent: true)', id='missing'),
    pytest.param('file', 'connection refused by guest agent socket {path}; QEMU has probably exited and left a stale socket', id='stale'),
])
def test_connect_errors(tmp_path, kind, message):
    path = tmp_path / 'qga.sock'
    if kind == 'file':
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(path))
        stale.close()
    with pytest.raises(QGAConnectionError) as exc:
        QGAClient.unix(str(path), timeout=1)
    assert str(exc.value) == message.format(path=path)
    assert exc.value.strerror


def test_command_errors(agent, tmp_path):
    agent(disabled={'guest-exec'})
    with QGAClient.unix(str(tmp_path / 'qga.sock'), timeout=5) as client:
        client.sync()
        with pytest.raises(QGADisabledError) as exc:
            client.execute('guest-exec', {'path': '/bin/true'})
        assert exc.value.error_class == 'CommandNotFound'
        assert exc.value.desc == 'Command guest-exec has been disabled'
        assert str(exc.value) == (
            "the guest agent refuses guest-exec (Command guest-exec has been disabled); allow it in the guest: remove it from "
            "qemu-ga's --block-rpcs (block-rpcs in /etc/qemu/qemu-ga.conf), or add it to --allow-rpcs when that is used (on RHEL, "
            "Fedora and CentOS: BLOCK_RPCS or FILTER_RPC_ARGS in /etc/sysconfig/qemu-ga), then restart qemu-guest-agent")
        with pytest.raises(QGACommandError) as exc:
            client.execute('guest-no-such-command')
        assert not isinstance(exc.value, QGADisabledError)
        assert str(exc.value) == ('guest agent command guest-no-such-command failed: CommandNotFound: '
                                  'The command guest-no-such-command has not been found')
        # The connection is still usable after error replies.
        assert client.execute('guest-info')['version'] == '7.2.22'
    with pytest.raises(_qga.QGAError, match='is closed'):
        client.execute('guest-info')


def test_execute_timeout(tmp_path):
    path = tmp_path / 'raw.sock'
    server = RawServer(path, b'')
    try:
        with QGAClient.unix(str(path), timeout=5) as client:
            with pytest.raises(QGATimeout) as exc:
                client.execute('guest-info', timeout=0.2)
        assert str(exc.value) == 'no reply to guest-info from the guest agent on guest agent socket %s within 0.2 s' % path
    finally:
        server.close()


def bridge(path):
    return subprocess.Popen([sys.executable, '-c', BRIDGE, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_bridge_relays_both_ways(agent, tmp_path):
    fake = agent()
    proc = bridge(tmp_path / 'qga.sock')
    try:
        client = QGAClient(StreamTransport(proc.stdout.fileno(), proc.stdin.fileno(), 'bridge', on_close=proc.stdin.close), timeout=5)
        client.sync()
        # 3 MiB through the relay in one request, and its reply.
        pid = client.execute('guest-exec', {'path': '/bin/sh', 'arg': ['-c', 'wc -c'], 'capture-output': True,
                                            'input-data': _qga.b64encode(b'x' * (3 << 20))})['pid']
        while True:
            status = client.execute('guest-exec-status', {'pid': pid})
            if status['exited']:
                break
            time.sleep(0.01)
        assert _qga.b64decode(status['out-data']).strip() == str(3 << 20).encode()
        client.close()
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert fake.commands()[:2] == ['guest-sync-delimited', 'guest-exec']


def test_bridge_reports_a_missing_socket(tmp_path):
    proc = bridge(tmp_path / 'none.sock')
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert err.decode() == 'bridge: ENOENT: No such file or directory\n'
    assert out == b''


def test_bridge_reaches_a_long_path(tmp_path):
    deep = tmp_path / ('d' * 60) / ('e' * 60)
    deep.mkdir(parents=True)
    fake = FakeAgent(deep / 'qga.sock').__enter__()
    try:
        proc = bridge(deep / 'qga.sock')
        client = QGAClient(StreamTransport(proc.stdout.fileno(), proc.stdin.fileno(), 'bridge', on_close=proc.stdin.close), timeout=5)
        client.sync()
        client.close()
        assert proc.wait(5) == 0
    finally:
        fake.stop()


class ChunkedTransport:
    """Hands out fixed bytes in small reads, and keeps to the deadline like the real transports."""

    name = 'chunked'

    def __init__(self, data, size):
        self.data = data
        self.size = size
        self.offset = 0
        self.reads = 0

    def send(self, data, deadline):
        pass

    def recv(self, deadline):
        if time.monotonic() > deadline:
            raise QGATimeout('timed out reading from chunked')
        self.reads += 1
        chunk = self.data[self.offset:self.offset + self.size]
        self.offset += len(chunk)
        return chunk

    def close(self):
        pass


def test_large_reply_in_small_reads():
    # 32 MiB in 16 KiB reads: re-copying the buffer and searching it from the start at each read is quadratic
    # (tens of gigabytes of work here, far past the deadline); the client's work must grow with the reply, no faster.
    payload = 'x' * (32 << 20)
    data = json.dumps({'return': {'buf-b64': payload}}).encode() + b'\n' + json.dumps({'return': 2}).encode() + b'\n'
    transport = ChunkedTransport(data, 16 << 10)
    client = QGAClient(transport, timeout=30)
    assert client.execute('guest-file-read')['buf-b64'] == payload
    assert client.execute('guest-info') == 2
    assert transport.reads == -(-len(data) // (16 << 10))


def test_request_over_the_agent_limit_is_refused_unsent():
    transport = ChunkedTransport(b'', 1)
    sent = []
    transport.send = lambda data, deadline: sent.append(data)
    client = QGAClient(transport, timeout=1)
    with pytest.raises(QGAProtocolError) as exc:
        client.execute('guest-file-write', {'handle': 1, 'buf-b64': 'A' * (61 << 20)})
    assert 'over the %d that can be sent to the guest agent' % _qga.MAX_REQUEST_BYTES in str(exc.value)
    assert sent == []


def test_a_timeout_requires_a_sync_before_the_next_request(tmp_path):
    path = tmp_path / 'raw.sock'
    server = RawServer(path, b'')
    try:
        with QGAClient.unix(str(path), timeout=5) as client:
            with pytest.raises(QGATimeout):
                client.execute('guest-info', timeout=0.2)
            assert client.needs_sync
            with pytest.raises(_qga.QGAError, match='must sync'):
                client.execute('guest-info', timeout=0.2)
    finally:
        server.close()


def test_base64_is_validated():
    assert _qga.b64decode('aGk=') == b'hi'
    assert _qga.b64decode(None) == b''
    with pytest.raises(QGAProtocolError, match='malformed base64'):
        _qga.b64decode('aG k=')


def test_agent_shutdown_reports_an_error_reply(tmp_path):
    from ansible_collections.nomadic.qemu.plugins.module_utils import _shutdown
    fake = FakeAgent(tmp_path / 'qga.sock', fail={'guest-shutdown': "child process has failed to shutdown"}).__enter__()
    fake._guest_shutdown = lambda arguments: {}  # pylint: disable=protected-access
    try:
        started = time.monotonic()
        assert _shutdown.agent_shutdown(str(tmp_path / 'qga.sock'), timeout=2) == (
            False, 'the guest agent refused guest-shutdown: child process has failed to shutdown')
        assert time.monotonic() - started < 2
    finally:
        fake.stop()


def test_agent_held_by_another_client_is_said_so(tmp_path):
    from ansible_collections.nomadic.qemu.plugins.module_utils import _shutdown
    path = tmp_path / 'busy.sock'
    server = RawServer(path, b'', accept=False)
    try:
        client = QGAClient.unix(str(path), timeout=0.2)
        known = _qga.queued(client.transport.sock)
        client.close()
        if known is None:
            pytest.skip('the kernel has no unix_diag (sock_diag) here')
        ok, why = _shutdown.agent_ping(str(path), timeout=0.2)
        assert not ok
        assert why == 'no answer from the guest agent within 0.2 s: another client holds its socket (QEMU serves one client at a time)'
    finally:
        server.close()
