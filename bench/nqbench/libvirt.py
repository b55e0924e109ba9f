# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The peer's host side: libvirt from Debian (installed when missing), its daemons (started by the bench
when none runs, and stopped again through the collection's terminate()), /dev/kvm as udev would set it,
and community.libvirt from the `ansible` package."""

from __future__ import annotations

import glob
import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile

from . import processes
from .harness import BenchError, Skip, excerpt, log, read_file
from .settings import PEER_CACHE

PEER_APT_PACKAGES = ('libvirt-daemon-system', 'libvirt-daemon-system-sysv', 'libvirt-clients', 'python3-libvirt', 'python3-lxml')
PEER_COMMANDS = ('virsh', 'libvirtd', 'virtlogd')
ANSIBLE_PACKAGE = 'ansible==14.5.0'
LIBVIRT_URI = 'qemu:///system'
LIBVIRT_QEMU_USER = 'libvirt-qemu'
# community.libvirt needs the libvirt bindings, which Debian ships for its own Python.
SYSTEM_PYTHON = '/usr/bin/python3'
# How long a daemon the bench started gets to end on SIGTERM, and then on SIGKILL.
DAEMON_STOP_TIMEOUT = 15.0
DAEMON_KILL_GRACE = 2.0


def socket_answers(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect(path)
        return True
    except OSError:
        return False
    finally:
        sock.close()


class Libvirt:
    """libvirtd, virtlogd and virsh on this machine, for as long as the peer stage needs them."""

    def __init__(self, rundir, install):
        self.rundir = rundir
        self.allow_install = install
        self.daemons = []
        self.kvm_restore = None
        self.notes = []

    def virsh(self, *args, timeout=120, check=True):
        result = subprocess.run(['virsh', '-q', '-c', LIBVIRT_URI] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, check=False, timeout=timeout, cwd=self.rundir)
        out = result.stdout.decode('utf-8', 'replace').strip()
        if check and result.returncode != 0:
            raise BenchError('virsh %s failed: %s' % (' '.join(args), excerpt(result.stderr.decode('utf-8', 'replace') or out)))
        return result.returncode, out

    def install(self):
        missing = [command for command in PEER_COMMANDS if not shutil.which(command)]
        has_bindings = os.access(SYSTEM_PYTHON, os.X_OK) and subprocess.run(
            [SYSTEM_PYTHON, '-c', 'import libvirt, lxml'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0
        if not missing and has_bindings:
            return
        what = 'missing: %s' % ', '.join(missing + ([] if has_bindings else ['the libvirt and lxml bindings of %s' % SYSTEM_PYTHON]))
        if not self.allow_install:
            raise Skip('libvirt is not installed (%s) and --no-install was given; install it with: apt-get install %s'
                       % (what, ' '.join(PEER_APT_PACKAGES)))
        if not shutil.which('apt-get'):
            raise Skip('libvirt is not installed (%s) and this machine has no apt-get' % what)
        prefix = []
        if os.geteuid() != 0:
            if not shutil.which('sudo') or subprocess.run(['sudo', '-n', 'true'], check=False,
                                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
                raise Skip('libvirt is not installed (%s) and installing it needs root' % what)
            prefix = ['sudo', '-n']
        log('installing %s from Debian' % ' '.join(PEER_APT_PACKAGES))
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        for argv in (prefix + ['apt-get', 'update', '-qq'],
                     prefix + ['apt-get', 'install', '-y', '-qq', '--no-install-recommends'] + list(PEER_APT_PACKAGES)):
            result = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=1800)
            if result.returncode != 0:
                raise Skip('%s failed: %s' % (' '.join(argv), excerpt(result.stdout.decode('utf-8', 'replace'))))

    def fix_kvm_permissions(self):
        """Give /dev/kvm the owner and mode Debian's udev rules give it, for as long as the peer runs.

        libvirt 9.0 checks KVM as its QEMU user (libvirt-qemu, in group kvm). A root-only
        /dev/kvm (as in these containers) makes it throw away its QEMU capabilities cache
        and probe QEMU again on every domain start, which costs seconds per start and is
        not what libvirt does on a normal host.
        """
        if not os.path.exists('/dev/kvm'):
            return
        try:
            kvm_gid = grp.getgrnam('kvm').gr_gid
            qemu_user = pwd.getpwnam(LIBVIRT_QEMU_USER)
        except KeyError:
            return
        st = os.stat('/dev/kvm')
        groups = os.getgrouplist(qemu_user.pw_name, qemu_user.pw_gid)
        usable = (st.st_mode & 0o006) == 0o006 or (st.st_gid in groups and (st.st_mode & 0o060) == 0o060)
        if usable:
            return
        if os.geteuid() != 0:
            self.notes.append('/dev/kvm is not usable by %s and the bench is not root: libvirt re-probes QEMU on every start'
                              % LIBVIRT_QEMU_USER)
            return
        self.kvm_restore = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
        os.chown('/dev/kvm', 0, kvm_gid)
        os.chmod('/dev/kvm', 0o660)
        self.notes.append('/dev/kvm was root-only (mode %o); set to root:kvm 0660 (as udev does on Debian) for the peer stage '
                          'and restored afterwards' % self.kvm_restore[2])

    def start_daemons(self):
        code, _out = self.virsh('version', timeout=15, check=False) if os.path.exists('/run/libvirt/libvirt-sock') else (1, '')
        if code == 0:
            self.notes.append('used the libvirtd already running on this machine')
            return
        if os.geteuid() != 0:
            raise Skip('no libvirtd runs and starting the system daemon needs root')
        for daemon, socket_path in (('virtlogd', '/run/libvirt/virtlogd-sock'), ('libvirtd', '/run/libvirt/libvirt-sock')):
            if os.path.exists(socket_path) and socket_answers(socket_path):
                continue
            pidfile = os.path.join(self.rundir, '%s.pid' % daemon)
            flag = '-p' if daemon == 'virtlogd' else '--pid-file'
            result = subprocess.run([daemon, '-d', flag, pidfile], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    check=False, timeout=60, cwd='/')
            if result.returncode != 0:
                raise Skip('%s -d failed: %s' % (daemon, excerpt(result.stdout.decode('utf-8', 'replace'))))
            deadline = time.monotonic() + 30
            pid = None
            while time.monotonic() < deadline:
                pid = pid or processes.read_pidfile(pidfile)
                if pid and os.path.exists(socket_path) and socket_answers(socket_path):
                    break
                time.sleep(0.05)
            else:
                raise Skip('%s did not open %s within 30 s' % (daemon, socket_path))
            # Its identity (pid and start time) now, so the clean-up never signals a reused pid.
            self.daemons.append((daemon, processes.observe(pid)))
            log('started %s (pid %d)' % (daemon, pid))
        started = time.monotonic()
        self.virsh('version', timeout=300)  # the first connection probes QEMU's capabilities
        self.notes.append('started virtlogd and libvirtd (first connection, QEMU capability probe: %.1f s)' % (time.monotonic() - started))

    def fetch_collection(self):
        """community.libvirt from the `ansible` package, extracted next to (not into) the pinned ansible-core."""
        target = os.path.join(PEER_CACHE, 'collections', 'ansible_collections', 'community', 'libvirt')
        manifest = os.path.join(target, 'MANIFEST.json')
        if not os.path.exists(manifest):
            download = os.path.join(self.rundir, 'download')
            result = subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--disable-pip-version-check', '--no-deps',
                                     '--only-binary', ':all:', '-d', download, ANSIBLE_PACKAGE],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=1800)
            wheels = glob.glob(os.path.join(download, 'ansible-*.whl'))
            if result.returncode != 0 or not wheels:
                raise Skip('pip download %s failed: %s' % (ANSIBLE_PACKAGE, excerpt(result.stdout.decode('utf-8', 'replace'))))
            prefix = 'ansible_collections/community/libvirt/'
            staging = tempfile.mkdtemp(prefix='libvirt-', dir=self.rundir)
            with zipfile.ZipFile(wheels[0]) as wheel:
                for name in wheel.namelist():
                    if name.startswith(prefix) and not name.endswith('/'):
                        wheel.extract(name, staging)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(os.path.join(staging, prefix), target)
            shutil.rmtree(download, ignore_errors=True)
        version = json.loads(read_file(manifest))['collection_info']['version']
        self.notes.append('community.libvirt %s (from %s), run by the pinned ansible-core' % (version, ANSIBLE_PACKAGE))
        return version

    def stop_daemons(self):
        """Stop the daemons the bench started (and only those: same identity, same program), then restore /dev/kvm."""
        for daemon, process in reversed(self.daemons):
            argv = processes.cmdline(process.pid) if process is not None and process.is_alive() else []
            if argv and os.path.basename(argv[0]) == daemon:
                processes.terminate(process, DAEMON_STOP_TIMEOUT, DAEMON_KILL_GRACE)
        self.daemons = []
        if self.kvm_restore is not None:
            uid, gid, mode = self.kvm_restore
            os.chown('/dev/kvm', uid, gid)
            os.chmod('/dev/kvm', mode)
            self.kvm_restore = None
