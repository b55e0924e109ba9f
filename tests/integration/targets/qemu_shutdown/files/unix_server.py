#!/usr/bin/env python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Serve a unix socket that is not QMP, from a detached process that ends by itself.

    unix_server.py SOCKET PIDFILE LIFETIME

Detaches (double fork), listens on SOCKET, writes its pid to PIDFILE and accepts
connections without ever saying anything, for LIFETIME seconds at most. The command
returns once the socket listens and the pidfile is written.
"""

from __future__ import annotations

import os
import socket
import sys
import time


def serve(path, pidfile, lifetime):
    deadline = time.monotonic() + lifetime
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    with open(pidfile + '.tmp', 'w', encoding='ascii') as f:
        f.write('%d\n' % os.getpid())
    os.rename(pidfile + '.tmp', pidfile)
    clients = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        server.settimeout(remaining)
        try:
            client, _address = server.accept()
        except socket.timeout:
            break
        clients.append(client)  # kept open, never answered
    server.close()
    os.unlink(path)


def main(argv):
    path, pidfile, lifetime = argv[1], argv[2], float(argv[3])
    if os.fork():
        # The caller returns once the server is listening.
        deadline = time.monotonic() + 10
        while not os.path.exists(pidfile):
            if time.monotonic() > deadline:
                sys.stderr.write('the server did not start within 10 s\n')
                return 1
            time.sleep(0.02)
        return 0
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        serve(path, pidfile, lifetime)
    finally:
        os._exit(0)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
