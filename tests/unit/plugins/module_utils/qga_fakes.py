# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A fake QEMU guest agent on a real unix socket, served from a thread; the "guest" is this machine.

It serves one client at a time, as QEMU does, and speaks what the qga connection uses:

* ``guest-sync-delimited``: the reply is preceded by 0xFF, and by a stale reply with
  another id first (as when an earlier client went away); a 0xFF byte from the client
  resets the request parser.
* ``guest-exec`` runs the argv here with subprocess (``runuser -u USER --`` is taken off
  and recorded in ``users``), its stdin from ``input-data``; ``guest-exec-status`` says
  ``exited: false`` while it runs, then gives exitcode (or signal) and base64 output.
* ``guest-file-open/read/write/seek/close`` on real files, with integer handles. Opening for writing does
  what qemu-ga's safe_open_or_create does: O_CREAT|O_EXCL, and a new file is then fchmod()ed to 0666;
  on EEXIST it opens again without O_CREAT, which follows a symlink at the path.

Options: ``disabled`` (commands refused the way qemu-ga refuses what --block-rpcs lists),
``corrupt`` ('write' or 'read': one byte of the first chunk is changed), ``silent``
(answers nothing: a channel without an agent behind it), ``stale`` (send a stale reply
before the sync reply), ``missing`` (programs guest-exec does not find), ``hangup``
((COMMAND, N): close the connection instead of answering the Nth COMMAND), ``fail`` ({COMMAND: DESC}: a
GenericError reply with DESC, after doing the command). Every request is logged in ``requests`` as (command, arguments)
with the large base64 fields replaced by their length.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._qga import queued
from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils.qmp_fakes import bind_unix


def _unix_diag_works():
    """Whether the kernel answers unix_diag (sock_diag) here: some kernels and sandboxes have none."""
    left, right = socket.socketpair()
    try:
        return queued(left) is not None
    finally:
        left.close()
        right.close()


# For tests of the messages that depend on it (is our connection accepted?).
needs_unix_diag = pytest.mark.skipif(not _unix_diag_works(), reason='the kernel does not answer unix_diag (sock_diag) here')


class AgentFailure(Exception):
    """A GenericError reply with this description."""


class FakeAgent:

    def __init__(self, path, disabled=(), corrupt=None, silent=False, stale=True, missing=(), hangup=None, fail=None):
        self.path = str(path)
        self.disabled = set(disabled)
        self.corrupt = corrupt
        self.silent = silent
        self.stale = stale
        self.missing = set(missing)
        self.hangup = hangup
        self.fail = dict(fail or {})
        self.requests = []
        self.users = []
        self.stdins = []
        self.connections = 0
        self._procs = {}
        self._files = {}
        self._next_handle = 1000
        self._error = None
        self._stopping = False
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bind_unix(self._listener, self.path)
        self._listener.listen(4)
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, name='fake-qga', daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.stop(check=exc_type is None)

    def stop(self, check=True):
        self._stopping = True
        self._thread.join(10)
        self._listener.close()
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if check:
            assert not self._thread.is_alive(), 'fake agent thread did not finish'
            if self._error is not None:
                raise AssertionError('fake agent failed: %s' % self._error)

    def commands(self):
        return [command for command, dummy in self.requests]

    def count(self, command):
        return self.commands().count(command)

    # Server thread

    def _serve(self):
        while not self._stopping:
            try:
                conn = self._listener.accept()[0]
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            try:
                self._run(conn)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self._error = repr(exc)
            finally:
                conn.close()

    def _run(self, conn):
        conn.settimeout(0.2)
        buf = b''
        while not self._stopping:
            try:
                chunk = conn.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            if b'\xff' in buf:
                buf = buf[buf.rindex(b'\xff') + 1:]  # the parser resets on 0xff
            while b'\n' in buf:
                line, dummy, buf = buf.partition(b'\n')
                if not line.strip():
                    continue
                request = json.loads(line)
                command, arguments = request['execute'], request.get('arguments', {})
                self.requests.append((command, {k: (len(v) if k in ('buf-b64', 'input-data') else v) for k, v in arguments.items()}))
                if self.silent:
                    continue
                if self.hangup and self.count(self.hangup[0]) == self.hangup[1]:
                    return  # as when QEMU exits: the connection closes without a reply
                reply = self._answer(command, arguments)
                if reply is not None:
                    conn.sendall(reply)

    def _answer(self, command, arguments):
        if command in self.disabled:
            return self._error_reply('CommandNotFound', 'Command %s has been disabled' % command)
        handler = getattr(self, '_' + command.replace('-', '_'), None)
        if handler is None:
            return self._error_reply('CommandNotFound', 'The command %s has not been found' % command)
        try:
            result = handler(arguments)
        except AgentFailure as exc:
            return self._error_reply('GenericError', str(exc))
        if command in self.fail:
            return self._error_reply('GenericError', self.fail[command])
        if isinstance(result, bytes):
            return result
        return json.dumps({'return': result}).encode() + b'\n'

    @staticmethod
    def _error_reply(error_class, desc):
        return json.dumps({'error': {'class': error_class, 'desc': desc}}).encode() + b'\n'

    def _guest_sync_delimited(self, arguments):
        reply = b'\xff' + json.dumps({'return': arguments['id']}).encode() + b'\n'
        if self.stale:
            reply = b'{"return": {"pid": 1}}\n\xff{"return": 12345}\n' + reply
        return reply

    def _guest_exec(self, arguments):
        argv = [arguments['path']] + list(arguments.get('arg', []))
        if argv[0] in self.missing:
            raise AgentFailure("Guest agent command failed, error was 'Failed to execute child process \u201c%s\u201d "
                               "(No such file or directory)'" % argv[0])
        if argv[0] == 'runuser':
            assert argv[1] == '-u' and argv[3] == '--', argv
            self.users.append(argv[2])
            argv = argv[4:]
        else:
            self.users.append('root')
        if argv[0] not in ('/bin/sh', 'chown'):
            raise AgentFailure("Guest agent command failed, error was 'Failed to execute child process \u201c%s\u201d "
                               "(No such file or directory)'" % argv[0])
        if argv[0] == 'chown':
            argv = ['true']  # no such users here
        stdin = base64.b64decode(arguments.get('input-data', ''))
        self.stdins.append(stdin)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # As qemu-ga does, feed the input and collect the output while the process runs (a pipe holds 64 KiB).
        proc.collected = {}
        proc.pumps = [threading.Thread(target=self._feed, args=(proc.stdin, stdin), daemon=True)]
        proc.pumps += [threading.Thread(target=self._collect, args=(proc, name), daemon=True) for name in ('stdout', 'stderr')]
        for pump in proc.pumps:
            pump.start()
        self._procs[proc.pid] = proc
        return {'pid': proc.pid}

    @staticmethod
    def _feed(stream, data):
        try:
            stream.write(data)
        except BrokenPipeError:
            pass
        finally:
            try:
                stream.close()
            except BrokenPipeError:
                pass

    @staticmethod
    def _collect(proc, name):
        stream = getattr(proc, name)
        proc.collected[name] = stream.read()
        stream.close()

    def _guest_exec_status(self, arguments):
        proc = self._procs.get(arguments['pid'])
        if proc is None:
            raise AgentFailure("Invalid parameter 'pid'")
        if proc.poll() is None or any(pump.is_alive() for pump in proc.pumps[1:]):
            return {'exited': False}
        del self._procs[arguments['pid']]
        status = {'exited': True}
        if proc.returncode < 0:
            status['signal'] = -proc.returncode
        else:
            status['exitcode'] = proc.returncode
        status['out-data'] = base64.b64encode(proc.collected['stdout']).decode()
        status['err-data'] = base64.b64encode(proc.collected['stderr']).decode()
        return status

    def _guest_file_open(self, arguments):
        handle = self._next_handle
        self._next_handle += 1
        mode = arguments.get('mode', 'r')
        path = arguments['path']
        try:
            if mode[0] in 'wa':
                flags = os.O_WRONLY | (os.O_TRUNC if mode[0] == 'w' else os.O_APPEND)
                try:
                    fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0)
                    os.fchmod(fd, 0o666)  # DEFAULT_NEW_FILE_MODE
                except FileExistsError:
                    fd = os.open(path, flags)
                self._files[handle] = os.fdopen(fd, mode)
            else:
                self._files[handle] = open(path, mode)  # pylint: disable=consider-using-with
        except OSError as exc:
            raise AgentFailure("failed to open file '%s' (mode: '%s'): %s" % (path, mode, exc.strerror)) from None
        return handle

    def _guest_file_write(self, arguments):
        data = base64.b64decode(arguments['buf-b64'])
        if self.corrupt == 'write':
            data = bytes([data[0] ^ 1]) + data[1:]
            self.corrupt = None
        self._files[arguments['handle']].write(data)
        return {'count': len(data), 'eof': False}

    def _guest_file_read(self, arguments):
        data = self._files[arguments['handle']].read(arguments.get('count', 4096))
        if self.corrupt == 'read' and data:
            data = bytes([data[0] ^ 1]) + data[1:]
            self.corrupt = None
        return {'count': len(data), 'buf-b64': base64.b64encode(data).decode(), 'eof': len(data) < arguments.get('count', 4096)}

    def _guest_file_seek(self, arguments):
        handle = self._files[arguments['handle']]
        handle.seek(arguments['offset'], {'set': os.SEEK_SET, 'cur': os.SEEK_CUR, 'end': os.SEEK_END}[arguments['whence']])
        return {'position': handle.tell(), 'eof': False}

    def _guest_file_close(self, arguments):
        self._files.pop(arguments['handle']).close()
        return {}

    def _guest_info(self, arguments):
        return {'version': '7.2.22', 'supported_commands': []}
