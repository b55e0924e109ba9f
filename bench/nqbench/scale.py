# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scale: one playbook starting, re-running and stopping N VMs (async and loop, and in one qemu_tasks call:
batch), what the idle VMs cost, and the module side alone over as many VMs."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time

from . import processes
from .harness import BenchError, read_file, wait_for_line, write_file
from .settings import KILL_TIMEOUT, MEMORY_MB, READY_LINE, READY_TIMEOUT

MODES = ('async', 'loop')
# One qemu_tasks call over every VM: start, no-op, graceful stop.
BATCH_PLAYBOOK = (
    '---\n- name: qemu_tasks over {{ count }} VMs\n  hosts: localhost\n  gather_facts: false\n  tasks:\n'
    '    - name: Bring every VM to its state in one call\n      nomadic.qemu.qemu_tasks:\n        state_dir: "{{ state_dir }}"\n'
    '        tasks: "{{ bench_tasks }}"\n')


def playbook_text(module, mode):
    """A playbook running module (ping, qemu_task or qemu_shutdown) over count VMs, in a loop or as async jobs."""
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
    return body


class Scale:
    """The scale stage over the counts of bench.args.scale."""

    def __init__(self, bench):
        self.bench = bench

    def playbook(self, module, mode):
        path = os.path.join(self.bench.rundir, 'playbooks', '%s-%s.yml' % (module, mode))
        if not os.path.exists(path):
            write_file(path, playbook_text(module, mode))
        return path

    def run_playbook(self, module, mode, state_dir, count):
        extra = {'state_dir': state_dir, 'image_dir': self.bench.vm_images(count), 'count': count}
        return self.bench.ansible.run_playbook(self.playbook(module, mode), extra)

    def run_batch(self, state, state_dir, count):
        """One qemu_tasks call bringing count VMs to state (running, or stopped gracefully), as the loop's qemu_task items do."""
        path = os.path.join(self.bench.rundir, 'playbooks', 'qemu_tasks.yml')
        if not os.path.exists(path):
            write_file(path, BATCH_PLAYBOOK)
        image_dir = self.bench.vm_images(count)
        tasks = [{'name': 'vm%d' % index, 'state': state, 'image_path': os.path.join(image_dir, 'vm%d.img' % index), 'memory': MEMORY_MB,
                  'graceful_shutdown': True, 'kill_timeout': KILL_TIMEOUT} for index in range(count)]
        return self.bench.ansible.run_playbook(path, {'state_dir': state_dir, 'count': count, 'bench_tasks': tasks})

    def step_batch(self, count, state_dir):
        """Start count VMs in one qemu_tasks call, the no-op call over them, then the graceful stop of all in one call."""
        bench = self.bench
        seconds = self.run_batch('running', state_dir, count)
        pids = self.running_tasks(state_dir, count)
        if len(pids) != count:
            raise BenchError('after the batch start of %d VMs, %d run' % (count, len(pids)))
        bench.sample_run('scale.batch.start.%d' % count, seconds)
        for index in range(count):
            wait_for_line(os.path.join(state_dir, 'vm%d' % index, 'console.log'), READY_LINE, READY_TIMEOUT)
        seconds = self.run_batch('running', state_dir, count)
        if self.running_tasks(state_dir, count) != pids:
            raise BenchError('the batch no-op over %d VMs changed their processes' % count)
        bench.sample_run('scale.batch.noop.%d' % count, seconds)
        seconds = self.run_batch('stopped', state_dir, count)
        if self.running_tasks(state_dir, count) or any(processes.is_running(pid) for pid in pids):
            raise BenchError('after the batch stop of %d VMs, some still run' % count)
        bench.sample_run('scale.batch.stop.%d' % count, seconds)

    @staticmethod
    def running_tasks(state_dir, count):
        pids = []
        for index in range(count):
            record_path = os.path.join(state_dir, 'vm%d' % index, 'task.json')
            try:
                record = json.loads(read_file(record_path))
            except (OSError, ValueError):
                continue
            if record.get('state') == 'running' and record.get('pid') and processes.is_running(record['pid']):
                pids.append(record['pid'])
        return pids

    @staticmethod
    def idle_cost(pids):
        """What the idle VMs cost for a second: CPU (fraction of one core) and memory, per VM and in all."""
        cpu_before, started = [processes.cpu_ticks(pid) for pid in pids], time.monotonic()
        time.sleep(1.0)
        elapsed = (time.monotonic() - started) * os.sysconf('SC_CLK_TCK')
        busy = [(processes.cpu_ticks(pid) - before) / elapsed for pid, before in zip(pids, cpu_before)]
        sizes = [processes.smaps_rollup(pid) for pid in pids]
        return {
            'rss_median': statistics.median(size[0] for size in sizes),
            'pss_median': statistics.median(size[1] for size in sizes),
            'pss_total': sum(size[1] for size in sizes),
            'idle_cpu_median': statistics.median(busy),
            'idle_cpu_total': sum(busy),
        }

    def step(self, count, mode, state_dir, memory):
        """Start count VMs with one playbook, (first mode only) their idle cost, the no-op and ping, then stop them."""
        bench = self.bench
        seconds = self.run_playbook('qemu_task', mode, state_dir, count)
        pids = self.running_tasks(state_dir, count)
        if len(pids) != count:
            raise BenchError('after the %s start of %d VMs, %d run' % (mode, count, len(pids)))
        bench.sample_run('scale.%s.start.%d' % (mode, count), seconds)
        for index in range(count):
            wait_for_line(os.path.join(state_dir, 'vm%d' % index, 'console.log'), READY_LINE, READY_TIMEOUT)
        if mode == MODES[0]:
            # Idle for a moment: what the idle VMs cost in CPU, then their memory.
            memory.setdefault(count, []).append(self.idle_cost(pids))
            # The no-op over every VM, and the Ansible floor for as many loop items (ping), while they run.
            seconds = self.run_playbook('qemu_task', 'loop', state_dir, count)
            bench.sample_run('scale.noop.%d' % count, seconds)
            if self.running_tasks(state_dir, count) != pids:
                raise BenchError('the no-op run over %d VMs changed their processes' % count)
            seconds = self.run_playbook('ping', 'loop', state_dir, count)
            bench.sample_run('scale.ping.%d' % count, seconds)
        seconds = self.run_playbook('qemu_shutdown', mode, state_dir, count)
        if self.running_tasks(state_dir, count) or any(processes.is_running(pid) for pid in pids):
            raise BenchError('after the %s stop of %d VMs, some still run' % (mode, count))
        bench.sample_run('scale.%s.stop.%d' % (mode, count), seconds)

    def inproc(self, count):
        """The module side alone: Reconciler/QemuShutdownRunner over count VMs, one after the other."""
        bench, tasks = self.bench, self.bench.tasks
        state_dir = os.path.join(bench.rundir, 'scale-inproc-%d' % count)
        os.makedirs(state_dir)
        image_dir = bench.vm_images(count)
        names = ['vm%d' % index for index in range(count)]
        try:
            started = time.perf_counter()
            for name in names:
                tasks.run(tasks.args(name, state_dir, image_path=os.path.join(image_dir, '%s.img' % name)))
            bench.sample('scale.inproc.start.%d' % count, time.perf_counter() - started)
            for name in names:
                wait_for_line(os.path.join(state_dir, name, 'console.log'), READY_LINE, READY_TIMEOUT)
            started = time.perf_counter()
            for name in names:
                tasks.run(tasks.args(name, state_dir, image_path=os.path.join(image_dir, '%s.img' % name)))
            bench.sample('scale.inproc.noop.%d' % count, time.perf_counter() - started)
            started = time.perf_counter()
            for name in names:
                result = tasks.shutdown(name, state_dir)
                if not result.get('graceful'):
                    raise BenchError('in-process stop of %s was not graceful: %r' % (name, result))
            bench.sample('scale.inproc.stop.%d' % count, time.perf_counter() - started)
        finally:
            processes.stop_naming(state_dir)
            shutil.rmtree(state_dir, ignore_errors=True)

    def run(self):
        bench = self.bench
        memory = {}
        for count in bench.args.scale:
            for rep in range(bench.args.scale_runs):
                for mode in MODES + ('batch',):
                    state_dir = os.path.join(bench.rundir, 'scale-%d-%s-%d' % (count, mode, rep))
                    os.makedirs(state_dir)
                    try:
                        if mode == 'batch':
                            self.step_batch(count, state_dir)
                        else:
                            self.step(count, mode, state_dir, memory)
                    finally:
                        processes.stop_naming(state_dir)
                        shutil.rmtree(state_dir, ignore_errors=True)
            self.inproc(count)
        bench.results.extra['memory'] = {str(count): {key: statistics.median(entry[key] for entry in entries) for key in entries[0]}
                                         for count, entries in memory.items()}


def stage_scale(bench):
    Scale(bench).run()
