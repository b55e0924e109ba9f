# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A stand-in for a task's QEMU process: a real process whose program is named qemu-* and whose argv names a pidfile."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from ansible_collections.nomadic.qemu.plugins.module_utils._process import find_by_pidfile


class FakeQemus:
    """Starts such processes (a copy of /bin/sh named qemu-system-fake, sleeping) and kills them all at close()."""

    def __init__(self, directory):
        self.program = os.path.join(str(directory), 'qemu-system-fake')
        shutil.copy('/bin/sh', self.program)
        self.processes = []

    def start(self, pidfile, write_pidfile=True):
        """A process whose argv names ``pidfile``, found in /proc before this returns; its pid goes into the pidfile."""
        process = subprocess.Popen([self.program, '-c', 'sleep 60; :', 'qemu', '-pidfile', pidfile])
        self.processes.append(process)
        for _attempt in range(250):
            if find_by_pidfile(pidfile):
                break
            time.sleep(0.02)
        if write_pidfile:
            with open(pidfile, 'w') as f:
                f.write('%d\n' % process.pid)
        return process

    def close(self):
        for process in self.processes:
            process.kill()
            process.wait()
