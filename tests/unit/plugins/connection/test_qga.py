# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys

import pytest
import yaml

from ansible import constants as C
from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import become_loader, shell_loader

from ansible_collections.nomadic.qemu.plugins.connection import qga
from ansible_collections.nomadic.qemu.plugins.module_utils._qga import BRIDGE, QGAClient, StreamTransport
from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils.qga_fakes import FakeAgent, needs_unix_diag

PASSWORD = 'correct horse battery staple'

# A stand-in for sudo: -n fails when a password is needed, -S reads one line from stdin as the password.
# With sudo-probe-only, -n says a password is needed but the command itself runs without asking (as with a
# NOPASSWD rule for that command only, or credentials cached since the probe).
FAKE_SUDO = r'''#!/bin/sh
here=$(dirname "$0")
nonint=; prompt=Password:
while [ $# -gt 0 ]; do
  case "$1" in
    -H|-S) shift ;;
    -n) nonint=1; shift ;;
    -p) prompt=$2; shift 2 ;;
    -u) echo "$2" >> "$here/sudo-targets"; shift 2 ;;
    *) break ;;
  esac
done
if [ -e "$here/sudo-probe-only" ] && [ -n "$nonint" ]; then echo 'sudo: a password is required' >&2; exit 1; fi
if [ -e "$here/sudo-asks" ]; then
  if [ -n "$nonint" ]; then echo 'sudo: a password is required' >&2; exit 1; fi
  printf '%s' "$prompt" >&2
  IFS= read -r pw
  if [ "$pw" != "$(cat "$here/sudo-password")" ]; then echo 'Sorry, try again.' >&2; echo 'sudo: 1 incorrect password attempt' >&2; exit 1; fi
fi
exec "$@"
'''


class Recorder:
    """Stands in for the plugin's Display: keeps every line."""

    def __init__(self):
        self.lines = []

    def _keep(self, msg, *args, **kwargs):
        self.lines.append(msg)

    vvv = vvvv = debug = warning = display = _keep


@pytest.fixture
def shown(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(qga, 'display', recorder)
    return recorder


@pytest.fixture
def vm(tmp_path):
    """A task directory <tmp>/vm1 holding qga.sock; start(**options) starts the fake agent on it."""
    (tmp_path / 'vm1').mkdir()
    agents = []

    class VM:
        socket = str(tmp_path / 'vm1' / 'qga.sock')

        @staticmethod
        def start(**kwargs):
            fake = FakeAgent(VM.socket, **kwargs).__enter__()
            agents.append(fake)
            return fake
    yield VM
    for fake in agents:
        fake.stop()


def connection(socket_path, **options):
    C.config.initialize_plugin_configuration_definitions('connection', 'nomadic.qemu.qga',
                                                         yaml.safe_load(qga.DOCUMENTATION)['options'])
    conn = qga.Connection(PlayContext(), None)
    conn._load_name = 'nomadic.qemu.qga'
    direct = {'socket': socket_path}
    direct.update(options)
    conn.set_options(direct=direct)
    return conn


@pytest.fixture
def conn(vm, shown):
    made = []

    def make(**options):
        made.append(connection(vm.socket, **options))
        return made[-1]
    yield make
    for one in made:
        one.close()


def test_documentation():
    doc = yaml.safe_load(qga.DOCUMENTATION)
    assert doc['name'] == 'qga'
    assert sorted(doc['options']) == ['hypervisor', 'hypervisor_python', 'hypervisor_ssh_args', 'pipelining', 'remote_user',
                                      'socket', 'timeout']
    assert doc['options']['socket']['vars'] == [{'name': 'ansible_qga_socket'}]
    assert list(yaml.safe_load_all(qga.EXAMPLES))
    assert qga.Connection.has_pipelining


@pytest.mark.parametrize('variable', ['ANSIBLE_PIPELINING', 'ANSIBLE_QGA_PIPELINING'])
def test_pipelining_setting_as_for_ssh(vm, monkeypatch, variable):
    monkeypatch.setenv(variable, 'false')
    assert connection(vm.socket).get_option('pipelining') is False
    doc = yaml.safe_load(qga.DOCUMENTATION)['options']['pipelining']
    assert {'section': 'defaults', 'key': 'pipelining'} in doc['ini']
    assert {'section': 'connection', 'key': 'pipelining'} in doc['ini']


# Commands

def test_failing_command_rc_stdout_stderr(vm, conn, shown):
    fake = vm.start()
    rc, out, err = conn().exec_command("echo out; echo 'no such thing' >&2; exit 3")
    assert (rc, out, err) == (3, b'out\n', b'no such thing\n')
    assert fake.users == ['root']
    assert fake.requests[1] == ('guest-exec', {'path': '/bin/sh', 'arg': ['-c', qga.ROOT_HOME_PREFIX + "echo out; echo 'no such thing' >&2; exit 3"],
                                               'capture-output': True})
    assert shown.lines[0] == 'ESTABLISH QGA CONNECTION TO %s (qemu_task vm1) FOR USER: root' % vm.socket


def test_home_is_set_for_root(vm, conn, monkeypatch):
    vm.start()
    monkeypatch.delenv('HOME', raising=False)
    assert conn().exec_command('echo $HOME')[1] == b'/root\n'


def test_pipelining_sends_stdin(vm, conn):
    fake = vm.start()
    module = b'import sys\nprint(sys.stdin.read() if False else "ran from stdin")\n' * 2000
    rc, out, err = conn().exec_command('%s -' % sys.executable, in_data=module)
    assert (rc, err) == (0, b'')
    assert out == b'ran from stdin\n' * 2000
    assert fake.stdins == [module]


def test_signal_is_reported(vm, conn):
    vm.start()
    rc, out, err = conn().exec_command('kill -KILL $$')
    assert rc == 137
    assert err == b'\nthe command was terminated by SIGKILL (signal 9) in the guest\n'


def test_polling_backs_off(vm, conn):
    fake = vm.start()
    assert conn().exec_command('sleep 0.6')[0] == 0
    # 2 ms growing by half up to 200 ms: a handful of polls, not hundreds.
    assert 5 <= fake.count('guest-exec-status') <= 16


def test_remote_user_runs_through_runuser(vm, conn):
    fake = vm.start()
    assert conn(remote_user='alice').exec_command('echo hi')[1] == b'hi\n'
    assert fake.users == ['alice']
    assert fake.requests[1][1]['path'] == 'runuser'
    assert fake.requests[1][1]['arg'] == ['-u', 'alice', '--', '/bin/sh', '-c', 'echo hi']


def test_exec_disabled_like_rhel(vm, conn):
    vm.start(disabled={'guest-exec', 'guest-exec-status'})
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn().exec_command('true')
    assert str(exc.value) == (
        "the guest agent refuses guest-exec (Command guest-exec has been disabled); allow it in the guest: remove it from "
        "qemu-ga's --block-rpcs (block-rpcs in /etc/qemu/qemu-ga.conf), or add it to --allow-rpcs when that is used (on RHEL, "
        "Fedora and CentOS: BLOCK_RPCS or FILTER_RPC_ARGS in /etc/sysconfig/qemu-ga), then restart qemu-guest-agent "
        "(guest agent socket %s (qemu_task vm1))" % vm.socket)


def test_missing_runuser(vm, conn):
    vm.start(missing={'runuser'})
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn(remote_user='bob').exec_command('true')
    assert str(exc.value) == ("remote_user bob needs runuser (util-linux) in the guest, which it lacks: Guest agent command failed, "
                              "error was 'Failed to execute child process \u201crunuser\u201d (No such file or directory)'")


# Connection errors

def test_socket_is_required(shown):
    conn = connection(None)
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn.exec_command('true')
    assert str(exc.value) == ('the qga connection needs the path of the guest agent socket: set ansible_qga_socket '
                              '(for a nomadic.qemu.qemu_task VM with guest_agent: true, <state_dir>/<name>/qga.sock)')


def test_socket_missing(vm, conn):
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn().exec_command('true')
    assert str(exc.value) == ('guest agent socket %s does not exist; the VM is not running, or was started without the agent channel '
                              '(qemu_task guest_agent: true) (qemu_task vm1)' % vm.socket)


@needs_unix_diag
def test_agent_not_running(vm, conn):
    vm.start(silent=True)
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn(timeout=1).exec_command('true')
    assert str(exc.value) == ('no answer from the guest agent on guest agent socket %s (qemu_task vm1) within 1 s: '
                              'the agent is not running in the guest (still booting, not installed, or stopped)' % vm.socket)


@needs_unix_diag
def test_socket_busy(vm, conn):
    # QEMU does not accept a second client: the kernel queues it.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(vm.socket)
    listener.listen(1)
    try:
        with pytest.raises(AnsibleConnectionFailure) as exc:
            conn(timeout=1).exec_command('true')
    finally:
        listener.close()
    assert str(exc.value) == ('no answer from the guest agent on guest agent socket %s (qemu_task vm1) within 1 s: another client is '
                              'connected to the socket (QEMU serves one client at a time, and has not accepted this one); wait for it '
                              'to finish, or end it' % vm.socket)


# Files

@pytest.mark.parametrize('size, chunks', [(0, 0), (1000, 1), (3 * 1024 * 1024 + 5, 4)])
def test_put_file_in_chunks(vm, conn, tmp_path, size, chunks):
    fake = vm.start()
    source = tmp_path / 'source'
    source.write_bytes(os.urandom(size))
    target = tmp_path / 'target'
    conn().put_file(str(source), str(target))
    assert target.read_bytes() == source.read_bytes()
    assert fake.count('guest-file-write') == chunks
    assert all(args['buf-b64'] <= 4 * qga.CHUNK_SIZE // 3 + 4 for command, args in fake.requests if command == 'guest-file-write')
    assert fake.count('guest-file-close') == (2 if size >= qga.VERIFY_THRESHOLD else 1)
    # Created 0600 first; verified by size and sha256sum only from VERIFY_THRESHOLD.
    assert fake.count('guest-exec') == 1 + (1 if size >= qga.VERIFY_THRESHOLD else 0)


@pytest.mark.parametrize('size, reads', [(0, 1), (1000, 1), (3 * 1024 * 1024, 4), (3 * 1024 * 1024 + 5, 4)])
def test_fetch_file_in_chunks(vm, conn, tmp_path, size, reads):
    fake = vm.start()
    source = tmp_path / 'source'
    source.write_bytes(os.urandom(size))
    target = tmp_path / 'target'
    conn().fetch_file(str(source), str(target))
    assert target.read_bytes() == source.read_bytes()
    assert fake.count('guest-file-read') == reads
    assert fake.count('guest-exec') == (1 if size >= qga.VERIFY_THRESHOLD else 0)


@pytest.mark.parametrize('size', [0, 1000, qga.CHUNK_SIZE, 5 * 1000 * 1000])
def test_copies_as_remote_user_run_as_that_user(vm, conn, tmp_path, size):
    # Never the agent's own file commands (root, following a symlink the user planted): commands run as the user.
    fake = vm.start()
    source, target, back = tmp_path / 'source', tmp_path / 'it\\s "odd"\nname', tmp_path / 'back'
    source.write_bytes(os.urandom(size))
    connected = conn(remote_user='alice')
    connected.put_file(str(source), str(target))
    connected.fetch_file(str(target), str(back))
    assert target.read_bytes() == source.read_bytes() == back.read_bytes()
    assert not [command for command in fake.commands() if command.startswith('guest-file-')]
    assert set(fake.users) == {'alice'}
    execs = [args for command, args in fake.requests if command == 'guest-exec']
    assert all(args['path'] == 'runuser' and args['arg'][:4] == ['-u', 'alice', '--', '/bin/sh'] for args in execs)
    writes = max(1, -(-size // qga.CHUNK_SIZE))
    reads = size // qga.CHUNK_SIZE + 1
    verify = 2 * 2 if size >= qga.VERIFY_THRESHOLD else 0  # wc and sha256sum, after each copy
    assert len(execs) == writes + reads + verify
    assert (target.stat().st_mode & 0o777) == 0o600


def test_5mb_as_remote_user_costs(vm, conn, tmp_path):
    # 5 MB is 5 chunks: 5 writes, 5 reads, then wc and sha256sum after each copy (one guest-exec each, and its polls).
    fake = vm.start()
    source, target, back = tmp_path / 'source', tmp_path / 'target', tmp_path / 'back'
    source.write_bytes(os.urandom(5 * 1000 * 1000))
    connected = conn(remote_user='alice')
    connected.put_file(str(source), str(target))
    connected.fetch_file(str(target), str(back))
    assert back.read_bytes() == source.read_bytes()
    assert fake.count('guest-exec') == 5 + 5 + 4


def test_root_copy_goes_through_the_agent_file_commands(vm, conn, tmp_path):
    # The agent would create the file 0666 (as qemu-ga does); it is created 0600 first.
    fake = vm.start()
    (tmp_path / 'source').write_bytes(b'data')
    conn().put_file(str(tmp_path / 'source'), str(tmp_path / 'target'))
    assert fake.count('guest-file-write') == 1
    assert (tmp_path / 'target').read_bytes() == b'data'
    assert (tmp_path / 'target').stat().st_mode & 0o777 == 0o600
    assert fake.commands().index('guest-exec') < fake.commands().index('guest-file-open')


@pytest.mark.parametrize('direction', ['write', 'read'])
def test_corrupt_copy_is_an_error(vm, conn, tmp_path, direction):
    vm.start(corrupt=direction)
    data = os.urandom(2 * 1024 * 1024)
    source, target = tmp_path / 'source', tmp_path / 'target'
    source.write_bytes(data)
    with pytest.raises(AnsibleError) as exc:
        if direction == 'write':
            conn().put_file(str(source), str(target))
        else:
            conn().fetch_file(str(source), str(target))
    guest_file = target if direction == 'write' else source
    what = 'copied into the guest' if direction == 'write' else 'fetched from the guest'
    sent = hashlib.sha256(data).hexdigest()
    corrupt = hashlib.sha256(guest_file.read_bytes() if direction == 'write' else bytes([data[0] ^ 1]) + data[1:]).hexdigest()
    if direction == 'write':
        assert str(exc.value) == 'file %s %s is corrupt: its SHA-256 in the guest is %s, not %s' % (guest_file, what, corrupt, sent)
    else:
        assert str(exc.value) == 'file %s %s is corrupt: its SHA-256 in the guest is %s, not %s' % (guest_file, what, sent, corrupt)


def test_verify_by_size_only_without_guest_exec(vm, conn, tmp_path, shown):
    vm.start(disabled={'guest-exec'})
    source = tmp_path / 'source'
    source.write_bytes(os.urandom(qga.VERIFY_THRESHOLD))
    conn().put_file(str(source), str(tmp_path / 'target'))
    assert (tmp_path / 'target').read_bytes() == source.read_bytes()
    assert any(line.startswith('QGA: %s verified by size only: the guest agent refuses guest-exec' % (tmp_path / 'target'))
               for line in shown.lines)


def test_file_commands_disabled(vm, conn, tmp_path):
    vm.start(disabled={'guest-file-open'})
    (tmp_path / 'source').write_bytes(b'data')
    with pytest.raises(AnsibleConnectionFailure, match=r"^the guest agent refuses guest-file-open \(Command guest-file-open has been "
                                                       r"disabled\); allow it in the guest: .*BLOCK_RPCS or FILTER_RPC_ARGS"):
        conn().put_file(str(tmp_path / 'source'), str(tmp_path / 'target'))


@pytest.mark.parametrize('direction', ['put', 'fetch'])
def test_close_error_names_the_file(vm, conn, tmp_path, direction):
    # qemu-ga reports a failed fclose() (e.g. ENOSPC when buffered data is flushed) as an error reply to guest-file-close.
    vm.start(fail={'guest-file-close': 'failed to close handle: No space left on device'})
    source, target = tmp_path / 'source', tmp_path / 'target'
    source.write_bytes(b'data')
    with pytest.raises(AnsibleError) as exc:
        if direction == 'put':
            conn().put_file(str(source), str(target))
        else:
            conn().fetch_file(str(source), str(target))
    assert type(exc.value) is AnsibleError  # pylint: disable=unidiomatic-typecheck
    guest_file = target if direction == 'put' else source
    assert str(exc.value) == 'cannot close %s in the guest: failed to close handle: No space left on device' % guest_file


def test_open_error_names_the_file(vm, conn, tmp_path):
    fake = vm.start()
    with pytest.raises(AnsibleError) as exc:
        conn().fetch_file(str(tmp_path / 'absent'), str(tmp_path / 'target'))
    assert str(exc.value) == "cannot open %s in the guest: failed to open file '%s' (mode: 'rb'): No such file or directory" % (
        tmp_path / 'absent', tmp_path / 'absent')
    assert fake.count('guest-file-close') == 0


# Become

@pytest.fixture
def sudo(tmp_path):
    """The fake sudo in <tmp>/bin; asks(True) makes it ask for PASSWORD."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    exe = bindir / 'sudo'
    exe.write_text(FAKE_SUDO)
    exe.chmod(0o755)
    (bindir / 'sudo-password').write_text(PASSWORD + '\n')

    class Sudo:
        path = str(exe)

        @staticmethod
        def asks(value=True):
            if value:
                (bindir / 'sudo-asks').write_text('')

        @staticmethod
        def probe_only():
            (bindir / 'sudo-probe-only').write_text('')

        @staticmethod
        def targets():
            path = bindir / 'sudo-targets'
            return path.read_text().split() if path.exists() else []
    return Sudo


def become(conn, method='sudo', password=None, exe=None):
    plugin = become_loader.get(method)
    options = {'become_user': 'root'}
    if password is not None:
        options['become_pass'] = password
    if exe is not None:
        options['become_exe'] = exe
    plugin.set_options(direct=options)
    conn.set_become_plugin(plugin)
    shell = shell_loader.get('sh')
    shell.executable = '/bin/sh'  # what Ansible sets from the executable setting
    return plugin, shell


@pytest.mark.parametrize('asks', [True, False], ids=['password', 'nopasswd'])
def test_sudo_password_on_stdin(vm, conn, sudo, shown, asks):
    fake = vm.start()
    sudo.asks(asks)
    connected = conn(remote_user='alice')
    plugin, shell = become(connected, password=PASSWORD, exe=sudo.path)
    for dummy in range(2):
        cmd = plugin.build_become_command('cat', shell)
        rc, out, err = connected.exec_command(cmd, in_data=b'module source\n')
        assert (rc, err) == (0, b'')
        assert out == ('%s\nmodule source\n' % plugin.success).encode()
    # sudo -n asked before every command (its answer can change); the password only goes where sudo reads it.
    assert fake.count('guest-exec') == 4
    assert fake.stdins[0::2] == [b''] * 2
    assert fake.stdins[1::2] == [(PASSWORD + '\n' if asks else '').encode() + b'module source\n'] * 2
    assert fake.users == ['alice'] * 4
    assert all(PASSWORD not in line for line in shown.lines)
    assert any('does sudo ask for a password?' in line for line in shown.lines)


def test_sudo_that_does_not_ask_after_all(vm, conn, sudo, shown):
    # The probe says a password is needed, the command itself does not ask: the password was read by the command
    # (here cat, which prints it). It must not come back in the output, and the task fails saying why.
    vm.start()
    sudo.probe_only()
    connected = conn(remote_user='alice')
    plugin, shell = become(connected, password=PASSWORD, exe=sudo.path)
    with pytest.raises(AnsibleError) as exc:
        connected.exec_command(plugin.build_become_command('cat; cat >&2', shell), in_data=b'module source\n')
    assert str(exc.value).startswith('sudo did not ask for the become password, so the password was read by the command instead')
    assert PASSWORD not in str(exc.value)
    assert all(PASSWORD not in line for line in shown.lines)


def test_sudo_asks_again_after_the_probe_changes(vm, conn, sudo):
    # Credentials cached or a rule changed: each command is probed anew, so no password goes to one that does not ask.
    fake = vm.start()
    sudo.asks()
    connected = conn(remote_user='alice')
    plugin, shell = become(connected, password=PASSWORD, exe=sudo.path)
    assert connected.exec_command(plugin.build_become_command('cat', shell), in_data=b'one\n')[0] == 0
    os.unlink(os.path.join(os.path.dirname(sudo.path), 'sudo-asks'))
    rc, out, err = connected.exec_command(plugin.build_become_command('cat', shell), in_data=b'two\n')
    assert (rc, err) == (0, b'')
    assert out.endswith(b'two\n') and PASSWORD.encode() not in out
    assert fake.stdins[3] == b'two\n'


def test_no_password_for_a_command_without_become(vm, conn, sudo):
    # become_user is the remote user: Ansible runs the command as it is, and sudoable.
    fake = vm.start()
    sudo.asks()
    connected = conn(remote_user='alice')
    plugin, shell = become(connected, password=PASSWORD, exe=sudo.path)
    plugin.build_become_command('true', shell)  # an earlier command that was wrapped
    assert connected.exec_command('cat', in_data=b'data', sudoable=True) == (0, b'data', b'')
    assert fake.stdins == [b'data']


def test_sudo_wrong_password(vm, conn, sudo, shown):
    vm.start()
    sudo.asks()
    connected = conn(remote_user='alice')
    plugin, shell = become(connected, password='wrong ' + PASSWORD, exe=sudo.path)
    with pytest.raises(AnsibleError) as exc:
        connected.exec_command(plugin.build_become_command('true', shell))
    assert str(exc.value) == 'Incorrect sudo password'
    assert all(PASSWORD not in line for line in shown.lines)


def test_sudo_as_root_needs_no_password(vm, conn, sudo):
    fake = vm.start()
    sudo.asks()
    connected = conn()
    plugin, shell = become(connected, password=PASSWORD, exe=sudo.path)
    rc, dummy, err = connected.exec_command(plugin.build_become_command('true', shell))
    # Root is never asked (the fake sudo is, and fails: nothing was fed to it).
    assert fake.count('guest-exec') == 1
    assert PASSWORD.encode() not in fake.stdins[0]
    assert rc == 1


def test_passwordless_sudo(vm, conn, sudo):
    fake = vm.start()
    connected = conn(remote_user='alice')
    plugin, shell = become(connected, exe=sudo.path)
    rc, out, dummy = connected.exec_command(plugin.build_become_command('id -u', shell))
    assert rc == 0
    assert fake.count('guest-exec') == 1
    assert sudo.targets() == ['root']


def test_su_with_password_is_refused(vm, conn):
    vm.start()
    connected = conn(remote_user='alice')
    plugin, shell = become(connected, method='su', password=PASSWORD)
    with pytest.raises(AnsibleError) as exc:
        connected.exec_command(plugin.build_become_command('true', shell))
    assert str(exc.value) == ('become_method su with a password is not supported by the qga connection: it needs a terminal to answer '
                              'the prompt, and guest-exec has none. Use sudo, or become without a password (remote_user root, or a '
                              'NOPASSWD rule)')


# Remote hypervisor: the relay runs as a local subprocess in place of ssh

@pytest.fixture
def local_bridge(monkeypatch):
    monkeypatch.setattr(qga.Connection, '_bridge_argv', lambda self: [sys.executable, '-c', BRIDGE, self._socket])


def test_through_the_relay(vm, conn, local_bridge, tmp_path, shown):
    fake = vm.start()
    connected = conn(hypervisor='admin@hv1')
    assert connected.exec_command('echo relayed; exit 4') == (4, b'relayed\n', b'')
    source = tmp_path / 'source'
    source.write_bytes(os.urandom(2 * 1024 * 1024 + 1))
    connected.put_file(str(source), str(tmp_path / 'target'))
    connected.fetch_file(str(tmp_path / 'target'), str(tmp_path / 'back'))
    assert (tmp_path / 'back').read_bytes() == source.read_bytes()
    connected.close()
    assert fake.connections == 1
    assert shown.lines[0] == 'ESTABLISH QGA CONNECTION TO %s (qemu_task vm1) on hypervisor admin@hv1 FOR USER: root' % vm.socket
    assert shown.lines[1] == 'QGA: RELAY %s -c <relay> %s' % (sys.executable, vm.socket)


def test_relay_reports_a_missing_socket(vm, conn, local_bridge):
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn(hypervisor='hv1').exec_command('true')
    assert str(exc.value) == ('guest agent socket %s does not exist; the VM is not running, or was started without the agent channel '
                              '(qemu_task guest_agent: true) on hypervisor hv1 (qemu_task vm1)' % vm.socket)


def test_relay_that_fails_to_start(vm, conn, monkeypatch):
    monkeypatch.setattr(qga.Connection, '_bridge_argv', lambda self: ['/bin/sh', '-c', 'echo "ssh: connect to host hv1 port 22: '
                                                                      'Connection refused" >&2; exit 255'])
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn(hypervisor='hv1').exec_command('true')
    assert str(exc.value) == ('the relay to guest agent socket %s (qemu_task vm1) on hypervisor hv1 ended with status 255: '
                              'ssh: connect to host hv1 port 22: Connection refused' % vm.socket)


@pytest.mark.parametrize('hypervisor, args, expected', [
    ('hv1', [], ['hv1']),
    ('admin@hv1:2222', ['-i', '/k'], ['-i', '/k', '-p', '2222', 'admin@hv1']),
    ('root@[2001:db8::1]:22', [], ['-p', '22', 'root@2001:db8::1']),
])
def test_ssh_command(vm, conn, hypervisor, args, expected):
    argv = conn(hypervisor=hypervisor, hypervisor_ssh_args=args, hypervisor_python='/usr/bin/python3.11')._bridge_argv()
    assert argv[:-1] == ['ssh', '-T', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'] + expected
    assert argv[-1] == "/usr/bin/python3.11 -c '%s' %s" % (qga.RELAY_LINE, vm.socket)
    assert '\n' not in argv[-1]


def test_hypervisor_starting_with_a_dash_is_refused(vm, conn):
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn(hypervisor='-oProxyCommand=touch /tmp/x')._bridge_argv()
    assert str(exc.value).startswith("hypervisor '-oProxyCommand=touch /tmp/x' starts with '-'")


def test_ssh_remote_command_through_a_real_shell(tmp_path, shown):
    # What sshd does with the remote command: the login shell runs it with -c. A socket path with spaces and quotes.
    directory = tmp_path / 'it\'s a "vm"'
    directory.mkdir()
    path = str(directory / 'qga.sock')
    with FakeAgent(path) as fake:
        remote = connection(path, hypervisor='hv1', hypervisor_python=sys.executable)._bridge_argv()[-1]
        proc = subprocess.Popen(['/bin/sh', '-c', remote], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            client = QGAClient(StreamTransport(proc.stdout.fileno(), proc.stdin.fileno(), 'relay', on_close=proc.stdin.close), timeout=5)
            client.sync()
            assert client.execute('guest-info')['version'] == '7.2.22'
            client.close()
            assert proc.wait(5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        assert fake.commands() == ['guest-sync-delimited', 'guest-info']


def test_hypervisor_python_is_a_command_line(vm, conn):
    # As the inventory plugin passes it: python: sudo -n python3
    argv = conn(hypervisor='hv1', hypervisor_python='sudo -n python3')._bridge_argv()
    assert argv[-1] == "sudo -n python3 -c '%s' %s" % (qga.RELAY_LINE, vm.socket)


def test_ssh_command_is_shown_without_the_relay_code(vm, conn, shown, monkeypatch):
    def no_ssh(*args, **kwargs):
        raise OSError(2, 'No such file or directory')
    monkeypatch.setattr(qga.subprocess, 'Popen', no_ssh)
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn(hypervisor='admin@hv1:2222').exec_command('true')
    assert str(exc.value) == 'cannot start ssh to reach hypervisor admin@hv1:2222: No such file or directory'
    assert shown.lines[1] == "QGA: RELAY ssh -T -o BatchMode=yes -o ConnectTimeout=10 -p 2222 admin@hv1 'python3 -c <relay> %s'" % vm.socket


def test_agent_going_away_during_a_copy(vm, conn, tmp_path):
    vm.start(hangup=('guest-file-write', 2))
    source = tmp_path / 'source'
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn().put_file(str(source), str(tmp_path / 'target'))
    # The error is the one that happened, not one from closing the file handle afterwards.
    assert str(exc.value) == ('guest agent socket %s (qemu_task vm1) was closed while we waited for the reply to guest-file-write; '
                              'the VM stopped, or its guest agent restarted' % vm.socket)


def test_bad_hypervisor(vm, conn):
    with pytest.raises(AnsibleConnectionFailure) as exc:
        conn(hypervisor='a@b@c').exec_command('true')
    assert str(exc.value) == "hypervisor 'a@b@c' is neither 'local' nor an SSH destination [user@]host[:port]; fix ansible_qga_hypervisor"


@pytest.mark.parametrize('path, label', [
    ('/var/lib/nomadic-qemu/web1/qga.sock', ' (qemu_task web1)'),
    ('/run/agent.sock', ''),
    ('qga.sock', ''),
])
def test_task_label(path, label):
    assert qga.task_label(path) == label
