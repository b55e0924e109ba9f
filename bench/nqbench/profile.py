# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the time goes: cProfile of Reconciler.run(), the AnsiballZ payloads run alone and their imports,
and the controller's payload build; qemu_task against ping and command."""

from __future__ import annotations

import cProfile
import glob
import io
import json
import os
import pstats
import re
import statistics
import subprocess
import sys

from .harness import BenchError, excerpt, interleaved, timed_run, wait_for_line
from .settings import COMMAND_TIMEOUT, HERE, READY_LINE, READY_TIMEOUT

BUILD_MODULES = ('ansible.builtin.ping', 'ansible.builtin.command', 'nomadic.qemu.qemu_task', 'nomadic.qemu.qemu_shutdown')
IMPORT_TIME = re.compile(r'import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)')


def stage_profile(bench):
    profile = {}
    runs = 3 if bench.args.quick else 7
    state_dir = bench.state_dir('profile')
    tasks = bench.tasks
    args = tasks.args('prof', state_dir)
    profiler = cProfile.Profile()
    profiler.enable()
    tasks.run(args)
    profiler.disable()
    profile['cprofile_start'] = profile_text(profiler)
    wait_for_line(os.path.join(state_dir, 'prof', 'console.log'), READY_LINE, READY_TIMEOUT)
    profiler = cProfile.Profile()
    profiler.enable()
    for _index in range(20):
        tasks.run(args)
    profiler.disable()
    profile['cprofile_noop_x20'] = profile_text(profiler)

    payloads = {}
    try:
        payloads = kept_payloads(bench, args)
        interleaved([payload_variant(bench, label, path) for label, path in payloads.items()], bench.args.runs)
        raw = {label: import_time(bench.rundir, path, runs) for label, path in payloads.items()}
        profile['payload_import'] = {label: import_summary(raw[label], raw['ping']) for label in raw}
        profile['cprofile_payload'] = payload_profile(bench.rundir, payloads['qemu_task'])
    finally:
        tasks.remove('prof', state_dir)
    profile['payload_bytes'] = {label: os.path.getsize(path) for label, path in payloads.items()}
    profile['ansiballz_build'] = ansiballz_build(bench, runs)
    bench.results.extra['profile'] = profile


def kept_payloads(bench, task_args):
    """The AnsiballZ payloads, kept where the module ran (ANSIBLE_KEEP_REMOTE_FILES), to run again on their own."""
    keep = os.path.join(bench.rundir, 'keep-tmp')
    env = {'ANSIBLE_KEEP_REMOTE_FILES': '1', 'ANSIBLE_REMOTE_TMP': keep}
    payloads = {}
    for label, module, module_args in (('qemu_task', 'nomadic.qemu.qemu_task', task_args), ('ping', 'ansible.builtin.ping', None),
                                       ('command', 'ansible.builtin.command', {'argv': ['true']})):
        bench.ansible.adhoc(module, module_args, env=env)
        found = sorted(glob.glob(os.path.join(keep, 'ansible-tmp-*', 'AnsiballZ_%s.py' % label)), key=os.path.getmtime)
        if not found:
            raise BenchError('ANSIBLE_KEEP_REMOTE_FILES left no AnsiballZ_%s.py under %s' % (label, keep))
        payloads[label] = found[-1]
    return payloads


def payload_variant(bench, label, path):
    """A variant running one kept payload without the controller, recorded under payload.LABEL."""
    def run(record):
        seconds, cpu, result = timed_run([sys.executable, path], cwd=bench.rundir)
        if result.returncode != 0 or b'"failed": true' in result.stdout:
            raise BenchError('the AnsiballZ payload of %s failed: %s' % (
                label, excerpt(result.stdout.decode() + result.stderr.decode())))
        if record:
            bench.sample_run('payload.%s' % label, seconds, cpu)
    return run


def parse_import_time(stderr):
    """`python -X importtime` output: (total microseconds of the top-level imports, {module: self microseconds})."""
    total = 0
    selfs = {}
    for line in stderr.splitlines():
        match = IMPORT_TIME.match(line)
        if not match:
            continue
        self_us, cumulative, indent, name = int(match.group(1)), int(match.group(2)), len(match.group(3)), match.group(4)
        if indent == 1:
            total += cumulative
        selfs[name] = min(self_us, selfs.get(name, self_us))
    return total, selfs


def import_time(rundir, script, runs):
    """Imports of a payload run in a fresh interpreter (the fastest of runs): total, and self time per module (microseconds).

    An AnsiballZ payload imports every module from its zip, from source (zipimport
    never uses cached bytecode), so this includes compiling them.
    """
    totals = []
    selfs = {}
    for _index in range(runs):
        result = subprocess.run([sys.executable, '-X', 'importtime', script], cwd=rundir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=COMMAND_TIMEOUT)
        if result.returncode != 0:
            raise BenchError('running %s failed: %s' % (script, excerpt(result.stderr.decode())))
        total, run_selfs = parse_import_time(result.stderr.decode())
        for name, value in run_selfs.items():
            selfs[name] = min(value, selfs.get(name, value))
        totals.append(total)
    return {'total_us': min(totals), 'self_us': selfs}


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


def payload_profile(rundir, script, limit=22):
    """cProfile of one payload run, by own time: what running the module costs on the host."""
    output = os.path.join(rundir, 'payload.prof')
    # Not `python -m cProfile`: the payload drops its __main__ file's directory from sys.path (there: the standard library).
    code = ('import cProfile, runpy, sys\nsys.argv = [sys.argv[1]]\nprofiler = cProfile.Profile()\ntry:\n'
            '    profiler.runcall(runpy.run_path, sys.argv[0], run_name="__main__")\nexcept SystemExit:\n    pass\n'
            'profiler.dump_stats(%r)\n' % output)
    result = subprocess.run([sys.executable, '-c', code, script], cwd=rundir, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=COMMAND_TIMEOUT)
    if result.returncode != 0:
        raise BenchError('profiling %s failed: %s' % (script, excerpt(result.stderr.decode())))
    stream = io.StringIO()
    pstats.Stats(output, stream=stream).strip_dirs().sort_stats('tottime').print_stats(limit)
    return '\n'.join(line.rstrip() for line in stream.getvalue().splitlines() if line.strip() and output not in line)


def ansiballz_build(bench, runs):
    """The controller's side: building each module's AnsiballZ payload (bench/ansiballz_build.py)."""
    result = subprocess.run([sys.executable, os.path.join(HERE, 'ansiballz_build.py'), str(runs)] + list(BUILD_MODULES),
                            env=bench.ansible.env, cwd=bench.rundir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                            timeout=COMMAND_TIMEOUT)
    if result.returncode != 0:
        raise BenchError('bench/ansiballz_build.py failed: %s' % excerpt(result.stderr.decode('utf-8', 'replace')))
    built = json.loads(result.stdout)
    for name, info in built.items():
        for value in info['ms']:
            bench.sample('build.%s' % name.rsplit('.', 1)[-1], value / 1000.0)
    return {name: {'median_ms': statistics.median(info['ms']), 'min_ms': min(info['ms']), 'bytes': info['bytes']}
            for name, info in built.items()}


def profile_text(profiler, limit=18):
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.strip_dirs().sort_stats('cumulative').print_stats(limit)
    lines = [line.rstrip() for line in stream.getvalue().splitlines() if line.strip()]
    return '\n'.join(lines)
