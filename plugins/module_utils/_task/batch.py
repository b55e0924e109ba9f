# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Many tasks of one state directory in one call (qemu_tasks): each one through qemu_task's reconciler, in parallel.

What this adds to the reconciler is only what a list needs: names unique, the tasks to prune
(those under a label selector that the list does not name), a bound on how many run at once,
``fail_fast``, and one result per task, in the order given.
"""

from __future__ import annotations

import os
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import BATCH_OPTIONS, GROUP_OPTIONS, TASK_OPTIONS, check_label_map, check_option
from ansible_collections.nomadic.qemu.plugins.module_utils._task.reconcile import interruptible_by_sigterm
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import (
    TaskDir,
    check_state_dir,
    check_trusted_dir,
    labels_match,
    task_records,
    validate_name,
)

DEFAULT_MAX_PARALLEL = BATCH_OPTIONS['max_parallel'].default
MAX_PARALLEL = BATCH_OPTIONS['max_parallel'].bounds[1]
# What a task not run because another failed says (fail_fast).
NOT_RUN = 'not run: another task failed and fail_fast is set'


def check_selector(selector):
    """The selector: labels a task to prune must carry, checked as labels are."""
    return check_label_map(selector, 'selector', '{nomad_job: web}')


def check_batch(tasks, prune, selector, max_parallel):
    """The list checked before anything runs: names unique, and with prune, a selector every listed task carries."""
    if not isinstance(max_parallel, int) or not 1 <= max_parallel <= MAX_PARALLEL:
        raise QemuTaskError('max_parallel %r is not a number of tasks at once; use 1 to %d' % (max_parallel, MAX_PARALLEL),
                            option='max_parallel')
    seen = {}
    for index, task in enumerate(tasks):
        name = task.get('name')
        _check_item(index, task)
        if name in seen:
            raise QemuTaskError("tasks[%d] and tasks[%d] are both named '%s'; give each task its own name" % (seen[name], index, name),
                                option='tasks')
        seen[name] = index
    selector = check_selector(selector or {})
    if prune and not selector:
        raise QemuTaskError('prune needs a selector: the labels that mark the tasks this list owns, such as {nomad_job: web}; '
                            'prune removes only tasks it can tell are the list\'s', option='selector')
    if prune:
        for index, task in enumerate(tasks):
            labels = task.get('labels') or {}
            missing = dict((key, value) for key, value in selector.items() if labels.get(key) != value)
            if missing and task.get('state') != 'absent':
                raise QemuTaskError("tasks[%d] (%s) does not carry the selector's labels %s; add them to its labels, so that a later run "
                                    "can prune it" % (index, task.get('name'), ', '.join('%s=%s' % item for item in sorted(missing.items()))),
                                    option='tasks')
    return selector


def _check_item(index, task):
    """A task's name and option values, checked as qemu_task checks them, before anything runs or is pruned."""
    try:
        validate_name(task.get('name'))
        for name in TASK_OPTIONS:
            if task.get(name) is not None:
                check_option(name, task[name])
    except QemuTaskError as exc:
        raise QemuTaskError('tasks[%d] (%s): %s' % (index, task.get('name'), exc), option='tasks') from None


def tasks_to_prune(state_dir, listed, selector, warn=None):
    """The names of the tasks of state_dir whose labels include selector and that ``listed`` does not name, sorted."""
    warn = warn or (lambda msg: None)
    state_dir = check_state_dir(state_dir)
    check_trusted_dir(state_dir, 'state_dir')
    names = []
    for name, record in task_records(state_dir):
        if name in listed:
            continue
        if record.damaged:
            warn('the state record of task %s in %s is damaged, so its labels are unknown; it was not pruned' % (name, state_dir))
            continue
        if labels_match(record.labels, selector):
            names.append(name)
    return names


def _failure(name, exc, actions):
    result = {'name': name, 'failed': True, 'changed': bool(actions), 'actions': list(actions)}
    if isinstance(exc, QemuTaskError):
        result['msg'] = str(exc)
    else:
        result['msg'] = 'failed unexpectedly: %s' % exc
        result['exception'] = ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return result


def run_tasks(names, reconciler, max_parallel=DEFAULT_MAX_PARALLEL, fail_fast=False, stop=None):
    """Reconcile each of ``names``, at most ``max_parallel`` at once; the results in the order of names.

    ``reconciler(index)`` makes the task's Reconciler (anything with ``run()`` returning its
    result and ``actions``, what it has done so far, so that a failure still says so). A failure
    is that task's result (``failed``, ``msg``); with ``fail_fast`` (or once ``stop``, a
    threading.Event, is set) the tasks not started yet are not run (``skipped``).
    """
    stop = stop or threading.Event()
    results = [None] * len(names)

    def one(index):
        if stop.is_set():
            results[index] = {'name': names[index], 'skipped': True, 'changed': False, 'msg': NOT_RUN}
            return
        task = None
        try:
            task = reconciler(index)
            result = task.run()
        except (Exception, SystemExit) as exc:  # pylint: disable=broad-exception-caught
            # SystemExit: something called fail_json from this task's thread; it is this task's failure, not the call's.
            results[index] = _failure(names[index], exc, task.actions if task is not None else [])
            if fail_fast:
                stop.set()
            return
        results[index] = dict(result, name=names[index])

    if len(names) <= 1 or max_parallel == 1:
        for index in range(len(names)):
            one(index)
        return results
    # Ctrl-C or SIGTERM (raised here, in the main thread): no further task starts, those under way
    # finish and record what they did (leaving the pool waits for them), then the interruption goes on.
    with interruptible_by_sigterm(), ThreadPoolExecutor(max_workers=min(max_parallel, len(names))) as pool:
        futures = [pool.submit(one, index) for index in range(len(names))]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()
            raise
    return results


def reconcile_batch(params, reconciler, check_mode=False, warn=None):
    """qemu_tasks: ``params`` its module params; ``reconciler(task_params)`` makes a task's Reconciler.

    Returns ``(output, msg)``: the module's result (``changed``, ``tasks``, ``pruned``, ``diff``)
    and, when a task failed, the message to fail with (else None). Errors in the list itself
    (names, option values, selector, max_parallel) raise QemuTaskError before any task runs.
    """
    selector = check_batch(params['tasks'], params['prune'], params['selector'], params['max_parallel'])
    names = [task['name'] for task in params['tasks']]
    pruned = tasks_to_prune(params['state_dir'], set(names), selector, warn=warn) if params['prune'] else []
    shared = dict((name, params.get(name)) for name in GROUP_OPTIONS)
    prune_params = [dict(shared, name=name, state='absent') for name in pruned]
    task_params = [dict(task, **shared) for task in params['tasks']]
    options = dict(max_parallel=params['max_parallel'], fail_fast=params['fail_fast'])
    # A state directory the tasks will need is made once, here: a task's run removes one it made
    # and left empty, which would pull it from under the others.
    starting = [task['name'] for task in params['tasks'] if task['state'] not in ('absent', 'stopped')]
    made = not check_mode and bool(starting) and not os.path.isdir(check_state_dir(params['state_dir']))
    if made:
        state_dir = TaskDir(check_state_dir(params['state_dir']), starting[0])
        state_dir.ensure(task=False)
    try:
        pruned_results = run_tasks(pruned, lambda index: reconciler(prune_params[index]), **options)
        if params['fail_fast'] and any(result.get('failed') for result in pruned_results):
            results = [{'name': name, 'skipped': True, 'changed': False, 'msg': NOT_RUN} for name in names]
        else:
            results = run_tasks(names, lambda index: reconciler(task_params[index]), **options)
    finally:
        if made:
            state_dir.remove_state_dir_if_empty()
    everything = pruned_results + results
    diffs = []
    for result in everything:
        diff = result.pop('diff', None)
        if diff is not None and result.get('changed'):
            diffs.append(dict(diff, before_header=result['name'], after_header=result['name']))
    output = {'changed': any(result.get('changed') for result in everything), 'tasks': results, 'pruned': pruned_results,
              'diff': diffs}
    failed = any(result.get('failed') for result in everything)
    return output, summary(everything) if failed else None


def summary(results):
    """The message of a batch with failures: how many, and each one's reason."""
    failed = [result for result in results if result.get('failed')]
    skipped = sum(1 for result in results if result.get('skipped'))
    reasons = '; '.join('%s: %s' % (result['name'], result['msg']) for result in failed)
    msg = '%d of %d task%s failed: %s' % (len(failed), len(results), '' if len(results) == 1 else 's', reasons)
    if skipped:
        msg += ' (%d not run: fail_fast)' % skipped
    return msg
