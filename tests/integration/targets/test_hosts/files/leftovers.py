# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a run of tests/hosts/hosts.py left on this machine, read independently of hosts.py.

Reads {"run_dir": ..., "hosts": [setup_hosts_list entries]} on stdin and prints a JSON list
of leftovers: live processes naming the run directory (nspawn, SSH masters), containers'
init processes, mounts under the run directory, network namespaces, veths, cgroups named
after the hosts' namespaces, and the run directory itself. [] when all is gone.
"""

from __future__ import annotations

import json
import os
import sys


def read(path, mode='r'):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def live(pid):
    """True when the process exists and is not a zombie."""
    stat = read('/proc/%d/stat' % pid)
    return stat is not None and stat[stat.rfind(')') + 2:].split()[0] not in ('Z', 'X')


def main():
    data = json.load(sys.stdin)
    run_dir = data['run_dir'].rstrip('/')
    left = []
    own_pid_ns = os.readlink('/proc/self/ns/pid')
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        argv = (read('/proc/%s/cmdline' % entry, 'rb') or b'').decode('utf-8', 'replace')
        if run_dir in argv and live(int(entry)):
            left.append('process %s: %s' % (entry, argv.replace('\0', ' ').strip()))
    for host in data['hosts']:
        init = host.get('init_pid')
        if init and live(init):
            try:
                if os.readlink('/proc/%d/ns/pid' % init) != own_pid_ns:
                    left.append('container init %d of %s' % (init, host['name']))
            except OSError:
                pass
        if os.path.exists('/run/netns/' + host['netns']):
            left.append('network namespace ' + host['netns'])
        if os.path.exists('/sys/class/net/' + host['veth']):
            left.append('link ' + host['veth'])
        for directory, dirs, dummy in os.walk('/sys/fs/cgroup'):
            if host['netns'] in dirs:
                left.append('cgroup %s/%s' % (directory, host['netns']))
            if directory.count('/') >= 5:
                dirs[:] = []
    for line in (read('/proc/self/mountinfo') or '').splitlines():
        point = line.split()[4].encode().decode('unicode_escape')
        if point == run_dir or point.startswith(run_dir + '/'):
            left.append('mount ' + point)
    if os.path.exists(run_dir):
        left.append('directory ' + run_dir)
    print(json.dumps(left))
    return 0


if __name__ == '__main__':
    sys.exit(main())
