# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: qga
short_description: Run tasks inside a QEMU guest through the QEMU guest agent
version_added: 0.2.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Runs Ansible modules inside a QEMU guest through C(qemu-guest-agent), over the agent's virtio-serial channel.
    The guest needs no network, no SSH server and no key; it needs the agent running, and QEMU started with the
    agent channel (M(nomadic.qemu.qemu_task) with O(nomadic.qemu.qemu_task#module:guest_agent=true) puts its socket
    at C(<state_dir>/<name>/qga.sock)).
  - Commands run with the agent's C(guest-exec) as C(/bin/sh -c COMMAND); their output is collected when they
    end. Files are copied in chunks of 1 MiB, as root with C(guest-file-open), C(guest-file-write), C(guest-file-read)
    and C(guest-file-close), as another O(remote_user) with commands run as that user (see the notes). Files of
    1 MiB or more are verified after the copy by their size and SHA-256 (C(sha256sum) in the guest); when
    the guest has no C(sha256sum) or the agent refuses C(guest-exec), by their size only.
  - The agent socket is on the hypervisor. With O(hypervisor=local) (the default) it is opened directly.
    Otherwise the plugin runs the system C(ssh) to the hypervisor and a small relay written in Python there, which
    connects to the socket and copies bytes between it and the SSH channel; the hypervisor needs Python 3 and SSH
    access to the socket, nothing else.
  - QEMU serves one client on the agent socket at a time, so the plugin connects for each task and disconnects at
    its end. While a task runs, another client of the same socket (for example
    M(nomadic.qemu.qemu_shutdown) with the agent method, or the C(agent) readiness check of
    M(nomadic.qemu.qemu_task)) waits, and may time out.
options:
  socket:
    description:
      - Path of the guest agent socket on the hypervisor, for M(nomadic.qemu.qemu_task) C(<state_dir>/<name>/qga.sock)
        (the RV(nomadic.qemu.qemu_task#module:task.agent_socket) it returns).
      - Required (a missing one is an error naming C(ansible_qga_socket)). A long path (more than 107 bytes) is reached
        through C(/proc/self/fd), as the modules do.
    type: string
    vars:
      - name: ansible_qga_socket
    env:
      - name: ANSIBLE_QGA_SOCKET
  hypervisor:
    description:
      - Where the socket is. V(local) opens it on the controller (or wherever the task is delegated from).
      - Otherwise an SSH destination C([user@]host[:port]) (an IPv6 address in brackets, C(root@[2001:db8::1]:2222)).
        The plugin runs C(ssh -T -o BatchMode=yes -o ConnectTimeout=TIMEOUT <hypervisor_ssh_args> -p PORT USER@HOST
        PYTHON -c RELAY SOCKET) (the relay one line, so that any login shell takes it), so keys, C(~/.ssh/config)
        and an agent apply as usual; a password prompt does not (BatchMode). A value starting with C(-) is refused.
    type: string
    default: local
    vars:
      - name: ansible_qga_hypervisor
    env:
      - name: ANSIBLE_QGA_HYPERVISOR
  hypervisor_ssh_args:
    description:
      - Extra arguments for C(ssh) to a remote O(hypervisor), each item one argument, placed before the destination
        (for example V(-i), V(~/.ssh/hv_key), V(-o), V(StrictHostKeyChecking=accept-new)).
    type: list
    elements: string
    default: []
    vars:
      - name: ansible_qga_ssh_args
  hypervisor_python:
    description:
      - The command line of the Python 3 interpreter that runs the relay on a remote O(hypervisor), split into words
        as by a POSIX shell (for example V(sudo -n python3), when the socket is root's, or V(/usr/bin/python3.11)).
    type: string
    default: python3
    vars:
      - name: ansible_qga_hypervisor_python
  remote_user:
    description:
      - The user in the guest that runs commands. The agent runs as root; for another user, each command runs as
        C(runuser -u USER -- /bin/sh -c COMMAND) (C(runuser) is part of util-linux on Debian, Ubuntu, RHEL and
        Fedora), and files are copied by commands run as that user.
      - With V(root), C(HOME) is set to V(/root) when the agent's environment has none (qemu-ga, started by systemd,
        has no C(HOME)), so that C(~) expands in Ansible's temporary paths.
      - As with other connection plugins, C(remote_user) in C(ansible.cfg), C(-u) and the play keyword apply; when they
        name a user of SSH hosts that the guests lack, set C(ansible_user) for the guests.
    type: string
    default: root
    vars:
      - name: ansible_user
      - name: ansible_qga_user
    env:
      - name: ANSIBLE_REMOTE_USER
    ini:
      - section: defaults
        key: remote_user
    cli:
      - name: user
    keyword:
      - name: remote_user
  timeout:
    description:
      - Seconds to wait for the connection (for a remote O(hypervisor), including the SSH login) and the agent's
        answer to C(guest-sync-delimited), and for the agent's reply to each single request.
      - It does not bound how long a command runs in the guest, which is unbounded as with the other connection
        plugins; use the task keyword C(timeout) or C(async) for that.
    type: int
    default: 10
    vars:
      - name: ansible_qga_timeout
    env:
      - name: ANSIBLE_QGA_TIMEOUT
  pipelining:
    description:
      - Send the module on the standard input of the interpreter instead of copying it to a temporary file
        first, which saves two or three agent round trips per task.
      - On by default, unlike with the C(ssh) plugin; the reason to turn pipelining off there, C(requiretty) in
        sudoers, is one that pipelining off does not cure here, since no command of this plugin has a terminal
        (see the notes).
      - Read from the same settings as for the C(ssh) plugin (C(ANSIBLE_PIPELINING), C(pipelining) in the
        C([defaults]) or C([connection]) section of C(ansible.cfg)), and from C(ANSIBLE_QGA_PIPELINING).
    type: boolean
    default: true
    vars:
      - name: ansible_pipelining
      - name: ansible_qga_pipelining
    env:
      - name: ANSIBLE_PIPELINING
      - name: ANSIBLE_QGA_PIPELINING
    ini:
      - section: defaults
        key: pipelining
      - section: connection
        key: pipelining
notes:
  - "Become works inside the guest. Without a password (as root, or with a C(NOPASSWD) rule), any become method
    works. With a password, only C(sudo) does: the agent cannot answer a prompt while a command runs, so before each
    command the plugin asks C(sudo -n) whether a password is needed and, if so, writes it on the command's standard
    input ahead of the data, where C(sudo -S) (in the default C(become_flags)) reads it. When sudo then does not ask
    after all (a sudoers rule for that command only, or credentials cached meanwhile), the command has read the
    password: the task fails, saying so, and the command's output is withheld. The password is never displayed or
    logged. C(su) with a
    password needs a terminal and is refused with a message."
  - "With C(Defaults requiretty) in the guest's sudoers (for all users or the remote user), sudo cannot work through
    the agent at all, with or without pipelining: C(guest-exec) gives a command no terminal. Remove that setting, or
    use O(remote_user=root)."
  - "The agent must allow the commands the plugin uses: C(guest-exec), C(guest-exec-status), and C(guest-file-open),
    C(guest-file-read), C(guest-file-write), C(guest-file-seek), C(guest-file-close). RHEL, CentOS and Fedora disable
    some of them in C(/etc/sysconfig/qemu-ga) (C(BLOCK_RPCS) or C(FILTER_RPC_ARGS)); elsewhere they are disabled with
    qemu-ga's C(--block-rpcs) or allowed with C(--allow-rpcs) (C(/etc/qemu/qemu-ga.conf)). A refused command is an
    error naming it and these settings."
  - "With O(remote_user=root), files are copied with the agent's C(guest-file-*) commands, which the agent runs as
    root. qemu-ga gives a file that C(guest-file-open) creates mode 0666, whatever the umask; so the plugin first
    creates it empty with C(umask 077) (mode 0600) through C(guest-exec), and where that is refused, the file keeps
    the agent's 0666. For another user, the plugin never opens that user's paths as root (the agent would follow a symlink the
    user put there): files are written and read by commands run as the user, C(cat) for each chunk of 1 MiB written
    and C(dd) for each chunk read, so a copy takes one C(guest-exec) per MiB, and a fetch reads only what the user can.
    A command's output is collected in the agent's memory, which qemu-ga limits to 16 MiB per stream; longer output is
    cut, with a warning."
seealso:
  - module: nomadic.qemu.qemu_task
  - name: QEMU Guest Agent Protocol Reference
    description: The commands the plugin uses.
    link: https://www.qemu.org/docs/master/interop/qemu-ga-ref.html
"""

EXAMPLES = r"""
---
# Inventory: a VM started by nomadic.qemu.qemu_task with guest_agent: true, on the controller
all:
  hosts:
    build-vm:
      ansible_connection: nomadic.qemu.qga
      ansible_qga_socket: /var/lib/nomadic-qemu/build-vm/qga.sock
    # The same on another machine, reached with ssh (the socket must be accessible to that user)
    db-vm:
      ansible_connection: nomadic.qemu.qga
      ansible_qga_hypervisor: root@hv1.example.com
      ansible_qga_ssh_args: [-i, ~/.ssh/hv1]
      ansible_qga_socket: /var/lib/nomadic-qemu/db-vm/qga.sock

# Playbook: start a VM, then configure it through its agent (no network needed in the guest)
---
- name: Start the VM
  hosts: localhost
  tasks:
    - name: Run the VM with the guest agent channel
      nomadic.qemu.qemu_task:
        name: build-vm
        image_path: /var/lib/images/debian-12.qcow2
        overlay: true
        guest_agent: true
        wait_for:
          agent: true
      register: vm

    - name: Add it to the inventory
      ansible.builtin.add_host:
        name: build-vm
        ansible_connection: nomadic.qemu.qga
        ansible_qga_socket: "{{ vm.task.agent_socket }}"

- name: Configure the guest
  hosts: build-vm
  gather_facts: true
  tasks:
    - name: Install a package as root (the default remote_user)
      ansible.builtin.apt:
        name: rsync

    - name: Run a command as a user of the guest, then with sudo
      ansible.builtin.command: id
      vars:
        ansible_user: debian
      become: true
"""

import errno
import hashlib
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.nomadic.qemu.plugins.module_utils._qga import (
    BRIDGE,
    QGAClient,
    QGACommandError,
    QGAConnectionClosed,
    QGADisabledError,
    QGAError,
    StreamTransport,
    b64decode,
    b64encode,
    describe_connect_error,
)

display = Display()

# The relay as one line of Python, for the remote command of ssh.
RELAY_LINE = 'import base64;exec(base64.b64decode("%s"))' % b64encode(BRIDGE.encode())

# Bytes per guest-file-read/-write: a 1 MiB chunk is a 1.4 MB JSON message, far below the agent's limits
# (64 MiB per JSON token, 48 MiB per read), and large enough that a 5 MB file takes 5 round trips.
CHUNK_SIZE = 1024 * 1024
# Files of this size or more are verified after a copy (size and SHA-256).
VERIFY_THRESHOLD = 1024 * 1024
# guest-exec-status polling: the first wait, the factor, and the longest wait.
POLL_FIRST = 0.002
POLL_FACTOR = 1.5
POLL_MAX = 0.2
# The environment of qemu-ga (a systemd service) has no HOME; root's is assumed when missing.
ROOT_HOME_PREFIX = 'HOME="${HOME:-/root}"; export HOME; '

_DESTINATION = re.compile(r'^(?:(?P<user>[^@]+)@)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:@\[\]]+))(?::(?P<port>\d+))?$')


def parse_destination(value):
    """``[user@]host[:port]`` (IPv6 in brackets) -> (user or None, host, port or None); ValueError when malformed."""
    match = _DESTINATION.match(value or '')
    if not match:
        raise ValueError(value)
    port = match.group('port')
    return match.group('user'), match.group('v6') or match.group('host'), int(port) if port else None


def task_label(path):
    """How messages name the VM of a socket: ' (qemu_task NAME)' for <state_dir>/NAME/qga.sock, else ''."""
    directory, name = os.path.split(os.path.normpath(path))
    if name == 'qga.sock' and os.path.basename(directory):
        return ' (qemu_task %s)' % os.path.basename(directory)
    return ''


class AgentRefused(AnsibleConnectionFailure):
    """The guest agent's configuration disables a command the plugin needs."""


class Connection(ConnectionBase):
    """Commands and files in a QEMU guest through its guest agent."""

    transport = 'nomadic.qemu.qga'
    has_pipelining = True
    has_tty = False
    module_implementation_preferences = ('.py', '')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._client = None
        self._bridge = None
        self._bridge_stderr = None

    # Connection

    @property
    def _socket(self):
        path = self.get_option('socket')
        if not path:
            raise AnsibleConnectionFailure('the qga connection needs the path of the guest agent socket: set ansible_qga_socket '
                                           '(for a nomadic.qemu.qemu_task VM with guest_agent: true, <state_dir>/<name>/qga.sock)')
        return path

    def _where(self):
        """The socket and where it is, for messages."""
        hypervisor = self.get_option('hypervisor') or 'local'
        where = '' if hypervisor == 'local' else ' on hypervisor %s' % hypervisor
        return '%s%s%s' % (self._socket, task_label(self._socket), where)

    def _bridge_argv(self):
        """The command that starts the relay to the socket on a remote hypervisor (tests replace it)."""
        hypervisor = self.get_option('hypervisor')
        try:
            user, host, port = parse_destination(hypervisor)
        except ValueError:
            raise AnsibleConnectionFailure("hypervisor '%s' is neither 'local' nor an SSH destination [user@]host[:port]; "
                                           "fix ansible_qga_hypervisor" % hypervisor) from None
        if hypervisor.startswith('-'):
            raise AnsibleConnectionFailure("hypervisor '%s' starts with '-', which ssh would take for an option; "
                                           "fix ansible_qga_hypervisor" % hypervisor)
        argv = ['ssh', '-T', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=%d' % self.get_option('timeout')]
        argv += [str(arg) for arg in self.get_option('hypervisor_ssh_args') or []]
        if port:
            argv += ['-p', str(port)]
        argv.append('%s@%s' % (user, host) if user else host)
        try:
            python = shlex.split(self.get_option('hypervisor_python') or 'python3')
        except ValueError as exc:
            raise AnsibleConnectionFailure('hypervisor_python %r is not a command line: %s' % (self.get_option('hypervisor_python'), exc)) from None
        # One line, quoted for a POSIX shell, that csh-family login shells accept too (they refuse a newline in quotes).
        argv.append(shlex.join((python or ['python3']) + ['-c', RELAY_LINE, self._socket]))
        return argv

    def _connect(self):
        if self._connected:
            return self
        path = self._socket
        timeout = self.get_option('timeout')
        hypervisor = self.get_option('hypervisor') or 'local'
        display.vvv('ESTABLISH QGA CONNECTION TO %s FOR USER: %s' % (self._where(), self.get_option('remote_user')),
                    host=self._play_context.remote_addr)
        try:
            if hypervisor == 'local':
                self._client = QGAClient.unix(path, timeout)
                self._client.transport.name = 'guest agent socket %s' % self._where()
            else:
                self._client = self._start_bridge(timeout)
            self._client.sync(timeout)
        except QGAError as exc:
            message = self._bridge_failure() or to_native(exc)
            self._close_client()
            if task_label(path) not in message:
                message += task_label(path)
            raise AnsibleConnectionFailure(message) from None
        self._connected = True
        return self

    def _start_bridge(self, timeout):
        argv = self._bridge_argv()
        # The relay's code is shown as <relay>, alone (argv of a local relay) or in ssh's remote command.
        shown = ['<relay>' if arg in (BRIDGE, RELAY_LINE) else shlex.quote(arg.replace(shlex.quote(RELAY_LINE), '<relay>'))
                 for arg in argv]
        display.vvv('QGA: RELAY %s' % ' '.join(shown), host=self._play_context.remote_addr)
        self._bridge_stderr = tempfile.TemporaryFile()
        try:
            self._bridge = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._bridge_stderr)
        except OSError as exc:
            raise AnsibleConnectionFailure('cannot start %s to reach hypervisor %s: %s'
                                           % (argv[0], self.get_option('hypervisor'), exc.strerror or exc)) from None
        bridge = self._bridge
        return QGAClient(StreamTransport(bridge.stdout.fileno(), bridge.stdin.fileno(), 'guest agent socket %s' % self._where(),
                                         on_close=self._stop_bridge), timeout)

    def _bridge_failure(self):
        """When the relay ended: why, from its stderr (its own 'bridge:' line, or ssh's messages); else None."""
        bridge = self._bridge
        if bridge is None:
            return None
        try:
            code = bridge.wait(1)
        except subprocess.TimeoutExpired:
            return None
        self._bridge_stderr.seek(0)
        text = to_text(self._bridge_stderr.read(), errors='surrogate_or_replace').strip()
        for line in text.splitlines():
            match = re.match(r'^bridge: (E[A-Z]+): (.*)$', line)
            if match:
                code_name, strerror = match.groups()
                return '%s on hypervisor %s' % (describe_connect_error(self._socket, OSError(getattr(errno, code_name, 0), strerror)),
                                                self.get_option('hypervisor'))
        return 'the relay to guest agent socket %s ended with status %s: %s' % (self._where(), code, text or '(no message)')

    def _stop_bridge(self):
        bridge, self._bridge = self._bridge, None
        if bridge is None:
            return
        for stream in (bridge.stdin, bridge.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            bridge.wait(2)
        except subprocess.TimeoutExpired:
            bridge.kill()
            bridge.wait()
        if self._bridge_stderr is not None:
            self._bridge_stderr.close()
            self._bridge_stderr = None

    def _close_client(self):
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._stop_bridge()

    def close(self):
        self._close_client()
        self._connected = False

    def reset(self):
        self.close()

    def _execute(self, command, arguments=None):
        """One agent request; every failure is an Ansible error naming the socket."""
        if self._client is None:
            raise AnsibleConnectionFailure('the connection to guest agent socket %s is closed' % self._where())
        try:
            return self._client.execute(command, arguments)
        except QGADisabledError as exc:
            raise AgentRefused('%s (guest agent socket %s)' % (exc, self._where())) from None
        except QGACommandError:
            raise
        except QGAConnectionClosed as exc:
            self.close()
            raise AnsibleConnectionFailure('%s; the VM stopped, or its guest agent restarted' % exc) from None
        except QGAError as exc:
            self.close()
            raise AnsibleConnectionFailure(to_native(exc)) from None

    def _decode(self, text):
        try:
            return b64decode(text)
        except QGAError as exc:
            self.close()
            raise AnsibleConnectionFailure('%s (guest agent socket %s)' % (exc, self._where())) from None

    # Commands

    def _guest_argv(self, cmd):
        """The argv guest-exec runs for a shell command: as root, or through runuser as remote_user."""
        user = self.get_option('remote_user') or 'root'
        if user == 'root':
            return ['/bin/sh', '-c', ROOT_HOME_PREFIX + cmd]
        return ['runuser', '-u', user, '--', '/bin/sh', '-c', cmd]

    def _run(self, argv, stdin=b''):
        """Run argv in the guest until it ends: (rc, stdout, stderr). A signal's end is rc 128+N with a line on stderr."""
        arguments = {'path': argv[0], 'arg': argv[1:], 'capture-output': True}
        if stdin:
            arguments['input-data'] = b64encode(stdin)
        try:
            pid = self._execute('guest-exec', arguments)['pid']
        except QGACommandError as exc:
            if argv[0] == 'runuser' and 'runuser' in exc.desc and 'No such file' in exc.desc:
                raise AnsibleConnectionFailure('remote_user %s needs runuser (util-linux) in the guest, which it lacks: %s'
                                               % (self.get_option('remote_user'), exc.desc)) from None
            raise AnsibleConnectionFailure('guest-exec of %s failed on guest agent socket %s: %s' % (argv[0], self._where(), exc.desc)) from None
        delay = POLL_FIRST
        while True:
            try:
                status = self._execute('guest-exec-status', {'pid': pid})
            except QGACommandError as exc:
                raise AnsibleConnectionFailure('guest-exec-status of process %s failed on guest agent socket %s: %s'
                                               % (pid, self._where(), exc.desc)) from None
            if status.get('exited'):
                break
            time.sleep(delay)
            delay = min(POLL_MAX, delay * POLL_FACTOR)
        out = self._decode(status.get('out-data'))
        err = self._decode(status.get('err-data'))
        for stream in ('out', 'err'):
            if status.get(stream + '-truncated'):
                display.warning('the guest agent cut the std%s of a command at its limit (16 MiB in qemu-ga); '
                                'write large output to a file instead' % stream)
        rc = status.get('exitcode')
        if rc is None:
            number = status.get('signal')
            try:
                name = signal.Signals(number).name
            except (TypeError, ValueError):
                name = 'signal %s' % number
            err += to_bytes('\nthe command was terminated by %s (signal %s) in the guest\n' % (name, number))
            rc = 128 + number if isinstance(number, int) else 255
        return rc, out, err

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        password = self._become_password(cmd, sudoable)
        argv = self._guest_argv(cmd)
        display.vvv('QGA: EXEC %s' % shlex.join(argv), host=self._play_context.remote_addr)
        stdin = in_data or b''
        if password is not None:
            password = to_bytes(password)
            stdin = password + b'\n' + stdin
        rc, out, err = self._run(argv, stdin)
        if password is not None:
            prompt = to_bytes(self.become.prompt or '')
            if not prompt or prompt not in err:
                # sudo did not read the password (the probe and this command differ: a per-command sudoers rule,
                # credentials cached meanwhile): the command read it as its first line of input, and may have shown it.
                out, err = self._scrub(out, password), self._scrub(err, password)
                raise AnsibleError('%s did not ask for the become password, so the password was read by the command instead '
                                   '(a sudoers rule for this command without a password, or cached credentials; the probe '
                                   '%s -n had said a password was needed); the command ran with status %s, and its output is '
                                   'withheld' % (self.become.name, self.become.get_option('become_exe') or 'sudo', rc))
            err = self._strip_prompt(err)
            if self.become.check_incorrect_password(err) or self.become.check_missing_password(err):
                raise AnsibleError('Incorrect %s password' % self.become.name)
        return rc, out, err

    @staticmethod
    def _scrub(data, password):
        return data.replace(password, b'********') if password else data

    def _become_password(self, cmd, sudoable):
        """The become password to write ahead of stdin, or None when the command gets none.

        guest-exec takes stdin in advance and cannot answer a prompt: with sudo -S the password is read from stdin,
        but only when sudo asks for it, so whether it asks is found out first, with sudo -n before every command
        (the answer can change between commands: cached credentials, rules per command).
        A command that Ansible did not wrap (become_user is the remote user) gets nothing: its success marker,
        new for every wrapped command, is not in it.
        """
        become = self.become
        if not (sudoable and become and become.expect_prompt() and become.success and become.success in cmd):
            return None
        name = become.name.rsplit('.', 1)[-1]
        if name != 'sudo':
            raise AnsibleError('become_method %s with a password is not supported by the qga connection: it needs a terminal to '
                               'answer the prompt, and guest-exec has none. Use sudo, or become without a password '
                               '(remote_user root, or a NOPASSWD rule)' % become.name)
        flags = shlex.split(become.get_option('become_flags') or '')
        if not any(flag in ('-S', '--stdin') or re.match(r'^-[A-Za-z]*S', flag) for flag in flags):
            raise AnsibleError('sudo with a password needs -S in become_flags with the qga connection (the password is written '
                               'on its standard input); the flags are: %s' % ' '.join(flags))
        user = self.get_option('remote_user') or 'root'
        if user == 'root':
            return None  # sudo never asks root for a password
        exe = become.get_option('become_exe') or 'sudo'
        target = become.get_option('become_user') or 'root'
        probe = '%s -n -u %s true' % (exe, shlex.quote(target))
        display.vvv('QGA: EXEC %s (does sudo ask for a password?)' % shlex.join(self._guest_argv(probe)),
                    host=self._play_context.remote_addr)
        rc, dummy, err = self._run(self._guest_argv(probe))
        asks = rc != 0 and b'password' in err
        return become.get_option('become_pass') if asks else None

    def _strip_prompt(self, err):
        prompt = to_bytes(self.become.prompt or '')
        while prompt and prompt in err:
            err = err.replace(prompt, b'', 1)
        return err.lstrip(b'\n') if prompt else err

    # Files

    def _open(self, path, mode):
        try:
            return self._execute('guest-file-open', {'path': path, 'mode': mode})
        except QGACommandError as exc:
            raise AnsibleError('cannot open %s in the guest: %s' % (path, exc.desc)) from None

    def _close_handle(self, handle, path, failing):
        """Close a guest file handle; when the copy already failed, that error is the one reported."""
        try:
            self._execute('guest-file-close', {'handle': handle})
        except QGACommandError as exc:
            if not failing:
                raise AnsibleError('cannot close %s in the guest: %s' % (path, exc.desc)) from None
        except AnsibleConnectionFailure:
            if not failing:
                raise

    def _user(self):
        return self.get_option('remote_user') or 'root'

    def _as_user(self, script, *args):
        """argv that runs a shell script with positional arguments as remote_user (as root: directly)."""
        argv = ['/bin/sh', '-c', script, 'sh'] + list(args)
        user = self._user()
        return argv if user == 'root' else ['runuser', '-u', user, '--'] + argv

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        display.vvv('QGA: PUT %s TO %s' % (in_path, out_path), host=self._play_context.remote_addr)
        if not os.path.exists(to_bytes(in_path, errors='surrogate_or_strict')):
            raise AnsibleFileNotFound('file or module does not exist: %s' % in_path)
        with open(to_bytes(in_path, errors='surrogate_or_strict'), 'rb') as source:
            if self._user() == 'root':
                size, sha256 = self._put_as_root(source, out_path)
            else:
                size, sha256 = self._put_as_user(source, out_path)
        if size >= VERIFY_THRESHOLD:
            self._verify(out_path, size, sha256, 'copied into the guest')

    def _put_as_root(self, source, out_path):
        """Copy with guest-file-write: the agent opens the file as root (and follows a symlink there)."""
        digest = hashlib.sha256()
        size = 0
        # qemu-ga gives a file it creates mode 0666 (fchmod DEFAULT_NEW_FILE_MODE, whatever the umask), and keeps
        # the mode of one that exists: create it first with umask 077, so that a module is never writable by others.
        try:
            rc, dummy, err = self._run(['/bin/sh', '-c', 'umask 077; : > "$1"', 'sh', out_path])
        except AgentRefused as exc:
            display.vvv('QGA: %s created by the agent with its mode 0666: %s' % (out_path, exc), host=self._play_context.remote_addr)
        else:
            if rc != 0:
                raise AnsibleError('cannot create %s in the guest: %s' % (out_path, to_native(err).strip() or 'status %d' % rc))
        handle = self._open(out_path, 'wb')
        failing = True
        try:
            while True:
                chunk = source.read(CHUNK_SIZE)
                if not chunk:
                    break
                digest.update(chunk)
                try:
                    written = self._execute('guest-file-write', {'handle': handle, 'buf-b64': b64encode(chunk)})
                except QGACommandError as exc:
                    raise AnsibleError('cannot write %s in the guest: %s' % (out_path, exc.desc)) from None
                if written.get('count') != len(chunk):
                    raise AnsibleError('short write to %s in the guest: %s of %d bytes' % (out_path, written.get('count'), len(chunk)))
                size += len(chunk)
            failing = False
        finally:
            self._close_handle(handle, out_path, failing)
        return size, digest.hexdigest()

    def _put_as_user(self, source, out_path):
        """Copy as remote_user, each chunk the input of a shell that writes it (> for the first, >> after).

        The agent runs as root, and qemu-ga's guest-file-open follows a symlink to an existing file: one the
        user planted at the path (to /etc/sudoers, say) would have root write there. As the user, the write
        is what the user could do anyway.
        """
        digest = hashlib.sha256()
        size = 0
        redirect = '>'
        while True:
            chunk = source.read(CHUNK_SIZE)
            if not chunk and redirect == '>>':
                break
            digest.update(chunk)
            # An empty file is created without cat: guest-exec without input-data gives no stdin pipe.
            script = 'umask 077; cat %s "$1"' % redirect if chunk else 'umask 077; : > "$1"'
            rc, dummy, err = self._run(self._as_user(script, out_path), chunk)
            if rc != 0:
                raise AnsibleError('cannot write %s in the guest as %s: %s' % (out_path, self._user(), to_native(err).strip() or 'status %d' % rc))
            size += len(chunk)
            redirect = '>>'
            if len(chunk) < CHUNK_SIZE:
                break
        return size, digest.hexdigest()

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        display.vvv('QGA: FETCH %s TO %s' % (in_path, out_path), host=self._play_context.remote_addr)
        with open(to_bytes(out_path, errors='surrogate_or_strict'), 'wb') as target:
            if self._user() == 'root':
                size, sha256 = self._fetch_as_root(in_path, target)
            else:
                size, sha256 = self._fetch_as_user(in_path, target)
        if size >= VERIFY_THRESHOLD:
            self._verify(in_path, size, sha256, 'fetched from the guest')

    def _fetch_as_root(self, in_path, target):
        digest = hashlib.sha256()
        size = 0
        handle = self._open(in_path, 'rb')
        failing = True
        try:
            while True:
                try:
                    read = self._execute('guest-file-read', {'handle': handle, 'count': CHUNK_SIZE})
                except QGACommandError as exc:
                    raise AnsibleError('cannot read %s in the guest: %s' % (in_path, exc.desc)) from None
                chunk = self._decode(read.get('buf-b64'))
                if len(chunk) != read.get('count', len(chunk)):
                    raise AnsibleError('the guest agent sent %d bytes of %s where it announced %s' % (len(chunk), in_path, read.get('count')))
                digest.update(chunk)
                target.write(chunk)
                size += len(chunk)
                if read.get('eof') or not chunk:
                    break
            failing = False
        finally:
            self._close_handle(handle, in_path, failing)
        return size, digest.hexdigest()

    def _fetch_as_user(self, in_path, target):
        """Read as remote_user, a chunk per command (dd skips to it; guest-exec collects up to 16 MiB of output)."""
        digest = hashlib.sha256()
        size = 0
        index = 0
        while True:
            rc, chunk, err = self._run(self._as_user('exec dd if="$1" bs=%d skip="$2" count=1 status=none' % CHUNK_SIZE,
                                                     in_path, str(index)))
            if rc != 0:
                raise AnsibleError('cannot read %s in the guest as %s: %s' % (in_path, self._user(), to_native(err).strip() or 'status %d' % rc))
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
            index += 1
            if len(chunk) < CHUNK_SIZE:
                break
        return size, digest.hexdigest()

    def _guest_size(self, path):
        handle = self._open(path, 'rb')
        try:
            return self._execute('guest-file-seek', {'handle': handle, 'offset': 0, 'whence': 'end'})['position']
        except QGACommandError as exc:
            raise AnsibleError('cannot find the size of %s in the guest: %s' % (path, exc.desc)) from None
        finally:
            self._close_handle(handle, path, True)

    def _verify(self, path, size, sha256, what):
        """Compare the guest's file with what was sent or received: size, then SHA-256 when the guest has sha256sum.

        As remote_user (as root: guest-file-seek for the size). sha256sum reads its standard input: given a name,
        it prefixes its line with a backslash when the name has one or a newline.
        """
        script = 'command -v sha256sum >/dev/null || exit 127; sha256sum < "$1"'
        if self._user() == 'root':
            guest_size = self._guest_size(path)
        else:
            rc, out, err = self._run(self._as_user('wc -c < "$1"', path))
            if rc != 0 or not out.strip().isdigit():
                raise AnsibleError('cannot verify file %s %s: wc failed in the guest: %s' % (path, what, to_native(err).strip()))
            guest_size = int(out)
        if guest_size != size:
            raise AnsibleError('file %s %s has %s bytes in the guest, not %d' % (path, what, guest_size, size))
        try:
            rc, out, err = self._run(self._as_user(script, path))
        except AgentRefused as exc:
            display.vvv('QGA: %s verified by size only: %s' % (path, exc), host=self._play_context.remote_addr)
            return
        if rc == 127:
            display.vvv('QGA: %s verified by size only: the guest has no sha256sum' % path, host=self._play_context.remote_addr)
            return
        fields = out.split()
        if rc != 0 or not fields:
            raise AnsibleError('cannot verify file %s %s: sha256sum failed in the guest: %s' % (path, what, to_native(err).strip()))
        if to_text(fields[0]).lower() != sha256:
            raise AnsibleError('file %s %s is corrupt: its SHA-256 in the guest is %s, not %s' % (path, what, to_text(fields[0]), sha256))
        display.vvv('QGA: %s verified (%d bytes, sha256 %s)' % (path, size, sha256), host=self._play_context.remote_addr)
