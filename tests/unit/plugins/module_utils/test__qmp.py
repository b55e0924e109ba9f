# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils import _qmp
from ansible_collections.nomadic.qemu.plugins.module_utils._qmp import (
    QMPClient,
    QMPCommandError,
    QMPConnectionClosed,
    QMPConnectionError,
    QMPError,
    QMPProtocolError,
    QMPTimeout,
)
from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils.qmp_fakes import (
    FakeQMPServer,
    bind_unix,
    encode,
    event,
)


SHORT = 0.2  # seconds; for tests that must time out


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / 'qmp.sock')


@pytest.fixture
def serve(sock_path):
    """Start a FakeQMPServer on sock_path with the given script; stopped (and checked) at teardown."""
    servers = []

    def start(script, path=None):
        server = FakeQMPServer(path or sock_path, script)
        servers.append(server)
        return server.__enter__()

    yield start
    for server in servers:
        server.stop()


def long_dir(base, length=200):
    """Create and return a directory whose path is exactly ``length`` characters long."""
    base = str(base)
    path = os.path.join(base, 'd' * (length - len(base) - 1))
    os.mkdir(path)
    assert len(path) == length
    return path


def open_fds():
    return len(os.listdir('/proc/self/fd'))


def open_fd_targets():
    targets = []
    for name in os.listdir('/proc/self/fd'):
        try:
            targets.append(os.readlink('/proc/self/fd/' + name))
        except OSError:
            pass
    return targets


# Normal conversation

def test_connect_negotiates_and_executes(serve, sock_path):
    server = serve([
        ('handshake',),
        ('reply', 'query-status', {'status': 'running', 'singlestep': False, 'running': True}),
        ('reply', 'human-monitor-command', 'ok\r\n'),
    ])
    client = QMPClient(sock_path, timeout=5)
    greeting = client.connect()
    try:
        assert greeting['QMP']['capabilities'] == ['oob']
        assert client.greeting == greeting
        assert client.version == (7, 2, 22)
        assert client.connected
        assert client.execute('query-status') == {'status': 'running', 'singlestep': False, 'running': True}
        assert client.execute('human-monitor-command', {'command-line': 'info version'}) == 'ok\r\n'
        assert client.events == []
    finally:
        client.close()
    assert not client.connected
    server.stop()
    assert server.requests == [
        {'execute': 'qmp_capabilities', 'id': 1},
        {'execute': 'query-status', 'id': 2},
        {'execute': 'human-monitor-command', 'id': 3, 'arguments': {'command-line': 'info version'}},
    ]


def test_context_manager_connects_and_closes(serve, sock_path):
    server = serve([('handshake',), ('reply', 'stop', {})])
    with QMPClient(sock_path) as client:
        assert client.execute('stop') == {}
    assert server.client_closed.wait(5)
    assert not client.connected
    client.close()  # idempotent
    client.close()


@pytest.mark.parametrize('error_class, desc', [
    ('CommandNotFound', 'The command nope has not been found'),
    ('GenericError', "Parameter 'device' is missing"),
    ('DeviceNotFound', "Device 'net9' not found"),
])
def test_error_reply_raises_command_error(serve, sock_path, error_class, desc):
    serve([('handshake',), ('read', 'nope'), ('answer_error', error_class, desc), ('reply', 'query-status', {'status': 'running'})])
    with QMPClient(sock_path) as client:
        with pytest.raises(QMPCommandError) as exc_info:
            client.execute('nope')
        assert exc_info.value.error_class == error_class
        assert exc_info.value.desc == desc
        assert exc_info.value.command == 'nope'
        assert str(exc_info.value) == "QMP command 'nope' failed: {0}: {1}".format(error_class, desc)
        # the connection is still usable afterwards
        assert client.execute('query-status') == {'status': 'running'}


def test_error_reply_without_id_belongs_to_the_request_in_flight(serve, sock_path):
    serve([
        ('handshake',),
        ('read', 'query-status'),
        ('send', b'{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword"}}\r\n'),
    ])
    with QMPClient(sock_path) as client:
        with pytest.raises(QMPCommandError, match='JSON parse error, invalid keyword'):
            client.execute('query-status')


# Events

def test_events_before_and_among_replies_are_kept(serve, sock_path):
    serve([
        ('handshake',),
        ('read', 'stop'),
        ('event', 'STOP'),
        ('event', 'RTC_CHANGE', {'offset': 1}),
        ('answer', {}),
        ('read', 'cont'),
        ('event', 'RESUME'),
        ('answer', {}),
    ])
    with QMPClient(sock_path) as client:
        assert client.execute('stop') == {}
        assert [e['event'] for e in client.events] == ['STOP', 'RTC_CHANGE']
        assert client.execute('cont') == {}
        assert [e['event'] for e in client.events] == ['STOP', 'RTC_CHANGE', 'RESUME']
        # kept events are found without reading, oldest first, and consumed
        assert client.wait_event('RTC_CHANGE', timeout=0) == event('RTC_CHANGE', {'offset': 1})
        assert client.wait_event(('RESUME', 'STOP'), timeout=0)['event'] == 'STOP'
        assert [e['event'] for e in client.events] == ['RESUME']


@pytest.mark.parametrize('names', [
    'SHUTDOWN',
    ['SHUTDOWN', 'POWERDOWN'],
    ('POWERDOWN', 'SHUTDOWN'),
    {'SHUTDOWN'},
    (name for name in ['SHUTDOWN']),
])
def test_wait_event_reads_later_events_and_keeps_others(serve, sock_path, names):
    serve([
        ('handshake',),
        ('pause', 0.05),
        ('event', 'RTC_CHANGE', {'offset': 2}),
        ('event', 'SHUTDOWN', {'guest': True, 'reason': 'guest-shutdown'}),
    ])
    with QMPClient(sock_path) as client:
        got = client.wait_event(names, timeout=5)
        assert got == event('SHUTDOWN', {'guest': True, 'reason': 'guest-shutdown'})
        assert client.events == [event('RTC_CHANGE', {'offset': 2})]


def test_wait_event_ignores_late_replies(serve, sock_path):
    serve([('handshake',), ('send', b'{"return": {}, "id": 99}\r\n'), ('event', 'STOP')])
    with QMPClient(sock_path) as client:
        assert client.wait_event('STOP', timeout=5)['event'] == 'STOP'
        assert client.events == []


def test_late_reply_to_a_timed_out_command_is_skipped(serve, sock_path):
    serve([
        ('handshake',),
        ('read', 'query-status'),  # never answered in time
        ('read', 'query-name'),
        ('send', b'{"return": {"status": "late"}, "id": 2}\r\n'),
        ('answer', {'name': 'vm1'}),
    ])
    with QMPClient(sock_path) as client:
        with pytest.raises(QMPTimeout):
            client.execute('query-status', timeout=SHORT)
        assert client.execute('query-name') == {'name': 'vm1'}


# Timeouts

@pytest.mark.parametrize('script, action, message', [
    pytest.param(
        [], 'connect',
        "timed out after 0.2 s waiting for the QMP greeting on QMP socket {path}; "
        "another client may be connected (QEMU serves one QMP client at a time)",
        id='no-greeting'),
    pytest.param(
        [('greet',), ('read', 'qmp_capabilities')], 'connect',
        "timed out after 0.2 s waiting for the reply to 'qmp_capabilities' on QMP socket {path}",
        id='no-capabilities-reply'),
    pytest.param(
        [('handshake',), ('read', 'query-status')], 'execute',
        "timed out after 0.2 s waiting for the reply to 'query-status' on QMP socket {path}",
        id='no-command-reply'),
    pytest.param(
        [('handshake',), ('read', 'query-status'), ('send', b'{"return": {"sta')], 'execute',
        "timed out after 0.2 s waiting for the reply to 'query-status' on QMP socket {path}",
        id='half-a-reply'),
    pytest.param(
        [('handshake',), ('event', 'RESUME')], 'wait_event',
        "timed out after 0.2 s waiting for event POWERDOWN or SHUTDOWN on QMP socket {path}",
        id='no-event'),
])
def test_timeouts(serve, sock_path, script, action, message):
    serve(script)
    client = QMPClient(sock_path, timeout=SHORT if action == 'connect' else 5)
    try:
        with pytest.raises(QMPTimeout) as exc_info:
            if action == 'connect':
                client.connect()
            else:
                client.connect()
                if action == 'execute':
                    client.execute('query-status', timeout=SHORT)
                else:
                    client.wait_event(['SHUTDOWN', 'POWERDOWN'], timeout=SHORT)
        assert str(exc_info.value) == message.format(path=sock_path)
    finally:
        client.close()


def test_second_client_times_out_on_greeting(sock_path):
    """A listener that never accepts behaves like QEMU busy with another client."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(sock_path)
        listener.listen(1)
        fds_before = open_fds()
        client = QMPClient(sock_path, timeout=SHORT)
        with pytest.raises(QMPTimeout, match='another client may be connected'):
            client.connect()
        assert open_fds() == fds_before  # the socket was closed on failure
        assert not client.connected
    finally:
        listener.close()


def test_failed_connect_closes_the_socket(serve, sock_path):
    fds_before = open_fds()
    server = serve([('send', b'{"return": {}}\r\n')])
    client = QMPClient(sock_path)
    with pytest.raises(QMPProtocolError) as exc_info:
        client.connect()
    assert str(exc_info.value) == 'expected the QMP greeting from {0}, got \'{{"return": {{}}}}\''.format(sock_path)
    assert server.client_closed.wait(5)  # the server saw EOF: the client closed its socket
    assert not client.connected
    server.stop()
    assert open_fds() == fds_before


# QEMU going away

@pytest.mark.parametrize('script, action, exc_type, message', [
    pytest.param(
        [('close',)], 'connect', QMPConnectionClosed,
        'QEMU closed QMP socket {path} while we waited for the QMP greeting',
        id='before-greeting'),
    pytest.param(
        [('handshake',), ('read', 'query-status'), ('close',)], 'execute', QMPConnectionClosed,
        "QEMU closed QMP socket {path} while we waited for the reply to 'query-status'",
        id='before-reply'),
    pytest.param(
        [('handshake',), ('read', 'query-status'), ('send', b'{"return": {"status": "runn'), ('close',)], 'execute', QMPConnectionClosed,
        "QEMU closed QMP socket {path} in the middle of a message while we waited for the reply to 'query-status' "
        "(received '{{\"return\": {{\"status\": \"runn')",
        id='mid-reply'),
    pytest.param(
        [('handshake',), ('event', 'STOP'), ('reset',)], 'execute', QMPConnectionClosed,
        "QEMU closed QMP socket {path} while we waited for the reply to 'query-status'",
        id='reset-before-reply'),
    pytest.param(
        [('handshake',), ('event', 'STOP'), ('close',)], 'wait_event', QMPConnectionClosed,
        'QEMU closed QMP socket {path} while we waited for event SHUTDOWN',
        id='before-event'),
])
def test_connection_closed(serve, sock_path, script, action, exc_type, message):
    serve(script)
    client = QMPClient(sock_path)
    try:
        with pytest.raises(exc_type) as exc_info:
            client.connect()
            if action == 'execute':
                client.execute('query-status')
            elif action == 'wait_event':
                client.wait_event('SHUTDOWN', timeout=5)
        assert str(exc_info.value) == message.format(path=sock_path)
    finally:
        client.close()


def test_calls_after_eof_raise_connection_closed(serve, sock_path):
    serve([('handshake',), ('event', 'SHUTDOWN'), ('close',)])
    with QMPClient(sock_path) as client:
        assert client.wait_closed(5) is True
        assert client.closed_by_peer
        assert not client.connected
        with pytest.raises(QMPConnectionClosed) as exc_info:
            client.execute('query-status')
        assert str(exc_info.value) == "cannot run 'query-status': QEMU already closed QMP socket {0}".format(sock_path)
        # events kept before EOF are still available
        assert client.wait_event('SHUTDOWN', timeout=0)['event'] == 'SHUTDOWN'
        with pytest.raises(QMPConnectionClosed):
            client.wait_event('STOP', timeout=0)
        assert client.wait_closed(0) is True


@pytest.mark.parametrize('script, expected, events', [
    pytest.param([('handshake',), ('event', 'SHUTDOWN'), ('close',)], True, ['SHUTDOWN'], id='eof'),
    pytest.param([('handshake',), ('pause', 0.05), ('event', 'POWERDOWN'), ('event', 'SHUTDOWN'), ('close',)], True,
                 ['POWERDOWN', 'SHUTDOWN'], id='eof-after-pause'),
    pytest.param([('handshake',), ('send', b'{"event": "SHUTDOWN"}'), ('close',)], True, ['SHUTDOWN'], id='last-line-without-newline'),
    pytest.param([('handshake',), ('send', b'{"event": "SHUT'), ('close',)], True, [], id='eof-mid-message'),
    pytest.param([('handshake',), ('event', 'STOP')], False, ['STOP'], id='timeout'),
])
def test_wait_closed(serve, sock_path, script, expected, events):
    serve(script)
    with QMPClient(sock_path) as client:
        assert client.wait_closed(SHORT if not expected else 5) is expected
        assert [e['event'] for e in client.events] == events


@pytest.mark.parametrize('script, expected', [
    pytest.param([('handshake',), ('read', 'quit'), ('event', 'SHUTDOWN', {'guest': False, 'reason': 'host-qmp-quit'}),
                  ('answer', {}), ('close',)], True, id='reply-then-eof'),
    pytest.param([('handshake',), ('read', 'quit'), ('close',)], True, id='eof-before-reply'),
    pytest.param([('handshake',), ('event', 'SHUTDOWN'), ('reset',)], True, id='reset-before-reply'),
    pytest.param([('handshake',), ('read', 'quit'), ('answer', {})], False, id='never-exits'),
])
def test_quit(serve, sock_path, script, expected):
    serve(script)
    with QMPClient(sock_path, timeout=SHORT) as client:
        assert client.quit() is expected


# Malformed input

@pytest.mark.parametrize('data, message', [
    pytest.param(b'garbage\r\n', "malformed JSON from QMP socket {path}: 'garbage' (Expecting value: line 1 column 1 (char 0))", id='not-json'),
    pytest.param(b'{"return": {}\r\n',
                 "malformed JSON from QMP socket {path}: '{{\"return\": {{}}' (Expecting ',' delimiter: line 1 column 14 (char 13))",
                 id='truncated-object'),
    pytest.param(b'\xff\xfe\r\n',
                 "malformed JSON from QMP socket {path}: '\\xff\\xfe' "
                 "('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)",
                 id='not-utf8'),
    pytest.param(b'[1, 2]\r\n', "unexpected message from QMP socket {path}: '[1, 2]' is not a JSON object", id='not-an-object'),
    pytest.param(b'{"hello": 1}\r\n',
                 "unexpected message from QMP socket {path} while waiting for the reply to 'query-status': '{{\"hello\": 1}}'",
                 id='neither-reply-nor-event'),
])
def test_malformed_messages(serve, sock_path, data, message):
    serve([('handshake',), ('read', 'query-status'), ('send', data)])
    with QMPClient(sock_path) as client:
        with pytest.raises(QMPProtocolError) as exc_info:
            client.execute('query-status')
        assert str(exc_info.value) == message.format(path=sock_path)


def test_malformed_json_excerpt_is_bounded(serve, sock_path):
    serve([('handshake',), ('read', 'query-status'), ('send', b'x' * 5000 + b'\r\n')])
    with QMPClient(sock_path) as client:
        with pytest.raises(QMPProtocolError) as exc_info:
            client.execute('query-status')
        assert "'" + 'x' * 200 + "...'" in str(exc_info.value)
        assert len(str(exc_info.value)) < 400


# Framing

REPLY = b'{"return": {"status": "running"}, "id": @ID@}\r\n'


@pytest.mark.parametrize('steps, events', [
    pytest.param([('send', encode(event('STOP')) + REPLY + encode(event('RESUME')))], ['STOP'], id='several-in-one-send'),
    pytest.param([('send', REPLY[:7]), ('pause', 0.05), ('send', REPLY[7:20]), ('pause', 0.05), ('send', REPLY[20:])], [], id='split'),
    pytest.param([('dribble', encode(event('STOP')) + REPLY)], ['STOP'], id='byte-by-byte'),
    pytest.param([('send', REPLY[:-2]), ('pause', 0.05), ('send', b'\r'), ('pause', 0.05), ('send', b'\n')], [], id='split-crlf'),
    pytest.param([('send', b'\r\n\n' + REPLY.replace(b'\r\n', b'\n'))], [], id='blank-lines-and-lf-only'),
])
def test_framing(serve, sock_path, steps, events):
    serve([('handshake',), ('read', 'query-status')] + steps + [('event', 'SHUTDOWN')])
    with QMPClient(sock_path) as client:
        assert client.execute('query-status') == {'status': 'running'}
        assert [e['event'] for e in client.events] == events
        # anything sent after the reply is still delivered
        assert client.wait_event('SHUTDOWN', timeout=5)['event'] == 'SHUTDOWN'


# Socket paths

@pytest.mark.parametrize('proc_available', [True, False])
def test_connects_to_paths_longer_than_sun_path(serve, tmp_path, monkeypatch, proc_available):
    path = os.path.join(long_dir(tmp_path), 'qmp.sock')
    assert len(os.fsencode(path)) > 108
    if not proc_available:
        monkeypatch.setattr(_qmp, '_PROC_FD_DIR', str(tmp_path / 'no-proc'))
    serve([('handshake',), ('reply', 'query-status', {'status': 'running'})], path=path)
    cwd = os.getcwd()
    with QMPClient(path) as client:
        assert os.getcwd() == cwd
        assert os.path.dirname(path) not in open_fd_targets()  # the directory fd was closed
        assert client.execute('query-status') == {'status': 'running'}
    assert os.getcwd() == cwd


def test_relative_path(serve, tmp_path, monkeypatch):
    serve([('handshake',), ('reply', 'query-status', {'status': 'running'})], path=str(tmp_path / 'qmp.sock'))
    monkeypatch.chdir(tmp_path)
    with QMPClient('qmp.sock') as client:
        assert client.execute('query-status') == {'status': 'running'}


def make_regular_file(path):
    with open(path, 'w', encoding='utf-8') as f:
        f.write('not a socket')


def make_stale_socket(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bind_unix(sock, path)
    sock.close()


@pytest.mark.parametrize('long_path', [False, True], ids=['short', 'long'])
@pytest.mark.parametrize('prepare, message', [
    (None, 'QMP socket {path} does not exist; QEMU is not running or was started with another -qmp path'),
    (make_regular_file, '{path} is not a socket; point the QMP path at the socket QEMU created with -qmp unix:...'),
    (make_stale_socket, 'connection refused by QMP socket {path}; QEMU has probably exited and left a stale socket'),
], ids=['missing', 'regular-file', 'stale-socket'])
def test_connect_errors_name_the_path(tmp_path, long_path, prepare, message):
    directory = long_dir(tmp_path) if long_path else str(tmp_path)
    path = os.path.join(directory, 'qmp.sock')
    if prepare:
        prepare(path)
    fds_before = open_fds()
    with pytest.raises(QMPConnectionError) as exc_info:
        QMPClient(path, timeout=SHORT).connect()
    assert str(exc_info.value) == message.format(path=path)
    assert open_fds() == fds_before


def test_connect_error_for_missing_directory_of_long_path(tmp_path):
    path = os.path.join(str(tmp_path), 'x' * 150, 'qmp.sock')
    with pytest.raises(QMPConnectionError) as exc_info:
        QMPClient(path).connect()
    assert str(exc_info.value) == 'QMP socket {0} does not exist; QEMU is not running or was started with another -qmp path'.format(path)


@pytest.mark.parametrize('name, message', [
    ('', 'QMP socket path {path} names a directory, not a socket'),
    ('s' * 100, "QMP socket file name '{name}' is too long to connect to (limit about 82 bytes); use a shorter socket file name"),
])
def test_unusable_long_paths(tmp_path, name, message):
    path = os.path.join(long_dir(tmp_path), name)
    with pytest.raises(QMPConnectionError) as exc_info:
        QMPClient(path).connect()
    assert str(exc_info.value) == message.format(path=path, name=name)


# Misuse

def test_calls_need_a_connection(sock_path):
    client = QMPClient(sock_path)
    with pytest.raises(QMPError) as exc_info:
        client.execute('query-status')
    assert str(exc_info.value) == "cannot run 'query-status': the QMP client for {0} is not connected; call connect() first".format(sock_path)
    with pytest.raises(QMPError, match='not connected'):
        client.wait_event('STOP', timeout=0)
    with pytest.raises(QMPError, match='not connected'):
        client.wait_closed(0)


def test_connect_twice_is_refused(serve, sock_path):
    serve([('handshake',)])
    with QMPClient(sock_path) as client:
        with pytest.raises(QMPError) as exc_info:
            client.connect()
        assert str(exc_info.value) == 'QMP client for {0} is already connected; close() it first'.format(sock_path)
        assert client.connected


# Real QEMU

QEMU = shutil.which('qemu-system-x86_64')


def _kill_if_running(pid):
    """SIGKILL the QEMU we started, making sure the pid still is a qemu-system process."""
    try:
        with open('/proc/{0}/cmdline'.format(pid), 'rb') as f:
            cmdline = f.read()
    except OSError:
        return
    if b'qemu-system' in cmdline and b'qmp.sock' in cmdline:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(QEMU is None, reason='qemu-system-x86_64 is not installed')
def test_real_qemu_in_a_long_directory(tmp_path):
    workdir = long_dir(tmp_path)
    path = os.path.join(workdir, 'qmp.sock')
    subprocess.run(
        [QEMU, '-machine', 'type=pc,accel=tcg', '-m', '16M', '-display', 'none', '-monitor', 'none', '-serial', 'none',
         '-nodefaults', '-qmp', 'unix:qmp.sock,server=on,wait=off', '-daemonize', '-pidfile', 'qemu.pid'],
        cwd=workdir, check=True, timeout=60, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(os.path.join(workdir, 'qemu.pid'), encoding='ascii') as f:
        pid = int(f.read().strip())
    try:
        with QMPClient(path, timeout=10) as client:
            assert client.version is not None
            assert client.execute('query-status')['status'] == 'running'
            assert client.execute('stop') == {}
            assert client.wait_event('STOP', timeout=10)['event'] == 'STOP'
            assert client.execute('query-status')['status'] == 'paused'
            assert client.execute('cont') == {}
            assert client.wait_event('RESUME', timeout=10)['event'] == 'RESUME'
            with pytest.raises(QMPCommandError) as exc_info:
                client.execute('no-such-command')
            assert exc_info.value.error_class == 'CommandNotFound'
            assert client.quit(timeout=10) is True
            shutdown = client.wait_event('SHUTDOWN', timeout=0)
            assert shutdown['data'] == {'guest': False, 'reason': 'host-qmp-quit'}
            assert client.closed_by_peer
    finally:
        _kill_if_running(pid)


@pytest.mark.skipif(QEMU is None, reason='qemu-system-x86_64 is not installed')
def test_real_qemu_takes_a_file_descriptor_and_writes_through_it(tmp_path):
    """add-fd with the descriptor passed alongside, then a chardev pointed at /dev/fdset/N (as console rotation does)."""
    workdir = str(tmp_path)
    subprocess.run(
        [QEMU, '-machine', 'type=pc,accel=tcg', '-m', '16M', '-display', 'none', '-monitor', 'none', '-serial', 'none',
         '-nodefaults', '-chardev', 'file,id=log0,path=first.log', '-qmp', 'unix:qmp.sock,server=on,wait=off', '-daemonize',
         '-pidfile', 'qemu.pid'],
        cwd=workdir, check=True, timeout=60, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(os.path.join(workdir, 'qemu.pid'), encoding='ascii') as f:
        pid = int(f.read().strip())
    try:
        fd = os.open(os.path.join(workdir, 'second.log'), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            with QMPClient(os.path.join(workdir, 'qmp.sock'), timeout=10) as client:
                fdset = client.execute('add-fd', {'opaque': 'test'}, fd=fd)['fdset-id']
                assert client.execute('chardev-change', {'id': 'log0', 'backend': {
                    'type': 'file', 'data': {'out': '/dev/fdset/%d' % fdset, 'append': True}}}) == {}
                assert client.execute('remove-fd', {'fdset-id': fdset}) == {}
        finally:
            os.close(fd)
        targets = [os.readlink('/proc/%d/fd/%s' % (pid, name)) for name in os.listdir('/proc/%d/fd' % pid)]
        assert os.path.join(workdir, 'second.log') in targets
        assert os.path.join(workdir, 'first.log') not in targets
    finally:
        _kill_if_running(pid)
