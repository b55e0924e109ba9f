# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test hosts: Debian 12 systems with their own file system, processes and network, reached over SSH.

    python3 tests/hosts/hosts.py build [--cache-dir DIR] [--json]
    python3 tests/hosts/hosts.py up --run-dir DIR [--count N] [--identity KEY] [--bind-ro SRC[:DST]]...
                                    [--subnet CIDR] [--cache-dir DIR] [--root ROOT] [--timeout S] [--json]
    python3 tests/hosts/hosts.py down --run-dir DIR [--timeout S]

A host is a systemd-nspawn container booted with its own systemd as PID 1
(its own processes, pid namespace and cgroups), on an overlayfs of a cached
root file system (its own files), in its own network namespace joined to this
machine by a veth pair (its own address), with its own hostname,
/etc/machine-id and SSH host key. Ansible manages it over real SSH as root: it
has /usr/bin/python3, sudo, qemu-system-x86_64 (TCG; there is no /dev/kvm
inside) and qemu-img, so it serves as a managed node and a qemu_task host.
Traffic stays on this machine: the hosts have no default route and this
machine does not forward for them, so they reach only this machine.
tests/integration/targets/setup_hosts wraps up and down for integration targets.

build: debootstrap installs Debian bookworm (minbase) with PACKAGES (Depends
only, as --no-install-recommends does) from the mirror of this machine's apt
sources, then the root is configured (sshd: keys only; journal: in memory and
on the console; timers masked) and pruned (documentation, locales, apt's
lists and archives) and loses its per-instance state (SSH host keys, machine
ID, hostname). Its cache entry, DIR/root-<key>, is named after a hash of this
file, the release, the package list and the shared prune list, so editing this
file rebuilds it. DIR is --cache-dir, else $NOMADIC_QEMU_HOST_CACHE, else
~/.cache/nomadic-qemu/hosts; the .debs stay in DIR/debs, so a rebuild
downloads nothing new. The mirror choice, the cache lock, the removal of stale
entries, the pruning and the .deb cache's cleanup come from
tests/guests/build.py and tests/guests/debian.py.

up: for each host hI (I = 1..N), each resource recorded in DIR/state.json
before it is made: a network namespace nqh-<run>-hI, where <run> is a hash of
DIR's real path, so that concurrent runs in different directories do not
clash; a veth pair, nq<run>hI on this machine and eth0 in the namespace, on
the first /24 of --subnet (default 10.213.0.0/16, its first /24 skipped) that
no address or route of this machine uses: 10.213.S.1/30 here, 10.213.S.2/30
for the host (chosen under a lock shared by concurrent runs); an overlayfs
DIR/hI/merged (lower: the cached root, never written; upper and work in
DIR/hI); the per-host files written through it (hostname, machine ID, an
ed25519 host key made here, root's authorized_keys, sshd on the host's
address only); a cgroup of its own in each hierarchy systemd uses (without a
systemd on this machine nspawn stays in the cgroup it starts in, and hosts
started from one cgroup would share their payload group); then, detached
(setsid), `systemd-nspawn --keep-unit --register=no -b --console=read-only -D
DIR/hI/merged -M hI --network-namespace-path=/run/netns/<ns>` plus the
--bind-ro mounts, its console (with the journal) in DIR/hI/console.log. The
console is read-only rather than a pipe: with a pipe the container has no
/dev/console and the log stays empty. All hosts boot in parallel; up returns
when `ssh -o BatchMode=yes root@ADDR true` works on every one, within
--timeout (default 120 s). When it fails, or is stopped by SIGTERM, it prints
the console's tail, removes what it made and keeps DIR for the logs.

The SSH key: --identity KEY logs in with KEY and authorizes KEY.pub; without
it, up makes the pair DIR/id_ed25519. up writes DIR/known_hosts (the hosts'
own keys, checked strictly), DIR/ssh_config (a Host entry per host matching
its name and its address: HostName, User root, IdentityFile, the run's
known_hosts, BatchMode) and DIR/hosts.json, which --json prints: {run_dir,
root, ssh_config, identity, known_hosts, binds, hosts: [{name, address,
host_address, port, user, ssh_config, identity, known_hosts, nspawn_pid,
init_pid, netns, veth, network, merged, console_log}]}.

down: powers every host off (systemctl poweroff through nsenter), kills the
nspawn processes still there after --timeout seconds (default 20), closes
SSH master connections whose control sockets are in DIR/cp, unmounts the
overlays, removes the cgroups, deletes the veths and namespaces, then DIR.
It works from DIR/state.json, so it also cleans up after a half-finished or
killed up; it does nothing when DIR does not exist.

Measured here (2 cores): a cold build 80 s (debootstrap; 78 MB of .debs), a
rebuild with the .debs cached 64 s (95 s on a busy machine; dpkg, not the
download, is most of it), a warm build 0.2 s (the interpreter's start; the
lookup is a stat); the root is 260 MB. up of 3 hosts 1.7 s (2.7 s busy; each
host's systemd is up in about 0.5 s, sshd lets root in after 1.2-1.4 s), down
of 3 0.7 s. The integration target test_hosts takes about 25 s with a warm
cache (8 s of it ansible-test's own, 2.5 s a guest booted by qemu_task).

Needs root, overlayfs, debootstrap, systemd-container, iproute2, util-linux and
openssh-client. Standard library only; runs with Python 3.9 or later.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import ipaddress
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
GUESTS_DIR = os.path.join(os.path.dirname(HERE), 'guests')
CACHE_ENV = 'NOMADIC_QEMU_HOST_CACHE'
DEFAULT_CACHE = os.path.join('~', '.cache', 'nomadic-qemu', 'hosts')


def _load(name, filename):
    """A file of tests/guests as a module: they are scripts, not a package."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(GUESTS_DIR, filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The guest builder's helpers: run, log-free errors (BuildError), the cache
# lock and stale-entry removal (build.py); the apt mirror, pruning and package
# listing (debian.py). build.py is handed to debian.py as its `tools`.
BUILD = _load('nomadic_qemu_test_guests_build', 'build.py')
DEBIAN = _load('nomadic_qemu_test_guests_debian', 'debian.py')

RELEASE = DEBIAN.RELEASE

# Packages on top of debootstrap's minbase. debootstrap follows Depends only,
# which is what --no-install-recommends installs.
PACKAGES = (
    'systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'python3', 'qemu-system-x86', 'qemu-utils',
    'iproute2', 'procps', 'sudo',
)

# Units a short-lived test host never needs: timers, and jobs for real disks.
MASKED_UNITS = (
    'apt-daily.timer', 'apt-daily-upgrade.timer', 'apt-daily.service', 'apt-daily-upgrade.service',
    'dpkg-db-backup.timer', 'dpkg-db-backup.service', 'e2scrub_all.timer', 'e2scrub_all.service',
    'e2scrub_reap.service', 'fstrim.timer', 'fstrim.service', 'systemd-tmpfiles-clean.timer',
    'systemd-pstore.service', 'getty@tty1.service', 'console-getty.service',
)

# Removed on top of debian.py's PRUNED (documentation, locales, apt's caches).
PRUNED = ('var/lib/dpkg/*-old', 'var/cache/debconf/*-old', 'etc/ssh/ssh_host_*', 'var/lib/dbus/machine-id',
          'etc/hostname', 'etc/resolv.conf')

SSHD_CONFIG = '''\
# nomadic.qemu test host: root logs in with a key only; the host key is made per host.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
'''

# The journal goes to the console too, so a host's console log tells why it failed; nothing on disk.
JOURNALD_CONFIG = '''\
[Journal]
Storage=volatile
ForwardToConsole=yes
MaxLevelConsole=info
'''

# The journal on the console says all that the boot status lines say, with times.
SYSTEM_CONFIG = '''\
[Manager]
ShowStatus=no
'''

# Cache entries kept (the newest used ones).
KEEP_ENTRIES = 2
ROOT_PREFIX = 'root'

DEFAULT_SUBNET = '10.213.0.0/16'
DEFAULT_COUNT = 3
BOOT_TIMEOUT = 120
STOP_TIMEOUT = 20

# Tools, and the Debian packages that have them.
BUILD_TOOLS = (('debootstrap', 'debootstrap'), ('dpkg-query', 'dpkg'))
UP_TOOLS = (
    ('systemd-nspawn', 'systemd-container'), ('ip', 'iproute2'), ('nsenter', 'util-linux'),
    ('mount', 'mount'), ('umount', 'mount'), ('ssh', 'openssh-client'), ('ssh-keygen', 'openssh-client'),
)

STATE = 'state.json'
HOSTS_JSON = 'hosts.json'
LOCK_DIR = '/run/lock'


class HostsError(BUILD.BuildError):
    """Something failed; the message says why and what to do about it."""


def log(message):
    """Progress goes to stderr, so stdout stays clean for --json."""
    print('hosts.py: %s' % message, file=sys.stderr)
    sys.stderr.flush()


def run(argv, what, hint='see the message above', timeout=None):
    """Run a command, raising HostsError with its output and a hint when it fails."""
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                check=False, timeout=timeout)
    except OSError as exc:
        raise HostsError('%s: cannot run %s: %s; %s' % (what, argv[0], exc, hint)) from exc
    except subprocess.TimeoutExpired as exc:
        raise HostsError('%s: %s did not finish in %d s; %s' % (what, ' '.join(argv), timeout, hint)) from exc
    if result.returncode != 0:
        output = (result.stderr or result.stdout).decode('utf-8', 'replace').strip()
        raise HostsError('%s failed (%s exited with %d): %s; %s' % (what, ' '.join(argv), result.returncode, output, hint))
    return result.stdout.decode('utf-8', 'replace')


def check_tools(tools, which=shutil.which, euid=None):
    """Fail early, naming what to install, when a tool is missing or we are not root."""
    missing = sorted(set(package for tool, package in tools if which(tool) is None))
    if missing:
        raise HostsError('the test hosts need tools from %s; install with: apt-get install %s' % (
            ', '.join(missing), ' '.join(missing)))
    if (os.geteuid() if euid is None else euid) != 0:
        raise HostsError('the test hosts need root (debootstrap, mount, ip netns and systemd-nspawn)')


# ---------------------------------------------------------------------------
# build: the cached root file system


def cache_dir_default():
    """The cache directory when --cache-dir is not given."""
    return os.environ.get(CACHE_ENV) or os.path.expanduser(DEFAULT_CACHE)


def source_key(path=os.path.abspath(__file__)):
    """Hash of what the root is built from: this file, the release and the shared prune list."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        digest.update(f.read())
    digest.update(('\0%s\0%r\0%r' % (RELEASE, PACKAGES, DEBIAN.PRUNED)).encode())
    return digest.hexdigest()[:16]


def entry_dir(cache_dir, key=None):
    """The cache entry of the current sources: <cache>/root-<key>, holding rootfs/ and host.json."""
    return os.path.join(cache_dir, '%s-%s' % (ROOT_PREFIX, key or source_key()))


def write_file(root, path, text, mode=0o644):
    """Write a file inside a root directory (parents made as needed)."""
    target = os.path.join(root, path.lstrip('/'))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target):
        os.unlink(target)
    with open(target, 'w', encoding='utf-8') as f:
        f.write(text)
    os.chmod(target, mode)


def configure_root(root):
    """Make the debootstrapped system a test host: sshd and journald settings, masked units, no instance state."""
    write_file(root, '/etc/ssh/sshd_config.d/nomadic-host.conf', SSHD_CONFIG)
    write_file(root, '/etc/systemd/journald.conf.d/nomadic-host.conf', JOURNALD_CONFIG)
    write_file(root, '/etc/systemd/system.conf.d/nomadic-host.conf', SYSTEM_CONFIG)
    for unit in MASKED_UNITS:
        DEBIAN.symlink(root, '/dev/null', '/etc/systemd/system/' + unit)
        DEBIAN.remove(root, 'etc/systemd/system/*.wants/' + unit)
    for pattern in PRUNED:
        DEBIAN.remove(root, pattern)
    # Empty: each host gets its own (see make_host_files).
    write_file(root, '/etc/machine-id', '', 0o444)


def build_root(out, work, cache_dir):
    """debootstrap, configure and prune the root file system into out/rootfs; describe it in out/host.json."""
    mirror = DEBIAN.apt_mirror()
    if not mirror:
        raise HostsError('no Debian %s mirror with the main component in this machine\'s apt sources (%s)' % (
            RELEASE, ', '.join(DEBIAN.APT_SOURCES)))
    debs_dir = os.path.join(cache_dir, 'debs')
    os.makedirs(debs_dir, exist_ok=True)
    root = os.path.join(work, 'rootfs')
    log('installing Debian %s from %s (debootstrap, about 1-2 minutes)' % (RELEASE, mirror))
    BUILD.run(['debootstrap', '--variant=minbase', '--include=' + ','.join(PACKAGES), '--cache-dir=' + debs_dir,
               RELEASE, root, mirror],
              'installing Debian with debootstrap',
              'check that this machine reaches its Debian mirror (%s, from its apt sources)' % mirror)
    configure_root(root)
    versions = DEBIAN.package_versions(BUILD, root)
    DEBIAN.prune(root)
    size = DEBIAN.tree_size(root)
    os.rename(root, os.path.join(out, 'rootfs'))
    with open(os.path.join(out, 'host.json'), 'w', encoding='utf-8') as f:
        json.dump({'release': RELEASE, 'packages': versions, 'size': size}, f, indent=2, sort_keys=True)
        f.write('\n')
    DEBIAN.prune_debs(debs_dir, versions)


def is_complete(directory):
    """True when a cache entry holds a root file system and its description."""
    return os.path.isdir(os.path.join(directory, 'rootfs')) and os.path.isfile(os.path.join(directory, 'host.json'))


def ensure_root(cache_dir):
    """Return (entry directory, built): the cached root of the current sources, built when missing."""
    directory = entry_dir(cache_dir)
    if is_complete(directory):
        with contextlib.suppress(OSError):
            os.utime(directory)  # marks the entry as recently used (see remove_stale)
        return directory, False
    check_tools(BUILD_TOOLS)
    with BUILD.cache_lock(cache_dir):
        if is_complete(directory):
            return directory, False
        BUILD.remove_stale(cache_dir, ROOT_PREFIX, KEEP_ENTRIES)
        work = tempfile.mkdtemp(prefix='.build-%s-' % ROOT_PREFIX, dir=cache_dir)
        try:
            staged = os.path.join(work, 'out')
            os.mkdir(staged)
            start = time.monotonic()
            log('building the test host root in %s' % cache_dir)
            build_root(staged, work, cache_dir)
            os.chmod(staged, 0o755)
            if os.path.isdir(directory):
                shutil.rmtree(directory)
            # A directory rename is atomic: the entry appears complete or not at all.
            os.rename(staged, directory)
            log('built the test host root in %.1f s' % (time.monotonic() - start))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        BUILD.remove_stale(cache_dir, ROOT_PREFIX, KEEP_ENTRIES)
    return directory, True


def describe_root(directory, built):
    """What build --json prints."""
    with open(os.path.join(directory, 'host.json'), encoding='utf-8') as f:
        info = json.load(f)
    return {'root': os.path.join(directory, 'rootfs'), 'entry': directory, 'key': os.path.basename(directory)[len(ROOT_PREFIX) + 1:],
            'built': built, 'release': info['release'], 'size': info['size']}


# ---------------------------------------------------------------------------
# names and addresses


def run_id(run_dir):
    """Short hash of the run directory's real path: names of one run's namespaces and links."""
    return hashlib.sha256(os.path.realpath(run_dir).encode()).hexdigest()[:8]


def host_names(count):
    """h1..hN."""
    return ['h%d' % index for index in range(1, count + 1)]


def netns_name(rid, name):
    """The network namespace of a host."""
    return 'nqh-%s-%s' % (rid, name)


def veth_name(rid, name):
    """This machine's end of a host's veth pair (at most 15 characters)."""
    result = 'nq%s%s' % (rid, name)
    if len(result) > 15:
        raise HostsError('interface name %s is longer than 15 characters; use fewer hosts' % result)
    return result


def subnet_slots(subnet):
    """The /24 networks of subnet that hosts may use; the first is skipped when there are several (10.213.1.0 first)."""
    network = ipaddress.ip_network(subnet, strict=True)
    if network.version != 4 or not 8 <= network.prefixlen <= 24:
        raise HostsError('--subnet %s: give an IPv4 network with a prefix length from 8 to 24' % subnet)
    slots = list(network.subnets(new_prefix=24)) if network.prefixlen < 24 else [network]
    return slots[1:] if len(slots) > 1 else slots


def slot_addresses(slot):
    """(this machine's address, the host's address), both /30, in a /24 slot."""
    base = slot.network_address
    return str(base + 1), str(base + 2)


def used_networks(addresses_json, routes_json):
    """IPv4 networks in use on this machine, from `ip -j -4 addr` and `ip -j -4 route` output."""
    used = []
    for link in json.loads(addresses_json or '[]'):
        for info in link.get('addr_info', []):
            if info.get('family') == 'inet' and info.get('local'):
                used.append(ipaddress.ip_network('%s/%s' % (info['local'], info.get('prefixlen', 32)), strict=False))
    for route in json.loads(routes_json or '[]'):
        destination = route.get('dst', 'default')
        if destination != 'default':
            used.append(ipaddress.ip_network(destination if '/' in destination else destination + '/32', strict=False))
    return used


def free_slots(slots, used, count):
    """The first count slots that overlap no network in use."""
    chosen = [slot for slot in slots if not any(slot.overlaps(network) for network in used)][:count]
    if len(chosen) < count:
        raise HostsError('only %d of the %d /24 networks needed are free in the subnet (addresses or routes of this machine '
                         'use the others); choose another with --subnet' % (len(chosen), count))
    return chosen


@contextlib.contextmanager
def allocation_lock():
    """Serializes choosing subnets and assigning them, between concurrent runs of up."""
    directory = LOCK_DIR if os.path.isdir(LOCK_DIR) else tempfile.gettempdir()
    with open(os.path.join(directory, 'nomadic-qemu-hosts.lock'), 'a', encoding='utf-8') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------
# state: every resource is recorded before it is made


class State:
    """DIR/state.json: the run's resources in the order they were made."""

    def __init__(self, run_dir, data=None):
        self.path = os.path.join(run_dir, STATE)
        self.data = data or {'run_dir': run_dir, 'run_id': run_id(run_dir), 'resources': []}

    @classmethod
    def load(cls, run_dir):
        """The state of a run directory, or None when it has none."""
        try:
            with open(os.path.join(run_dir, STATE), encoding='utf-8') as f:
                return cls(run_dir, json.load(f))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise HostsError('%s is not valid JSON (%s); remove what it lists by hand' % (os.path.join(run_dir, STATE), exc)) from exc

    def save(self):
        """Write atomically: a crash leaves the old or the new state, never half of one."""
        temporary = self.path + '.tmp'
        with open(temporary, 'w', encoding='utf-8') as f:
            json.dump(self.data, f, indent=2, sort_keys=True)
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)

    def record(self, kind, **fields):
        """Record a resource about to be made; return its entry (update it and save() as it changes)."""
        entry = dict(fields, kind=kind)
        self.data['resources'].append(entry)
        self.save()
        return entry

    def resources(self, kind):
        """The recorded resources of one kind."""
        return [entry for entry in self.data['resources'] if entry['kind'] == kind]


# ---------------------------------------------------------------------------
# processes


def proc_stat(pid):
    """(state, start time) of a process from /proc/PID/stat, or (None, None) when there is none."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            data = f.read().decode('utf-8', 'replace')
    except OSError:
        return None, None
    rest = data[data.rfind(')') + 2:].split()
    return rest[0], int(rest[19])


def alive(pid, start_time=None):
    """True when the process exists, is not a zombie, and (if given) started at start_time."""
    state, started = proc_stat(pid)
    return state not in (None, 'Z', 'X') and (start_time is None or started == start_time)


def cmdline(pid):
    """argv of a process, [] when unreadable (gone, or a zombie)."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [arg.decode('utf-8', 'replace') for arg in f.read().split(b'\0')[:-1]]
    except OSError:
        return []


def all_pids():
    """Pids of every process."""
    return [int(name) for name in os.listdir('/proc') if name.isdigit()]


def nspawn_pids(merged):
    """Live systemd-nspawn processes booting the directory merged."""
    pids = []
    for pid in all_pids():
        argv = cmdline(pid)
        # Also the sh of nspawn_argv() in the moment before it runs nspawn.
        if 'systemd-nspawn' in [os.path.basename(arg) for arg in argv] and (
                any(argv[i] == '-D' and argv[i + 1] == merged for i in range(len(argv) - 1))
                or '--directory=' + merged in argv) and alive(pid):
            pids.append(pid)
    return pids


def container_init(nspawn_pid):
    """The container's PID 1 as seen from here: the child of nspawn in another pid namespace."""
    try:
        with open('/proc/%d/task/%d/children' % (nspawn_pid, nspawn_pid), encoding='ascii') as f:
            children = [int(pid) for pid in f.read().split()]
    except OSError:
        return None
    for pid in children:
        try:
            with open('/proc/%d/status' % pid, encoding='utf-8') as f:
                for line in f:
                    if line.startswith('NSpid:') and line.split()[-1] == '1' and len(line.split()) > 2:
                        return pid
        except OSError:
            continue
    return None


def wait_exit(pids, timeout):
    """Wait until all pids have exited (or are zombies); return the ones still alive."""
    deadline = time.monotonic() + timeout
    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except (AttributeError, OSError):
            pass
    try:
        remaining = [pid for pid in pids if alive(pid)]
        while remaining and time.monotonic() < deadline:
            live_fds = [fd for fd, pid in fds.items() if pid in remaining]
            if live_fds:
                select.select(live_fds, [], [], min(0.2, max(0.0, deadline - time.monotonic())))
            else:
                time.sleep(0.05)
            remaining = [pid for pid in remaining if alive(pid)]
        return remaining
    finally:
        for fd in fds:
            os.close(fd)


def kill(pid, sig):
    """Send a signal, ignoring a process that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


# ---------------------------------------------------------------------------
# mounts


def unescape_mount(path):
    r"""A path from /proc/self/mountinfo (spaces and the like are \ooo escapes)."""
    return path.encode().decode('unicode_escape').encode('latin-1').decode('utf-8', 'replace')


def mount_points(mountinfo='/proc/self/mountinfo'):
    """Mount points of this mount namespace."""
    with open(mountinfo, encoding='utf-8') as f:
        return [unescape_mount(line.split()[4]) for line in f if len(line.split()) > 4]


def mounts_under(directory, points=None):
    """Mount points at or below directory."""
    directory = directory.rstrip('/')
    return [point for point in (mount_points() if points is None else points)
            if point == directory or point.startswith(directory + '/')]


# ---------------------------------------------------------------------------
# cgroups: nspawn without a systemd on this machine stays in the cgroup it starts in, and
# makes its supervisor and payload groups there; two hosts started in the same one would
# share their payload group and their systemds would trip over each other's units.


def cgroup_hierarchies(mountinfo='/proc/self/mountinfo', own='/proc/self/cgroup'):
    """The cgroup directories this process is in, in the hierarchies a container's systemd uses.

    Those are the unified (cgroup2) one, the named v1 one "name=systemd" (hybrid or legacy setups)
    and the v1 memory controller, which delegate_memory() hands to the container's systemd so that
    its units' MemoryMax is enforced.
    """
    paths = {}
    with open(own, encoding='utf-8') as f:
        for line in f:
            dummy, controllers, path = line.rstrip('\n').split(':', 2)
            paths[controllers] = path
    directories = []
    with open(mountinfo, encoding='utf-8') as f:
        for line in f:
            fields = line.split()
            if ' - ' not in line:
                continue
            fstype, dummy, options = line.split(' - ', 1)[1].split()[:3]
            if fstype == 'cgroup2':
                key = ''
            elif fstype == 'cgroup' and 'name=systemd' in options.split(','):
                key = 'name=systemd'
            elif fstype == 'cgroup' and 'memory' in options.split(','):
                key = 'memory'
            else:
                continue
            if key in paths:
                directories.append(os.path.join(unescape_mount(fields[4]), paths[key].lstrip('/')).rstrip('/'))
    return directories


def delegate_memory(init_pid):
    """Give a booted container's systemd the v1 memory controller (a hybrid host), so that it enforces MemoryMax.

    systemd-nspawn mounts the v1 controllers read-only into the container: its systemd then cannot
    make memory cgroups for its units. The container's cgroup of that controller is its own (made by
    up), so it is remounted writable inside the container, and systemd re-executed to see it. On a
    host with the unified hierarchy alone, nspawn delegates it and there is nothing to do.
    """
    remounted = run(['nsenter', '-t', str(init_pid), '-m', 'sh', '-c',
                     'mountpoint -q /sys/fs/cgroup/memory || exit 0; mount -o remount,rw,bind /sys/fs/cgroup '
                     '&& mount -o remount,rw,bind /sys/fs/cgroup/memory && echo remounted'],
                    'making the memory controller writable in the container', timeout=10)
    if remounted.strip() == 'remounted':
        run(['nsenter', '-t', str(init_pid), '-a', 'systemctl', 'daemon-reexec'], 're-executing the container\'s systemd', timeout=30)


def remove_cgroup(path):
    """Remove a cgroup directory and its (empty) sub-groups, deepest first."""
    if not os.path.isdir(path):
        return
    for directory, dummy, dummy in sorted(os.walk(path), key=lambda item: -len(item[0])):
        try:
            os.rmdir(directory)
        except OSError as exc:
            raise HostsError('cannot remove the cgroup %s (%s); processes left in it: %s' % (
                directory, exc.strerror, cgroup_pids(directory))) from exc


def cgroup_pids(path):
    """Pids in a cgroup directory, as text, for error messages."""
    try:
        with open(os.path.join(path, 'cgroup.procs'), encoding='ascii') as f:
            return ' '.join(f.read().split()) or 'none'
    except OSError:
        return 'unknown'


# ---------------------------------------------------------------------------
# up


def make_host_files(merged, name, address, public_key, key_dir):
    """The per-host files, written through the overlay: hostname, machine ID, SSH host key, authorized key, sshd address."""
    write_file(merged, '/etc/hostname', name + '\n')
    write_file(merged, '/etc/hosts', '127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' % (address, name))
    write_file(merged, '/etc/machine-id', uuid.uuid4().hex + '\n', 0o444)
    write_file(merged, '/etc/ssh/sshd_config.d/nomadic-listen.conf', 'ListenAddress %s\n' % address)
    ssh_dir = os.path.join(merged, 'root', '.ssh')
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    write_file(merged, '/root/.ssh/authorized_keys', public_key, 0o600)
    key = os.path.join(key_dir, 'ssh_host_ed25519_key')
    run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'root@' + name, '-f', key], 'making the SSH host key of ' + name)
    target = os.path.join(merged, 'etc', 'ssh')
    for suffix, mode in (('', 0o600), ('.pub', 0o644)):
        shutil.copyfile(key + suffix, os.path.join(target, 'ssh_host_ed25519_key' + suffix))
        os.chmod(os.path.join(target, 'ssh_host_ed25519_key' + suffix), mode)
    with open(key + '.pub', encoding='utf-8') as f:
        return f.read().split()[:2]


def quote_ssh(value):
    """A value for ssh_config: double quotes around paths."""
    if '"' in value:
        raise HostsError('%r: ssh_config values cannot contain double quotes' % value)
    return '"%s"' % value


def ssh_config(hosts, identity, known_hosts):
    """DIR/ssh_config: one entry per host, matched by its name and its address."""
    lines = ['# Written by tests/hosts/hosts.py up: ssh -F <this file> h1 true', '']
    for host in hosts:
        lines += [
            'Host %s %s' % (host['name'], host['address']),
            '    HostName %s' % host['address'],
            '    Port %d' % host['port'],
            '    User %s' % host['user'],
            '    IdentityFile %s' % quote_ssh(identity),
            '    IdentitiesOnly yes',
            '    UserKnownHostsFile %s' % quote_ssh(known_hosts),
            '    GlobalKnownHostsFile /dev/null',
            '    StrictHostKeyChecking yes',
            '    BatchMode yes',
            '    ConnectTimeout 10',
            '    LogLevel ERROR',
            '',
        ]
    return '\n'.join(lines)


def known_hosts_lines(hosts):
    """DIR/known_hosts: each host's key under its address and its name."""
    return ''.join('%s,%s %s %s\n' % (host['address'], host['name'], host['key_type'], host['key']) for host in hosts)


def console_tail(path, lines=30):
    """The last lines of a console log, for error messages."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode('utf-8', 'replace')
    except OSError as exc:
        return '(no console log: %s)' % exc
    # The console is a pseudo terminal: lines end with \r\r\n.
    kept = [line for line in text.replace('\r', '').split('\n') if line.strip()]
    return '\n'.join(kept[-lines:]) or '(the console log is empty)'


def parse_bind(spec):
    """--bind-ro SRC[:DST] -> (SRC, DST), SRC an existing absolute path."""
    source, dummy, destination = spec.partition(':')
    source = os.path.abspath(source)
    destination = destination or source
    if not os.path.exists(source):
        raise HostsError('--bind-ro %s: %s does not exist' % (spec, source))
    if not destination.startswith('/'):
        raise HostsError('--bind-ro %s: the destination must be an absolute path' % spec)
    return source, destination


def nspawn_argv(host, binds, cgroups=()):
    """The command that boots a host, first moved into its own cgroups (a sh that then runs nspawn).

    The console is read-only, not a pipe: with a pipe the container has no
    /dev/console, so systemd and the journal (ForwardToConsole) write nowhere.
    """
    enter_cgroups = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"'
    argv = ['sh', '-c', enter_cgroups, 'sh'] + list(cgroups) + ['--']
    argv += ['systemd-nspawn', '--keep-unit', '--register=no', '-b', '--console=read-only', '-D', host['merged'],
             '-M', host['name'], '--network-namespace-path=/run/netns/' + host['netns'],
             '--resolv-conf=off', '--timezone=off', '--link-journal=no', '--setenv=SYSTEMD_COLORS=0']
    argv += ['--bind-ro=%s:%s' % (source, destination) for source, destination in binds]
    return argv


def ssh_ready(config, name, timeout=15):
    """True when `ssh -F config name true` works."""
    try:
        result = subprocess.run(['ssh', '-F', config, '-o', 'ConnectTimeout=5', name, 'true'], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def wait_ready(host, entry, config, deadline):
    """Wait until the host's nspawn has a container init and sshd lets root in; return None or an error."""
    while True:
        if not alive(entry['pid'], entry.get('start_time')):
            return 'systemd-nspawn exited before sshd answered'
        if host.get('init_pid') is None:
            host['init_pid'] = container_init(entry['pid'])
        if host.get('init_pid') is not None and ssh_ready(config, host['name']):
            try:
                delegate_memory(host['init_pid'])
            except HostsError as exc:
                return str(exc)
            return None
        if time.monotonic() > deadline:
            return 'sshd did not let root in within the timeout'
        time.sleep(0.2)


class Interrupted(Exception):
    """up was stopped by a signal."""


def _interrupt(signum, frame):
    del frame
    raise Interrupted('stopped by signal %d' % signum)


def up(run_dir, count, identity=None, binds=(), subnet=DEFAULT_SUBNET, cache_dir=None, timeout=BOOT_TIMEOUT, root=None):
    """Make and boot count hosts; return the description written to DIR/hosts.json."""
    check_tools(UP_TOOLS)
    if count < 1:
        raise HostsError('--count must be at least 1')
    run_dir = os.path.realpath(run_dir)
    if os.path.exists(os.path.join(run_dir, STATE)):
        raise HostsError('%s already holds a run (state.json); run down first' % run_dir)
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        raise HostsError('%s is not empty; give up an empty or new directory' % run_dir)
    binds = [parse_bind(spec) for spec in binds]
    slots = subnet_slots(subnet)
    if root is None:
        entry, dummy = ensure_root(os.path.abspath(cache_dir or cache_dir_default()))
        root = os.path.join(entry, 'rootfs')
    root = os.path.realpath(root)
    for path in (root, run_dir):
        if ',' in path or ':' in path:
            raise HostsError('%s: overlayfs options cannot hold paths with commas or colons' % path)
    if not os.path.isfile(os.path.join(root, 'etc', 'os-release')):
        raise HostsError('%s is not a root file system (no etc/os-release)' % root)

    os.makedirs(run_dir, exist_ok=True)
    os.chmod(run_dir, 0o700)
    state = State(run_dir)
    state.data.update({'root': root, 'count': count, 'subnet': subnet})
    state.save()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _up(state, run_dir, count, identity, binds, slots, root, timeout)
    except BaseException:
        release(state, STOP_TIMEOUT)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _up(state, run_dir, count, identity, binds, slots, root, timeout):
    """The body of up (it cleans up after this when it raises)."""
    rid = state.data['run_id']
    if identity:
        identity = os.path.abspath(identity)
        if not (os.path.isfile(identity) and os.path.isfile(identity + '.pub')):
            raise HostsError('--identity %s: the private key and %s.pub must both exist' % (identity, identity))
    else:
        identity = os.path.join(run_dir, 'id_ed25519')
        run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'nomadic-qemu-test-hosts', '-f', identity], 'making the SSH key pair')
    with open(identity + '.pub', encoding='utf-8') as f:
        public_key = f.read()
    config_path = os.path.join(run_dir, 'ssh_config')
    known_hosts = os.path.join(run_dir, 'known_hosts')

    hosts = []
    with allocation_lock():
        used = used_networks(run(['ip', '-j', '-4', 'addr', 'show'], 'listing addresses'),
                             run(['ip', '-j', '-4', 'route', 'show', 'table', 'all'], 'listing routes'))
        for name, slot in zip(host_names(count), free_slots(slots, used, count)):
            local, address = slot_addresses(slot)
            host = {'name': name, 'address': address, 'host_address': local, 'port': 22, 'user': 'root',
                    'netns': netns_name(rid, name), 'veth': veth_name(rid, name), 'network': str(slot),
                    'dir': os.path.join(run_dir, name)}
            host['merged'] = os.path.join(host['dir'], 'merged')
            host['console_log'] = os.path.join(host['dir'], 'console.log')
            hosts.append(host)
            state.record('netns', name=host['netns'])
            run(['ip', 'netns', 'add', host['netns']], 'making the network namespace ' + host['netns'])
            state.record('veth', name=host['veth'])
            ns = ['ip', '-n', host['netns']]
            for argv in (['ip', 'link', 'add', host['veth'], 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host['netns']],
                         ['ip', 'addr', 'add', local + '/30', 'dev', host['veth']],
                         ['ip', 'link', 'set', host['veth'], 'up'],
                         ns + ['addr', 'add', address + '/30', 'dev', 'eth0'],
                         ns + ['link', 'set', 'eth0', 'up'],
                         ns + ['link', 'set', 'lo', 'up']):
                run(argv, 'connecting %s to this machine' % name)

    for host in hosts:
        for sub in ('upper', 'work', 'merged', 'keys'):
            os.makedirs(os.path.join(host['dir'], sub))
        state.record('mount', path=host['merged'])
        run(['mount', '-t', 'overlay', 'overlay', '-o', 'lowerdir=%s,upperdir=%s,workdir=%s' % (
            root, os.path.join(host['dir'], 'upper'), os.path.join(host['dir'], 'work')), host['merged']],
            'mounting the overlay of %s' % host['name'], 'check that this kernel has overlayfs (modprobe overlay)')
        host['key_type'], host['key'] = make_host_files(host['merged'], host['name'], host['address'], public_key,
                                                        os.path.join(host['dir'], 'keys'))
        host.update({'ssh_config': config_path, 'identity': identity, 'known_hosts': known_hosts})
    with open(config_path, 'w', encoding='utf-8') as f:
        f.write(ssh_config(hosts, identity, known_hosts))
    with open(known_hosts, 'w', encoding='utf-8') as f:
        f.write(known_hosts_lines(hosts))

    start = time.monotonic()
    entries = {}
    hierarchies = cgroup_hierarchies()
    for host in hosts:
        cgroups = [os.path.join(directory, host['netns']) for directory in hierarchies]
        for path in cgroups:
            state.record('cgroup', path=path)
            os.mkdir(path)
        entry = state.record('nspawn', host=host['name'], merged=host['merged'], pid=None, cgroups=cgroups)
        entries[host['name']] = launch(state, entry, host, binds)
    log('booting %s' % ', '.join(host['name'] for host in hosts))

    deadline = time.monotonic() + timeout
    errors = {}

    def wait(host):
        error = wait_ready(host, entries[host['name']], config_path, deadline)
        if error:
            errors[host['name']] = error

    threads = [threading.Thread(target=wait, args=(host,), daemon=True) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise HostsError('; '.join('%s: %s; its console (%s) ends with:\n%s' % (
            name, error, host['console_log'], console_tail(host['console_log']))
            for name, error in sorted(errors.items()) for host in hosts if host['name'] == name))
    log('%d host(s) answer SSH after %.1f s' % (len(hosts), time.monotonic() - start))

    public = [dict((key, host[key]) for key in (
        'name', 'address', 'host_address', 'port', 'user', 'ssh_config', 'identity', 'known_hosts', 'nspawn_pid', 'init_pid',
        'netns', 'veth', 'network', 'merged', 'console_log')) for host in hosts]
    result = {'run_dir': run_dir, 'run_id': rid, 'root': root, 'ssh_config': config_path, 'identity': identity,
              'known_hosts': known_hosts, 'binds': [{'source': s, 'destination': d} for s, d in binds], 'hosts': public}
    with open(os.path.join(run_dir, HOSTS_JSON), 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write('\n')
    return result


def launch(state, entry, host, binds):
    """Start the systemd-nspawn of a host (its overlay, network namespace and cgroups already made); returns its entry."""
    with open(host['console_log'], 'ab') as console:
        process = subprocess.Popen(nspawn_argv(host, binds, entry['cgroups']), stdin=subprocess.DEVNULL, stdout=console,  # pylint: disable=consider-using-with
                                   stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    entry['pid'] = host['nspawn_pid'] = process.pid
    entry['start_time'] = proc_stat(process.pid)[1]
    state.save()
    return entry


def reboot(run_dir, name, timeout=BOOT_TIMEOUT, stop_timeout=STOP_TIMEOUT):
    """Power a host off (its systemd stops every unit, as at a real shutdown), then boot it again on the same file system.

    systemd-nspawn does not boot a container again by itself (it exits when the container
    reboots): this is the stop and the boot of a machine. Returns the host's new entry.
    """
    run_dir = os.path.realpath(run_dir)
    state = State.load(run_dir)
    try:
        with open(os.path.join(run_dir, HOSTS_JSON), encoding='utf-8') as f:
            result = json.load(f)
    except FileNotFoundError:
        result = None
    if state is None or result is None:
        raise HostsError('%s holds no hosts (run up first)' % run_dir)
    host = next((host for host in result['hosts'] if host['name'] == name), None)
    entry = next((entry for entry in state.resources('nspawn') if entry['host'] == name), None)
    if host is None or entry is None:
        raise HostsError('%s has no host %s; it has %s' % (run_dir, name, ', '.join(h['name'] for h in result['hosts'])))
    init = container_init(entry['pid']) if alive(entry['pid'], entry.get('start_time')) else None
    if init is not None:
        run(['nsenter', '-t', str(init), '-a', 'systemctl', 'poweroff', '--no-block'], 'powering %s off' % name, timeout=10)
    if wait_exit([entry['pid']], stop_timeout):
        raise HostsError('%s did not power off within %d s' % (name, stop_timeout))
    close_ssh_masters(run_dir)
    binds = [(bind['source'], bind['destination']) for bind in result['binds']]
    host['init_pid'] = None
    launch(state, entry, host, binds)
    error = wait_ready(host, entry, result['ssh_config'], time.monotonic() + timeout)
    if error:
        raise HostsError('%s: %s; its console (%s) ends with:\n%s' % (name, error, host['console_log'], console_tail(host['console_log'])))
    with open(os.path.join(run_dir, HOSTS_JSON), 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write('\n')
    log('%s booted again' % name)
    return host


# ---------------------------------------------------------------------------
# down


def stop_hosts(state, timeout):
    """Power off every booted host of a run, then kill the nspawn processes still there after timeout."""
    targets = []
    for entry in state.resources('nspawn'):
        pids = set(nspawn_pids(entry['merged']))
        if entry.get('pid') and alive(entry['pid'], entry.get('start_time')):
            pids.add(entry['pid'])
        for pid in sorted(pids):
            targets.append((entry['host'], pid, container_init(pid)))
    for name, pid, init in targets:
        if init is None:
            kill(pid, signal.SIGTERM)  # nspawn asks a booted container to halt
            continue
        try:
            run(['nsenter', '-t', str(init), '-a', 'systemctl', 'poweroff', '--no-block'], 'powering %s off' % name, timeout=10)
        except HostsError as exc:
            log('%s; sending its systemd the poweroff signal instead' % exc)
            kill(init, signal.SIGRTMIN + 4)
    pids = [pid for dummy, pid, dummy in targets]
    remaining = wait_exit(pids, timeout)
    if remaining:
        log('killing systemd-nspawn %s: still running %d s after poweroff' % (', '.join(map(str, remaining)), timeout))
        for name, pid, init in targets:
            if pid in remaining:
                if init is not None:
                    kill(init, signal.SIGKILL)
                kill(pid, signal.SIGKILL)
        remaining = wait_exit(remaining, 10)
        if remaining:
            raise HostsError('systemd-nspawn %s did not exit after SIGKILL' % ', '.join(map(str, remaining)))


def close_ssh_masters(run_dir):
    """Close SSH master connections (ControlPersist) whose control sockets are in DIR/cp."""
    directory = os.path.join(run_dir, 'cp')
    if not os.path.isdir(directory):
        return
    for name in sorted(os.listdir(directory)):
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(['ssh', '-o', 'ControlPath=' + os.path.join(directory, name), '-O', 'exit', 'host'],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5, check=False)
    # A master names its control socket in its process title.
    leftovers = [pid for pid in all_pids() if any(directory + '/' in arg for arg in cmdline(pid)) and pid != os.getpid()]
    for pid in leftovers:
        kill(pid, signal.SIGTERM)
    wait_exit(leftovers, 5)


def release(state, timeout):
    """Undo everything a run recorded, last made first undone for each kind; keep the run directory."""
    stop_hosts(state, timeout)
    close_ssh_masters(state.data['run_dir'])
    errors = []
    points = mount_points()
    for entry in reversed(state.resources('mount')):
        if entry['path'] in points:
            try:
                run(['umount', entry['path']], 'unmounting ' + entry['path'])
            except HostsError:
                try:
                    run(['umount', '-l', entry['path']], 'unmounting (lazily) ' + entry['path'])
                except HostsError as exc:
                    errors.append(str(exc))
    for entry in reversed(state.resources('cgroup')):
        try:
            remove_cgroup(entry['path'])
        except HostsError as exc:
            errors.append(str(exc))
    links = run(['ip', '-o', 'link', 'show'], 'listing links')
    for entry in reversed(state.resources('veth')):
        if (' %s@' % entry['name']) in links or (' %s:' % entry['name']) in links:
            try:
                run(['ip', 'link', 'del', entry['name']], 'deleting the link ' + entry['name'])
            except HostsError as exc:
                errors.append(str(exc))
    for entry in reversed(state.resources('netns')):
        if os.path.exists('/run/netns/' + entry['name']):
            try:
                run(['ip', 'netns', 'del', entry['name']], 'deleting the network namespace ' + entry['name'])
            except HostsError as exc:
                errors.append(str(exc))
    if errors:
        raise HostsError('; '.join(errors))


def down(run_dir, timeout=STOP_TIMEOUT):
    """Stop and remove everything of a run, then the run directory; True when there was one."""
    run_dir = os.path.realpath(run_dir)
    if not os.path.isdir(run_dir):
        return False
    state = State.load(run_dir)
    if state is not None:
        state.data['run_dir'] = run_dir
        release(state, timeout)
    left = mounts_under(run_dir)
    if left:
        raise HostsError('%s is still mounted; not removing %s' % (', '.join(left), run_dir))
    shutil.rmtree(run_dir)
    return True


# ---------------------------------------------------------------------------
# command line


def main(argv=None):
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog='hosts.py', description='Test hosts for nomadic.qemu: systemd-nspawn containers '
                                     'with their own file system, processes and network, reached over SSH.')
    commands = parser.add_subparsers(dest='command', required=True)
    build = commands.add_parser('build', help='build (or find in the cache) the root file system of the hosts')
    build.add_argument('--cache-dir', help='cache directory (default: $%s, else %s)' % (CACHE_ENV, DEFAULT_CACHE))
    build.add_argument('--json', action='store_true', help='print the root\'s path and description as JSON')
    start = commands.add_parser('up', help='make and boot hosts h1..hN')
    start.add_argument('--run-dir', required=True, help='directory of this run (new or empty): overlays, keys, logs, state')
    start.add_argument('--count', type=int, default=DEFAULT_COUNT, help='number of hosts (default: %d)' % DEFAULT_COUNT)
    start.add_argument('--identity', help='private key to log in with; FILE.pub is authorized (default: make RUN_DIR/id_ed25519)')
    start.add_argument('--bind-ro', action='append', default=[], metavar='SRC[:DST]', help='bind SRC read-only into every host')
    start.add_argument('--subnet', default=DEFAULT_SUBNET, help='IPv4 network whose /24s the hosts get (default: %s)' % DEFAULT_SUBNET)
    start.add_argument('--cache-dir', help='cache directory of build (default: $%s, else %s)' % (CACHE_ENV, DEFAULT_CACHE))
    start.add_argument('--root', help='boot this root file system instead of the cached one (it is never written)')
    start.add_argument('--timeout', type=float, default=BOOT_TIMEOUT, help='seconds to wait for SSH (default: %d)' % BOOT_TIMEOUT)
    start.add_argument('--json', action='store_true', help='print the hosts as JSON')
    again = commands.add_parser('reboot', help='power a host off and boot it again, on the same file system')
    again.add_argument('--run-dir', required=True, help='directory of the run')
    again.add_argument('--host', required=True, help='the host (h1, h2, ...)')
    again.add_argument('--timeout', type=float, default=BOOT_TIMEOUT, help='seconds to wait for SSH (default: %d)' % BOOT_TIMEOUT)
    again.add_argument('--json', action='store_true', help='print the host as JSON')
    stop = commands.add_parser('down', help='stop and remove the hosts of a run, and the run directory')
    stop.add_argument('--run-dir', required=True, help='directory of the run')
    stop.add_argument('--timeout', type=float, default=STOP_TIMEOUT, help='seconds to wait after poweroff (default: %d)' % STOP_TIMEOUT)
    args = parser.parse_args(argv)

    try:
        if args.command == 'build':
            directory, built = ensure_root(os.path.abspath(args.cache_dir or cache_dir_default()))
            info = describe_root(directory, built)
            print(json.dumps(info, sort_keys=True) if args.json else '%s%s' % (info['root'], '' if built else ' (cached)'))
        elif args.command == 'up':
            result = up(args.run_dir, args.count, args.identity, args.bind_ro, args.subnet, args.cache_dir, args.timeout, args.root)
            if args.json:
                print(json.dumps(result, sort_keys=True))
            else:
                for host in result['hosts']:
                    print('%s %s (ssh -F %s %s)' % (host['name'], host['address'], result['ssh_config'], host['name']))
        elif args.command == 'reboot':
            host = reboot(args.run_dir, args.host, args.timeout)
            print(json.dumps(host, sort_keys=True) if args.json else '%s %s' % (host['name'], host['address']))
        else:
            if not down(args.run_dir, args.timeout):
                log('%s does not exist: nothing to stop' % args.run_dir)
    except BUILD.BuildError as exc:
        print('hosts.py: error: %s' % exc, file=sys.stderr)
        return 1
    except Interrupted as exc:
        print('hosts.py: error: %s (what up had made is removed)' % exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print('hosts.py: error: %s' % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
