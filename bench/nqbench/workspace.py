# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One run of the bench: its directory and environment, the images, the stage loop and the clean-up.

Every VM the bench starts lives under one fresh directory and is stopped at the end, also on
errors and Ctrl-C; only processes whose command line names that directory (and the libvirt
daemons the bench started itself, by their recorded identity) are ever signalled.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

from . import processes
from .harness import Ansible, BenchError, Skip, excerpt, link_collection, log, module_util, write_file
from .policy import HostPolicy
from .results import Results
from .settings import COMMAND_TIMEOUT, PEER_CACHE, POLICY_PATH, ROOT, STAGE_SAMPLES
from .vms import Bare, Tasks

# What the stages use of the collection: imported at set-up, so a broken tree stops the bench before any stage.
COLLECTION_MODULE_UTILS = ('_task.plan', '_task.reconcile', '_task.driver', '_task.stop', '_command', '_qmp', '_process')


class Bench:
    """The context every stage gets: options, results, the run directory, Ansible, the VMs, and the clean-up."""

    def __init__(self, args):
        self.args = args
        self.results = Results('quick' if args.quick else 'full', args.runs, args.scale)
        self.rundir = None
        self.images = {}
        self.image_dir = None
        self.own_image_dir = None
        self.policy = None
        self.peer = None
        self.qemu = shutil.which('qemu-system-x86_64')
        self.ansible = Ansible(os.path.dirname(sys.executable))
        self.tasks = None
        self.bare = None

    # ---- the results ---------------------------------------------------------------------
    def sample(self, key, seconds):
        self.results.sample(key, seconds)

    def sample_run(self, key, seconds, cpu=None):
        """Record the wall time of an ansible run, and its CPU time (by default the last run's) under key.cpu."""
        self.results.sample(key, seconds)
        self.results.sample(key + '.cpu', self.ansible.last_cpu if cpu is None else cpu)

    def state_dir(self, name):
        path = os.path.join(self.rundir, name)
        os.makedirs(path, exist_ok=True)
        return path

    # ---- set-up and clean-up -------------------------------------------------------------
    def setup(self):
        self.ansible.check()
        if not self.qemu:
            raise BenchError('qemu-system-x86_64 is not on PATH; install it (apt-get install qemu-system-x86), or run make deps')
        if not hasattr(os, 'pidfd_open'):
            raise BenchError('this Python has no os.pidfd_open; run the bench with Python 3.9+ on Linux')
        self.policy = HostPolicy()
        self.rundir = tempfile.mkdtemp(prefix='nqbench-', dir='/tmp')
        collections = link_collection(self.rundir)
        for name in COLLECTION_MODULE_UTILS:
            try:
                module_util(name)
            except ImportError as exc:
                raise BenchError('the collection under test cannot be imported (plugins/module_utils/%s.py): %s'
                                 % (name.replace('.', '/'), exc)) from None
        # QEMU run by libvirt (as its own user) must reach the image copy under it.
        os.chmod(self.rundir, 0o755)
        env = {key: value for key, value in os.environ.items() if not key.startswith('ANSIBLE_')}
        env.update({
            'ANSIBLE_CONFIG': os.path.join(self.rundir, 'ansible.cfg'),
            'ANSIBLE_COLLECTIONS_PATH': collections + os.pathsep + os.path.join(PEER_CACHE, 'collections'),
            'ANSIBLE_LOCALHOST_WARNING': 'False',
            'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
            'ANSIBLE_DEPRECATION_WARNINGS': 'False',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_REMOTE_TMP': os.path.join(self.rundir, 'remote-tmp'),
            'ANSIBLE_ASYNC_DIR': os.path.join(self.rundir, 'async'),
        })
        self.ansible.env, self.ansible.rundir = env, self.rundir
        write_file(env['ANSIBLE_CONFIG'], '[defaults]\n')
        out = subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'guests', 'build.py'), '--json', 'bootsector'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=COMMAND_TIMEOUT)
        if out.returncode != 0:
            raise BenchError('building the boot-sector guest failed: %s' % excerpt(out.stderr.decode()))
        built = json.loads(out.stdout)
        # Our own copy: QEMU locks an image it writes to, and other people may run the cached one.
        self.image_dir, own, remark = self.policy.image_directory(self.rundir)
        if own:
            self.own_image_dir = self.image_dir
        if remark:
            self.results.remarks.append(remark)
        self.images = {'bootsector': os.path.join(self.image_dir, 'bootsector.img'), 'source': built['bootsector']}
        shutil.copy(built['bootsector'], self.images['bootsector'])
        self.tasks = Tasks(self.images['bootsector'], self.results.warnings.append)
        self.bare = Bare(self.qemu, self.images['bootsector'])
        log('run directory %s; boot-sector guest %s' % (self.rundir, built['bootsector']))

    def vm_images(self, count):
        """A directory with one copy of the boot-sector image per VM (QEMU locks an image it writes to)."""
        for index in range(count):
            path = os.path.join(self.image_dir, 'vm%d.img' % index)
            if not os.path.exists(path):
                shutil.copy(self.images['bootsector'], path)
        return self.image_dir

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
        while time.monotonic() < deadline and any(processes.is_async_wrapper(pid) for pid in processes.processes_naming(self.rundir)):
            time.sleep(0.2)
        left = processes.processes_naming(self.rundir)
        if left:
            log('stopping %d leftover process(es) of this run:\n  %s' % (len(left), '\n  '.join(
                '%d %s' % (pid, ' '.join(processes.cmdline(pid))[:200]) for pid in left)))
            processes.stop_processes(left)
        self.results.extra['leftover_processes'] = len(left)
        if self.own_image_dir:
            shutil.rmtree(self.own_image_dir, ignore_errors=True)
        if self.args.keep:
            log('kept %s' % self.rundir)
        else:
            shutil.rmtree(self.rundir, ignore_errors=True)


def run_stages(bench, stages):
    """Run the stages [(name, function of bench)] in order, recording skips, errors, their time and the machine's load.

    A stage that failed while someone else changed the host policy is run again once it is back;
    a peer stage that cannot run is a skip, any other failure an error of the run.
    """
    results = bench.results
    extra = results.extra
    extra['load_before'] = os.getloadavg()
    extra['other_qemu_before'] = processes.count_other_qemu()
    for name, stage in stages:
        log('stage %s' % name)
        started = time.monotonic()
        try:
            bench.policy.wait_until_restored()
            try:
                stage(bench)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                if not bench.policy.interfered(exc):
                    raise
                # Someone else changed the host policy under us: wait until it is back, then run the stage again.
                log('stage %s failed while the host policy %s was changed by someone else: %s; running it again' % (name, POLICY_PATH, exc))
                results.remarks.append('stage %s was run again: the host policy was changed by someone else during its first run' % name)
                results.forget_stage(STAGE_SAMPLES[name])
                bench.policy.wait_until_restored()
                stage(bench)
        except Skip as exc:
            results.skips[name] = str(exc)
            log('%s skipped: %s' % (name, exc))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if name == 'peer':
                # Where libvirt cannot run, say why and carry on.
                results.skips[name] = 'libvirt could not be measured here: %s' % exc
                log('peer skipped: %s' % exc)
            else:
                results.errors.append({'stage': name, 'error': str(exc), 'traceback': traceback.format_exc()})
                log('stage %s FAILED: %s' % (name, exc))
        extra.setdefault('stage_seconds', {})[name] = round(time.monotonic() - started, 1)
    extra['load_after'] = os.getloadavg()
    extra['other_qemu_after'] = processes.count_other_qemu()
