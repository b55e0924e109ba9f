#!/usr/bin/env python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read processes from /proc, independently of the collection's own code.

    proc.py qemu TEXT    JSON list of the pids of live qemu-system-* processes whose command line contains TEXT
    proc.py stat PID     JSON {"state": "S", "start_time": 12345}, or nulls when there is no such process
    proc.py bound PORT   JSON {"tcp": [...], "udp": [...]}: the IPv4 addresses with a TCP listener or a UDP socket on PORT

A zombie (exited, not yet reaped) is not live. Paths in TEXT are compared as plain text.
"""

from __future__ import annotations

import json
import os
import sys


def stat(pid):
    try:
        with open('/proc/%s/stat' % pid, 'rb') as f:
            data = f.read().decode('utf-8', 'replace')
    except OSError:
        return None, None
    rest = data[data.rfind(')') + 2:].split()
    return rest[0], int(rest[19])


def qemu_pids(text):
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                argv = f.read().rstrip(b'\0').split(b'\0')
        except OSError:
            continue
        if not argv or not os.path.basename(argv[0]).startswith(b'qemu-system-'):
            continue
        if not any(text.encode() in arg for arg in argv):
            continue
        if stat(entry)[0] in (None, 'Z', 'X'):
            continue
        pids.append(int(entry))
    return sorted(pids)


def bound(port):
    """The IPv4 addresses a TCP listener (state 0A) or an unconnected UDP socket (state 07) has bound on port."""
    result = {}
    for kind, state in (('tcp', '0A'), ('udp', '07')):
        addresses = []
        with open('/proc/net/%s' % kind, 'r', encoding='ascii') as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                address, hex_port = fields[1].split(':')
                if int(hex_port, 16) != port or fields[3] != state:
                    continue
                addresses.append('.'.join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
        result[kind] = sorted(addresses)
    return result


def main(argv):
    if len(argv) == 3 and argv[1] == 'qemu':
        print(json.dumps(qemu_pids(argv[2])))
        return 0
    if len(argv) == 3 and argv[1] == 'stat':
        state, start_time = stat(argv[2])
        print(json.dumps({'state': state, 'start_time': start_time}))
        return 0
    if len(argv) == 3 and argv[1] == 'bound':
        print(json.dumps(bound(int(argv[2]))))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
