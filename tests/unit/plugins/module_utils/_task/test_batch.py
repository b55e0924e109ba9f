# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""qemu_tasks' batch: the real reconciler, planner and task store for every task, with a stand-in driver."""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import time

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task import batch
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import TASK_ITEM_OPTIONS
from ansible_collections.nomadic.qemu.plugins.module_utils._task.plan import Planner
from ansible_collections.nomadic.qemu.plugins.module_utils._task.reconcile import Reconciler
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir, TaskRecord
from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils._task.test_reconcile import FakeDriver, FakeProcess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *(['..'] * 5)))


class ThreadSafeDriver(FakeDriver):
    """FakeDriver, with its pids handed out under a lock, and how many starts overlapped."""

    def __init__(self, start_seconds=0.0):
        super().__init__()
        self.lock = threading.Lock()
        self.start_seconds = start_seconds
        self.running_starts = 0
        self.most_at_once = 0
        self.fail_images = set()

    def start(self, task_dir, argv, supervision=None):
        with self.lock:
            self.calls.append('start')
            self.running_starts += 1
            self.most_at_once = max(self.most_at_once, self.running_starts)
        try:
            time.sleep(self.start_seconds)
            if any(image in ' '.join(argv) for image in self.fail_images):
                raise QemuTaskError('QEMU failed to start: the pretend image is broken')
            with self.lock:
                self.next_pid += 1
                pid = self.next_pid
                self.alive[pid] = list(argv)
            return FakeProcess(pid, self)
        finally:
            with self.lock:
                self.running_starts -= 1


@pytest.fixture
def env(tmp_path):
    image = tmp_path / 'disk.img'
    image.write_bytes(b'\0' * 512)
    broken = tmp_path / 'broken.img'
    broken.write_bytes(b'\0' * 512)
    return {'driver': ThreadSafeDriver(), 'state_dir': str(tmp_path / 'state'), 'image': str(image), 'broken': str(broken),
            'warnings': []}


def params(env, tasks, **options):
    """qemu_tasks' params, as its argument spec fills them in."""
    full = []
    for task in tasks:
        item = dict((name, None) for name in TASK_ITEM_OPTIONS)
        item.update({'state': 'running', 'image_path': env['image'], 'labels': {}})
        item.update(task)
        full.append(item)
    result = {'tasks': full, 'state_dir': env['state_dir'], 'image_paths': None, 'args_allowlist': None, 'emulators_allowlist': None,
              'max_parallel': 8, 'fail_fast': False, 'prune': False, 'selector': {}}
    result.update(options)
    return result


def run(env, tasks, check_mode=False, **options):
    def reconciler(task_params):
        planner = Planner(task_params, find_binary=lambda name: '/usr/bin/' + name, run_command=None,
                          kvm_check=lambda: (False, 'no kvm'), host_policy={})
        return Reconciler(task_params, planner, env['driver'], check_mode=check_mode, warn=env['warnings'].append)
    return batch.reconcile_batch(params(env, tasks, **options), reconciler, check_mode=check_mode, warn=env['warnings'].append)


def output(env, tasks, check_mode=False, **options):
    """The result of a batch that must not fail."""
    result, failure = run(env, tasks, check_mode=check_mode, **options)
    assert failure is None, failure
    return result


def web(count, **task):
    return [dict({'name': 'web-%d' % index, 'labels': {'app': 'web'}}, **task) for index in range(count)]


def running(env):
    return sorted(record.name for name, record in batch.task_records(env['state_dir']) if record.state == 'running')


def test_many_tasks_start_then_nothing_changes_in_the_order_given(env):
    tasks = list(reversed(web(5)))
    checked, failure = run(env, tasks, check_mode=True)
    assert failure is None and checked['changed'] and env['driver'].alive == {} and not os.path.exists(env['state_dir'])
    first, failure = run(env, tasks)
    assert failure is None and first['changed']
    assert [result['name'] for result in first['tasks']] == ['web-4', 'web-3', 'web-2', 'web-1', 'web-0']
    assert all(result['actions'] == ['started'] and result['task']['state'] == 'running' for result in first['tasks'])
    assert running(env) == ['web-%d' % index for index in range(5)] and len(env['driver'].alive) == 5
    assert [diff['before_header'] for diff in first['diff']] == [result['name'] for result in first['tasks']]
    again, failure = run(env, tasks)
    assert failure is None and not again['changed'] and again['diff'] == []
    assert all(not result['changed'] and result['actions'] == [] for result in again['tasks'])
    assert env['driver'].calls.count('start') == 5


def test_each_task_is_what_qemu_task_would_make_of_it(env):
    """The same reconciler: a batch of one gives qemu_task's result, item for item."""
    result = output(env, web(1, memory=512))
    alone_env = dict(env, driver=ThreadSafeDriver(), state_dir=env['state_dir'] + '-alone')
    planner_params = dict(params(alone_env, web(1, memory=512))['tasks'][0], state_dir=alone_env['state_dir'])
    planner = Planner(planner_params, find_binary=lambda name: '/usr/bin/' + name, run_command=None,
                      kvm_check=lambda: (False, 'no kvm'), host_policy={})
    alone = Reconciler(planner_params, planner, alone_env['driver'], warn=lambda msg: None).run()
    mine = dict(result['tasks'][0])
    assert mine.pop('name') == 'web-0'
    assert mine['task']['config'] == alone['task']['config']
    assert sorted(mine) == sorted(key for key in alone if key != 'diff')
    assert mine['task']['argv'] == [arg.replace(alone_env['state_dir'], env['state_dir']) for arg in alone['task']['argv']]


def test_starts_run_in_parallel_within_max_parallel(env):
    env['driver'].start_seconds = 0.05
    run(env, web(12), max_parallel=3)
    assert env['driver'].most_at_once == 3 and len(env['driver'].alive) == 12


def test_max_parallel_one_runs_them_in_order(env):
    env['driver'].start_seconds = 0.01
    result = output(env, web(4), max_parallel=1)
    assert env['driver'].most_at_once == 1
    assert [record.pid for dummy, record in batch.task_records(env['state_dir'])] == [101, 102, 103, 104]
    assert [item['task']['pid'] for item in result['tasks']] == [101, 102, 103, 104]


def test_one_failing_task_does_not_stop_the_others(env):
    tasks = web(3)
    tasks[1]['image_path'] = env['broken']
    env['driver'].fail_images.add(env['broken'])
    result, failure = run(env, tasks + [{'name': 'nowhere', 'image_path': env['image'] + '.missing'}])
    assert failure.startswith('2 of 4 tasks failed: web-1: QEMU failed to start: the pretend image is broken; nowhere: ')
    assert 'does not exist' in failure
    states = [(item['name'], item.get('failed', False), item['changed']) for item in result['tasks']]
    assert states == [('web-0', False, True), ('web-1', True, False), ('web-2', False, True), ('nowhere', True, False)]
    assert result['changed'] and running(env) == ['web-0', 'web-2']
    # The failed new tasks left nothing behind, as qemu_task's do.
    assert sorted(os.listdir(env['state_dir'])) == ['.web-0.lock', '.web-2.lock', 'web-0', 'web-2']


def test_fail_fast_runs_no_further_task(env):
    tasks = web(4)
    tasks[0]['image_path'] = env['image'] + '.missing'
    result, failure = run(env, tasks, fail_fast=True, max_parallel=1)
    assert [item.get('skipped', False) for item in result['tasks']] == [False, True, True, True]
    assert result['tasks'][1]['msg'] == batch.NOT_RUN and not result['changed']
    assert failure.startswith('1 of 4 tasks failed: web-0: ') and failure.endswith('(3 not run: fail_fast)')
    assert env['driver'].alive == {}


def test_a_failure_after_a_stop_says_what_was_done(env):
    run(env, web(1))
    env['driver'].fail_images.add(env['broken'])
    result, failure = run(env, web(1, image_path=env['broken']))
    item = result['tasks'][0]
    assert item['failed'] and item['changed'] and item['actions'] == ['stopped'] and failure
    assert TaskDir(env['state_dir'], 'web-0').read().state == 'stopped'


def test_prune_removes_the_unlisted_tasks_under_the_selector_only(env):
    run(env, web(4) + [{'name': 'db', 'labels': {'app': 'db'}}])
    checked = output(env, web(2), check_mode=True, prune=True, selector={'app': 'web'})
    assert [item['name'] for item in checked['pruned']] == ['web-2', 'web-3'] and len(env['driver'].alive) == 5
    result, failure = run(env, web(2), prune=True, selector={'app': 'web'})
    assert failure is None and result['changed']
    pruned = [(item['name'], item['actions']) for item in result['pruned']]
    assert pruned == [('web-2', ['stopped', 'removed']), ('web-3', ['stopped', 'removed'])]
    assert [diff['before_header'] for diff in result['diff']] == ['web-2', 'web-3']
    assert running(env) == ['db', 'web-0', 'web-1'] and not os.path.exists(os.path.join(env['state_dir'], 'web-3'))
    again = output(env, web(2), prune=True, selector={'app': 'web'})
    assert not again['changed'] and again['pruned'] == []
    emptied = output(env, [], prune=True, selector={'app': 'web'})
    assert [item['name'] for item in emptied['pruned']] == ['web-0', 'web-1'] and running(env) == ['db']


def test_prune_leaves_a_damaged_record_alone_and_says_so(env):
    run(env, web(2))
    with open(TaskDir(env['state_dir'], 'web-1').record_path, 'w') as f:
        f.write('{broken')
    result = output(env, [], prune=True, selector={'app': 'web'})
    assert [item['name'] for item in result['pruned']] == ['web-0']
    assert any('web-1' in warning and 'damaged' in warning and 'not pruned' in warning for warning in env['warnings'])


@pytest.mark.parametrize('tasks, options, message', [
    ([{'name': 'a'}, {'name': 'b'}, {'name': 'a'}], {}, "tasks[0] and tasks[2] are both named 'a'"),
    ([{'name': 'a'}], {'prune': True}, 'prune needs a selector'),
    ([{'name': 'a', 'labels': {'app': 'db'}}], {'prune': True, 'selector': {'app': 'web'}},
     "tasks[0] (a) does not carry the selector's labels app=web"),
    ([], {'selector': {'app': 3}}, "selector has 'app': 3"),
    ([], {'selector': ['app']}, 'selector must be a mapping'),
    ([], {'max_parallel': 0}, 'max_parallel 0 is not a number of tasks at once; use 1 to 256'),
])
def test_bad_lists_fail_before_anything_runs(env, tasks, options, message):
    with pytest.raises(QemuTaskError, match='^' + re.escape(message)):
        run(env, tasks, **options)
    assert env['driver'].calls == [] and not os.path.exists(env['state_dir'])


def test_an_absent_task_in_the_list_needs_no_selector_labels(env):
    run(env, web(1))
    result, failure = run(env, [{'name': 'web-0', 'state': 'absent', 'labels': {}}], prune=True, selector={'app': 'web'})
    assert failure is None and result['tasks'][0]['actions'] == ['stopped', 'removed'] and result['pruned'] == []


def test_dynamic_ports_stay_apart_when_started_at_once(env):
    env['driver'].start_seconds = 0.02
    result, failure = run(env, web(6, port_map={'http': 80}), max_parallel=6)
    assert failure is None
    ports = [item['task']['ports']['http']['host'] for item in result['tasks']]
    assert len(set(ports)) == 6


def test_unexpected_errors_are_that_task_s_failure(env):
    def reconciler(task_params):
        if task_params['name'] == 'b':
            raise RuntimeError('boom')
        return type('R', (), {'run': lambda self: {'changed': False, 'actions': []}, 'actions': []})()
    result, failure = batch.reconcile_batch(params(env, [{'name': 'a'}, {'name': 'b'}]), reconciler)
    assert failure == '1 of 2 tasks failed: b: failed unexpectedly: boom'
    assert 'RuntimeError: boom' in result['tasks'][1]['exception']


def test_the_tasks_fragment_is_current():
    """plugins/doc_fragments/_task_items.py is what hack/task_items_fragment.py makes of the table."""
    spec = importlib.util.spec_from_file_location('task_items_fragment', os.path.join(ROOT, 'hack', 'task_items_fragment.py'))
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    with open(generator.FRAGMENT, encoding='utf-8') as f:
        assert f.read() == generator.render(TASK_ITEM_OPTIONS), 'run hack/task_items_fragment.py and commit the result'


def test_records_written_by_the_batch_are_qemu_task_records(env):
    run(env, web(1))
    record = TaskDir(env['state_dir'], 'web-0').read()
    assert isinstance(record, TaskRecord) and record.labels == {'app': 'web'} and record.state == 'running'


def test_a_task_that_exits_fails_alone(env):
    """fail_json (SystemExit) from one task's thread is that task's failure, not the end of the call."""
    def reconciler(task_params):
        def run():
            if task_params['name'] == 'b':
                raise SystemExit(1)
            return {'changed': True, 'actions': ['started']}
        return type('R', (), {'run': staticmethod(run), 'actions': []})()
    result, failure = batch.reconcile_batch(params(env, [{'name': 'a'}, {'name': 'b'}, {'name': 'c'}]), reconciler)
    assert [item.get('failed', False) for item in result['tasks']] == [False, True, False]
    assert failure.startswith('1 of 3 tasks failed: b: failed unexpectedly')


def test_bad_option_values_fail_before_anything_is_pruned_or_started(env):
    run(env, web(2))
    with pytest.raises(QemuTaskError, match=re.escape('tasks[1] (web-1): memory 64 MB is out of bounds')):
        run(env, web(1) + [{'name': 'web-1', 'labels': {'app': 'web'}, 'memory': 64}], prune=True, selector={'app': 'web'})
    with pytest.raises(QemuTaskError, match=re.escape("tasks[0] (Bad name!): name 'Bad name!' is not a valid task name")):
        run(env, [{'name': 'Bad name!'}])
    assert running(env) == ['web-0', 'web-1'] and env['driver'].calls.count('start') == 2


def test_an_interrupted_call_starts_no_further_task(env):
    import _thread  # pylint: disable=import-outside-toplevel

    started = []

    def reconciler(task_params):
        def run():
            started.append(task_params['name'])
            if task_params['name'] == 'web-0':
                _thread.interrupt_main()
            time.sleep(0.2)
            return {'changed': True, 'actions': ['started']}
        return type('R', (), {'run': staticmethod(run), 'actions': []})()
    with pytest.raises(KeyboardInterrupt):
        batch.reconcile_batch(params(env, web(8), max_parallel=2), reconciler)
    assert 1 <= len(started) <= 3


def test_a_broken_host_policy_does_not_keep_tasks_from_stopping(env):
    run(env, web(2))

    def broken():
        raise QemuTaskError('cannot read the host policy /etc/nomadic-qemu/policy.json (Permission denied)')

    def reconciler(task_params):
        planner = Planner(task_params, find_binary=lambda name: '/usr/bin/' + name, run_command=None,
                          kvm_check=lambda: (False, 'no kvm'), policy_loader=broken)
        return Reconciler(task_params, planner, env['driver'], warn=env['warnings'].append)
    result, failure = batch.reconcile_batch(params(env, [{'name': 'web-0', 'state': 'stopped'}, {'name': 'web-1'}]), reconciler)
    assert result['tasks'][0]['actions'] == ['stopped'] and not result['tasks'][0].get('failed')
    assert result['tasks'][1]['failed'] and 'cannot read the host policy' in failure
