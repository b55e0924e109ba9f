# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Time the placement planner alone (plugins/plugin_utils/_placement): no host, no Ansible run.

    python bench/placement.py [--case mixed|tight|host-spread] [--hosts 1000] [--allocations 10000] [--runs 3] [--group-size 100]

Prints one JSON object: the size of the input, the time of each run of plan_placement in seconds
and the best of them, and what the plan did (created, kept, migrated, stopped, failed). Run it with
the project's virtualenv and the collection on PYTHONPATH (ansible_collections/nomadic/qemu).

The input is generated, the same at every run (a fixed seed): hosts in 4 datacenters, 3 node
classes and 20 racks, a few unreachable, some running allocations of other jobs; groups of
``--group-size`` allocations (half of them already running somewhere) with constraints, and in
turn affinities, spreads (even and with targets), distinct_hosts and distinct_property (case
``mixed``). Case ``tight`` gives the hosts an eighth of that capacity, so that hosts fill up and
allocations fail; case ``host-spread`` spreads every group over ``${node.unique.name}`` (one
partition per host). Each run plans a JSON round trip of the input, as a playbook hands it over
(no two allocations share a list object); the round trip is not timed.
"""

from __future__ import annotations

import argparse
import json
import random
import time


def make_hosts(number, rng, scale=1):
    hosts = []
    for index in range(number):
        foreign = []
        if index % 10 == 0:
            foreign.append({'job': 'other-%d' % index, 'group': 'g', 'index': 0, 'resources': {'memory': 8192, 'cpus': 4}})
        hosts.append({
            'name': 'host-%04d' % index,
            'datacenter': 'dc%d' % (index % 4),
            'node_class': ('small', 'medium', 'large')[index % 3],
            'meta': {'rack': 'r%02d' % (index % 20)},
            'attributes': {'kernel.name': 'windows' if index % 20 == 19 else 'linux',
                           'driver.qemu.version': ('7.2.22', '8.2.2', '9.0.0')[index % 3], 'cpu.arch': 'amd64'},
            'capacity': {'memory': rng.choice([65536, 131072, 262144]) // scale, 'cpus': rng.choice([16, 32, 64]) // scale},
            'reserved': {'memory': 1024, 'cpus': 1},
            'reachable': index % 50 != 49,
            'allocations': foreign,
        })
    return hosts


def make_allocations(number, group_size, rng, host_spread=False):
    allocations = []
    groups = max(number // group_size, 1)
    for group in range(groups):
        job = 'job-%03d' % (group // 2)
        name = 'g%d' % (group % 2)
        constraints = [{'attribute': '${attr.kernel.name}', 'operator': '=', 'value': 'linux'}]
        if group % 3 == 0:
            constraints.append({'attribute': '${attr.driver.qemu.version}', 'operator': 'version', 'value': '>= 8.0'})
        if group % 7 == 0:
            constraints.append({'operator': 'distinct_hosts', 'level': 'group'})
        if group % 11 == 0:
            constraints.append({'operator': 'distinct_property', 'attribute': '${meta.rack}', 'value': str(group_size), 'level': 'group'})
        affinities = [{'attribute': '${node.class}', 'value': 'large', 'weight': 50}] if group % 2 == 0 else []
        spreads = []
        if group % 5 == 0:
            spreads.append({'attribute': '${node.datacenter}', 'weight': 50})
        elif group % 5 == 1:
            targets = [{'value': 'dc0', 'percent': 50}, {'value': 'dc1', 'percent': 25}]
            spreads.append({'attribute': '${node.datacenter}', 'weight': 100, 'targets': targets})
        if host_spread:
            spreads = [{'attribute': '${node.unique.name}', 'weight': 50}]
        resources = {'memory': rng.choice([512, 1024, 2048, 4096]), 'cpus': rng.choice([1, 2, 4])}
        for index in range(group_size if group < groups - 1 else number - group_size * (groups - 1)):
            allocations.append({'job': job, 'group': name, 'index': index, 'resources': resources, 'constraints': constraints,
                                'affinities': affinities, 'spreads': spreads, 'spec': {'image': 'v1'}})
    return allocations


def run_previous(hosts, allocations, rng):
    """Put half of the allocations on random hosts already, as a previous run left them."""
    for item in allocations:
        if rng.random() < 0.5:
            rng.choice(hosts)['allocations'].append({'job': item['job'], 'group': item['group'], 'index': item['index'],
                                                     'resources': item['resources'], 'spec': item['spec']})


def main(argv=None):
    from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.planner import plan_placement  # pylint: disable=import-outside-toplevel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--case', choices=('mixed', 'tight', 'host-spread'), default='mixed')
    parser.add_argument('--hosts', type=int, default=1000)
    parser.add_argument('--allocations', type=int, default=10000)
    parser.add_argument('--group-size', type=int, default=100)
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args(argv)
    rng = random.Random(20261202)
    hosts = make_hosts(args.hosts, rng, scale=8 if args.case == 'tight' else 1)
    allocations = make_allocations(args.allocations, args.group_size, rng, host_spread=args.case == 'host-spread')
    run_previous(hosts, allocations, rng)
    text = json.dumps({'allocations': allocations, 'hosts': hosts})
    times = []
    plan = None
    for _run in range(args.runs):
        data = json.loads(text)
        started = time.perf_counter()
        plan = plan_placement(data['allocations'], data['hosts'])
        times.append(time.perf_counter() - started)
    done = {}
    for entry in plan['allocations']:
        done[entry['action']] = done.get(entry['action'], 0) + 1
    print(json.dumps({'case': args.case, 'hosts': args.hosts, 'allocations': len(allocations), 'group_size': args.group_size,
                      'seconds': [round(value, 3) for value in times], 'best_seconds': round(min(times), 3),
                      'actions': done, 'failed': len(plan['failures'])}))


if __name__ == '__main__':
    main()
