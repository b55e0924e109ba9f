#!/usr/bin/env python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks of nomadic.qemu: how close to bare QEMU and Ansible's own floor, how far ahead of libvirt.

    make bench          full run; installs libvirt from Debian for the peer comparison
    make bench-quick    under 2 minutes, no libvirt; run in CI so the harness never rots

    .venv/bin/python bench/run.py [--quick] [--runs N] [--scale 1,8,32] [--no-peer] [--no-install]
                                  [--json PATH] [--svg PATH | --no-svg] [--keep]

Run it with the project's virtualenv (it imports the collection's module_utils and runs its
`ansible` and `ansible-playbook`). It prints a table of medians and the ratios against the
baselines measured in the same run, writes every sample as JSON (bench/results/, not
committed) and, for a full run, the plot in docs/images/performance.svg.

Exit status: 0 when every measurement ran (a missed target is reported, not a failure),
1 when the harness broke (a step failed or a VM did not behave), 130 when interrupted.
Every VM the bench starts lives under one fresh directory and is stopped at the end,
also on errors and Ctrl-C; only processes whose command line names that directory (and
the libvirt daemons the bench started itself, by their recorded pid) are ever signalled.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import glob
import grp
import importlib
import io
import json
import math
import os
import platform
import pstats
import pwd
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, 'results')
DOCS_SVG = os.path.join(ROOT, 'docs', 'images', 'performance.svg')

READY_LINE = b'NOMADIC-GUEST READY'
MEMORY_MB = 128
KILL_TIMEOUT = '10s'
READY_TIMEOUT = 60.0
COMMAND_TIMEOUT = 600

# Targets from the issue: start within 10% of the floor, no-op within 10% of ping,
# graceful stop within 50 ms of the guest's own shutdown time.
TARGET_START_RATIO = 1.10
TARGET_NOOP_RATIO = 1.10
TARGET_STOP_EXTRA = 0.050

# The peer: libvirt from Debian, its virsh, and community.libvirt.virt from the `ansible` package.
PEER_APT_PACKAGES = ('libvirt-daemon-system', 'libvirt-daemon-system-sysv', 'libvirt-clients', 'python3-libvirt', 'python3-lxml')
PEER_COMMANDS = ('virsh', 'libvirtd', 'virtlogd')
ANSIBLE_PACKAGE = 'ansible==14.5.0'
LIBVIRT_URI = 'qemu:///system'
LIBVIRT_QEMU_USER = 'libvirt-qemu'
# community.libvirt needs the libvirt bindings, which Debian ships for its own Python.
SYSTEM_PYTHON = '/usr/bin/python3'
PEER_CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'nomadic-qemu', 'bench')

MODULE_UTILS = 'ansible_collections.nomadic.qemu.plugins.module_utils.'
POLICY_PATH = '/etc/nomadic-qemu/policy.json'
STAGES = ('start', 'noop', 'stop', 'profile', 'scale', 'peer')
# The sample keys (first part) each stage records.
STAGE_SAMPLES = {'start': ('start',), 'noop': ('noop',), 'stop': ('stop',), 'profile': ('payload', 'build'), 'scale': ('scale',),
                 'peer': ('peer',)}
POLICY_WAIT = 900


class BenchError(Exception):
    """The harness broke: a step failed or something did not behave as it must."""


class Skip(Exception):
    """A part of the bench cannot run on this machine; the message says why."""


def log(message):
    print('bench: %s' % message, file=sys.stderr)
    sys.stderr.flush()


def summarize(samples):
    if not samples:
        return None
    return {
        'n': len(samples),
        'median': statistics.median(samples),
        'min': min(samples),
        'max': max(samples),
        'samples': [round(value, 6) for value in samples],
    }


def fmt_seconds(value):
    if value is None:
        return '-'
    if abs(value) < 1.0:
        return '%.1f ms' % (value * 1000.0)
    return '%.2f s' % value


def excerpt(text, limit=1500):
    text = (text or '').strip()
    return text if len(text) <= limit else '...' + text[-limit:]


def read_file(path, mode='r'):
    with open(path, mode) as f:
        return f.read()


def write_file(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(content)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# Processes: identity, waiting, and the clean-up sweep


def proc_state(pid):
    """The state letter of a pid ('R', 'S', 'Z'...), or None when there is no such process."""
    try:
        data = read_file('/proc/%d/stat' % pid, 'rb').decode('utf-8', 'replace')
    except OSError:
        return None
    return data[data.rfind(')') + 2:].split(' ', 1)[0]


def alive(pid):
    """True while pid runs; an exited process that is not reaped yet (zombie) counts as ended."""
    return proc_state(pid) not in (None, 'Z', 'X')


def cmdline(pid):
    try:
        return read_file('/proc/%d/cmdline' % pid, 'rb').split(b'\0')
    except OSError:
        return []


def wait_exit(pid, timeout):
    """Wait until pid ends (pidfd: woken by the exit itself). True when it ended."""
    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = None
    try:
        while alive(pid):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if pidfd is not None:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll(int(remaining * 1000) + 1)
            else:
                time.sleep(min(0.005, remaining))
        return True
    finally:
        if pidfd is not None:
            os.close(pidfd)


def ancestors():
    pids = set()
    pid = os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            data = read_file('/proc/%d/stat' % pid, 'rb').decode('utf-8', 'replace')
            pid = int(data[data.rfind(')') + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def processes_naming(path):
    """Pids of live processes whose command line names path (our run directory), never us or our parents."""
    needle = os.fsencode(path.rstrip('/') + '/')
    mine = ancestors()
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) in mine:
            continue
        pid = int(entry)
        if any(needle in part for part in cmdline(pid)) and alive(pid):
            found.append(pid)
    return sorted(found)


def is_async_wrapper(pid):
    return any(part.endswith(b'/async_wrapper.py') for part in cmdline(pid)[:2])


def stop_processes(pids, grace=3.0):
    """SIGTERM, then SIGKILL after grace; returns the pids signalled."""
    signalled = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            signalled.append(pid)
        except ProcessLookupError:
            pass
    for pid in signalled:
        if not wait_exit(pid, grace):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_exit(pid, grace)
    return signalled


def cpu_ticks(pid):
    """User plus system CPU time of a process, in clock ticks (0 when it is gone)."""
    try:
        data = read_file('/proc/%d/stat' % pid, 'rb').decode('utf-8', 'replace')
    except OSError:
        return 0
    fields = data[data.rfind(')') + 2:].split()
    return int(fields[11]) + int(fields[12])


def smaps_rollup(pid):
    """(Rss, Pss) of a process in bytes, from /proc/PID/smaps_rollup."""
    values = {}
    for line in read_file('/proc/%d/smaps_rollup' % pid).splitlines():
        key, _sep, rest = line.partition(':')
        if key in ('Rss', 'Pss'):
            values[key] = int(rest.split()[0]) * 1024
    return values.get('Rss'), values.get('Pss')


def read_pidfile(path):
    try:
        text = read_file(path).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def wait_for_line(path, needle, timeout):
    """Wait until the file at path contains needle (bytes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if needle in read_file(path, 'rb'):
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise BenchError('%s did not show %r within %g s' % (path, needle.decode(), timeout))


def _on_signal(signum, _frame):
    raise KeyboardInterrupt('signal %d' % signum)


# ---------------------------------------------------------------------------------------
# The bench


class Bench:
    """One run of the bench: set-up, the stages, the clean-up and the report."""

    def __init__(self, args):
        self.args = args
        self.rundir = None
        self.env = None
        self.mu = {}
        self.images = {}
        self.samples = {}
        self.extra = {}
        self.errors = []
        self.skips = {}
        self.notes = []
        self.remarks = []
        self.peer = None
        self.policy = None
        self.image_dir = None
        self.own_image_dir = None
        self.last_cpu = None
        self.qemu = shutil.which('qemu-system-x86_64')
        bindir = os.path.dirname(sys.executable)
        self.ansible = os.path.join(bindir, 'ansible')
        self.ansible_playbook = os.path.join(bindir, 'ansible-playbook')

    # ---- set-up and clean-up -------------------------------------------------------------
    def setup(self):
        for path in (self.ansible, self.ansible_playbook):
            if not os.access(path, os.X_OK):
                raise BenchError('%s not found: run the bench with the project virtualenv (make bench, or '
                                 '.venv/bin/python bench/run.py)' % path)
        if not self.qemu:
            raise BenchError('qemu-system-x86_64 is not on PATH; install it (apt-get install qemu-system-x86), or run make deps')
        if not hasattr(os, 'pidfd_open'):
            raise BenchError('this Python has no os.pidfd_open; run the bench with Python 3.9+ on Linux')
        self.policy = self.policy_text()
        policy = self.host_policy()
        self.rundir = tempfile.mkdtemp(prefix='nqbench-', dir='/tmp')
        # QEMU run by libvirt (as its own user) must reach the image copy under it.
        os.chmod(self.rundir, 0o755)
        collections = os.path.join(self.rundir, 'ac')
        os.makedirs(os.path.join(collections, 'ansible_collections', 'nomadic'))
        os.symlink(ROOT, os.path.join(collections, 'ansible_collections', 'nomadic', 'qemu'))
        sys.path.insert(0, collections)
        for name in ('_task', '_stop', '_command', '_qmp', '_process'):
            self.mu[name] = importlib.import_module(MODULE_UTILS + name)
        self.env = {key: value for key, value in os.environ.items() if not key.startswith('ANSIBLE_')}
        self.env.update({
            'ANSIBLE_CONFIG': os.path.join(self.rundir, 'ansible.cfg'),
            'ANSIBLE_COLLECTIONS_PATH': collections + os.pathsep + os.path.join(PEER_CACHE, 'collections'),
            'ANSIBLE_LOCALHOST_WARNING': 'False',
            'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
            'ANSIBLE_DEPRECATION_WARNINGS': 'False',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_REMOTE_TMP': os.path.join(self.rundir, 'remote-tmp'),
            'ANSIBLE_ASYNC_DIR': os.path.join(self.rundir, 'async'),
        })
        write_file(self.env['ANSIBLE_CONFIG'], '[defaults]\n')
        out = subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'guests', 'build.py'), '--json', 'bootsector'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=COMMAND_TIMEOUT)
        if out.returncode != 0:
            raise BenchError('building the boot-sector guest failed: %s' % excerpt(out.stderr.decode()))
        built = json.loads(out.stdout)
        # Our own copy: QEMU locks an image it writes to, and other people may run the cached one.
        self.image_dir = self.place_images(policy)
        self.images = {'bootsector': os.path.join(self.image_dir, 'bootsector.img'), 'source': built['bootsector']}
        shutil.copy(built['bootsector'], self.images['bootsector'])
        log('run directory %s; boot-sector guest %s' % (self.rundir, built['bootsector']))

    def cleanup(self):
        if self.peer is not None:
            try:
                self.peer.teardown()
            except Exception as exc:  # pylint: disable=broad-exception-caught
                log('libvirt clean-up failed: %s' % exc)
        if not self.rundir:
            return
        # Ansible's async_wrapper watchers look at their job every 5 s and leave by themselves.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and any(is_async_wrapper(pid) for pid in processes_naming(self.rundir)):
            time.sleep(0.2)
        left = processes_naming(self.rundir)
        if left:
            log('stopping %d leftover process(es) of this run:\n  %s' % (len(left), '\n  '.join(
                '%d %s' % (pid, b' '.join(cmdline(pid)).decode('utf-8', 'replace')[:200]) for pid in left)))
            stop_processes(left)
        self.extra['leftover_processes'] = len(left)
        if self.own_image_dir:
            shutil.rmtree(self.own_image_dir, ignore_errors=True)
        if self.args.keep:
            log('kept %s' % self.rundir)
        else:
            shutil.rmtree(self.rundir, ignore_errors=True)

    @staticmethod
    def policy_text():
        try:
            return read_file(POLICY_PATH, 'rb')
        except OSError:
            return None

    def host_policy(self):
        text = self.policy_text()
        try:
            policy = json.loads(text) if text is not None else {}
        except ValueError:
            raise BenchError('the host policy %s is not valid JSON; fix or remove it' % POLICY_PATH) from None
        return {key: value for key, value in policy.items() if value} if isinstance(policy, dict) else {}

    def wait_for_policy(self):
        """Wait until the host policy is as it was when the bench started (a test of someone else may change it for a while)."""
        if self.policy_text() == self.policy:
            return
        log('the host policy %s changed since the bench started (someone else is using this machine?); waiting up to %d s for it '
            'to be as it was' % (POLICY_PATH, POLICY_WAIT))
        deadline = time.monotonic() + POLICY_WAIT
        while self.policy_text() != self.policy:
            if time.monotonic() > deadline:
                raise BenchError('the host policy %s changed during the run and did not come back within %d s; run the bench '
                                 'again when nothing else changes it' % (POLICY_PATH, POLICY_WAIT))
            time.sleep(1.0)

    def policy_interfered(self, exc):
        return self.policy_text() != self.policy or 'image_paths' in str(exc) or 'host policy' in str(exc)

    def place_images(self, policy):
        """Where the bench's image copies go: its run directory, or a directory the host policy allows."""
        if policy.get('emulators_allowlist') and 'x86_64' not in policy['emulators_allowlist']:
            raise BenchError('the host policy %s does not allow the x86_64 emulator the bench uses' % POLICY_PATH)
        if not policy.get('image_paths'):
            directory = os.path.join(self.rundir, 'images')
            os.makedirs(directory)
            return directory
        for allowed in policy['image_paths']:
            if os.path.isdir(allowed) and os.access(allowed, os.W_OK | os.X_OK):
                self.own_image_dir = tempfile.mkdtemp(prefix='nqbench-', dir=allowed)
                os.chmod(self.own_image_dir, 0o755)
                self.remarks.append('the host policy restricts image_paths: the bench put its images in %s' % self.own_image_dir)
                return self.own_image_dir
        raise BenchError('the host policy %s restricts image_paths to %s, and none of them is a directory the bench can write '
                         'its images to; run the bench as root, or on a host without that policy' % (
                             POLICY_PATH, ', '.join(policy['image_paths'])))

    # ---- helpers -------------------------------------------------------------------------
    def sample(self, key, seconds):
        self.samples.setdefault(key, []).append(seconds)

    def sample_run(self, key, seconds):
        """Record the wall time of an ansible run, and its CPU time under key.cpu."""
        self.sample(key, seconds)
        self.sample(key + '.cpu', self.last_cpu)

    def median(self, key):
        values = self.samples.get(key)
        return statistics.median(values) if values else None

    def state_dir(self, name):
        path = os.path.join(self.rundir, name)
        os.makedirs(path, exist_ok=True)
        return path

    def task_args(self, name, state_dir, **extra):
        args = {'name': name, 'state_dir': state_dir, 'image_path': self.images['bootsector'], 'memory': MEMORY_MB,
                'graceful_shutdown': True, 'kill_timeout': KILL_TIMEOUT}
        args.update(extra)
        return args

    @staticmethod
    def run_command(argv, cwd=None):
        """What AnsibleModule.run_command gives QemuTaskRunner: (rc, stdout, stderr)."""
        result = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                check=False, timeout=COMMAND_TIMEOUT)
        return result.returncode, result.stdout.decode('utf-8', 'replace'), result.stderr.decode('utf-8', 'replace')

    def task_runner(self, params):
        return self.mu['_task'].QemuTaskRunner(params, check_mode=False, warn=self.notes.append,
                                               run_command=self.run_command, find_binary=shutil.which)

    def run_task(self, params):
        return self.task_runner(params).run()

    def start_task(self, name, state_dir, wait_ready=True):
        result = self.run_task(self.task_args(name, state_dir))
        if result['task']['state'] != 'running' or not result['task'].get('pid'):
            raise BenchError('qemu_task did not start %s: %r' % (name, result))
        if wait_ready:
            wait_for_line(result['task']['console_log'], READY_LINE, READY_TIMEOUT)
        return result['task']

    def remove_task(self, name, state_dir):
        """Stop (by signal, fast) and remove a task; also after its QEMU was stopped some other way."""
        self.run_task({'name': name, 'state_dir': state_dir, 'state': 'absent', 'graceful_shutdown': False, 'kill_timeout': '5s'})

    def bare_argv(self, name, directory):
        """The command line qemu_task builds, for a VM in directory: the same argv, started without the collection."""
        return self.mu['_command'].build_argv(self.qemu, name, self.images['bootsector'], machine_type='pc', accelerator='tcg',
                                              memory=MEMORY_MB, task_dir=directory)

    def qmp_answers(self, directory, timeout=10.0):
        client = self.mu['_qmp'].QMPClient(os.path.join(directory, 'qmp.sock'), timeout=timeout)
        client.connect()
        client.close()

    def stop_bare(self, directory):
        pid = read_pidfile(os.path.join(directory, 'qemu.pid'))
        if pid is None or not alive(pid):
            raise BenchError('the QEMU started in %s is not running (no live pid in its pidfile)' % directory)
        os.kill(pid, signal.SIGTERM)
        if not wait_exit(pid, 10):
            raise BenchError('QEMU (pid %d) did not end within 10 s of SIGTERM' % pid)

    def ansible_run(self, argv, python=None):
        """Run ansible or ansible-playbook; returns (seconds, stdout). A failure breaks the harness."""
        if python:
            argv = argv + ['-e', 'ansible_python_interpreter=%s' % python]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(argv, cwd=self.rundir, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, check=False, timeout=COMMAND_TIMEOUT)
        seconds = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU time of ansible and everything it ran and reaped: much less sensitive than wall time to
        # other work on the machine.
        self.last_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        out = result.stdout.decode('utf-8', 'replace')
        if result.returncode != 0:
            err = result.stderr.decode('utf-8', 'replace')
            # The lines that say what failed first, then the end of the output.
            failed = [line for line in (out + '\n' + err).splitlines()
                      if re.match(r'\s*(fatal:|failed:|\[ERROR\])', line) or '"msg":' in line or '=> {' in line and 'FAILED' in line]
            raise BenchError('%s failed (exit status %d): %s%s' % (
                ' '.join(argv[:4]), result.returncode, excerpt('\n'.join(failed), 3000) + '\n' if failed else '',
                excerpt(out + '\n' + err, 1500)))
        return seconds, out

    def adhoc(self, module, args=None, python=None, env=None):
        """`ansible localhost -m MODULE -a JSON`; returns (seconds, the module's result when printed as JSON)."""
        argv = [self.ansible, 'localhost', '-m', module]
        if args is not None:
            argv += ['-a', json.dumps(args)]
        saved = self.env
        if env:
            self.env = dict(self.env, **env)
        try:
            seconds, out = self.ansible_run(argv, python=python)
        finally:
            self.env = saved
        index = out.find('=> {')
        result = {}
        if index >= 0:
            try:
                result = json.loads(out[index + 3:])
            except ValueError:
                result = {}
        return seconds, result

    def ping_variant(self, key):
        """A variant running ansible.builtin.ping ad hoc, recorded under key: the floor, measured next to what it is compared with."""
        def ping(record):
            seconds, result = self.adhoc('ansible.builtin.ping')
            if result.get('ping') != 'pong':
                raise BenchError('ping did not answer pong: %r' % result)
            if record:
                self.sample_run(key, seconds)
        return ping

    def interleaved(self, variants, runs, warmup=1):
        """Run each variant runs times (after warm-up rounds that are not recorded), rotating the order every round."""
        for index in range(warmup + runs):
            shift = index % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                variant(index >= warmup)

    # ---- stage: start ----------------------------------------------------------------------
    def stage_start(self):
        state_dir = self.state_dir('start')
        cmd_dir = os.path.join(self.rundir, 'start-cmd')
        bare_dir = os.path.join(self.rundir, 'start-bare')

        def adhoc_task(record):
            seconds, result = self.adhoc('nomadic.qemu.qemu_task', self.task_args('adhoc', state_dir))
            if not result.get('changed') or result.get('task', {}).get('state') != 'running':
                raise BenchError('qemu_task ad hoc did not start the VM: %r' % result)
            if record:
                self.sample_run('start.adhoc.qemu_task', seconds)
            self.remove_task('adhoc', state_dir)

        def adhoc_command(record):
            shutil.rmtree(cmd_dir, ignore_errors=True)
            os.makedirs(cmd_dir)
            seconds, _result = self.adhoc('ansible.builtin.command', {'argv': self.bare_argv('cmd', cmd_dir), 'chdir': cmd_dir})
            if record:
                self.sample_run('start.adhoc.command', seconds)
            self.stop_bare(cmd_dir)

        def inproc_runner(record):
            started = time.perf_counter()
            result = self.run_task(self.task_args('inproc', state_dir))
            self.qmp_answers(result['task']['task_dir'])
            seconds = time.perf_counter() - started
            if record:
                self.sample('start.inproc.runner', seconds)
            self.remove_task('inproc', state_dir)

        def inproc_bare(record):
            shutil.rmtree(bare_dir, ignore_errors=True)
            os.makedirs(bare_dir)
            argv = self.bare_argv('bare', bare_dir)
            started = time.perf_counter()
            rc, _out, err = self.run_command(argv, cwd=bare_dir)
            if rc != 0:
                raise BenchError('bare QEMU failed to start: %s' % excerpt(err))
            self.qmp_answers(bare_dir)
            seconds = time.perf_counter() - started
            if record:
                self.sample('start.inproc.bare', seconds)
            self.stop_bare(bare_dir)

        self.interleaved([adhoc_task, adhoc_command, self.ping_variant('start.adhoc.ping')], self.args.runs)
        # In-process runs are cheap and their differences small: three times as many.
        self.interleaved([inproc_runner, inproc_bare], 3 * self.args.runs)

    # ---- stage: no-op re-run ---------------------------------------------------------------
    def stage_noop(self):
        state_dir = self.state_dir('noop')
        self.start_task('noop', state_dir)
        args = self.task_args('noop', state_dir)

        def adhoc_task(record):
            seconds, result = self.adhoc('nomadic.qemu.qemu_task', args)
            if result.get('changed') is not False:
                raise BenchError('qemu_task on a running VM reported a change: %r' % result)
            if record:
                self.sample_run('noop.adhoc.qemu_task', seconds)

        def inproc_runner(record):
            started = time.perf_counter()
            result = self.run_task(args)
            seconds = time.perf_counter() - started
            if result['changed']:
                raise BenchError('QemuTaskRunner on a running VM reported a change: %r' % result)
            if record:
                self.sample('noop.inproc.runner', seconds)

        try:
            self.interleaved([adhoc_task, self.ping_variant('noop.adhoc.ping')], self.args.runs)
            self.interleaved([inproc_runner], 3 * self.args.runs)
        finally:
            self.remove_task('noop', state_dir)

    # ---- stage: graceful stop --------------------------------------------------------------
    def stage_stop(self):
        state_dir = self.state_dir('stop')
        qmp = self.mu['_qmp']

        def fresh():
            self.remove_task('vm', state_dir)
            return self.start_task('vm', state_dir)

        def runner(record):
            fresh()
            started = time.perf_counter()
            result = self.mu['_stop'].QemuShutdownRunner({'name': 'vm', 'state_dir': state_dir, 'kill_timeout': KILL_TIMEOUT}).run()
            seconds = time.perf_counter() - started
            if not result.get('graceful') or result.get('method') != 'acpi':
                raise BenchError('QemuShutdownRunner did not stop the guest gracefully: %r' % result)
            if record:
                self.sample('stop.inproc.runner', seconds)
                self.sample('stop.inproc.runner_reported', result['seconds'])

        def powerdown(poll_interval):
            task = fresh()
            pid = task['pid']
            client = qmp.QMPClient(task['monitor_socket'], timeout=10)
            client.connect()
            try:
                started = time.perf_counter()
                client.execute('system_powerdown')
                if poll_interval is None:
                    ended = wait_exit(pid, 30)
                else:
                    ended = False
                    deadline = time.monotonic() + 30
                    while not ended and time.monotonic() < deadline:
                        time.sleep(poll_interval)
                        ended = not alive(pid)
                seconds = time.perf_counter() - started
            finally:
                client.close()
            if not ended:
                raise BenchError('the guest did not power off within 30 s of system_powerdown')
            return seconds

        def by_hand(record):
            seconds = powerdown(None)
            if record:
                self.sample('stop.guest', seconds)

        def naive(record):
            seconds = powerdown(1.0)
            if record:
                self.sample('stop.naive_poll', seconds)

        def adhoc(record):
            fresh()
            seconds, result = self.adhoc('nomadic.qemu.qemu_shutdown', {'name': 'vm', 'state_dir': state_dir, 'kill_timeout': KILL_TIMEOUT})
            if not result.get('graceful') or result.get('method') != 'acpi':
                raise BenchError('qemu_shutdown ad hoc did not stop the guest gracefully: %r' % result)
            if record:
                self.sample_run('stop.adhoc.qemu_shutdown', seconds)
                self.sample('stop.adhoc.qemu_shutdown_reported', result['seconds'])

        try:
            self.interleaved([runner, by_hand], 3 * self.args.runs)
            self.interleaved([naive, adhoc, self.ping_variant('stop.adhoc.ping')], self.args.runs)
        finally:
            self.remove_task('vm', state_dir)

    # ---- stage: where the time goes ----------------------------------------------------------
    def stage_profile(self):
        """Where the time goes: cProfile of QemuTaskRunner.run(), the AnsiballZ payloads run alone and their imports,
        and the controller's payload build; qemu_task against ping and command."""
        profile = {}
        runs = 3 if self.args.quick else 7
        state_dir = self.state_dir('profile')
        args = self.task_args('prof', state_dir)
        profiler = cProfile.Profile()
        profiler.enable()
        self.run_task(args)
        profiler.disable()
        profile['cprofile_start'] = self.profile_text(profiler)
        wait_for_line(os.path.join(state_dir, 'prof', 'console.log'), READY_LINE, READY_TIMEOUT)
        profiler = cProfile.Profile()
        profiler.enable()
        for _index in range(20):
            self.run_task(args)
        profiler.disable()
        profile['cprofile_noop_x20'] = self.profile_text(profiler)

        # The AnsiballZ payloads, kept where the module ran and run again on their own, without the controller.
        keep = os.path.join(self.rundir, 'keep-tmp')
        env = {'ANSIBLE_KEEP_REMOTE_FILES': '1', 'ANSIBLE_REMOTE_TMP': keep}
        payloads = {}
        try:
            for label, module, module_args in (('qemu_task', 'nomadic.qemu.qemu_task', args), ('ping', 'ansible.builtin.ping', None),
                                               ('command', 'ansible.builtin.command', {'argv': ['true']})):
                self.adhoc(module, module_args, env=env)
                found = sorted(glob.glob(os.path.join(keep, 'ansible-tmp-*', 'AnsiballZ_%s.py' % label)), key=os.path.getmtime)
                if not found:
                    raise BenchError('ANSIBLE_KEEP_REMOTE_FILES left no AnsiballZ_%s.py under %s' % (label, keep))
                payloads[label] = found[-1]

            def payload_run(label):
                def run(record):
                    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    started = time.perf_counter()
                    result = subprocess.run([sys.executable, payloads[label]], cwd=self.rundir, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=COMMAND_TIMEOUT)
                    seconds = time.perf_counter() - started
                    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    self.last_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
                    if result.returncode != 0 or b'"failed": true' in result.stdout:
                        raise BenchError('the AnsiballZ payload of %s failed: %s' % (
                            label, excerpt(result.stdout.decode() + result.stderr.decode())))
                    if record:
                        self.sample_run('payload.%s' % label, seconds)
                return run

            self.interleaved([payload_run(label) for label in payloads], self.args.runs)
            raw = {label: self.import_time(path, runs) for label, path in payloads.items()}
            profile['payload_import'] = {label: self.import_summary(raw[label], raw['ping']) for label in raw}
            profile['cprofile_payload'] = self.payload_profile(payloads['qemu_task'])
        finally:
            self.remove_task('prof', state_dir)
        profile['payload_bytes'] = {label: os.path.getsize(path) for label, path in payloads.items()}
        profile['ansiballz_build'] = self.ansiballz_build(runs)
        self.extra['profile'] = profile

    def import_time(self, script, runs):
        """Imports of a payload run in a fresh interpreter (the fastest of runs): total, and self time per module (microseconds).

        An AnsiballZ payload imports every module from its zip, from source (zipimport
        never uses cached bytecode), so this includes compiling them.
        """
        totals = []
        selfs = {}
        for _index in range(runs):
            result = subprocess.run([sys.executable, '-X', 'importtime', script], cwd=self.rundir, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=COMMAND_TIMEOUT)
            if result.returncode != 0:
                raise BenchError('running %s failed: %s' % (script, excerpt(result.stderr.decode())))
            total = 0
            for line in result.stderr.decode().splitlines():
                match = re.match(r'import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)', line)
                if not match:
                    continue
                self_us, cumulative, indent, name = int(match.group(1)), int(match.group(2)), len(match.group(3)), match.group(4)
                if indent == 1:
                    total += cumulative
                selfs[name] = min(self_us, selfs.get(name, self_us))
            totals.append(total)
        return {'total_us': min(totals), 'self_us': selfs}

    @staticmethod
    def import_summary(ours, ping):
        """What a payload imports beyond ping's: the collection's own files and the other modules only it needs."""
        own = {name: value for name, value in ours['self_us'].items() if name.startswith('ansible_collections.nomadic.')}
        extra = {name: value for name, value in ours['self_us'].items() if name not in ping['self_us'] and name not in own}
        return {
            'total_us': ours['total_us'],
            'modules': len(ours['self_us']),
            'collection_us': sum(own.values()),
            'collection_modules': sorted(([name, value] for name, value in own.items()), key=lambda item: -item[1]),
            'extra_us': sum(extra.values()),
            'extra_modules': sorted(([name, value] for name, value in extra.items()), key=lambda item: -item[1])[:15],
        }

    def payload_profile(self, script, limit=22):
        """cProfile of one payload run, by own time: what running the module costs on the host."""
        output = os.path.join(self.rundir, 'payload.prof')
        # Not `python -m cProfile`: the payload drops its __main__ file's directory from sys.path (there: the standard library).
        code = ('import cProfile, runpy, sys\nsys.argv = [sys.argv[1]]\nprofiler = cProfile.Profile()\ntry:\n'
                '    profiler.runcall(runpy.run_path, sys.argv[0], run_name="__main__")\nexcept SystemExit:\n    pass\n'
                'profiler.dump_stats(%r)\n' % output)
        result = subprocess.run([sys.executable, '-c', code, script], cwd=self.rundir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=COMMAND_TIMEOUT)
        if result.returncode != 0:
            raise BenchError('profiling %s failed: %s' % (script, excerpt(result.stderr.decode())))
        stream = io.StringIO()
        pstats.Stats(output, stream=stream).strip_dirs().sort_stats('tottime').print_stats(limit)
        return '\n'.join(line.rstrip() for line in stream.getvalue().splitlines() if line.strip() and output not in line)

    def ansiballz_build(self, runs):
        """The controller's side: building each module's AnsiballZ payload (bench/ansiballz_build.py)."""
        modules = ('ansible.builtin.ping', 'ansible.builtin.command', 'nomadic.qemu.qemu_task', 'nomadic.qemu.qemu_shutdown')
        result = subprocess.run([sys.executable, os.path.join(HERE, 'ansiballz_build.py'), str(runs)] + list(modules),
                                env=self.env, cwd=self.rundir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                                timeout=COMMAND_TIMEOUT)
        if result.returncode != 0:
            raise BenchError('bench/ansiballz_build.py failed: %s' % excerpt(result.stderr.decode('utf-8', 'replace')))
        built = json.loads(result.stdout)
        for name, info in built.items():
            for value in info['ms']:
                self.sample('build.%s' % name.rsplit('.', 1)[-1], value / 1000.0)
        return {name: {'median_ms': statistics.median(info['ms']), 'min_ms': min(info['ms']), 'bytes': info['bytes']}
                for name, info in built.items()}

    @staticmethod
    def profile_text(profiler, limit=18):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.strip_dirs().sort_stats('cumulative').print_stats(limit)
        lines = [line.rstrip() for line in stream.getvalue().splitlines() if line.strip()]
        return '\n'.join(lines)

    # ---- stage: scale ----------------------------------------------------------------------
    def playbook(self, name, body):
        path = os.path.join(self.rundir, 'playbooks', name + '.yml')
        if not os.path.exists(path):
            write_file(path, body)
        return path

    def scale_playbook(self, module, mode):
        if module == 'ping':
            call = '      ansible.builtin.ping:\n'
        elif module == 'qemu_task':
            call = ('      nomadic.qemu.qemu_task:\n        name: "vm{{ item }}"\n        state_dir: "{{ state_dir }}"\n'
                    '        image_path: "{{ image_dir }}/vm{{ item }}.img"\n        memory: %d\n        graceful_shutdown: true\n'
                    '        kill_timeout: %s\n' % (MEMORY_MB, KILL_TIMEOUT))
        else:
            call = ('      nomadic.qemu.qemu_shutdown:\n        name: "vm{{ item }}"\n        state_dir: "{{ state_dir }}"\n'
                    '        kill_timeout: %s\n' % KILL_TIMEOUT)
        body = ('---\n- name: %s of {{ count }} VMs (%s)\n  hosts: localhost\n  gather_facts: false\n  tasks:\n'
                '    - name: Run %s on every VM\n%s      loop: "{{ range(count | int) | list }}"\n' % (module, mode, module, call))
        if mode == 'async':
            body += ('      async: 600\n      poll: 0\n      register: bench_jobs\n\n'
                     '    - name: Wait for every job\n      ansible.builtin.async_status:\n        jid: "{{ item.ansible_job_id }}"\n'
                     '      loop: "{{ bench_jobs.results }}"\n      register: bench_done\n      until: bench_done.finished\n'
                     '      retries: 6000\n      delay: 0.05\n')
        return self.playbook('%s-%s' % (module, mode), body)

    def run_playbook(self, path, state_dir, count):
        extra = json.dumps({'state_dir': state_dir, 'image_dir': self.vm_images(count), 'count': count})
        seconds, _out = self.ansible_run([self.ansible_playbook, path, '-e', extra])
        return seconds

    def vm_images(self, count):
        """A directory with one copy of the boot-sector image per VM (QEMU locks an image it writes to)."""
        directory = self.image_dir
        for index in range(count):
            path = os.path.join(directory, 'vm%d.img' % index)
            if not os.path.exists(path):
                shutil.copy(self.images['bootsector'], path)
        return directory

    def running_tasks(self, state_dir, count):
        pids = []
        for index in range(count):
            record_path = os.path.join(state_dir, 'vm%d' % index, 'task.json')
            try:
                record = json.loads(read_file(record_path))
            except (OSError, ValueError):
                continue
            if record.get('state') == 'running' and record.get('pid') and alive(record['pid']):
                pids.append(record['pid'])
        return pids

    def stage_scale(self):
        counts = self.args.scale
        modes = ['async', 'loop']
        memory = {}
        for count in counts:
            for rep in range(self.args.scale_runs):
                for mode in modes:
                    state_dir = os.path.join(self.rundir, 'scale-%d-%s-%d' % (count, mode, rep))
                    os.makedirs(state_dir)
                    try:
                        seconds = self.run_playbook(self.scale_playbook('qemu_task', mode), state_dir, count)
                        pids = self.running_tasks(state_dir, count)
                        if len(pids) != count:
                            raise BenchError('after the %s start of %d VMs, %d run' % (mode, count, len(pids)))
                        self.sample_run('scale.%s.start.%d' % (mode, count), seconds)
                        for index in range(count):
                            wait_for_line(os.path.join(state_dir, 'vm%d' % index, 'console.log'), READY_LINE, READY_TIMEOUT)
                        if mode == modes[0]:
                            # Idle for a moment: what the idle VMs cost in CPU, then their memory.
                            cpu_before, started = [cpu_ticks(pid) for pid in pids], time.monotonic()
                            time.sleep(1.0)
                            elapsed = (time.monotonic() - started) * os.sysconf('SC_CLK_TCK')
                            busy = [(cpu_ticks(pid) - before) / elapsed for pid, before in zip(pids, cpu_before)]
                            sizes = [smaps_rollup(pid) for pid in pids]
                            memory.setdefault(count, []).append({
                                'rss_median': statistics.median(size[0] for size in sizes),
                                'pss_median': statistics.median(size[1] for size in sizes),
                                'pss_total': sum(size[1] for size in sizes),
                                'idle_cpu_median': statistics.median(busy),
                                'idle_cpu_total': sum(busy),
                            })
                            # The no-op over every VM, and the Ansible floor for as many loop items (ping), while they run.
                            seconds = self.run_playbook(self.scale_playbook('qemu_task', 'loop'), state_dir, count)
                            self.sample_run('scale.noop.%d' % count, seconds)
                            if self.running_tasks(state_dir, count) != pids:
                                raise BenchError('the no-op run over %d VMs changed their processes' % count)
                            seconds = self.run_playbook(self.scale_playbook('ping', 'loop'), state_dir, count)
                            self.sample_run('scale.ping.%d' % count, seconds)
                        seconds = self.run_playbook(self.scale_playbook('qemu_shutdown', mode), state_dir, count)
                        if self.running_tasks(state_dir, count) or any(alive(pid) for pid in pids):
                            raise BenchError('after the %s stop of %d VMs, some still run' % (mode, count))
                        self.sample_run('scale.%s.stop.%d' % (mode, count), seconds)
                    finally:
                        left = processes_naming(state_dir)
                        if left:
                            stop_processes(left)
                        shutil.rmtree(state_dir, ignore_errors=True)
            self.scale_inproc(count)
        self.extra['memory'] = {str(count): {key: statistics.median(entry[key] for entry in entries) for key in entries[0]}
                                for count, entries in memory.items()}

    def scale_inproc(self, count):
        """The module side alone: QemuTaskRunner/QemuShutdownRunner over count VMs, one after the other."""
        state_dir = os.path.join(self.rundir, 'scale-inproc-%d' % count)
        os.makedirs(state_dir)
        image_dir = self.vm_images(count)
        try:
            started = time.perf_counter()
            for index in range(count):
                self.run_task(self.task_args('vm%d' % index, state_dir, image_path=os.path.join(image_dir, 'vm%d.img' % index)))
            self.sample('scale.inproc.start.%d' % count, time.perf_counter() - started)
            for index in range(count):
                wait_for_line(os.path.join(state_dir, 'vm%d' % index, 'console.log'), READY_LINE, READY_TIMEOUT)
            started = time.perf_counter()
            for index in range(count):
                self.run_task(self.task_args('vm%d' % index, state_dir, image_path=os.path.join(image_dir, 'vm%d.img' % index)))
            self.sample('scale.inproc.noop.%d' % count, time.perf_counter() - started)
            started = time.perf_counter()
            for index in range(count):
                result = self.mu['_stop'].QemuShutdownRunner({'name': 'vm%d' % index, 'state_dir': state_dir, 'kill_timeout': KILL_TIMEOUT}).run()
                if not result.get('graceful'):
                    raise BenchError('in-process stop of vm%d was not graceful: %r' % (index, result))
            self.sample('scale.inproc.stop.%d' % count, time.perf_counter() - started)
        finally:
            left = processes_naming(state_dir)
            if left:
                stop_processes(left)
            shutil.rmtree(state_dir, ignore_errors=True)

    # ---- stage: peer (libvirt) -------------------------------------------------------------
    def stage_peer(self):
        self.peer = Peer(self)
        self.peer.setup()
        self.peer.measure()

    # ---- run -----------------------------------------------------------------------------------
    def run(self):
        stages = [('start', self.stage_start), ('noop', self.stage_noop), ('stop', self.stage_stop),
                  ('profile', self.stage_profile), ('scale', self.stage_scale)]
        if self.args.peer:
            stages.append(('peer', self.stage_peer))
        else:
            self.skips['peer'] = ('quick mode does not need libvirt (run make bench for the peer comparison)' if self.args.quick
                                  else '--no-peer was given')
        if self.args.only:
            stages = [(name, stage) for name, stage in stages if name in self.args.only]
        self.extra['load_before'] = os.getloadavg()
        self.extra['other_qemu_before'] = count_other_qemu()
        for name, stage in stages:
            log('stage %s' % name)
            started = time.monotonic()
            try:
                self.wait_for_policy()
                try:
                    stage()
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    if not self.policy_interfered(exc):
                        raise
                    # Someone else changed the host policy under us: wait until it is back, then run the stage again.
                    log('stage %s failed while the host policy %s was changed by someone else: %s; running it again' % (name, POLICY_PATH, exc))
                    self.remarks.append('stage %s was run again: the host policy was changed by someone else during its first run' % name)
                    for key in [key for key in self.samples if key.split('.', 1)[0] in STAGE_SAMPLES[name]]:
                        del self.samples[key]
                    self.wait_for_policy()
                    stage()
            except Skip as exc:
                self.skips[name] = str(exc)
                log('%s skipped: %s' % (name, exc))
            except (BenchError, Exception) as exc:  # pylint: disable=broad-exception-caught
                if name == 'peer':
                    # Where libvirt cannot run, say why and carry on.
                    self.skips[name] = 'libvirt could not be measured here: %s' % exc
                    log('peer skipped: %s' % exc)
                else:
                    self.errors.append({'stage': name, 'error': str(exc), 'traceback': traceback.format_exc()})
                    log('stage %s FAILED: %s' % (name, exc))
            self.extra.setdefault('stage_seconds', {})[name] = round(time.monotonic() - started, 1)
        self.extra['load_after'] = os.getloadavg()
        self.extra['other_qemu_after'] = count_other_qemu()


def count_other_qemu():
    """QEMU processes of other people on this machine (they share the CPU with the bench)."""
    count = 0
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            parts = cmdline(int(entry))
            if parts and os.path.basename(parts[0]).startswith(b'qemu-system') and b'nqbench-' not in b' '.join(parts):
                count += 1
    return count


# ---------------------------------------------------------------------------------------
# The peer: libvirt


class Peer:
    """libvirtd from Debian (started by the bench when none runs), virsh, and community.libvirt.virt."""

    def __init__(self, bench):
        self.bench = bench
        self.domain = None
        self.defined = False
        self.daemons = []
        self.kvm_restore = None
        self.virt_ok = None
        self.workdir = None
        self.image = None
        self.console = None
        self.notes = []

    def virsh(self, *args, timeout=120, check=True):
        result = subprocess.run(['virsh', '-q', '-c', LIBVIRT_URI] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, check=False, timeout=timeout, cwd=self.bench.rundir)
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
        if not self.bench.args.install:
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
            if os.path.exists(socket_path) and self.socket_answers(socket_path):
                continue
            pidfile = os.path.join(self.bench.rundir, '%s.pid' % daemon)
            flag = '-p' if daemon == 'virtlogd' else '--pid-file'
            result = subprocess.run([daemon, '-d', flag, pidfile], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    check=False, timeout=60, cwd='/')
            if result.returncode != 0:
                raise Skip('%s -d failed: %s' % (daemon, excerpt(result.stdout.decode('utf-8', 'replace'))))
            deadline = time.monotonic() + 30
            pid = None
            while time.monotonic() < deadline:
                pid = pid or read_pidfile(pidfile)
                if pid and os.path.exists(socket_path) and self.socket_answers(socket_path):
                    break
                time.sleep(0.05)
            else:
                raise Skip('%s did not open %s within 30 s' % (daemon, socket_path))
            self.daemons.append((daemon, pid))
            log('started %s (pid %d)' % (daemon, pid))
        started = time.monotonic()
        self.virsh('version', timeout=300)  # the first connection probes QEMU's capabilities
        self.notes.append('started virtlogd and libvirtd (first connection, QEMU capability probe: %.1f s)' % (time.monotonic() - started))

    @staticmethod
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

    def fetch_collection(self):
        """community.libvirt from the `ansible` package, extracted next to (not into) the pinned ansible-core."""
        target = os.path.join(PEER_CACHE, 'collections', 'ansible_collections', 'community', 'libvirt')
        manifest = os.path.join(target, 'MANIFEST.json')
        if not os.path.exists(manifest):
            download = os.path.join(self.bench.rundir, 'download')
            result = subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--disable-pip-version-check', '--no-deps',
                                     '--only-binary', ':all:', '-d', download, ANSIBLE_PACKAGE],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=1800)
            wheels = glob.glob(os.path.join(download, 'ansible-*.whl'))
            if result.returncode != 0 or not wheels:
                raise Skip('pip download %s failed: %s' % (ANSIBLE_PACKAGE, excerpt(result.stdout.decode('utf-8', 'replace'))))
            prefix = 'ansible_collections/community/libvirt/'
            staging = tempfile.mkdtemp(prefix='libvirt-', dir=self.bench.rundir)
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

    def domain_xml(self):
        return """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{qemu}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{image}'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
""".format(name=self.domain, memory=MEMORY_MB, qemu=escape(self.bench.qemu), image=escape(self.image),
           console=escape(self.console))

    def setup(self):
        self.install()
        self.fix_kvm_permissions()
        self.start_daemons()
        try:
            collection = self.fetch_collection()
            self.virt_ok = True
        except Skip as exc:
            collection = None
            self.virt_ok = False
            self.bench.skips['peer.virt'] = str(exc)
        self.workdir = os.path.join(self.bench.rundir, 'libvirt')
        os.makedirs(self.workdir)
        os.chmod(self.workdir, 0o755)
        self.image = os.path.join(self.workdir, 'bootsector.img')
        shutil.copy(self.bench.images['bootsector'], self.image)
        self.console = os.path.join(self.workdir, 'console.log')
        self.domain = 'nqbench-%s' % os.path.basename(self.bench.rundir).split('-', 1)[1]
        xml_path = os.path.join(self.workdir, 'domain.xml')
        write_file(xml_path, self.domain_xml())
        self.virsh('define', xml_path)
        self.defined = True
        _code, version = self.virsh('version', '--daemon')
        self.bench.extra['peer'] = {'collection': collection, 'virsh_version': version, 'domain': self.domain}

    def qemu_pid(self):
        return read_pidfile('/run/libvirt/qemu/%s.pid' % self.domain)

    def domstate(self):
        return self.virsh('domstate', self.domain, check=False)[1]

    def wait_off(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.domstate() == 'shut off':
                return
            time.sleep(0.02)
        raise BenchError('libvirt did not report %s shut off within %d s' % (self.domain, timeout))

    def before_start(self):
        if self.domstate() != 'shut off':
            self.virsh('destroy', self.domain, check=False)
            self.wait_off()
        if os.path.exists(self.console):
            os.unlink(self.console)

    def after_start(self):
        pid = self.qemu_pid()
        if not pid or not alive(pid):
            raise BenchError('libvirt reports %s started but its QEMU does not run' % self.domain)
        wait_for_line(self.console, READY_LINE, READY_TIMEOUT)
        return pid

    def measure(self):
        bench = self.bench
        state_dir = bench.state_dir('peer')
        ours = bench.task_args('peer', state_dir)

        def virsh_cycle(record):
            self.before_start()
            started = time.perf_counter()
            self.virsh('start', self.domain)
            start_seconds = time.perf_counter() - started
            pid = self.after_start()
            started = time.perf_counter()
            self.virsh('shutdown', self.domain)
            returned = time.perf_counter() - started
            if not wait_exit(pid, 30):
                raise BenchError('the libvirt guest did not power off within 30 s')
            exited = time.perf_counter() - started
            self.wait_off()
            off = time.perf_counter() - started
            if record:
                bench.sample('peer.virsh.start', start_seconds)
                bench.sample('peer.virsh.shutdown_returned', returned)
                bench.sample('peer.virsh.shutdown_exit', exited)
                bench.sample('peer.virsh.shutdown_off', off)

        def virt_cycle(record):
            self.before_start()
            seconds, result = bench.adhoc('community.libvirt.virt', {'name': self.domain, 'state': 'running', 'uri': LIBVIRT_URI},
                                          python=SYSTEM_PYTHON)
            start_cpu = bench.last_cpu
            if not result.get('changed'):
                raise BenchError('community.libvirt.virt did not start the domain: %r' % result)
            pid = self.after_start()
            started = time.perf_counter()
            returned, result = bench.adhoc('community.libvirt.virt', {'name': self.domain, 'state': 'shutdown', 'uri': LIBVIRT_URI},
                                           python=SYSTEM_PYTHON)
            if not wait_exit(pid, 30):
                raise BenchError('the libvirt guest did not power off within 30 s of community.libvirt.virt state=shutdown')
            exited = time.perf_counter() - started
            self.wait_off()
            off = time.perf_counter() - started
            if record:
                bench.sample('peer.virt.shutdown_off', off)
                bench.sample('peer.virt.start', seconds)
                bench.sample('peer.virt.start.cpu', start_cpu)
                bench.sample('peer.virt.shutdown_returned', returned)
                bench.sample('peer.virt.shutdown_exit', exited)

        def ours_cycle(record):
            bench.remove_task('peer', state_dir)
            seconds, result = bench.adhoc('nomadic.qemu.qemu_task', ours, python=SYSTEM_PYTHON)
            start_cpu = bench.last_cpu
            if not result.get('changed'):
                raise BenchError('qemu_task did not start the VM: %r' % result)
            pid = result['task']['pid']
            wait_for_line(result['task']['console_log'], READY_LINE, READY_TIMEOUT)
            started = time.perf_counter()
            returned, result = bench.adhoc('nomadic.qemu.qemu_shutdown', {'name': 'peer', 'state_dir': state_dir, 'kill_timeout': KILL_TIMEOUT},
                                           python=SYSTEM_PYTHON)
            if not result.get('graceful') or alive(pid):
                raise BenchError('qemu_shutdown did not stop the VM gracefully: %r' % result)
            exited = time.perf_counter() - started
            if record:
                bench.sample('peer.ours.start', seconds)
                bench.sample('peer.ours.start.cpu', start_cpu)
                bench.sample('peer.ours.shutdown_returned', returned)
                bench.sample('peer.ours.shutdown_exit', exited)

        variants = [virsh_cycle, ours_cycle] + ([virt_cycle] if self.virt_ok else [])
        try:
            bench.interleaved(variants, bench.args.runs)
        finally:
            bench.remove_task('peer', state_dir)
        bench.extra['peer']['notes'] = self.notes

    def teardown(self):
        if self.defined:
            if self.domstate() not in ('shut off', ''):
                self.virsh('destroy', self.domain, check=False, timeout=60)
            self.virsh('undefine', self.domain, check=False, timeout=60)
            self.defined = False
        for daemon, pid in reversed(self.daemons):
            if pid and alive(pid) and os.path.basename(cmdline(pid)[0]).decode('utf-8', 'replace') == daemon:
                os.kill(pid, signal.SIGTERM)
                if not wait_exit(pid, 15):
                    os.kill(pid, signal.SIGKILL)
        self.daemons = []
        if self.kvm_restore is not None:
            uid, gid, mode = self.kvm_restore
            os.chown('/dev/kvm', uid, gid)
            os.chmod('/dev/kvm', mode)
            self.kvm_restore = None


# ---------------------------------------------------------------------------------------
# Report: comparisons, table, JSON, SVG


def comparisons(bench):
    """The rows of the summary, each ours against the baseline measured in the same run (medians)."""
    med = bench.median
    rows = []

    def add(group, label, ours, base, target=None, limit=None, note='', cpu=None):
        ours_value, base_value = med(ours) if isinstance(ours, str) else ours, med(base) if isinstance(base, str) else base
        if ours_value is None or base_value is None:
            return
        row = {'group': group, 'label': label, 'ours': ours_value, 'baseline': base_value, 'ratio': ours_value / base_value,
               'difference': ours_value - base_value, 'target': target, 'limit': limit, 'note': note,
               'ours_key': ours if isinstance(ours, str) else None, 'baseline_key': base if isinstance(base, str) else None}
        if cpu and med(ours + '.cpu') is not None and med(base + '.cpu') is not None:
            row['ours_cpu'], row['baseline_cpu'] = med(ours + '.cpu'), med(base + '.cpu')
            row['cpu_ratio'] = row['ours_cpu'] / row['baseline_cpu']
        if target == 'ratio':
            row['met'] = row['ratio'] <= limit
            if 'cpu_ratio' in row:
                row['met_cpu'] = row['cpu_ratio'] <= limit
        elif target == 'difference':
            row['met'] = row['difference'] <= limit
        rows.append(row)

    add('start', 'ad hoc: qemu_task vs command running the same argv', 'start.adhoc.qemu_task', 'start.adhoc.command',
        'ratio', TARGET_START_RATIO, cpu=True)
    add('start', 'in-process: QemuTaskRunner vs bare -daemonize (until QMP answers)', 'start.inproc.runner', 'start.inproc.bare',
        'ratio', TARGET_START_RATIO)
    add('start', 'ad hoc: qemu_task vs ping', 'start.adhoc.qemu_task', 'start.adhoc.ping', cpu=True)
    add('no-op', 'ad hoc: qemu_task on the running VM vs ping', 'noop.adhoc.qemu_task', 'noop.adhoc.ping',
        'ratio', TARGET_NOOP_RATIO, cpu=True)
    add('no-op', 'its parts: AnsiballZ payload run alone, qemu_task vs ping', 'payload.qemu_task', 'payload.ping', cpu=True)
    add('no-op', 'its parts: controller builds the payload, qemu_task vs ping', 'build.qemu_task', 'build.ping')
    add('stop', "in-process: QemuShutdownRunner vs the guest's own shutdown", 'stop.inproc.runner', 'stop.guest',
        'difference', TARGET_STOP_EXTRA)
    add('stop', 'in-process: QemuShutdownRunner vs powerdown + once-a-second poll', 'stop.inproc.runner', 'stop.naive_poll')
    ping, guest = med('stop.adhoc.ping'), med('stop.guest')
    add('stop', "ad hoc: qemu_shutdown vs ping + the guest's own shutdown", 'stop.adhoc.qemu_shutdown',
        ping + guest if ping is not None and guest is not None else None)
    first = bench.args.scale[0]
    for count in bench.args.scale:
        add('scale', 'no-op over %d VM%s vs ping over as many loop items' % (count, 's' if count > 1 else ''), 'scale.noop.%d' % count,
            'scale.ping.%d' % count, 'ratio', TARGET_NOOP_RATIO, cpu=True)
    for count in bench.args.scale[1:]:
        for phase, key in (('start', 'scale.async.start'), ('start', 'scale.loop.start'), ('no-op', 'scale.noop'),
                           ('stop', 'scale.async.stop'), ('stop', 'scale.loop.stop')):
            add('scale', '%s of %d VMs vs %d (one playbook, %s)' % (phase, count, first, 'async' if 'async' in key else 'loop'),
                '%s.%d' % (key, count), '%s.%d' % (key, first), note='linear: %gx' % (count / first))
    add('peer', 'ad hoc start: qemu_task vs community.libvirt.virt', 'peer.ours.start', 'peer.virt.start', cpu=True)
    add('peer', 'ad hoc graceful stop, until QEMU exits: qemu_shutdown vs virt', 'peer.ours.shutdown_exit', 'peer.virt.shutdown_exit')
    add('peer', 'start: QemuTaskRunner (in-process) vs virsh start', 'start.inproc.runner', 'peer.virsh.start')
    add('peer', 'graceful stop: QemuShutdownRunner vs virsh shutdown (until exit)', 'stop.inproc.runner', 'peer.virsh.shutdown_exit')
    return rows


SCALE_KEYS = ('scale.async.start', 'scale.loop.start', 'scale.noop', 'scale.ping', 'scale.async.stop', 'scale.loop.stop',
              'scale.inproc.start', 'scale.inproc.noop', 'scale.inproc.stop')


def scale_table(bench):
    rows = []
    for count in bench.args.scale:
        row = {'count': count}
        for key in SCALE_KEYS:
            row[key] = bench.median('%s.%d' % (key, count))
            row[key + '.cpu'] = bench.median('%s.%d.cpu' % (key, count))
        memory = bench.extra.get('memory', {}).get(str(count))
        if memory:
            row.update(memory)
        rows.append(row)
    return rows


def growth(bench, key, suffix=''):
    """Seconds per extra VM between the first and second count, and between the second and last (suffix '.cpu': CPU time)."""
    counts = bench.args.scale
    values = [bench.median('%s.%d%s' % (key, count, suffix)) for count in counts]
    if len(counts) < 3 or None in values:
        return None
    first = (values[1] - values[0]) / (counts[1] - counts[0])
    last = (values[-1] - values[1]) / (counts[-1] - counts[1])
    return {'per_vm_first': first, 'per_vm_last': last, 'linear_or_better': last <= first * 1.25 + 0.001}


GROWTH_KEYS = ('scale.async.start', 'scale.loop.start', 'scale.noop', 'scale.ping', 'scale.async.stop', 'scale.loop.stop',
               'scale.inproc.start', 'scale.inproc.noop', 'scale.inproc.stop')


def print_report(bench, rows):
    out = []
    out.append('')
    mode = 'quick' if bench.args.quick else 'full'
    out.append('nomadic.qemu bench (%s, %d runs, medians; TCG, %d MB guests)' % (mode, bench.args.runs, MEMORY_MB))
    out.append('%-6s %-66s %10s %10s %7s %10s %7s  %s' % ('group', 'comparison', 'ours', 'baseline', 'ratio', 'diff', 'CPU', 'target'))
    for row in rows:
        target = ''
        if row['target'] == 'ratio':
            target = '<= %.2fx: %s' % (row['limit'], 'met' if row['met'] else 'MISSED')
            if 'met_cpu' in row:
                target += ' (on CPU time: %s)' % ('met' if row['met_cpu'] else 'MISSED')
        elif row['target'] == 'difference':
            target = '<= +%s: %s' % (fmt_seconds(row['limit']), 'met' if row['met'] else 'MISSED')
        elif row['note']:
            target = '(%s)' % row['note']
        out.append('%-6s %-66s %10s %10s %6.2fx %10s %7s  %s' % (
            row['group'], row['label'][:66], fmt_seconds(row['ours']), fmt_seconds(row['baseline']), row['ratio'],
            ('+' if row['difference'] >= 0 else '-') + fmt_seconds(abs(row['difference'])),
            '%.2fx' % row['cpu_ratio'] if 'cpu_ratio' in row else '', target))
    out.append('')
    out.append('scale (medians, seconds; playbooks include ansible-playbook start-up; in-process = the module side alone)')
    header = ['VMs', 'start async', 'start loop', 'no-op loop', 'ping loop', 'stop async', 'stop loop', 'inproc start',
              'inproc no-op', 'inproc stop', 'RSS/VM', 'PSS/VM', 'idle CPU/VM']
    out.append(' '.join('%11s' % item for item in header))
    for row in scale_table(bench):
        cells = [str(row['count'])]
        for key in SCALE_KEYS:
            cells.append(fmt_seconds(row[key]))
        for key in ('rss_median', 'pss_median'):
            cells.append('%.1f MiB' % (row[key] / 1048576.0) if row.get(key) else '-')
        cells.append('%.1f%%' % (row['idle_cpu_median'] * 100) if row.get('idle_cpu_median') is not None else '-')
        out.append(' '.join('%11s' % cell for cell in cells))
    for key in GROWTH_KEYS:
        for suffix, what in (('', 'wall'), ('.cpu', 'CPU')):
            grow = growth(bench, key, suffix)
            if grow:
                out.append('  %-13s %-4s %9s per extra VM up to %d, %9s per extra VM beyond: %s' % (
                    key[6:], what, fmt_seconds(grow['per_vm_first']), bench.args.scale[1], fmt_seconds(grow['per_vm_last']),
                    'linear or better' if grow['linear_or_better'] else 'WORSE than linear'))
    profile = bench.extra.get('profile')
    if profile:
        out.append('')
        imports = profile['payload_import']
        build = profile['ansiballz_build']
        out.append('where the time goes (fastest of several runs):')
        out.append('  imports of the AnsiballZ payload (from its zip, compiled): qemu_task %s, command %s, ping %s; of which the '
                   'collection\'s own files %s and other modules ping does not import %s' % (
                       fmt_seconds(imports['qemu_task']['total_us'] / 1e6), fmt_seconds(imports['command']['total_us'] / 1e6),
                       fmt_seconds(imports['ping']['total_us'] / 1e6), fmt_seconds(imports['qemu_task']['collection_us'] / 1e6),
                       fmt_seconds(imports['qemu_task']['extra_us'] / 1e6)))
        out.append('  AnsiballZ build on the controller: %s' % ', '.join(
            '%s %s (%d KiB)' % (name.rsplit('.', 1)[-1], fmt_seconds(info['min_ms'] / 1000.0), info['bytes'] // 1024)
            for name, info in build.items()))
    out.append('')
    for name, why in sorted(bench.skips.items()):
        out.append('skipped %s: %s' % (name, why))
    for note in (bench.extra.get('peer') or {}).get('notes', []):
        out.append('peer: %s' % note)
    for remark in bench.remarks:
        out.append('note: %s' % remark)
    out.append('machine: %d cores, load %s before, %s after; other QEMU processes running: %d before, %d after' % (
        os.cpu_count() or 0, '/'.join('%.2f' % value for value in bench.extra['load_before']),
        '/'.join('%.2f' % value for value in bench.extra['load_after']), bench.extra['other_qemu_before'],
        bench.extra['other_qemu_after']))
    for error in bench.errors:
        out.append('ERROR in stage %s: %s' % (error['stage'], error['error']))
    print('\n'.join(out))
    sys.stdout.flush()


def environment(bench):
    def version(argv):
        try:
            return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                                  timeout=60).stdout.decode('utf-8', 'replace').strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None

    commit = version(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'])
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        'commit': commit,
        'cpus': os.cpu_count(),
        'kernel': platform.release(),
        'python': platform.python_version(),
        'ansible_core': version([bench.ansible, '--version']),
        'qemu': version([bench.qemu, '--version']) if bench.qemu else None,
        'accelerator': 'tcg',
        'memory_mb': MEMORY_MB,
    }


def json_report(bench, rows):
    return {
        'mode': 'quick' if bench.args.quick else 'full',
        'runs': bench.args.runs,
        'scale_counts': bench.args.scale,
        'environment': environment(bench),
        'conditions': {key: bench.extra.get(key) for key in (
            'load_before', 'load_after', 'other_qemu_before', 'other_qemu_after', 'stage_seconds', 'leftover_processes')},
        'targets': {'start_ratio': TARGET_START_RATIO, 'noop_ratio': TARGET_NOOP_RATIO, 'stop_extra_seconds': TARGET_STOP_EXTRA},
        'comparisons': rows,
        'scale': scale_table(bench),
        'growth': {key: growth(bench, key) for key in GROWTH_KEYS},
        'growth_cpu': {key: growth(bench, key, '.cpu') for key in GROWTH_KEYS if not key.startswith('scale.inproc.')},
        'measurements': {key: summarize(values) for key, values in sorted(bench.samples.items())},
        'profile': bench.extra.get('profile'),
        'peer': bench.extra.get('peer'),
        'skipped': bench.skips,
        'errors': bench.errors,
        'warnings': sorted(set(bench.notes)),
        'remarks': bench.remarks,
    }


def svg_bars(x, y, width, title, bars, unit_scale, unit):
    """A panel of horizontal bars: bars is [(label, value, kind)], kind 'ours', 'base' or 'gap'."""
    parts = ['<text x="%d" y="%d" class="title">%s</text>' % (x, y + 14, escape(title))]
    top = y + 26
    values = [value for _label, value, kind in bars if kind != 'gap' and value is not None]
    peak = max(values) if values else 1.0
    label_width = 330
    bar_space = width - label_width - 80
    for label, value, kind in bars:
        if kind == 'gap':
            parts.append('<text x="%d" y="%d" class="group">%s</text>' % (x, top + 12, escape(label)))
            top += 18
            continue
        length = 0 if value is None else max(1.0, bar_space * value / peak)
        parts.append('<text x="%d" y="%d" class="label">%s</text>' % (x + 10, top + 11, escape(label)))
        parts.append('<rect x="%d" y="%d" width="%.1f" height="13" class="%s"/>' % (x + label_width, top, length, kind))
        text = '-' if value is None else ('%.0f %s' % (value * unit_scale, unit) if value * unit_scale >= 10 else
                                          '%.1f %s' % (value * unit_scale, unit))
        parts.append('<text x="%.1f" y="%d" class="value">%s</text>' % (x + label_width + length + 4, top + 11, escape(text)))
        top += 17
    return parts, top


def nice_step(raw):
    """The smallest of 1, 2, 2.5 and 5 times a power of ten that is at least raw."""
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def svg_lines(x, y, width, height, title, counts, series):
    """A panel of lines: seconds against the number of VMs; series is [(label, [values], css class)]."""
    parts = ['<text x="%d" y="%d" class="title">%s</text>' % (x, y + 14, escape(title))]
    left, top = x + 50, y + 30
    plot_w, plot_h = width - 230, height - 60
    values = [value for _label, line, _css in series for value in line if value is not None]
    step = nice_step(max(values) / 4 if values else 0.25)
    peak = step * max(1, -(-max(values or [1.0]) // step))
    parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>' % (left, top + plot_h, left + plot_w, top + plot_h))
    parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>' % (left, top, left, top + plot_h))
    span = max(counts) - min(counts) or 1

    def px(count):
        return left + plot_w * (count - min(counts)) / span

    ticks = int(round(peak / step))
    for tick in range(ticks + 1):
        value = step * tick
        ty = top + plot_h - plot_h * tick / ticks
        parts.append('<text x="%d" y="%.1f" class="tick" text-anchor="end">%g s</text>' % (left - 4, ty + 4, round(value, 3)))
    for count in counts:
        parts.append('<text x="%.1f" y="%d" class="tick" text-anchor="middle">%d</text>' % (px(count), top + plot_h + 14, count))
    parts.append('<text x="%d" y="%d" class="tick" text-anchor="middle">VMs</text>' % (left + plot_w / 2, top + plot_h + 28))
    for index, (label, line, css) in enumerate(series):
        points = [(px(count), top + plot_h - plot_h * value / peak) for count, value in zip(counts, line) if value is not None]
        if not points:
            continue
        parts.append('<polyline points="%s" class="line %s"/>' % (' '.join('%.1f,%.1f' % point for point in points), css))
        for point in points:
            parts.append('<circle cx="%.1f" cy="%.1f" r="3" class="dot %s"/>' % (point[0], point[1], css))
        ly = top + 10 + index * 16
        parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" class="line %s"/>' % (left + plot_w + 15, ly - 4, left + plot_w + 35, ly - 4, css))
        parts.append('<text x="%d" y="%d" class="label">%s</text>' % (left + plot_w + 40, ly, escape(label)))
    return parts, y + height


def svg_report(bench, report):
    med = bench.median
    width = 820
    parts = []
    adhoc = [
        ('start', None, 'gap'),
        ('qemu_task (state=running)', med('start.adhoc.qemu_task'), 'ours'),
        ('command running the same QEMU argv', med('start.adhoc.command'), 'base'),
        ('no-op re-run', None, 'gap'),
        ('qemu_task on the running VM', med('noop.adhoc.qemu_task'), 'ours'),
        ('ping', med('noop.adhoc.ping'), 'base'),
        ('graceful stop', None, 'gap'),
        ('qemu_shutdown', med('stop.adhoc.qemu_shutdown'), 'ours'),
        ("ping + the guest's own shutdown", med('stop.adhoc.ping') + med('stop.guest')
         if med('stop.adhoc.ping') is not None and med('stop.guest') is not None else None, 'base'),
    ]
    if med('peer.virt.start') is not None:
        adhoc += [
            ('libvirt peer (same interpreter)', None, 'gap'),
            ('qemu_task start', med('peer.ours.start'), 'ours'),
            ('community.libvirt.virt start', med('peer.virt.start'), 'peer'),
            ('qemu_shutdown, until QEMU exits', med('peer.ours.shutdown_exit'), 'ours'),
            ('community.libvirt.virt shutdown, until QEMU exits', med('peer.virt.shutdown_exit'), 'peer'),
        ]
    panel, bottom = svg_bars(20, 40, width - 20, 'Through Ansible, ad hoc (median, ms)', adhoc, 1000, 'ms')
    parts += panel
    inproc = [
        ('start, until QMP answers', None, 'gap'),
        ('QemuTaskRunner.run()', med('start.inproc.runner'), 'ours'),
        ('bare qemu-system-x86_64 -daemonize', med('start.inproc.bare'), 'base'),
        ('no-op', None, 'gap'),
        ('QemuTaskRunner.run() on the running VM', med('noop.inproc.runner'), 'ours'),
        ('graceful stop, until QEMU exits', None, 'gap'),
        ('QemuShutdownRunner.run()', med('stop.inproc.runner'), 'ours'),
        ("the guest's own shutdown (by hand)", med('stop.guest'), 'base'),
        ('powerdown, then a once-a-second poll', med('stop.naive_poll'), 'naive'),
    ]
    if med('peer.virsh.start') is not None:
        inproc += [
            ('libvirt peer', None, 'gap'),
            ('virsh start', med('peer.virsh.start'), 'peer'),
            ('virsh shutdown, until QEMU exits', med('peer.virsh.shutdown_exit'), 'peer'),
        ]
    panel, bottom = svg_bars(20, bottom + 16, width - 20, 'Module logic in-process vs bare QEMU (median, ms)', inproc, 1000, 'ms')
    parts += panel
    counts = bench.args.scale
    series = [
        ('start (async)', [med('scale.async.start.%d' % count) for count in counts], 's1'),
        ('no-op (loop)', [med('scale.noop.%d' % count) for count in counts], 's2'),
        ('stop (async)', [med('scale.async.stop.%d' % count) for count in counts], 's3'),
        ('start (loop)', [med('scale.loop.start.%d' % count) for count in counts], 's4'),
        ('stop (loop)', [med('scale.loop.stop.%d' % count) for count in counts], 's5'),
        ('ping (loop): the floor', [med('scale.ping.%d' % count) for count in counts], 's6'),
    ]
    series = [item for item in series if any(value is not None for value in item[1])]
    panel, bottom = svg_lines(20, bottom + 16, width - 20, 240, 'Scale: one playbook over N VMs (median seconds)', counts, series)
    parts += panel
    env = report['environment']
    qemu_version = re.search(r'version (\S+)', env['qemu'] or '')
    footer = '%s, %s cores, QEMU %s (TCG), %d MB guests; %s runs; load %s; bench/run.py' % (
        env['date'][:10], env['cpus'], qemu_version.group(1) if qemu_version else '?', MEMORY_MB, report['runs'],
        '/'.join('%.2f' % value for value in report['conditions']['load_before'] or ()))
    parts.append('<text x="20" y="%d" class="tick">%s</text>' % (bottom + 18, escape(footer)))
    height = bottom + 30
    style = ('text{font-family:DejaVu Sans,Arial,sans-serif;fill:#222}.title{font-size:14px;font-weight:bold}'
             '.group{font-size:11px;font-weight:bold;fill:#555}.label{font-size:11px}.value{font-size:10px;fill:#333}'
             '.tick{font-size:10px;fill:#555}.ours{fill:#2a7ab9}.base{fill:#9aa5ad}.peer{fill:#d98c2b}.naive{fill:#c0504d}'
             '.axis{stroke:#888;stroke-width:1}.line{fill:none;stroke-width:2}.dot{stroke:none}'
             '.s1{stroke:#2a7ab9;fill:#2a7ab9}.s2{stroke:#6aa84f;fill:#6aa84f}.s3{stroke:#c0504d;fill:#c0504d}'
             '.s4{stroke:#2a7ab9;fill:#2a7ab9;stroke-dasharray:4 3}.s5{stroke:#c0504d;fill:#c0504d;stroke-dasharray:4 3}'
             '.s6{stroke:#9aa5ad;fill:#9aa5ad;stroke-dasharray:2 2}')
    head = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">\n<style>%s</style>\n'
            '<rect width="100%%" height="100%%" fill="#fff"/>\n'
            '<text x="20" y="24" class="title" style="font-size:16px">nomadic.qemu performance</text>\n'
            '<rect x="%d" y="12" width="10" height="10" class="ours"/><text x="%d" y="21" class="tick">nomadic.qemu</text>\n'
            '<rect x="%d" y="12" width="10" height="10" class="base"/><text x="%d" y="21" class="tick">floor</text>\n'
            '<rect x="%d" y="12" width="10" height="10" class="peer"/><text x="%d" y="21" class="tick">libvirt</text>\n'
            '<rect x="%d" y="12" width="10" height="10" class="naive"/><text x="%d" y="21" class="tick">1 s poll</text>\n') % (
                width, height, width, height, style, 420, 434, 530, 544, 600, 614, 670, 684)
    return head + '\n'.join(parts) + '\n</svg>\n'


# ---------------------------------------------------------------------------------------
# Command line


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='bench/run.py', description=__doc__.split('\n', 1)[0])
    parser.add_argument('--quick', action='store_true', help='under 2 minutes: 3 runs, 1 and 4 VMs, no libvirt, no plot')
    parser.add_argument('--runs', type=int, help='measured runs per variant (default 7, quick 3)')
    parser.add_argument('--scale', help='comma-separated VM counts (default 1,8,32; quick 1,4)')
    parser.add_argument('--scale-runs', type=int, help='repetitions of each scale step (default 3, quick 1)')
    parser.add_argument('--no-peer', dest='peer', action='store_false', default=None, help='skip the libvirt comparison')
    parser.add_argument('--no-install', dest='install', action='store_false', default=True,
                        help='do not install libvirt from Debian (the peer is skipped when it is missing)')
    parser.add_argument('--json', help='where to write the results (default bench/results/latest.json, quick: quick.json)')
    parser.add_argument('--svg', help='where to write the plot (default %s for a full run; none for quick)' % os.path.relpath(DOCS_SVG, ROOT))
    parser.add_argument('--no-svg', action='store_true', help='do not write the plot')
    parser.add_argument('--markdown', metavar='RESULTS', help='print the tables of docs/performance.md from a results file, and exit')
    parser.add_argument('--plot', metavar='RESULTS', help='draw the plot (--svg, default %s) from a results file, and exit'
                        % os.path.relpath(DOCS_SVG, ROOT))
    parser.add_argument('--only', help='run only these stages (comma-separated: %s)' % ','.join(STAGES))
    parser.add_argument('--keep', action='store_true', help='keep the run directory (VMs are stopped anyway)')
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 7)
    if args.runs < 1:
        parser.error('--runs must be 1 or more')
    try:
        args.scale = sorted(set(int(item) for item in (args.scale or ('1,4' if args.quick else '1,8,32')).split(',')))
    except ValueError:
        parser.error('--scale takes VM counts separated by commas, such as 1,8,32')
    if not args.scale or args.scale[0] < 1:
        parser.error('--scale counts must be 1 or more')
    args.scale_runs = args.scale_runs or (1 if args.quick else 3)
    if args.peer is None:
        args.peer = not args.quick
    args.only = [item.strip() for item in args.only.split(',')] if args.only else None
    if args.only and not set(args.only) <= set(STAGES):
        parser.error('--only takes stage names among %s' % ', '.join(STAGES))
    args.json = args.json or os.path.join(RESULTS_DIR, 'quick.json' if args.quick else 'latest.json')
    if args.no_svg:
        args.svg = None
    elif not args.svg and not args.quick:
        args.svg = DOCS_SVG
    return args


def markdown(report):
    """The tables of docs/performance.md, from a results file."""
    out = ['| | comparison | ours | baseline | ratio | difference | CPU ratio | target |', '|---|---|---:|---:|---:|---:|---:|---|']
    for row in report['comparisons']:
        target = ''
        if row['target'] == 'ratio':
            target = '<= %.2fx: %s' % (row['limit'], 'met' if row['met'] else '**missed**')
            if 'met_cpu' in row:
                target += ' (CPU: %s)' % ('met' if row['met_cpu'] else '**missed**')
        elif row['target'] == 'difference':
            target = '<= +%s: %s' % (fmt_seconds(row['limit']), 'met' if row['met'] else '**missed**')
        out.append('| %s | %s | %s | %s | %.2fx | %s%s | %s | %s |' % (
            row['group'], row['label'], fmt_seconds(row['ours']), fmt_seconds(row['baseline']), row['ratio'],
            '+' if row['difference'] >= 0 else '-', fmt_seconds(abs(row['difference'])),
            '%.2fx' % row['cpu_ratio'] if 'cpu_ratio' in row else '', target))
    out += ['', '| VMs | start, async | start, loop | no-op, loop | ping, loop | stop, async | stop, loop | in-process start | '
                'in-process no-op | in-process stop | RSS per VM | PSS per VM | idle CPU per VM |',
            '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for row in report['scale']:
        cells = [fmt_seconds(row.get(key)) for key in SCALE_KEYS]
        cells += ['%.1f MiB' % (row[key] / 1048576.0) if row.get(key) else '-' for key in ('rss_median', 'pss_median')]
        cells.append('%.1f%%' % (row['idle_cpu_median'] * 100) if row.get('idle_cpu_median') is not None else '-')
        out.append('| %d | %s |' % (row['count'], ' | '.join(cells)))
    return '\n'.join(out) + '\n'


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.markdown:
        print(markdown(json.loads(read_file(args.markdown))), end='')
        return 0
    if args.plot:
        report = json.loads(read_file(args.plot))
        bench = Bench(args)
        bench.samples = {key: value['samples'] for key, value in report['measurements'].items() if value}
        bench.args.scale = report['scale_counts']
        write_file(args.svg or DOCS_SVG, svg_report(bench, report))
        log('plot written to %s' % os.path.relpath(args.svg or DOCS_SVG))
        return 0
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    bench = Bench(args)
    started = time.monotonic()
    try:
        bench.setup()
        bench.run()
    except KeyboardInterrupt:
        log('interrupted; stopping every VM of this run')
        bench.cleanup()
        return 130
    except BenchError as exc:
        log('error: %s' % exc)
        bench.cleanup()
        return 1
    bench.cleanup()
    if bench.extra.get('leftover_processes'):
        bench.errors.append({'stage': 'cleanup', 'error': '%d process(es) of this run were still running at the end'
                             % bench.extra['leftover_processes'], 'traceback': ''})
    rows = comparisons(bench)
    report = json_report(bench, rows)
    report['seconds'] = round(time.monotonic() - started, 1)
    print_report(bench, rows)
    text = json.dumps(report, indent=1, sort_keys=True) + '\n'
    write_file(args.json, text)
    if os.path.dirname(os.path.abspath(args.json)) == RESULTS_DIR:
        # Every run also kept under its date (the directory is not committed).
        write_file(os.path.join(RESULTS_DIR, '%s-%s.json' % (report['mode'], report['environment']['date'].replace(':', ''))), text)
    log('results written to %s (%.0f s in all)' % (os.path.relpath(args.json), report['seconds']))
    if args.svg:
        write_file(args.svg, svg_report(bench, report))
        log('plot written to %s' % os.path.relpath(args.svg))
    return 1 if bench.errors else 0


if __name__ == '__main__':
    sys.exit(main())
