# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cases of Nomad's scheduler tests (scheduler/feasible/*_test.go, nomad/structs/funcs_test.go), ported where they apply.

Each names the Nomad test it comes from. Nomad's tests score iterators alone (a spread iterator
without bin packing); score_hosts scores with everything, so the expected values here are
Nomad's combined with the fit where the test left it out, as its own "with binpack" variants do.
"""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.planner import plan_placement, score_hosts
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.scoring import (
    anti_affinity_penalty,
    binpack_fit,
    desired_counts,
    even_spread_boost,
    final_score,
    fit_score,
    spread_fit,
    target_spread_boost,
)

BIG = {'memory': 1000000, 'cpus': 1000}


def host(name, allocations=(), capacity=None, **extra):
    item = {'name': name, 'capacity': capacity or BIG, 'allocations': list(allocations)}
    item.update(extra)
    return item


def running(group='web', index=0, job='foo', memory=0, cpus=0):
    return {'job': job, 'group': group, 'index': index, 'resources': {'memory': memory, 'cpus': cpus}}


def wanted(count, job='foo', group='web', index=None, memory=0, cpus=0, **extra):
    item = {'job': job, 'group': group, 'index': count - 1 if index is None else index, 'count': count,
            'resources': {'memory': memory, 'cpus': cpus}}
    item.update(extra)
    return item


# TestScoreFitBinPack (nomad/structs/funcs_test.go): a node of 4096 CPU and 8192 MB with 2048 and 4096 reserved.
@pytest.mark.parametrize('used_cpu, used_memory, binpack, spread', [
    (2048, 4096, 18.0, 0.0),   # almost filled node, but with just enough hole
    (0, 0, 0.0, 18.0),         # unutilized node
    (1024, 2048, 13.675, 4.325),  # mid-case scenario
])
def test_score_fit(used_cpu, used_memory, binpack, spread):
    assert binpack_fit(2048, 4096, used_cpu, used_memory) == pytest.approx(binpack, abs=0.001)
    assert spread_fit(2048, 4096, used_cpu, used_memory) == pytest.approx(spread, abs=0.001)


# TestJobAntiAffinity_PlannedAlloc (rank_test.go): count 4, two allocations of the group on node 0.
def test_job_anti_affinity():
    assert anti_affinity_penalty(2, 4) == -0.75
    assert anti_affinity_penalty(0, 4) is None
    scores = score_hosts(wanted(4), [host('n0', [running(index=0), running(index=1)]), host('n1', [running(job='bar')])])
    # empty allocations: the fit is 0, so the final score is the mean of 0 and -0.75
    assert scores == {'n0': pytest.approx(-0.375), 'n1': 0.0}


# TestScoreNormalizationIterator (rank_test.go): the mean of the scores given.
def test_score_normalization():
    assert final_score([-0.75, -1.0]) == -0.875
    assert final_score([0.0]) == 0.0
    # through the planner: the mean is over the scores that apply, the anti-affinity only where the group runs
    capacity = {'memory': 4096, 'cpus': 4}
    hosts = [host('a', [running(memory=1024, cpus=1)], capacity=capacity), host('b', capacity=capacity)]
    scores = score_hosts(wanted(2, memory=1024, cpus=1), hosts)
    assert scores['a'] == pytest.approx((binpack_fit(4, 4096, 2, 2048) / 18 + anti_affinity_penalty(1, 2)) / 2)
    assert scores['b'] == pytest.approx(binpack_fit(4, 4096, 1, 1024) / 18)


# mock.Node() is in dc1, of class linux-medium-pci, with no kernel.version; the test changes these.
NODE_AFFINITY_HOSTS = [
    host('n0', attributes={'kernel.version': '4.9'}, datacenter='dc1', node_class='linux-medium-pci'),
    host('n1', datacenter='dc2', node_class='linux-medium-pci'),
    host('n2', datacenter='dc2', node_class='large'),
    host('n3', datacenter='dc1', node_class='linux-medium-pci'),
    host('n4', attributes={'kernel.version': '2.6'}, datacenter='dc3', node_class='weird'),
]
NODE_AFFINITIES = [
    {'attribute': '${node.datacenter}', 'operator': '=', 'value': 'dc1', 'weight': 100},
    {'attribute': '${node.datacenter}', 'operator': '=', 'value': 'dc2', 'weight': -100},
    {'attribute': '${attr.kernel.version}', 'operator': 'version', 'value': '>4.0', 'weight': 50},
    {'attribute': '${node.class}', 'operator': 'is', 'value': 'large', 'weight': 50},
]


# TestNodeAffinityIterator, "affinity with binpack" (rank_test.go): total weight 300. Empty hosts
# all fit alike, so the fit adds the same to each.
def test_node_affinity_with_binpack():
    scores = score_hosts(wanted(1, memory=256, cpus=1, affinities=NODE_AFFINITIES), NODE_AFFINITY_HOSTS)
    fit = fit_score('binpack', 1000, 1000000, 1, 256)
    assert scores == {
        'n0': pytest.approx((0.5 + fit) / 2),           # dc1 and the kernel version: 150
        'n1': pytest.approx((-(1.0 / 3.0) + fit) / 2),  # dc2: -100
        'n2': pytest.approx((-(1.0 / 6.0) + fit) / 2),  # dc2 and the class: -50
        'n3': pytest.approx((1.0 / 3.0 + fit) / 2),     # dc1: 100
        'n4': pytest.approx((0.0 + fit) / 2),           # none: still a score, 0, in the mean
    }
    assert scores['n4'] < scores['n0'] and scores['n4'] < scores['n3']


def spread(attribute, weight=100, **targets):
    return {'attribute': attribute, 'weight': weight, 'targets': [{'value': value, 'percent': percent} for value, percent in targets.items()]}


# TestSpreadIterator_SingleAttribute (spread_test.go): dc1, dc2, dc1, dc1; count 10, allocations on
# nodes 0 and 2; 80% in dc1, so 20% implicitly elsewhere.
def test_spread_single_attribute():
    assert desired_counts([('dc1', 80)], 10) == {'dc1': 8.0, '*': 2.0}
    assert target_spread_boost(8.0, 2, 100, 100) == 0.625
    assert target_spread_boost(2.0, 0, 100, 100) == 0.5
    hosts = [host('n0', [running(index=0)], datacenter='dc1'), host('n1', datacenter='dc2'),
             host('n2', [running(index=1)], datacenter='dc1'), host('n3', datacenter='dc1')]
    scores = score_hosts(wanted(10, spreads=[spread('${node.datacenter}', dc1=80)]), hosts)
    # the fit of empty allocations is 0; n0 and n2 also get the anti-affinity penalty -(1 + 1) / 10
    assert scores == {'n0': pytest.approx((0.625 - 0.2) / 3), 'n1': pytest.approx(0.5 / 2),
                      'n2': pytest.approx((0.625 - 0.2) / 3), 'n3': pytest.approx(0.625 / 2)}
    # after 5 more in dc1, dc1 has its 8: no spread score there, dc2 keeps its boost
    hosts[0]['allocations'] += [running(index=2), running(index=3)]
    hosts[3]['allocations'] += [running(index=4), running(index=5), running(index=6)]
    scores = score_hosts(wanted(10, spreads=[spread('${node.datacenter}', dc1=80)]), hosts)
    assert scores['n1'] == pytest.approx(0.5 / 2)
    assert scores['n3'] == pytest.approx((0.0 - 0.4) / 2)  # anti-affinity alone: -(3 + 1) / 10


# TestSpreadIterator_MultipleAttributes (spread_test.go): two spreads, weights 100 and 50.
def test_spread_multiple_attributes():
    hosts = [host('n0', [running(index=0)], datacenter='dc1', meta={'rack': 'r1'}), host('n1', datacenter='dc2', meta={'rack': 'r1'}),
             host('n2', [running(index=1)], datacenter='dc1', meta={'rack': 'r2'}), host('n3', datacenter='dc1', meta={'rack': 'r2'})]
    spreads = [spread('${node.datacenter}', 100, dc1=60, dc2=40), spread('${meta.rack}', 50, r1=40, r2=60)]
    scores = score_hosts(wanted(10, spreads=spreads), hosts)
    # Nomad's spread totals: 0.500, 0.667, 0.556, 0.556
    assert scores['n1'] == pytest.approx(0.6667 / 2, abs=0.001)
    assert scores['n3'] == pytest.approx(0.5556 / 2, abs=0.001)
    assert scores['n0'] == pytest.approx((0.5 - 0.2) / 3, abs=0.001)
    assert scores['n2'] == pytest.approx((0.5556 - 0.2) / 3, abs=0.001)


# TestSpreadIterator_EvenSpread (spread_test.go) and Test_evenSpreadScoreBoost.
@pytest.mark.parametrize('counts, value, boost', [
    ({}, 'dc1', 0.0),                           # nothing placed yet
    ({'dc1': 2}, 'dc1', -1.0),                  # dc1 is penalised
    ({'dc1': 2}, 'dc2', 1.0),                   # dc2 is boosted
    ({'dc1': 2, 'dc2': 3}, 'dc1', 0.5),
    ({'dc1': 2, 'dc2': 3}, 'dc2', -0.5),
    ({'dc1': 3, 'dc2': 3}, 'dc1', -1.0),        # even: maximum penalty
    ({'dc1': 3, 'dc2': 3}, 'dc3', 1.0),         # a new value: maximum boost
    ({'dc1': 1, 'dc2': 0, 'dc3': 0}, 'dc2', 1.0),  # Test_evenSpreadScoreBoost: cleared values, no infinity
])
def test_even_spread_boost(counts, value, boost):
    assert even_spread_boost(counts, value) == boost


# TestSpreadIterator_MaxPenalty (spread_test.go): no host in a target, or no host with the attribute: -1.
@pytest.mark.parametrize('attribute, targets', [
    ('${node.datacenter}', {'dc1': 80, 'dc2': 20}),
    ('${meta.foo}', {'bar': 80, 'baz': 20}),
])
def test_spread_max_penalty(attribute, targets):
    hosts = [host('n%d' % number, datacenter='dc3') for number in range(5)]
    scores = score_hosts(wanted(5, spreads=[spread(attribute, 100, **targets)]), hosts)
    assert scores == dict(('n%d' % number, -0.5) for number in range(5))  # mean of the fit, 0, and -1


# TestSpreadIterator_NoInfinity (spread_test.go): a target of 0% scores the lowest boost, not -Inf.
def test_spread_no_infinity():
    hosts = [host('n%d' % number, datacenter='dc%d' % number) for number in (1, 2, 3)]
    scores = score_hosts(wanted(8, spreads=[{'attribute': '${node.datacenter}', 'weight': 100, 'targets': [
        {'value': 'dc1', 'percent': 50}, {'value': 'dc2', 'percent': 50}, {'value': '*', 'percent': 0}]}]), hosts)
    assert scores == {'n1': 0.75 / 2, 'n2': 0.75 / 2, 'n3': -1.0 / 2}
    scores = score_hosts(wanted(8, spreads=[{'attribute': '${node.datacenter}', 'weight': 100, 'targets': [
        {'value': 'dc1', 'percent': 99}, {'value': 'dc2', 'percent': 1}, {'value': '*', 'percent': 0}]}]), hosts)
    desired = 8 * 0.99
    assert scores['n1'] == pytest.approx((desired - 1) / desired / 2)
    assert scores['n2'] == pytest.approx(-11.5 / 2)
    assert scores['n3'] <= scores['n2']


# TestDistinctHostsIterator_JobDistinctHosts (feasible_test.go): job-level distinct_hosts keeps
# every group of the job off a host the job uses; group level only the group.
@pytest.mark.parametrize('level, feasible', [('job', ['n3']), ('group', ['n2', 'n3'])])
def test_distinct_hosts(level, feasible):
    hosts = [host('n1', [running(group='bar', index=0)]), host('n2', [running(group='baz', index=0)]), host('n3')]
    hosts[0]['allocations'].append(running(group='bar', index=1))
    scores = score_hosts(wanted(3, group='bar', index=2, constraints=[{'operator': 'distinct_hosts', 'level': level}]), hosts)
    assert sorted(name for name, score in scores.items() if score is not None) == feasible


# TestDistinctHostsIterator_JobDistinctHosts_InfeasibleCount (feasible_test.go): more allocations than hosts.
def test_distinct_hosts_infeasible_count():
    hosts = [host('n1'), host('n2')]
    plan = plan_placement([wanted(3, index=index, constraints=[{'operator': 'distinct_hosts', 'level': 'job'}]) for index in range(3)], hosts)
    assert sorted(entry['host'] for entry in plan['allocations']) == ['n1', 'n2']
    [failure] = plan['failures']
    assert failure['metrics']['filtered'] == {'distinct_hosts': 2}
    assert failure['reason'] == 'no host can take it: distinct_hosts filtered 2 hosts'


# TestDistinctPropertyIterator_JobDistinctProperty_Count (feasible_test.go): two allocations allowed per rack.
def test_distinct_property_count():
    hosts = [host('n1', meta={'rack': '1'}), host('n2', meta={'rack': '1'}), host('n3', meta={'rack': '2'}), host('n4')]
    constraint = {'operator': 'distinct_property', 'attribute': '${meta.rack}', 'value': '2', 'level': 'job'}
    plan = plan_placement([wanted(5, index=index, constraints=[constraint]) for index in range(5)], hosts)
    racks = {'n1': '1', 'n2': '1', 'n3': '2'}
    placed = [racks[entry['host']] for entry in plan['allocations']]
    assert sorted(placed) == ['1', '1', '2', '2']
    [failure] = plan['failures']
    assert failure['metrics']['filtered'] == {'distinct_property: ${meta.rack}=1 used by 2 allocs': 2,
                                              'distinct_property: ${meta.rack}=2 used by 2 allocs': 1,
                                              'missing property "${meta.rack}"': 1}


# TestDistinctPropertyIterator_JobDistinctProperty_RemoveAndReplace (feasible_test.go): a stopped
# allocation frees its value for the one that replaces it.
def test_distinct_property_remove_and_replace():
    hosts = [host('n1', [running(index=0)], meta={'rack': '1'}), host('n2', meta={'rack': '2'})]
    constraint = {'operator': 'distinct_property', 'attribute': '${meta.rack}'}
    hosts[0]['reachable'] = False
    plan = plan_placement([wanted(1, index=0, constraints=[constraint])], hosts)
    [entry] = plan['allocations']
    assert (entry['action'], entry['previous_host'], entry['host']) == ('migrate', 'n1', 'n2')


# TestBinPackIterator_NoExistingAlloc / TestBinPackIterator_ExistingAlloc (rank_test.go): the fuller
# host that still fits wins under binpack, the emptier under spread; a host too small is exhausted.
@pytest.mark.parametrize('algorithm, best', [('binpack', 'n2'), ('spread', 'n1')])
def test_binpack_existing_alloc(algorithm, best):
    capacity = {'memory': 2048, 'cpus': 2}
    hosts = [host('n1', capacity=capacity), host('n2', [running(job='other', memory=1024, cpus=1)], capacity=capacity),
             host('n3', [running(job='other', memory=2048, cpus=1)], capacity=capacity)]
    plan = plan_placement([wanted(1, index=0, memory=1024, cpus=1)], hosts, algorithm=algorithm)
    assert plan['allocations'][0]['host'] == best
    scores = score_hosts(wanted(1, index=0, memory=1024, cpus=1), hosts, algorithm=algorithm)
    assert scores['n3'] is None
    assert scores['n2'] == pytest.approx(fit_score(algorithm, 2, 2048, 2, 2048))
    assert scores['n1'] == pytest.approx(fit_score(algorithm, 2, 2048, 1, 1024))
