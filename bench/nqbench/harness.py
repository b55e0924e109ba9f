# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The harness: running commands and Ansible, timing them (wall and CPU), interleaving variants, the environment."""

from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time

from .settings import COMMAND_TIMEOUT, MEMORY_MB, MODULE_UTILS, ROOT


class BenchError(Exception):
    """The harness broke: a step failed or something did not behave as it must."""


class Skip(Exception):
    """A part of the bench cannot run on this machine; the message says why."""


def log(message):
    print('bench: %s' % message, file=sys.stderr)
    sys.stderr.flush()


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


def link_collection(directory):
    """Make this tree importable as ansible_collections.nomadic.qemu (a link under directory); returns the collections path."""
    collections = os.path.join(directory, 'ac')
    os.makedirs(os.path.join(collections, 'ansible_collections', 'nomadic'))
    os.symlink(ROOT, os.path.join(collections, 'ansible_collections', 'nomadic', 'qemu'))
    sys.path.insert(0, collections)
    return collections


def module_util(name):
    """One of the collection's module_utils (link_collection() made them importable)."""
    return importlib.import_module(MODULE_UTILS + name)


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


def run_command(argv, cwd=None):
    """What AnsibleModule.run_command gives the Reconciler: (rc, stdout, stderr)."""
    result = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            check=False, timeout=COMMAND_TIMEOUT)
    return result.returncode, result.stdout.decode('utf-8', 'replace'), result.stderr.decode('utf-8', 'replace')


def timed_run(argv, **kwargs):
    """Run a command to its end: (wall seconds, CPU seconds of it and everything it ran and reaped, CompletedProcess).

    CPU time is much less sensitive than wall time to other work on the machine.
    """
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                            timeout=COMMAND_TIMEOUT, **kwargs)
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return seconds, cpu, result


def interleaved(variants, runs, warmup=1):
    """Run each variant runs times (after warm-up rounds that are not recorded), rotating the order every round.

    A variant is a callable taking one argument: True when its round is recorded.
    """
    for index in range(warmup + runs):
        shift = index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            variant(index >= warmup)


def first_line(argv):
    """The first line a command prints (its version, usually), or None."""
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                              timeout=60).stdout.decode('utf-8', 'replace').strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def environment(ansible, qemu):
    """The machine and the software the numbers were measured with."""
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        'commit': first_line(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD']),
        'cpus': os.cpu_count(),
        'kernel': platform.release(),
        'python': platform.python_version(),
        'ansible_core': first_line([ansible, '--version']),
        'qemu': first_line([qemu, '--version']) if qemu else None,
        'accelerator': 'tcg',
        'memory_mb': MEMORY_MB,
    }


def failure_lines(text):
    """The lines of Ansible's output that say what failed."""
    return [line for line in text.splitlines()
            if re.match(r'\s*(fatal:|failed:|\[ERROR\])', line) or '"msg":' in line or '=> {' in line and 'FAILED' in line]


def adhoc_result(out):
    """The module result `ansible HOST -m MODULE` prints after '=> ', or {} when it printed none."""
    index = out.find('=> {')
    if index >= 0:
        try:
            return json.loads(out[index + 3:])
        except ValueError:
            pass
    return {}


class Ansible:
    """The virtualenv's `ansible` and `ansible-playbook`, run in the run directory with the bench's environment.

    last_cpu holds the CPU time of the last run (ansible and everything it ran and reaped).
    """

    def __init__(self, bindir):
        self.ansible = os.path.join(bindir, 'ansible')
        self.playbook = os.path.join(bindir, 'ansible-playbook')
        self.rundir = None
        self.env = None
        self.last_cpu = None

    def check(self):
        for path in (self.ansible, self.playbook):
            if not os.access(path, os.X_OK):
                raise BenchError('%s not found: run the bench with the project virtualenv (make bench, or '
                                 '.venv/bin/python bench/run.py)' % path)

    def run(self, argv, python=None, env=None):
        """Run ansible or ansible-playbook; returns (seconds, stdout). A failure breaks the harness."""
        if python:
            argv = argv + ['-e', 'ansible_python_interpreter=%s' % python]
        seconds, self.last_cpu, result = timed_run(argv, cwd=self.rundir, env=dict(self.env, **env) if env else self.env)
        out = result.stdout.decode('utf-8', 'replace')
        if result.returncode != 0:
            err = result.stderr.decode('utf-8', 'replace')
            # The lines that say what failed first, then the end of the output.
            failed = failure_lines(out + '\n' + err)
            raise BenchError('%s failed (exit status %d): %s%s' % (
                ' '.join(argv[:4]), result.returncode, excerpt('\n'.join(failed), 3000) + '\n' if failed else '',
                excerpt(out + '\n' + err, 1500)))
        return seconds, out

    def adhoc(self, module, args=None, python=None, env=None):
        """`ansible localhost -m MODULE -a JSON`; returns (seconds, the module's result when printed as JSON)."""
        argv = [self.ansible, 'localhost', '-m', module]
        if args is not None:
            argv += ['-a', json.dumps(args)]
        seconds, out = self.run(argv, python=python, env=env)
        return seconds, adhoc_result(out)

    def run_playbook(self, path, extra_vars):
        seconds, _out = self.run([self.playbook, path, '-e', json.dumps(extra_vars)])
        return seconds
