# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils import _shutdown
from ansible_collections.nomadic.qemu.plugins.module_utils._process import QemuProcess, read_pidfile
from ansible_collections.nomadic.qemu.plugins.module_utils._qmp import QMPClient
from ansible_collections.nomadic.qemu.plugins.module_utils._shutdown import Shutdown, agent_shutdown, peer_pid, shutdown
from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils.qmp_fakes import FakeQMPServer

# A stand-in for QEMU: one process serving a QMP socket (and optionally a guest agent socket),
# so the end of the process closes its sockets, as with QEMU. Its options come as JSON in argv[1]:
#   powerdown: what system_powerdown does: 'exit' (SHUTDOWN event, then exit 0), 'ignore' (a guest
#              without ACPI), 'error' (an error reply), 'no-shutdown' (SHUTDOWN and STOP, stays until
#              quit), 'linger' (SHUTDOWN, then neither exits nor pauses until quit)
#   status:    what query-status reports ('running', 'paused', 'shutdown')
#   sigterm:   'handle' (exit 143 from a handler, as QEMU exits from its handler) or 'ignore'
#   agent:     None, 'answer' (guest-sync-delimited answered after stale replies; guest-shutdown ends it
#              like the power button), 'silent' (a channel without an agent behind it), 'close'
# Every request is logged as '<qmp|agent> <command>' to the log file. It gives up after 30 s.
FAKE_QEMU = r'''
import json, os, selectors, signal, socket, sys, time

opts = json.loads(sys.argv[1])
if opts['sigterm'] == 'ignore':
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(143))
log = open(opts['log'], 'a', encoding='utf-8')
sel = selectors.DefaultSelector()
qmp_conns = []


def send(conn, msg):
    conn.sendall(json.dumps(msg).encode() + b'\r\n')


def event(name, **data):
    for conn in qmp_conns:
        send(conn, {'event': name, 'data': data, 'timestamp': {'seconds': 1795550237, 'microseconds': 1}})


def on_qmp(conn, req):
    cmd, rid, mode = req.get('execute'), req.get('id'), opts['powerdown']
    if cmd == 'query-status':
        send(conn, {'return': {'status': opts['status'], 'running': opts['status'] == 'running', 'singlestep': False}, 'id': rid})
    elif cmd == 'system_powerdown' and mode == 'error':
        send(conn, {'error': {'class': 'GenericError', 'desc': 'powerdown refused'}, 'id': rid})
    elif cmd == 'system_powerdown':
        send(conn, {'return': {}, 'id': rid})
        if mode in ('exit', 'no-shutdown', 'linger'):
            event('SHUTDOWN', guest=True, reason='guest-shutdown')
        if mode == 'exit':
            sys.exit(0)
        if mode == 'no-shutdown':
            event('STOP')
    elif cmd == 'quit':
        event('SHUTDOWN', guest=False, reason='host-qmp-quit')
        sys.exit(0)
    else:
        send(conn, {'return': {}, 'id': rid})
    return True


def on_agent(conn, req):
    cmd = req.get('execute')
    if cmd == 'guest-sync-delimited' and opts['agent'] == 'answer':
        # A stale reply to an earlier client, a stale delimited reply with another id, then ours in two parts.
        reply = b'\xff' + json.dumps({'return': req['arguments']['id']}).encode() + b'\n'
        conn.sendall(b'{"return": {}}\n\xff{"return": -1}\n' + reply[:5])
        time.sleep(0.02)
        conn.sendall(reply[5:])
    elif cmd == 'guest-sync-delimited' and opts['agent'] == 'close':
        return False
    elif cmd == 'guest-shutdown':
        event('SHUTDOWN', guest=True, reason='guest-shutdown')
        sys.exit(0)
    return True


for kind in ('qmp', 'agent'):
    if opts[kind + '_path']:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(opts[kind + '_path'])
        server.listen(4)
        sel.register(server, selectors.EVENT_READ, (kind, None))
print('ready', flush=True)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    for key, dummy in sel.select(timeout=0.5):
        kind, buf = key.data
        if buf is None:
            conn = key.fileobj.accept()[0]
            if kind == 'qmp':
                qmp_conns.append(conn)
                send(conn, {'QMP': {'version': {'qemu': {'micro': 0, 'minor': 2, 'major': 7}, 'package': ''}, 'capabilities': ['oob']}})
            sel.register(conn, selectors.EVENT_READ, (kind, bytearray()))
            continue
        conn = key.fileobj
        try:
            chunk = conn.recv(65536)
        except OSError:
            chunk = b''
        keep = bool(chunk)
        buf += chunk
        while keep and b'\n' in buf:
            line, dummy, rest = bytes(buf).partition(b'\n')
            buf[:] = rest
            req = json.loads(line.lstrip(b'\xff'))  # the agent's parser resets on 0xff
            log.write('%s %s\n' % (kind, req.get('execute')))
            log.flush()
            keep = (on_qmp if kind == 'qmp' else on_agent)(conn, req)
        if not keep:
            sel.unregister(conn)
            conn.close()
            if conn in qmp_conns:
                qmp_conns.remove(conn)
'''

RUNNING = {'status': 'running', 'singlestep': False, 'running': True}
FORCED_AT_ONCE = 'no shutdown request reached the guest; forced it without waiting for kill_timeout'
FORCED_AFTER = 'no shutdown request reached the guest within kill_timeout; forced it'
NO_QMP = 'the QMP monitor could not be used: QMP socket {0} does not exist; QEMU is not running or was started with another -qmp path'
QEMU = shutil.which('qemu-system-x86_64')


class FakeQemu:
    """One running FAKE_QEMU child."""

    def __init__(self, tmp_path, powerdown='exit', status='running', sigterm='handle', agent=None, qmp=True):
        self.qmp_path = str(tmp_path / 'qmp.sock')
        self.agent_path = str(tmp_path / 'qga.sock')
        self.log_path = str(tmp_path / 'requests.log')
        opts = {'powerdown': powerdown, 'status': status, 'sigterm': sigterm, 'agent': agent, 'log': self.log_path,
                'qmp_path': self.qmp_path if qmp else None, 'agent_path': self.agent_path if agent else None}
        self.proc = subprocess.Popen([sys.executable, '-c', FAKE_QEMU, json.dumps(opts)], stdout=subprocess.PIPE)
        assert self.proc.stdout.readline() == b'ready\n'
        self.process = QemuProcess.observe(self.proc.pid)

    def requests(self):
        try:
            with open(self.log_path, encoding='utf-8') as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def returncode(self):
        return self.proc.wait(5)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def fake_qemu(tmp_path):
    started = []

    def start(**kwargs):
        qemu = FakeQemu(tmp_path, **kwargs)
        started.append(qemu)
        return qemu

    yield start
    for qemu in started:
        qemu.cleanup()


@pytest.fixture
def sleeper():
    """A plain process standing in for QEMU when the QMP side is a FakeQMPServer thread."""
    procs = []

    def start():
        proc = subprocess.Popen(['sleep', '60'])
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def result(**changes):
    """The expected result of a shutdown, seconds left out (compare with without_seconds())."""
    expected = {'graceful': True, 'method': 'acpi', 'exit_status': None, 'reason': 'guest-shutdown', 'notes': [], 'ended': True}
    expected.update(changes)
    return expected


def without_seconds(res):
    out = dict(res.as_dict(), ended=res.ended)
    assert isinstance(out.pop('seconds'), float)
    return out


QMP_ACPI = ['qmp qmp_capabilities', 'qmp query-status', 'qmp system_powerdown']


# Graceful ends

def test_acpi_power_button_ends_the_vm(fake_qemu):
    qemu = fake_qemu(powerdown='exit')
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=10)
    assert without_seconds(res) == result()
    assert res.seconds < 5  # event-driven: nowhere near kill_timeout
    assert qemu.returncode() == 0
    assert qemu.requests() == QMP_ACPI


@pytest.mark.parametrize('powerdown, note', [
    ('no-shutdown', 'QEMU paused instead of exiting after the guest powered off (-no-shutdown); told it to quit'),
    ('linger', 'QEMU did not exit within 0.2 s after the guest powered off; told it to quit'),
])
def test_qemu_that_stays_after_the_guest_powered_off_is_told_to_quit(fake_qemu, monkeypatch, powerdown, note):
    monkeypatch.setattr(_shutdown, 'EXIT_AFTER_SHUTDOWN', 0.2)
    qemu = fake_qemu(powerdown=powerdown)
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=10)
    assert without_seconds(res) == result(notes=[note])
    assert res.seconds < 5
    assert qemu.returncode() == 0  # by quit, not by a signal
    assert qemu.requests() == QMP_ACPI + ['qmp quit']


def test_guest_already_powered_off_under_no_shutdown_is_told_to_quit(fake_qemu):
    qemu = fake_qemu(powerdown='ignore', status='shutdown')
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=10)
    assert without_seconds(res) == result(reason=None, notes=[
        "the guest had already powered off (QEMU state 'shutdown', as with -no-shutdown); told QEMU to quit"])
    assert res.seconds < 5
    assert qemu.returncode() == 0
    assert qemu.requests() == ['qmp qmp_capabilities', 'qmp query-status', 'qmp quit']


# Forced ends

@pytest.mark.parametrize('status, notes', [
    ('running', []),
    ('paused', ["the VM was in QEMU state 'paused' and may not react before kill_timeout"]),
])
def test_guest_ignoring_the_button_is_forced_after_kill_timeout(fake_qemu, status, notes):
    qemu = fake_qemu(powerdown='ignore', status=status)
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=0.3, grace=0.5)
    assert without_seconds(res) == result(graceful=False, method='signal', reason=None, notes=notes)
    assert 0.3 <= res.seconds < 0.3 + 0.5 + 1.0
    assert qemu.returncode() == 143
    assert qemu.requests() == QMP_ACPI


def test_process_ignoring_the_kill_signal_gets_sigkill(fake_qemu):
    qemu = fake_qemu(powerdown='ignore', sigterm='ignore')
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=0.3, grace=0.3)
    assert without_seconds(res) == result(graceful=False, method='kill', reason=None)
    assert 0.6 <= res.seconds < 0.6 + 1.5
    assert qemu.returncode() == -signal.SIGKILL


def test_custom_kill_signal(fake_qemu):
    qemu = fake_qemu(powerdown='ignore')
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=0.1, kill_signal=signal.SIGINT, grace=0.5)
    assert res.method == 'signal'
    assert qemu.returncode() == -signal.SIGINT


def test_sigstopped_qemu_ends_within_the_bound(fake_qemu):
    qemu = fake_qemu(powerdown='ignore')
    os.kill(qemu.proc.pid, signal.SIGSTOP)
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=0.5, grace=0.5)
    assert res.method == 'signal'  # it handled SIGTERM, so it was sent SIGCONT too
    assert not res.graceful and res.ended
    assert res.seconds < 0.5 + 2 * 0.5
    assert len(res.notes) == 2
    assert res.notes[0].startswith('the QMP monitor could not be used: timed out after 0.5 s waiting for the QMP greeting')
    assert res.notes[1] == FORCED_AFTER
    assert qemu.returncode() == 143
    assert qemu.requests() == []


def test_missing_monitor_socket_forces_at_once(fake_qemu):
    qemu = fake_qemu(qmp=False)
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=10, grace=0.5)
    assert without_seconds(res) == result(graceful=False, method='signal', reason=None, notes=[NO_QMP.format(qemu.qmp_path), FORCED_AT_ONCE])
    assert res.seconds < 5
    assert qemu.returncode() == 143


def test_error_reply_to_system_powerdown_forces_at_once(tmp_path, sleeper):
    path = str(tmp_path / 'qmp.sock')
    proc = sleeper()
    with FakeQMPServer(path, [
        ('handshake',),
        ('reply', 'query-status', RUNNING),
        ('read', 'system_powerdown'),
        ('answer_error', 'GenericError', 'powerdown refused'),
    ]) as server:
        res = shutdown(QemuProcess.observe(proc.pid), path, kill_timeout=10, grace=0.5)
    assert without_seconds(res) == result(graceful=False, method='signal', reason=None, notes=[
        "system_powerdown failed: QMP command 'system_powerdown' failed: GenericError: powerdown refused", FORCED_AT_ONCE])
    assert res.seconds < 5
    assert proc.wait(5) == -signal.SIGTERM
    assert [req['execute'] for req in server.requests] == ['qmp_capabilities', 'query-status', 'system_powerdown']


def test_shutdown_event_without_exit_and_quit_ignored_is_forced(tmp_path, sleeper, monkeypatch):
    monkeypatch.setattr(_shutdown, 'EXIT_AFTER_SHUTDOWN', 0.1)
    path = str(tmp_path / 'qmp.sock')
    proc = sleeper()
    with FakeQMPServer(path, [
        ('handshake',),
        ('reply', 'query-status', RUNNING),
        ('reply', 'system_powerdown', {}),
        ('event', 'SHUTDOWN', {'guest': True, 'reason': 'guest-shutdown'}),
        ('reply', 'quit', {}),
    ]):
        res = shutdown(QemuProcess.observe(proc.pid), path, kill_timeout=0.5, grace=0.5)
    assert without_seconds(res) == result(graceful=False, method='signal', notes=[
        'QEMU did not exit within 0.1 s after the guest powered off; told it to quit'])
    assert 0.5 <= res.seconds < 0.5 + 0.5 + 1.0
    assert proc.wait(5) == -signal.SIGTERM


def test_method_signal_skips_the_guest(fake_qemu):
    qemu = fake_qemu(powerdown='exit')
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=10, method='signal')
    assert without_seconds(res) == result(graceful=False, method='signal', reason=None)
    assert res.seconds < 5
    assert qemu.returncode() == 143
    assert qemu.requests() == []


def test_method_signal_gives_the_signal_kill_timeout(fake_qemu):
    qemu = fake_qemu(sigterm='ignore')
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=0.4, method='signal', grace=0.1)
    assert res.method == 'kill'
    assert 0.4 <= res.seconds < 0.4 + 0.1 + 1.0
    assert qemu.returncode() == -signal.SIGKILL


# Guest agent

@pytest.mark.parametrize('agent, socket_kind, method, notes', [
    pytest.param('answer', 'agent', 'agent', [], id='agent answers'),
    pytest.param('silent', 'agent', 'acpi', ['no answer from the guest agent within 0.2 s; fell back to the ACPI power button'],
                 id='agent never answers'),
    pytest.param('close', 'agent', 'acpi', ['the guest agent socket closed; fell back to the ACPI power button'], id='agent channel closes'),
    pytest.param(None, 'missing', 'acpi', ['the guest agent socket {missing} cannot be used: No such file or directory; '
                                           'fell back to the ACPI power button'], id='agent socket missing'),
    pytest.param(None, None, 'acpi', ['no guest agent socket is known (a task needs guest_agent, a monitor_socket needs agent_socket); '
                                      'used the ACPI power button'], id='no agent socket'),
])
def test_agent_method(fake_qemu, tmp_path, monkeypatch, agent, socket_kind, method, notes):
    monkeypatch.setattr(_shutdown, 'AGENT_TIMEOUT', 0.2)
    qemu = fake_qemu(powerdown='exit', agent=agent)
    missing = str(tmp_path / 'nothing.sock')
    agent_socket = {'agent': qemu.agent_path, 'missing': missing, None: None}[socket_kind]
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=10, method='agent', agent_socket=agent_socket)
    assert without_seconds(res) == result(method=method, notes=[note.format(missing=missing) for note in notes])
    assert res.seconds < 5
    assert qemu.returncode() == 0
    agent_requests = {'answer': ['agent guest-sync-delimited', 'agent guest-shutdown'], 'silent': ['agent guest-sync-delimited'],
                      'close': ['agent guest-sync-delimited'], None: []}[agent]
    qmp_requests = ['qmp qmp_capabilities', 'qmp query-status'] + (['qmp system_powerdown'] if method == 'acpi' else [])
    assert sorted(qemu.requests()) == sorted(qmp_requests + agent_requests)


def test_agent_without_a_monitor(fake_qemu):
    qemu = fake_qemu(agent='answer', qmp=False)
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=10, method='agent', agent_socket=qemu.agent_path)
    # no QMP: the end is seen on the process alone, and QEMU's reason is unknown
    assert without_seconds(res) == result(method='agent', reason=None, notes=[NO_QMP.format(qemu.qmp_path)])
    assert res.seconds < 5
    assert qemu.returncode() == 0


def test_agent_shutdown_answers(fake_qemu):
    qemu = fake_qemu(powerdown='ignore', agent='silent')
    assert agent_shutdown(qemu.agent_path, timeout=0.2) == (False, 'no answer from the guest agent within 0.2 s')
    assert agent_shutdown(qemu.agent_path + '.none', timeout=0.2) == (
        False, 'the guest agent socket %s.none cannot be used: No such file or directory' % qemu.agent_path)


# Finding and recognising the process

def test_peer_pid_of_a_serving_process(fake_qemu):
    qemu = fake_qemu(powerdown='ignore')
    assert peer_pid(qemu.qmp_path) == qemu.proc.pid
    assert qemu.requests() == []  # connecting alone asks nothing


def test_peer_pid_of_a_long_socket_path(tmp_path):
    directory = tmp_path / ('d' * (130 - len(str(tmp_path))))
    directory.mkdir()
    path = str(directory / 'qmp.sock')
    assert len(path) > 107
    with FakeQMPServer(path, []):
        assert peer_pid(path) == os.getpid()


def test_peer_pid_without_a_server(tmp_path):
    assert peer_pid(str(tmp_path / 'missing.sock')) is None
    (tmp_path / 'file').write_text('not a socket')
    assert peer_pid(str(tmp_path / 'file')) is None


@pytest.mark.parametrize('reap', [True, False], ids=['gone', 'zombie'])
def test_already_ended_process_is_left_alone(fake_qemu, reap):
    qemu = fake_qemu(powerdown='ignore')
    os.kill(qemu.proc.pid, signal.SIGKILL)
    if reap:
        qemu.proc.wait(5)
    else:
        assert qemu.process.wait(5)
    res = shutdown(qemu.process, qemu.qmp_path, kill_timeout=10)
    assert res.ended is True
    assert res.as_dict() == {'graceful': False, 'method': None, 'seconds': 0.0, 'exit_status': None, 'reason': None, 'notes': []}


def test_bad_arguments(sleeper, tmp_path):
    process = QemuProcess.observe(sleeper().pid)
    with pytest.raises(TypeError, match='^process must be a QemuProcess$'):
        shutdown(1234, str(tmp_path / 'qmp.sock'), 1)
    with pytest.raises(ValueError, match="^method 'powerbutton' is not supported; use one of acpi, agent, signal$"):
        shutdown(process, str(tmp_path / 'qmp.sock'), 1, method='powerbutton')
    assert process.is_alive()


def test_process_ending_between_the_wait_and_the_signal_is_not_forced(fake_qemu):
    qemu = fake_qemu(powerdown='ignore')
    stop = Shutdown(qemu.process, qemu.qmp_path, kill_timeout=10)
    os.kill(qemu.proc.pid, signal.SIGKILL)
    qemu.proc.wait(5)
    assert stop._force(1) is None  # pylint: disable=protected-access


# A real QEMU without a guest OS: the power button is ignored, so it is forced after kill_timeout.

@pytest.mark.skipif(QEMU is None, reason='qemu-system-x86_64 is not installed')
@pytest.mark.parametrize('paused', [False, True], ids=['running', 'paused'])
def test_real_qemu_without_guest_is_forced(tmp_path, paused):
    argv = [QEMU, '-machine', 'type=pc,accel=tcg', '-m', '16M', '-nodefaults', '-display', 'none', '-monitor', 'none',
            '-serial', 'none', '-qmp', 'unix:qmp.sock,server=on,wait=off', '-daemonize', '-pidfile', 'qemu.pid']
    sock = str(tmp_path / 'qmp.sock')
    pid = None
    try:
        subprocess.run(argv, cwd=str(tmp_path), check=True, timeout=30, capture_output=True)
        pid = read_pidfile(str(tmp_path / 'qemu.pid'))
        process = QemuProcess.observe(pid)
        assert process is not None and process.matches(argv)
        assert peer_pid(sock) == pid
        with QMPClient(sock, timeout=5) as client:
            if paused:
                client.execute('stop')
            assert client.execute('query-status')['running'] is not paused
        res = shutdown(process, sock, kill_timeout=0.5, grace=2)
        notes = ["the VM was in QEMU state 'paused' and may not react before kill_timeout"] if paused else []
        assert without_seconds(res) == result(graceful=False, method='signal', reason=None, notes=notes)
        assert 0.5 <= res.seconds < 0.5 + 2 + 1.0
        assert not process.is_alive()
    finally:
        if pid is not None:
            leftover = QemuProcess.observe(pid)
            if leftover is not None and leftover.matches(argv):
                leftover.send_signal(signal.SIGKILL)
