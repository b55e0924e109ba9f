# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/fleet.py: a job placed on the hosts of a play, and what each host does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.fleet import FleetError, plan_job
from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import read

QEMU = {'driver.qemu': '1', 'kernel.name': 'linux'}


def fleet_job(count=5, memory=256, extra='', group_extra='', args='"-nodefaults"', cores=1):
    return read('''
job "web" {
  %s
  group "g" {
    count = %d
    %s
    task "vm" {
      driver = "qemu"
      config {
        image_path = "local/boot.img"
        args = [%s]
      }
      resources {
        memory = %d
        %s
      }
    }
  }
}
''' % (extra, count, group_extra, args, memory, 'cores = %d' % cores if cores else ''))


def host(name, memory=1024, cpus=4, tasks=(), attributes=None):
    return {'name': name, 'attributes': dict(QEMU if attributes is None else attributes), 'capacity': {'memory': memory, 'cpus': cpus},
            'tasks': list(tasks)}


def applied(result, hosts, state='running'):
    """The hosts after each ran the plan: their tasks as qemu_task_info lists them."""
    after = []
    for item in hosts:
        mine = result['hosts'].get(item['name'], {'run': [], 'stop': []})
        stopped = set(task['name'] for task in mine['stop'])
        kept = [task for task in item['tasks'] if task['name'] not in stopped and task['name'] not in set(t['name'] for t in mine['run'])]
        ran = [{'name': task['name'], 'state': state, 'labels': task['options']['labels'],
                'config': {'memory': task['options'].get('memory'), 'cpus': task['options'].get('cpus')}} for task in mine['run']]
        after.append(dict(item, tasks=kept + ran))
    return after


def placed(result):
    return dict((name, sorted(task['index'] for task in part['run'])) for name, part in result['hosts'].items())


def test_the_count_is_job_wide_and_capacity_is_respected():
    hosts = [host('h1', memory=1024), host('h2', memory=600), host('h3', memory=2048, attributes={})]
    result = plan_job(fleet_job(), hosts)
    assert not result['failed']
    assert sum(len(indexes) for indexes in placed(result).values()) == 5
    # binpack: the host without QEMU takes nothing, h2 (600 MB) two, h1 the rest
    assert placed(result) == {'h1': [1, 3, 4], 'h2': [0, 2], 'h3': []}
    assert '+ web.g[0] on h2: create (new allocation)' in result['text']
    assert all(task['options']['labels']['nomad_spec'] for part in result['hosts'].values() for task in part['run'])
    # Each is also the item of qemu_tasks' list that runs it: its options and its name.
    assert all(task['qemu_task'] == dict(task['options'], name=task['name']) for part in result['hosts'].values() for task in part['run'])


def test_a_second_plan_changes_nothing():
    hosts = [host('h1'), host('h2')]
    first = plan_job(fleet_job(), hosts)
    second = plan_job(fleet_job(), applied(first, hosts))
    assert set(entry['action'] for entry in second['plan']['allocations']) == {'ignore'}
    assert placed(second) == placed(first)
    assert all(part['stop'] == [] for part in second['hosts'].values())


def test_a_lower_count_stops_the_highest_indexes():
    hosts = [host('h1'), host('h2')]
    after = applied(plan_job(fleet_job(count=5), hosts), hosts)
    result = plan_job(fleet_job(count=2), after)
    stops = sorted((name, stop['name'], stop['reason']) for name, part in result['hosts'].items() for stop in part['stop'])
    assert sorted(stop[1] for stop in stops) == ['web-g-vm-2', 'web-g-vm-3', 'web-g-vm-4']
    assert all(stop[2] == "group 'g' has count = 2, so index %s is no longer wanted" % stop[1][-1] for stop in stops)
    assert all(stop['qemu_task'] == {'name': stop['name'], 'state': 'absent'} for part in result['hosts'].values() for stop in part['stop'])


def test_a_changed_task_is_updated_in_waves_of_max_parallel():
    hosts = [host('h1'), host('h2')]
    after = applied(plan_job(fleet_job(count=5), hosts), hosts)
    result = plan_job(fleet_job(count=5, extra='update {\n max_parallel = 2\n}', args='"-nodefaults", "-no-user-config"'), after)
    runs = [task for part in result['hosts'].values() for task in part['run']]
    assert set(task['action'] for task in runs) == {'update'}
    assert result['waves'] == 3
    assert sorted(task['wave'] for task in runs) == [0, 0, 1, 1, 2]
    # without an update block, at once
    at_once = plan_job(fleet_job(count=5, args='"-nodefaults", "-no-user-config"'), after)
    assert at_once['waves'] == 1


def test_an_unreachable_host_has_its_allocations_placed_again_and_its_copies_stop_when_it_is_back():
    hosts = [host('h1', cpus=3), host('h2', cpus=2), host('h3', cpus=1)]
    after = applied(plan_job(fleet_job(count=5, memory=128), hosts), hosts)
    on_h3 = list(after[2]['tasks'])
    assert len(on_h3) == 1
    moved = plan_job(fleet_job(count=5, memory=128), after[:2], unreachable=['h3'])
    assert not moved['failed']
    assert sum(len(indexes) for indexes in placed(moved).values()) == 5
    back = applied(moved, after[:2]) + [dict(after[2], tasks=[dict(task, state='stopped') for task in on_h3])]
    result = plan_job(fleet_job(count=5, memory=128), back)
    assert result['hosts']['h3']['run'] == []
    assert [stop['name'] for stop in result['hosts']['h3']['stop']] == [on_h3[0]['name']]
    assert 'and is the one kept' in result['hosts']['h3']['stop'][0]['reason']


def test_a_task_not_running_is_started_again():
    hosts = [host('h1')]
    after = applied(plan_job(fleet_job(count=1), hosts), hosts, state='stopped')
    result = plan_job(fleet_job(count=1), after)
    assert [(task['action'], task['reason']) for task in result['hosts']['h1']['run']] == [('update', 'not running; started again')]


def test_what_does_not_fit_is_explained_per_host():
    hosts = [host('h1', memory=600, cpus=4), host('h2', cpus=1), host('h3', attributes={})]
    result = plan_job(fleet_job(count=4), hosts, unreachable=['h4'])
    assert result['failed']
    assert result['message'] == (
        "job 'web' does not fit the hosts, so nothing was started, changed or stopped: group 'g': 1 of 4 allocations cannot be "
        "placed (web.g[3]): no host can take it: constraint '${attr.driver.qemu} is_set' filtered 1 host, unreachable filtered "
        "1 host, cpus exhausted on 1 host, memory exhausted on 1 host; per host: h1: memory exhausted (88 of 600 MB free, 256 MB "
        "needed); h2: cpus exhausted (0 of 1 free, 1 needed); h3: constraint '${attr.driver.qemu} is_set' is not met: "
        "driver.qemu is not set; h4: unreachable")


def test_distinct_hosts_spreads_the_group():
    hosts = [host('h1'), host('h2'), host('h3')]
    result = plan_job(fleet_job(count=3, group_extra='constraint {\n distinct_hosts = true\n}'), hosts)
    assert sorted(map(len, placed(result).values())) == [1, 1, 1]
    assert plan_job(fleet_job(count=4, group_extra='constraint {\n distinct_hosts = true\n}'), hosts)['failed']


def test_a_task_without_cores_reserves_no_cpu():
    result = plan_job(fleet_job(count=3, memory=128, cores=0), [host('h1', cpus=1)])
    assert placed(result) == {'h1': [0, 1, 2]}
    assert not result['failed']


def test_other_jobs_use_capacity_and_are_left_alone():
    other = {'name': 'db', 'state': 'running', 'labels': {}, 'config': {'memory': 900, 'cpus': 1}}
    result = plan_job(fleet_job(count=1), [host('h1', tasks=[other]), host('h2')])
    assert placed(result) == {'h1': [], 'h2': [0]}
    assert result['hosts']['h1']['stop'] == []


def test_bad_hosts_are_refused_by_name():
    with pytest.raises(FleetError, match=r"host h1: its capacity must be \{'memory': MB, 'cpus': N\}"):
        plan_job(fleet_job(), [{'name': 'h1', 'capacity': {'memory': '1G'}}])
    with pytest.raises(FleetError, match='a host is given twice: h1'):
        plan_job(fleet_job(), [host('h1'), host('h1')])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 6)), min_size=1, max_size=5), st.integers(0, 12),
       st.sampled_from([128, 256, 512]))
def test_never_over_commits_is_deterministic_and_settles(capacities, count, memory):
    hosts = [host('h%d' % number, memory=mem, cpus=cpus) for number, (mem, cpus) in enumerate(capacities)]
    job = fleet_job(count=count, memory=memory)
    result = plan_job(job, hosts)
    assert result == plan_job(fleet_job(count=count, memory=memory), hosts)
    for item in hosts:
        run = result['hosts'][item['name']]['run']
        assert len(run) * memory <= item['capacity']['memory'] and len(run) <= item['capacity']['cpus']
    if not result['failed']:
        assert sum(len(part['run']) for part in result['hosts'].values()) == count
        again = plan_job(job, applied(result, hosts))
        assert placed(again) == placed(result)
        assert set(entry['action'] for entry in again['plan']['allocations']) <= {'ignore'}
