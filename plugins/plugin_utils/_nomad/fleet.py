# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A job read by the job reader, placed on the hosts of a play: what each host runs and stops, in which wave.

``plan_job(job, hosts, unreachable, algorithm)`` turns the job's groups and task instances into
the placement planner's allocations (one per group and count index), each host's facts and
qemu_task_info tasks into its hosts, runs the planner (plugin_utils/_placement) and returns, per
host, the task instances to run (with their wave) and the tasks to stop, the plan as
``nomad job plan`` prints it, and the failures with every host's reason.
"""

from __future__ import annotations

import hashlib
import json

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import PLACEMENT_OPERATORS, ConstraintError, check_constraints
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import quote
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.planner import plan_placement
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.render import render_plan
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.running import DEFAULT_CPUS, DEFAULT_MEMORY, running_allocations

# The label that carries a task's spec: a hash of its options and artifacts, what an in-place update compares.
SPEC_LABEL = 'nomad_spec'
# Nomad filters out the clients without the job's driver; here a host without a usable QEMU.
DRIVER_CONSTRAINT = {'attribute': '${attr.driver.qemu}', 'operator': 'is_set'}
RUNNING_STATES = ('running',)
CHANGES = ('update', 'migrate')


class FleetError(ValueError):
    """Input the plan cannot be made from; the message names the host and what to give instead."""


def task_spec(task):
    """The spec hash of a task instance of the job reader: its options (but labels) and artifacts."""
    options = dict((key, value) for key, value in (task.get('options') or {}).items() if key != 'labels')
    text = json.dumps([options, task.get('artifacts') or []], sort_keys=True, default=str)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def _resources(tasks):
    memory = cpus = 0
    for task in tasks:
        options = task.get('options') or {}
        memory += options.get('memory') or DEFAULT_MEMORY
        cpus += options.get('cpus') or DEFAULT_CPUS
    return {'memory': memory, 'cpus': cpus}


def _host(item, number):
    if not isinstance(item, dict) or not isinstance(item.get('name'), str):
        raise FleetError('hosts[{0}] must be a dictionary with the host name, its attributes, capacity and tasks, got {1!r}'.format(
            number, item))
    capacity = item.get('capacity')
    if not isinstance(capacity, dict) or not all(isinstance(capacity.get(key), (int, float)) and not isinstance(capacity.get(key), bool)
                                                 for key in ('memory', 'cpus')):
        raise FleetError("host {0}: its capacity must be {{'memory': MB, 'cpus': N}} (the facts memtotal_mb and processor_vcpus, or "
                         "nomadic_qemu_host_capacity), got {1!r}".format(item['name'], capacity))
    reserved = item.get('reserved') or {}
    if not isinstance(reserved, dict):
        raise FleetError("host {0}: nomadic_qemu_host_reserved must be {{'memory': MB, 'cpus': N}}, got {1!r}".format(item['name'], reserved))
    return item


def _existing(host, job_id):
    """The host's allocations for the planner, the job's with their spec (and whether all their tasks run)."""
    tasks = dict((task.get('name'), task) for task in host.get('tasks') or [] if isinstance(task, dict))
    found = []
    for alloc in running_allocations(list(tasks.values())):
        if alloc['job'] == job_id:
            members = [tasks[name] for name in alloc['tasks']]
            alloc['running'] = all(task.get('state') in RUNNING_STATES for task in members)
            alloc['spec'] = sorted([name, (tasks[name].get('labels') or {}).get(SPEC_LABEL)] for name in alloc['tasks'])
            if not alloc['running']:
                # not what is wanted: the plan starts it again (an update in place)
                alloc['spec'] = ['not running'] + alloc['spec']
        found.append(alloc)
    return found


def _reasons(group, wanted, hosts, unreachable, plan):
    """Per host, why it took none of the group's failed allocations: unreachable, a constraint, a dimension, distinct_*."""
    rules = [rule for rule in group['constraints'] if rule.get('operator') not in PLACEMENT_OPERATORS] + [DRIVER_CONSTRAINT]
    reasons = []
    for host in hosts:
        try:
            unmet = check_constraints([dict((k, rule[k]) for k in ('attribute', 'operator', 'value') if k in rule) for rule in rules],
                                      host['attributes'])
        except ConstraintError as exc:
            unmet = [str(exc)]
        if unmet:
            reasons.append('{0}: {1}'.format(host['name'], '; '.join(message.replace('constraint 1: ', '') for message in unmet)))
            continue
        used = plan['hosts'][host['name']]
        free_cpus = used['capacity']['cpus'] - used['cpus']
        free_memory = used['capacity']['memory'] - used['memory']
        if free_cpus < wanted['cpus']:
            reasons.append('{0}: cpus exhausted ({1} of {2} free, {3} needed)'.format(
                host['name'], free_cpus, used['capacity']['cpus'], wanted['cpus']))
        elif free_memory < wanted['memory']:
            reasons.append('{0}: memory exhausted ({1} of {2} MB free, {3} MB needed)'.format(
                host['name'], free_memory, used['capacity']['memory'], wanted['memory']))
        else:
            reasons.append('{0}: distinct_hosts or distinct_property: it runs another allocation of the job'.format(host['name']))
    reasons.extend('{0}: unreachable'.format(name) for name in unreachable)
    return reasons


def plan_job(job, hosts, unreachable=(), algorithm='binpack'):
    """Place ``job`` (read_job's result) on ``hosts``; see the module's docstring.

    ``hosts``: per reachable host ``{'name', 'attributes', 'capacity': {'memory', 'cpus'}, 'reserved',
    'tasks'}``, ``tasks`` what qemu_task_info returns for it (all its tasks: those of other jobs use
    capacity). ``unreachable``: the names of the hosts of the play that could not be reached; what
    ran there is not known, so their allocations are placed again, as new ones.

    Returns ``{'plan', 'text', 'failed', 'message', 'waves', 'hosts': {name: {'run', 'stop'}}}``:
    ``run`` lists the job's task instances the host runs (the reader's items, their labels with
    the spec, with ``wave``, ``action``, ``reason`` and ``qemu_task``, the item of qemu_tasks'
    ``tasks`` that runs it but for its state), ``stop`` the host's tasks of the job it stops
    (``name``, ``reason`` and ``qemu_task``, the item that removes it); ``waves`` is the number
    of waves.
    """
    job_id = job['job']
    read = [_host(item, number) for number, item in enumerate(hosts)]
    names = [host['name'] for host in read]
    if len(set(names)) != len(names):
        raise FleetError('a host is given twice: {0}'.format(', '.join(sorted(set(name for name in names if names.count(name) > 1)))))
    by_group = {}
    for task in job.get('tasks') or []:
        # a copy, its labels with the spec (the job's own items are left as they are)
        options = task.get('options') or {}
        task = dict(task, options=dict(options, labels=dict(options.get('labels') or {}, **{SPEC_LABEL: task_spec(task)})))
        by_group.setdefault((task['group'], task['index']), []).append(task)
    groups = dict((group['group'], group) for group in job.get('groups') or [])
    allocations = []
    for (group_name, index), tasks in sorted(by_group.items()):
        group = groups[group_name]
        allocations.append({
            'job': job_id, 'group': group_name, 'index': index, 'count': group['count'], 'resources': _resources(tasks),
            'constraints': list(group['constraints']) + [DRIVER_CONSTRAINT], 'affinities': group.get('affinities') or [],
            'spreads': group.get('spreads') or [],
            'spec': sorted([task['name'], task['options']['labels'][SPEC_LABEL]] for task in tasks),
        })
    planner_hosts = [{'name': host['name'], 'attributes': host.get('attributes') or {}, 'capacity': host['capacity'],
                      'reserved': host.get('reserved') or {}, 'allocations': _existing(host, job_id)} for host in read]
    planner_hosts.extend({'name': name, 'capacity': {'memory': 0, 'cpus': 0}, 'reachable': False}
                         for name in unreachable if name not in names)
    plan = plan_placement(allocations, planner_hosts, algorithm=algorithm, jobs=[job_id])

    not_running = set()
    for host in planner_hosts:
        for alloc in host.get('allocations') or []:
            if alloc['job'] == job_id and not alloc['running']:
                not_running.add((host['name'], alloc['group'], alloc['index']))
    result = dict((host['name'], {'run': [], 'stop': []}) for host in read)
    changed = {}
    waves = 1
    for entry in plan['allocations']:
        if entry['action'] == 'stop' or entry['host'] not in result:
            continue
        reason = entry['reason']
        if entry['action'] == 'update' and (entry['host'], entry['group'], entry['index']) in not_running:
            reason = 'not running; started again'
        wave = 0
        if entry['action'] in CHANGES:
            number = changed.setdefault(entry['group'], 0)
            changed[entry['group']] = number + 1
            parallel = groups[entry['group']].get('max_parallel')
            wave = number // parallel if parallel else 0
            waves = max(waves, wave + 1)
        entry['reason'] = reason
        for task in by_group.get((entry['group'], entry['index']), []):
            result[entry['host']]['run'].append(dict(task, wave=wave, action=entry['action'], reason=reason,
                                                     qemu_task=dict(task['options'], name=task['name'])))
    stop_reasons = {}
    for entry in plan['allocations']:
        if entry['action'] == 'stop':
            stop_reasons[(entry['host'], entry['group'], entry['index'])] = entry['reason']
        elif entry['action'] == 'migrate':
            stop_reasons[(entry['previous_host'], entry['group'], entry['index'])] = 'moved to {0}: {1}'.format(entry['host'], entry['reason'])
    for host in read:
        kept = set(task['name'] for task in result[host['name']]['run'])
        for task in sorted(host.get('tasks') or [], key=lambda task: str(task.get('name'))):
            labels = task.get('labels') if isinstance(task, dict) and isinstance(task.get('labels'), dict) else {}
            if labels.get('nomad_job') != job_id or task.get('name') in kept:
                continue
            index = labels.get('nomad_alloc_index')
            index = int(index) if isinstance(index, str) and index.isdecimal() else index
            reason = stop_reasons.get((host['name'], labels.get('nomad_group'), index))
            if reason is None:
                reason = 'the job file no longer has a task instance named {0}'.format(quote(task.get('name')))
            result[host['name']]['stop'].append({'name': task['name'], 'reason': reason,
                                                 'qemu_task': {'name': task['name'], 'state': 'absent'}})

    message = ''
    if plan['failures']:
        parts = []
        failed = {}
        for failure in plan['failures']:
            failed.setdefault(failure['group'], []).append(failure)
        for group_name in sorted(failed):
            wanted = _resources(by_group[(group_name, failed[group_name][0]['index'])])
            parts.append('group {0}: {1} of {2} allocations cannot be placed ({3}): {4}; per host: {5}'.format(
                quote(group_name), len(failed[group_name]), groups[group_name]['count'],
                ', '.join(failure['name'] for failure in failed[group_name]), failed[group_name][0]['reason'],
                '; '.join(_reasons(groups[group_name], wanted, read, [name for name in unreachable if name not in names], plan))))
        message = 'job {0} does not fit the hosts, so nothing was started, changed or stopped: {1}'.format(quote(job_id), ' | '.join(parts))
    return {'plan': plan, 'text': render_plan(plan), 'failed': bool(plan['failures']), 'message': message, 'waves': waves,
            'hosts': result}
