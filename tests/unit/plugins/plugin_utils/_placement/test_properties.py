# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Properties of the placement planner, over generated hosts and jobs."""

from __future__ import annotations

import collections
import copy

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement import scorer as scorer_module
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
    if draw(st.integers(0, 2)) == 0:
        # a per-host attribute (one partition per host) or a second one
        spreads.append({'attribute': draw(st.sampled_from(['${node.unique.name}', '${meta.rack}'])), 'weight': draw(st.sampled_from([25, 50]))})
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


@st.composite
def scenario_strategy(draw):
    """Hosts and jobs, with allocations of the planned jobs already running on the hosts.

    Some run as wanted (they stay), some with another spec (updated), some bigger or smaller than
    wanted (they may have to move), some twice (on two hosts or on one), and some indexes beyond
    the count (stopped).
    """
    hosts = draw(hosts_strategy())
    allocations = draw(jobs_strategy())
    for item in allocations:
        kind = draw(st.sampled_from(['none', 'none', 'same', 'same', 'spec', 'resized', 'copies', 'extra']))
        if kind == 'none':
            continue
        running = {'job': item['job'], 'group': item['group'], 'index': item['index'], 'resources': dict(item['resources']),
                   'spec': item['spec']}
        if kind == 'spec':
            running['spec'] = {'image': 'v0'}
        elif kind == 'resized':
            running['resources'] = {'memory': draw(st.sampled_from([256, 1024, 2048])), 'cpus': draw(st.integers(0, 2))}
        elif kind == 'extra':
            running['index'] = item['index'] + 100
        places = draw(st.lists(st.integers(0, len(hosts) - 1), min_size=2, max_size=2)) if kind == 'copies' else [draw(st.integers(0, len(hosts) - 1))]
        for place in places:
            hosts[place]['allocations'].append(dict(running))
    return hosts, allocations


def kept(entry):
    """Whether ``entry`` is an allocation that could not move and keeps running as it was."""
    return entry['action'] == 'ignore' and entry['reason'].endswith('it keeps running as it was')


def running_item(hosts, entry):
    """The running allocation of ``entry``'s key on its host, as the input gave it."""
    host = next(host for host in hosts if host['name'] == entry['host'])
    return next(item for item in host['allocations'] if (item['job'], item['group'], item['index']) == (entry['job'], entry['group'], entry['index']))


def with_running(hosts, allocations, plan):
    """The hosts after the plan has run: each runs the allocations placed on it, with the wanted resources and spec."""
    wanted = dict(((item['job'], item['group'], item['index']), item) for item in allocations)
    after = copy.deepcopy(hosts)
    by_name = dict((host['name'], host) for host in after)
    for host in after:
        host['allocations'] = [item for item in host['allocations'] if item['job'] == 'other']
    for entry in plan['allocations']:
        if entry['action'] in PLACED:
            item = running_item(hosts, entry) if kept(entry) else wanted[(entry['job'], entry['group'], entry['index'])]
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
            resources = (running_item(hosts, entry) if kept(entry) else wanted[(entry['job'], entry['group'], entry['index'])])['resources']
            used[entry['host']][0] += resources['memory']
            used[entry['host']][1] += resources['cpus']
    return used


def running_copies(hosts, planned):
    """(job, group, index, host) of each running allocation of the ``planned`` jobs, counted."""
    return collections.Counter((item['job'], item['group'], item['index'], host['name'])
                               for host in hosts for item in host['allocations'] if item['job'] in planned)


@settings(max_examples=200, deadline=None)
@given(scenario_strategy(), st.sampled_from(['binpack', 'spread']))
def test_never_over_commits_and_accounts_for_every_allocation(scenario, algorithm):
    hosts, allocations = scenario
    plan = plan_placement(allocations, hosts, algorithm=algorithm)
    used = usage(hosts, allocations, plan)
    for host in hosts:
        # what the plan says a host uses is what runs there after it
        assert (plan['hosts'][host['name']]['memory'], plan['hosts'][host['name']]['cpus']) == tuple(used[host['name']])
        memory = host['capacity']['memory'] - host['reserved']['memory']
        # the plan never over-commits a host, nor a host over-committed already more than it was
        before = used[host['name']]
        if host['reachable']:
            before = [sum(item['resources'][dimension] for item in host['allocations']) for dimension in ('memory', 'cpus')]
        assert used[host['name']][0] <= max(memory, before[0])
        assert used[host['name']][1] <= max(host['capacity']['cpus'], before[1])
        # a host the plan puts an allocation on has room for everything on it (what only stays may be over already)
        if any(entry['host'] == host['name'] and entry['action'] in ('create', 'migrate') for entry in plan['allocations']):
            assert host['reachable']
            assert used[host['name']][0] <= memory
            assert used[host['name']][1] <= host['capacity']['cpus']
    # every wanted allocation is placed or failed, once; one that failed and is still placed kept running where it was
    placed = collections.Counter((entry['job'], entry['group'], entry['index']) for entry in plan['allocations'] if entry['action'] in PLACED)
    failed = collections.Counter((failure['job'], failure['group'], failure['index']) for failure in plan['failures'])
    for item in allocations:
        key = (item['job'], item['group'], item['index'])
        assert placed[key] + failed[key] in (1, 2), key
        if placed[key] and failed[key]:
            [entry] = [entry for entry in plan['allocations'] if (entry['job'], entry['group'], entry['index']) == key
                       and entry['action'] in PLACED]
            assert kept(entry), entry
    assert set(placed) | set(failed) == set((item['job'], item['group'], item['index']) for item in allocations)
    # every running copy of a planned job has one entry where it runs: it stays, is updated, moves away or stops
    planned = set(item['job'] for item in allocations)
    seen = collections.Counter()
    for entry in plan['allocations']:
        if entry['action'] in ('ignore', 'update', 'stop'):
            seen[(entry['job'], entry['group'], entry['index'], entry['host'])] += 1
        elif entry['action'] == 'migrate':
            seen[(entry['job'], entry['group'], entry['index'], entry['previous_host'])] += 1
    assert seen == running_copies(hosts, planned)
    render_plan(plan)


@settings(max_examples=100, deadline=None)
@given(scenario_strategy(), st.randoms(use_true_random=False))
def test_deterministic_and_independent_of_input_order(scenario, random):
    hosts, allocations = scenario
    plan = plan_placement(allocations, hosts)
    assert plan_placement(copy.deepcopy(allocations), copy.deepcopy(hosts)) == plan
    shuffled_hosts, shuffled_allocations = list(hosts), list(allocations)
    random.shuffle(shuffled_hosts)
    random.shuffle(shuffled_allocations)
    assert plan_placement(shuffled_allocations, shuffled_hosts) == plan


@settings(max_examples=200, deadline=None)
@given(scenario_strategy(), st.sampled_from(['binpack', 'spread']))
def test_replanning_the_plan_changes_nothing(scenario, algorithm):
    hosts, allocations = scenario
    plan = plan_placement(allocations, hosts, algorithm=algorithm)
    again = plan_placement(allocations, with_running(hosts, allocations, plan), algorithm=algorithm)
    placed = dict((entry['name'], entry['host']) for entry in plan['allocations'] if entry['action'] in PLACED)
    failed = set(failure['name'] for failure in plan['failures'])
    # What was placed stays, unchanged. What failed may find a host now: a move later in the plan can
    # free the room an earlier group lacked (the old allocation runs until it has moved, as in Nomad).
    for entry in again['allocations']:
        if entry['name'] not in failed:
            assert (entry['action'], entry['host']) == ('ignore', placed[entry['name']]), entry
    assert set(entry['name'] for entry in again['allocations']) | failed >= set(placed)
    assert set(failure['name'] for failure in again['failures']) <= failed


@settings(max_examples=200, deadline=None)
@given(scenario_strategy())
def test_distinct_hosts_holds(scenario):
    hosts, allocations = scenario
    plan = plan_placement(allocations, hosts)
    levels = {}
    for item in allocations:
        for constraint in item['constraints']:
            if constraint['operator'] == 'distinct_hosts':
                levels[(item['job'], item['group'])] = constraint['level']
    # an allocation that could not move keeps running as it was, next to whatever runs there
    placed = [entry for entry in plan['allocations'] if entry['action'] in PLACED and not kept(entry)]
    for entry in placed:
        level = levels.get((entry['job'], entry['group']))
        if level is None:
            continue
        # group level: no other allocation of the group on the host; job level: none of the job
        others = [other for other in placed if other is not entry and other['host'] == entry['host'] and other['job'] == entry['job']
                  and (level == 'job' or other['group'] == entry['group'])]
        assert not others, (entry, others)


@pytest.fixture
def checked_select(monkeypatch):
    """Check each select of the planner against the brute force: the best score() of every host, ties to the first by name."""
    select = scorer_module.GroupScorer.select
    checked = []

    def brute_select(self):
        chosen = select(self)
        scores = [(self.score(host.position), host.name, host.position) for host in self.state.hosts]
        scores = [item for item in scores if item[0] is not None]
        if not scores:
            assert chosen is None
            return chosen
        assert chosen is not None
        best = max(score for score, _name, _position in scores)
        position, score = chosen
        # the same floats: the heaps sum a score in the order score() does
        assert score == best
        assert self.score(position) == score
        # of the hosts scoring the best, the first by name
        assert self.state.hosts[position].name == min(name for value, name, _position in scores if value == best)
        checked.append(position)
        return chosen

    monkeypatch.setattr(scorer_module.GroupScorer, 'select', brute_select)
    return checked


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario_strategy(), st.sampled_from(['binpack', 'spread']))
def test_each_placement_takes_the_best_host_by_score(checked_select, scenario, algorithm):
    hosts, allocations = scenario
    plan = plan_placement(allocations, hosts, algorithm=algorithm)
    moved = [entry for entry in plan['allocations'] if entry['action'] in ('create', 'migrate')]
    for entry in moved:
        assert entry['score'] is not None


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
    # equal hosts otherwise: the first matching one by name, or else the first other one
    slow = [host['name'] for host in hosts if host['meta']['tier'] == 'slow']
    assert entry['host'] == min(feasible_fast or slow)
