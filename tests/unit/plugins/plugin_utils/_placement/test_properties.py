# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Properties of the placement planner, over generated hosts and jobs."""

from __future__ import annotations

import copy

from hypothesis import given, settings, strategies as st

from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.planner import plan_placement
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.render import render_plan

PLACED = ('create', 'update', 'ignore', 'migrate')

FOREIGN = st.fixed_dictionaries({
    'job': st.just('other'), 'group': st.sampled_from(['a', 'b']), 'index': st.integers(0, 3),
    'resources': st.fixed_dictionaries({'memory': st.sampled_from([128, 512, 1024]), 'cpus': st.integers(0, 2)}),
})


@st.composite
def hosts_strategy(draw, min_size=1, max_size=8):
    number = draw(st.integers(min_size, max_size))
    names = draw(st.lists(st.text('abcdefgh0123', min_size=1, max_size=4), min_size=number, max_size=number, unique=True))
    hosts = []
    for name in names:
        foreign = draw(st.lists(FOREIGN, max_size=2, unique_by=lambda item: (item['group'], item['index'])))
        hosts.append({
            'name': name,
            'datacenter': draw(st.sampled_from(['dc1', 'dc2', 'dc3'])),
            'meta': {'rack': draw(st.sampled_from(['r1', 'r2']))},
            'attributes': {'kernel.name': draw(st.sampled_from(['linux', 'linux', 'windows'])), 'driver.qemu.version': '8.2.2'},
            'capacity': {'memory': draw(st.sampled_from([1024, 2048, 4096])), 'cpus': draw(st.sampled_from([1, 2, 4]))},
            'reserved': {'memory': draw(st.sampled_from([0, 256])), 'cpus': 0},
            'reachable': draw(st.sampled_from([True, True, True, False])),
            'allocations': foreign,
        })
    return hosts


@st.composite
def group_strategy(draw, job, group):
    count = draw(st.integers(1, 8))
    constraints = []
    if draw(st.booleans()):
        constraints.append({'attribute': '${attr.kernel.name}', 'operator': '=', 'value': 'linux'})
    if draw(st.booleans()):
        constraints.append({'operator': 'distinct_hosts', 'level': 'group'})
    if draw(st.integers(0, 4)) == 0:
        constraints.append({'operator': 'distinct_property', 'attribute': '${meta.rack}', 'value': draw(st.sampled_from(['2', '3']))})
    affinities = []
    if draw(st.booleans()):
        affinities.append({'attribute': '${node.datacenter}', 'value': 'dc1', 'weight': draw(st.sampled_from([-50, 50, 100]))})
    spreads = []
    if draw(st.booleans()):
        targets = draw(st.sampled_from([[], [{'value': 'dc1', 'percent': 70}], [{'value': 'dc1', 'percent': 50}, {'value': 'dc2', 'percent': 50}]]))
        spreads.append({'attribute': '${node.datacenter}', 'weight': draw(st.sampled_from([50, 100])), 'targets': targets})
    resources = {'memory': draw(st.sampled_from([256, 512, 1024])), 'cpus': draw(st.integers(0, 2))}
    # mostly one shape per group, as Nomad's; sometimes each index asks for its own resources
    sizes = [resources] * count
    if draw(st.integers(0, 3)) == 0:
        sizes = [{'memory': draw(st.sampled_from([256, 512, 1024, 2048])), 'cpus': draw(st.integers(0, 3))} for _index in range(count)]
    return [{'job': job, 'group': group, 'index': index, 'resources': sizes[index], 'constraints': constraints,
             'affinities': affinities, 'spreads': spreads, 'spec': {'image': 'v1'}} for index in range(count)]


@st.composite
def jobs_strategy(draw):
    allocations = []
    for job in draw(st.lists(st.sampled_from(['web', 'db']), min_size=1, max_size=2, unique=True)):
        # a job-level constraint is on every allocation of the job, as the job reader lists it
        job_level = [{'operator': 'distinct_hosts', 'level': 'job'}] if draw(st.integers(0, 3)) == 0 else []
        for group in draw(st.lists(st.sampled_from(['front', 'back']), min_size=1, max_size=2, unique=True)):
            for item in draw(group_strategy(job, group)):
                item['constraints'] = job_level + item['constraints']
                allocations.append(item)
    return allocations


def with_running(hosts, allocations, plan):
    """The hosts after the plan has run: each runs the allocations placed on it, with the wanted resources and spec."""
    wanted = dict(((item['job'], item['group'], item['index']), item) for item in allocations)
    after = copy.deepcopy(hosts)
    by_name = dict((host['name'], host) for host in after)
    for host in after:
        host['allocations'] = [item for item in host['allocations'] if item['job'] == 'other']
    for entry in plan['allocations']:
        if entry['action'] in PLACED:
            item = wanted[(entry['job'], entry['group'], entry['index'])]
            by_name[entry['host']]['allocations'].append(
                {'job': entry['job'], 'group': entry['group'], 'index': entry['index'], 'resources': item['resources'], 'spec': item['spec']})
    return after


def usage(hosts, allocations, plan):
    wanted = dict(((item['job'], item['group'], item['index']), item) for item in allocations)
    used = dict((host['name'], [0, 0]) for host in hosts)
    for host in hosts:
        for item in host['allocations']:
            if item['job'] == 'other':
                used[host['name']][0] += item['resources']['memory']
                used[host['name']][1] += item['resources']['cpus']
    for entry in plan['allocations']:
        if entry['action'] in PLACED:
            resources = wanted[(entry['job'], entry['group'], entry['index'])]['resources']
            used[entry['host']][0] += resources['memory']
            used[entry['host']][1] += resources['cpus']
    return used


@settings(max_examples=150, deadline=None)
@given(hosts_strategy(), jobs_strategy(), st.sampled_from(['binpack', 'spread']))
def test_never_over_commits(hosts, allocations, algorithm):
    plan = plan_placement(allocations, hosts, algorithm=algorithm)
    used = usage(hosts, allocations, plan)
    for host in hosts:
        if not host['reachable']:
            continue
        memory = host['capacity']['memory'] - host['reserved']['memory']
        placed = [entry for entry in plan['allocations'] if entry['host'] == host['name'] and entry['action'] in PLACED]
        if placed:
            assert used[host['name']][0] <= memory
            assert used[host['name']][1] <= host['capacity']['cpus']
    # every wanted allocation is placed or failed, once
    outcome = [(entry['job'], entry['group'], entry['index']) for entry in plan['allocations'] if entry['action'] in PLACED]
    outcome += [(failure['job'], failure['group'], failure['index']) for failure in plan['failures']]
    assert sorted(outcome) == sorted((item['job'], item['group'], item['index']) for item in allocations)
    render_plan(plan)


@settings(max_examples=100, deadline=None)
@given(hosts_strategy(), jobs_strategy(), st.randoms(use_true_random=False))
def test_deterministic_and_independent_of_input_order(hosts, allocations, random):
    plan = plan_placement(allocations, hosts)
    assert plan_placement(copy.deepcopy(allocations), copy.deepcopy(hosts)) == plan
    shuffled_hosts, shuffled_allocations = list(hosts), list(allocations)
    random.shuffle(shuffled_hosts)
    random.shuffle(shuffled_allocations)
    assert plan_placement(shuffled_allocations, shuffled_hosts) == plan


@settings(max_examples=150, deadline=None)
@given(hosts_strategy(), jobs_strategy(), st.sampled_from(['binpack', 'spread']))
def test_replanning_the_plan_changes_nothing(hosts, allocations, algorithm):
    plan = plan_placement(allocations, hosts, algorithm=algorithm)
    again = plan_placement(allocations, with_running(hosts, allocations, plan), algorithm=algorithm)
    placed = dict((entry['name'], entry['host']) for entry in plan['allocations'] if entry['action'] in PLACED)
    assert dict((entry['name'], entry['host']) for entry in again['allocations']) == placed
    assert all(entry['action'] == 'ignore' for entry in again['allocations'])
    assert [failure['name'] for failure in again['failures']] == [failure['name'] for failure in plan['failures']]


@settings(max_examples=150, deadline=None)
@given(hosts_strategy(), jobs_strategy())
def test_distinct_hosts_holds(hosts, allocations):
    plan = plan_placement(allocations, hosts)
    levels = {}
    for item in allocations:
        for constraint in item['constraints']:
            if constraint['operator'] == 'distinct_hosts':
                levels[(item['job'], item['group'])] = constraint['level']
    placed = [entry for entry in plan['allocations'] if entry['action'] in PLACED]
    for entry in placed:
        level = levels.get((entry['job'], entry['group']))
        if level is None:
            continue
        # group level: no other allocation of the group on the host; job level: none of the job
        others = [other for other in placed if other is not entry and other['host'] == entry['host'] and other['job'] == entry['job']
                  and (level == 'job' or other['group'] == entry['group'])]
        assert not others, (entry, others)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 4), st.integers(1, 3), st.integers(1, 30), st.sampled_from(['binpack', 'spread']))
def test_even_spread_is_within_one_when_capacity_allows(datacenters, per_datacenter, count, algorithm):
    hosts = [{'name': 'h%d-%d' % (dc, number), 'datacenter': 'dc%d' % dc, 'capacity': {'memory': 1000000, 'cpus': 1000}}
             for dc in range(datacenters) for number in range(per_datacenter)]
    allocations = [{'job': 'web', 'group': 'front', 'index': index, 'resources': {'memory': 256, 'cpus': 1},
                    'spreads': [{'attribute': '${node.datacenter}', 'weight': 50}]} for index in range(count)]
    plan = plan_placement(allocations, hosts, algorithm=algorithm)
    counts = dict(('dc%d' % dc, 0) for dc in range(datacenters))
    for entry in plan['allocations']:
        counts[entry['host'].split('-')[0].replace('h', 'dc')] += 1
    assert max(counts.values()) - min(counts.values()) <= 1, counts


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=10), st.sampled_from([1, 50, 100]), st.sampled_from(['binpack', 'spread']),
       st.lists(st.booleans(), min_size=10, max_size=10))
def test_a_positive_affinity_is_preferred_when_feasible(fast, weight, algorithm, full):
    # equal empty hosts, some matching the affinity; a full matching host cannot take it
    hosts = [{'name': 'h%d' % number, 'meta': {'tier': 'fast' if is_fast else 'slow'},
              'capacity': {'memory': 0 if full[number] and is_fast else 4096, 'cpus': 4}} for number, is_fast in enumerate(fast)]
    allocations = [{'job': 'web', 'group': 'front', 'index': 0, 'resources': {'memory': 512, 'cpus': 1},
                    'affinities': [{'attribute': '${meta.tier}', 'value': 'fast', 'weight': weight}]}]
    plan = plan_placement(allocations, hosts, algorithm=algorithm)
    feasible_fast = [host['name'] for host in hosts if host['meta']['tier'] == 'fast' and host['capacity']['memory']]
    if not plan['allocations']:
        assert all(not host['capacity']['memory'] for host in hosts)
        return
    [entry] = plan['allocations']
    if feasible_fast:
        assert entry['host'] in feasible_fast
    else:
        assert entry['host'] not in [host['name'] for host in hosts if host['meta']['tier'] == 'fast']
