#!/usr/bin/env python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Send QMP commands to a QEMU monitor socket, independently of the collection's client.

    qmp_command.py SOCKET COMMAND [COMMAND...]

Connects (through the socket's directory, so any path length works), reads the greeting,
negotiates capabilities, runs each command without arguments, and prints one JSON object
mapping each command to its reply (``return`` or ``error``); events are skipped. The
connection is closed before exiting: QEMU serves one QMP client at a time.
Exits 1 when a command got an error reply, 2 when the monitor could not be used.
"""

from __future__ import annotations

import json
import os
import socket
import sys

TIMEOUT = 5.0


def read_message(sock, buf):
    """Read one JSON message (QMP messages end with a newline); returns (message, rest of buffer)."""
    while b'\n' not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError('QEMU closed the QMP connection')
        buf += chunk
    line, buf = buf.split(b'\n', 1)
    return json.loads(line.decode('utf-8')), buf


def reply_to(sock, buf, command):
    sock.sendall(json.dumps({'execute': command}).encode('utf-8') + b'\n')
    while True:
        message, buf = read_message(sock, buf)
        if 'return' in message or 'error' in message:
            return message, buf


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    path, commands = argv[1], argv[2:]
    directory, name = os.path.split(os.path.abspath(path))
    os.chdir(directory)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    replies = {}
    try:
        sock.connect(name)
        greeting, buf = read_message(sock, b'')
        if 'QMP' not in greeting:
            raise ValueError('not a QMP greeting: %r' % (greeting,))
        negotiated, buf = reply_to(sock, buf, 'qmp_capabilities')
        if 'return' not in negotiated:
            raise ValueError('qmp_capabilities failed: %r' % (negotiated,))
        for command in commands:
            replies[command], buf = reply_to(sock, buf, command)
    except (OSError, ValueError, EOFError) as exc:
        sys.stderr.write('QMP monitor %s could not be used: %s\n' % (path, exc))
        return 2
    finally:
        sock.close()
    print(json.dumps(replies, sort_keys=True))
    return 1 if any('error' in reply for reply in replies.values()) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
