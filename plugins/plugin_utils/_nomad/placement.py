# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Which tasks of a job a host runs, from the job's constraints, and which running tasks of the job it no longer runs."""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import PLACEMENT_OPERATORS
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError, quote


def place_job(job, attributes, check_constraints, running=None):
    """Which of the job's tasks a host with these Nomad ``attributes`` runs.

    As in Nomad, a group runs where the constraints of the job, the group and all its qemu
    tasks are met, and then all of its tasks run there. ``check_constraints(constraints,
    attributes)`` returns the list of unmet constraint messages and raises ValueError for a
    constraint it cannot evaluate.

    ``running`` lists the tasks already on the host (see running_task()). Those of this job the
    host no longer runs are ``stale``, each with the ``reason``, as Nomad stops the allocations a
    job no longer wants.

    Returns ``{'tasks': [...], 'unplaced': [{'group', 'tasks', 'reasons'}], 'stale': [...]}``.
    """
    placed_groups = set()
    unplaced = []
    for group in job.get('groups', []):
        if not group.get('tasks'):
            continue
        reasons = []
        for constraint in group.get('constraints', []):
            if constraint.get('operator') in PLACEMENT_OPERATORS:
                # distinct_hosts and distinct_property are about the other hosts: the placement plan (nomad_job_plan) applies them
                continue
            plain = dict((k, constraint[k]) for k in ('attribute', 'operator', 'value') if k in constraint)
            try:
                messages = check_constraints([plain], attributes)
            except ValueError as exc:
                raise JobFileError('%s: %s: %s' % (job.get('file'), constraint.get('source'), str(exc).replace('constraint 1: ', ''))) from None
            reasons.extend('%s: %s' % (constraint.get('source'), message) for message in messages)
        if reasons:
            unplaced.append({'group': group['group'], 'tasks': list(group['tasks']), 'reasons': reasons})
        else:
            placed_groups.add(group['group'])
    tasks = [task for task in job.get('tasks', []) if task['group'] in placed_groups]
    return {'tasks': tasks, 'unplaced': unplaced, 'stale': stale_tasks(job, tasks, unplaced, running or [])}


def running_task(item):
    """``(job, group, task, index)`` of a task on the host, from one item of ``running``; None for anything else.

    An item is what qemu_task_info returns per task (``name``, ``state``, ``labels``...): its
    ``labels`` are those the job reader gives each task instance (``nomad_job``, ``nomad_group``,
    ``nomad_task``, ``nomad_alloc_index``). An item without ``labels`` is a mark as the run_job
    playbook wrote them into task directories (``job``, ``group``, ``task``, ``index``).
    """
    if not isinstance(item, dict):
        return None
    labels = item.get('labels')
    if labels is None:
        return item.get('job'), item.get('group'), item.get('task'), item.get('index')
    if not isinstance(labels, dict):
        return None
    index = labels.get('nomad_alloc_index')
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    return labels.get('nomad_job'), labels.get('nomad_group'), labels.get('nomad_task'), index


def stale_tasks(job, tasks, unplaced, running):
    """The items of ``running`` that belong to ``job`` but are not in ``tasks``, each with the reason.

    An item belongs to the job when its ``labels.nomad_job`` (or, for a mark without labels, its
    ``job``) is the job's ID; see running_task(). Each is returned as given, with ``reason`` and
    ``message`` added.
    """
    wanted = set(task['name'] for task in tasks)
    unplaced_by_name = dict((name, group) for group in unplaced for name in group['tasks'])
    groups = dict((group['group'], group) for group in job.get('groups', []))
    qemu_tasks = set((task['group'], task['task']) for task in job.get('tasks', []))
    stale = []
    for item in sorted(running, key=lambda item: str(item.get('name')) if isinstance(item, dict) else ''):
        found = running_task(item)
        if found is None or found[0] != job.get('job') or item.get('name') in wanted:
            continue
        group, task, index = found[1:]
        if item.get('name') in unplaced_by_name:
            reason = 'its group %s does not run on this host: %s' % (quote(group), '; '.join(unplaced_by_name[item['name']]['reasons']))
        elif group not in groups:
            reason = 'the job file has no group %s any more' % quote(group)
        elif (group, task) not in qemu_tasks and groups[group]['count'] > 0:
            reason = 'group %s of the job file has no qemu task %s any more' % (quote(group), quote(task))
        elif isinstance(index, int) and not isinstance(index, bool) and index >= groups[group]['count']:
            reason = 'group %s now has count = %d, so index %d is no longer run' % (quote(group), groups[group]['count'], index)
        else:
            reason = 'the job file no longer has a task instance named %s' % quote(item.get('name'))
        stale.append(dict(item, reason=reason, message='%s: stopped and removed: %s' % (item.get('name'), reason)))
    return stale
