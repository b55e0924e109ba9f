#!/usr/bin/env python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Listen on 127.0.0.1 and count the connections made: count_connections.py PORTFILE COUNTFILE SECONDS.

Writes the port it listens on to PORTFILE, then the number of connections accepted so far to
COUNTFILE after each one (and 0 at the start); exits after SECONDS.
"""

from __future__ import annotations

import os
import socket
import sys
import time


def write(path, text):
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.rename(path + '.tmp', path)


def main():
    port_file, count_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    server.settimeout(0.2)
    count = 0
    write(count_file, '0')
    write(port_file, str(server.getsockname()[1]))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = server.accept()[0]
        except socket.timeout:
            continue
        count += 1
        write(count_file, str(count))
        conn.close()


if __name__ == '__main__':
    main()
