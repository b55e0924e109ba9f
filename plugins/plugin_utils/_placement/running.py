# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The allocations that run on a host, from what qemu_task_info returns for it: a host's ``allocations`` input."""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import TASK_OPTIONS

# What a task's recorded config may lack: its memory is qemu_task's default; without cpus it reserves
# no CPU, as in Nomad, where only resources.cores reserves whole cores (a task's default share,
# resources.cpu = 100 MHz, is not counted here).
DEFAULT_MEMORY = TASK_OPTIONS['memory'].default
DEFAULT_CPUS = 0


def _number(value, default):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return value


def running_allocations(tasks):
    """Group the ``tasks`` of qemu_task_info (its ``tasks`` list for one host) into allocations.

    The tasks with the labels the job reader gives (``nomad_job``, ``nomad_group``,
    ``nomad_alloc_index``) make one allocation per job, group and index, whose resources are the
    sum of their tasks' ``config`` (``memory`` in MB, ``cpus``); any other task is an allocation of
    its own, of no job, which only uses capacity. Each is ``{'job', 'group', 'index', 'name',
    'resources': {'memory', 'cpus'}, 'tasks': [task names]}``, sorted by name; ``spec`` is not set:
    set it, on these and on the wanted allocations, to what decides an in-place update.
    """
    found = {}
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        labels = task.get('labels') if isinstance(task.get('labels'), dict) else {}
        config = task.get('config') if isinstance(task.get('config'), dict) else {}
        job, group, index = labels.get('nomad_job'), labels.get('nomad_group'), labels.get('nomad_alloc_index')
        if isinstance(index, str) and index.isdecimal():
            index = int(index)
        if job and group and isinstance(index, int) and not isinstance(index, bool):
            key = (job, group, index)
            name = '{0}.{1}[{2}]'.format(job, group, index)
        else:
            key = (None, None, task.get('name'))
            job = group = None
            index = task.get('name')
            name = str(task.get('name'))
        alloc = found.setdefault(key, {'job': job, 'group': group, 'index': index, 'name': name,
                                       'resources': {'memory': 0, 'cpus': 0}, 'tasks': []})
        alloc['resources']['memory'] += _number(config.get('memory'), DEFAULT_MEMORY)
        alloc['resources']['cpus'] += _number(config.get('cpus'), DEFAULT_CPUS)
        alloc['tasks'].append(task.get('name'))
    for alloc in found.values():
        alloc['tasks'].sort(key=str)
    return sorted(found.values(), key=lambda alloc: alloc['name'])
