#!/usr/bin/env python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print what became of a process, read from /proc independently of the collection.

    process_state.py PID

Prints ``running``, ``stopped`` (SIGSTOP or traced), or ``ended`` (no such process, or
a zombie: a daemonized process that exited is reaped by PID 1 a little later).
"""

from __future__ import annotations

import sys


def state(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            data = f.read().decode('utf-8', 'replace')
    except OSError:
        return 'ended'
    letter = data[data.rfind(')') + 2:].split()[0]
    if letter in ('Z', 'X'):
        return 'ended'
    if letter in ('T', 't'):
        return 'stopped'
    return 'running'


if __name__ == '__main__':
    print(state(int(sys.argv[1])))
