# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Running allocations from qemu_task_info's tasks."""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.planner import plan_placement
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.running import running_allocations


def task(name, job=None, group=None, index=None, **config):
    labels = {}
    if job:
        labels = {'nomad_job': job, 'nomad_group': group, 'nomad_task': name.split('-')[2], 'nomad_alloc_index': str(index)}
    return {'name': name, 'state': 'running', 'labels': labels, 'config': config}


def test_tasks_of_one_allocation_add_up_and_others_stand_alone():
    tasks = [task('web-front-vm-0', 'web', 'front', 0, memory=1024, cpus=2), task('web-front-db-0', 'web', 'front', 0, memory=512),
             task('web-front-vm-1', 'web', 'front', 1, memory=1024, cpus=2), task('mine', memory=2048, cpus=4), 'junk']
    assert running_allocations(tasks) == [
        {'job': None, 'group': None, 'index': 'mine', 'name': 'mine', 'resources': {'memory': 2048, 'cpus': 4}, 'tasks': ['mine']},
        {'job': 'web', 'group': 'front', 'index': 0, 'name': 'web.front[0]', 'resources': {'memory': 1536, 'cpus': 2},
         'tasks': ['web-front-db-0', 'web-front-vm-0']},
        {'job': 'web', 'group': 'front', 'index': 1, 'name': 'web.front[1]', 'resources': {'memory': 1024, 'cpus': 2},
         'tasks': ['web-front-vm-1']},
    ]
    assert running_allocations(None) == []


def test_they_feed_the_planner():
    hosts = [{'name': 'a', 'capacity': {'memory': 4096, 'cpus': 4},
              'allocations': running_allocations([task('web-front-vm-0', 'web', 'front', 0, memory=1024, cpus=1), task('mine', memory=2048)])}]
    plan = plan_placement([{'job': 'web', 'group': 'front', 'index': 0, 'resources': {'memory': 1024, 'cpus': 1}}], hosts)
    assert [(entry['action'], entry['host']) for entry in plan['allocations']] == [('ignore', 'a')]
    assert plan['hosts']['a'] == {'cpus': 1, 'memory': 3072, 'capacity': {'cpus': 4, 'memory': 4096}}


def test_an_index_label_of_other_digits_stands_alone():
    [alloc] = running_allocations([task('web-front-odd', 'web', 'front', '\u00b2')])
    assert (alloc['job'], alloc['index']) == (None, 'web-front-odd')
