# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/scheduling.py: affinity, spread and update blocks."""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import error, job, read


def test_affinities_of_every_level_and_spreads_of_job_and_group():
    result = read(job(
        job_extra='affinity {\n attribute = "${meta.rack}"\n value = "r1"\n weight = -30\n}\n'
                  'spread {\n attribute = "${node.datacenter}"\n target "dc1" {\n percent = 70\n }\n target "dc2" {\n percent = 30\n }\n}',
        group='affinity {\n attribute = "${attr.cpu.arch}"\n operator = "regexp"\n value = "^amd"\n}\n'
              'spread {\n attribute = "${meta.rack}"\n weight = 10\n}',
        task='affinity {\n attribute = "${attr.kernel.name}"\n value = "linux"\n weight = 100\n}'))
    group = result['groups'][0]
    assert group['affinities'] == [
        {'attribute': '${meta.rack}', 'operator': '=', 'value': 'r1', 'weight': -30, 'source': "job 'j'"},
        {'attribute': '${attr.cpu.arch}', 'operator': 'regexp', 'value': '^amd', 'weight': 50, 'source': "job 'j', group 'g'"},
        {'attribute': '${attr.kernel.name}', 'operator': '=', 'value': 'linux', 'weight': 100, 'source': "job 'j', group 'g', task 't'"},
    ]
    assert group['spreads'] == [
        {'attribute': '${node.datacenter}', 'weight': 50, 'targets': [{'value': 'dc1', 'percent': 70}, {'value': 'dc2', 'percent': 30}],
         'source': "job 'j'"},
        {'attribute': '${meta.rack}', 'weight': 10, 'targets': [], 'source': "job 'j', group 'g'"},
    ]
    assert result['ignored'] == []


@pytest.mark.parametrize('job_extra, group, expected', [
    ('', '', None),
    ('update {\n max_parallel = 3\n}', '', 3),
    ('update {\n max_parallel = 3\n}', 'update {\n max_parallel = 0\n}', 0),
    ('update {\n max_parallel = 3\n}', 'update {\n canary = 1\n}', 3),
    ('', 'update {}', 1),
])
def test_max_parallel_merges_group_over_job(job_extra, group, expected):
    assert read(job(job_extra=job_extra, group=group))['groups'][0]['max_parallel'] == expected


def test_update_keys_not_applied_are_reported():
    result = read(job(group='update {\n max_parallel = 2\n health_check = "checks"\n}'))
    assert [(item['where'], item['key']) for item in result['ignored']] == [("job 'j', group 'g'", 'update.health_check')]


@pytest.mark.parametrize('group, message', [
    ('affinity {\n value = "x"\n}', 'affinity[0] has no attribute; set attribute, such as attribute = "${meta.rack}"'),
    ('affinity {\n attribute = "${meta.a}"\n value = "x"\n weight = 0\n}', 'affinity[0].weight is 0; use a whole number from -100 to 100, not 0'),
    ('affinity {\n attribute = "${meta.a}"\n value = "x"\n weight = 101\n}', 'affinity[0].weight is 101; use a whole number from -100 to 100'),
    ('affinity {\n attribute = "${meta.a}"\n operator = "distinct_hosts"\n}', "affinity[0].operator is 'distinct_hosts'; an affinity takes one of"),
    ('affinity {\n attribute = "${meta.a}"\n operator = "regexp"\n value = "("\n}', 'affinity[0].value: '),
    ('spread {\n weight = 10\n}', 'spread[0] has no attribute; set attribute, such as attribute = "${node.datacenter}"'),
    ('spread {\n attribute = "${meta.a}"\n weight = 0\n}', 'spread[0].weight is 0; use a whole number from 1 to 100'),
    ('spread {\n attribute = "${meta.a}"\n target "x" {\n percent = 60\n }\n target "y" {\n percent = 50\n }\n}',
     'spread[0]: the target percentages add up to more than 100'),
    ('update {\n max_parallel = -1\n}', 'update.max_parallel is -1; use a whole number, 0 or more (0: all at once)'),
    ('update {\n max_paralel = 1\n}', "update has unknown key 'max_paralel'"),
])
def test_errors_name_the_block_and_the_fix(group, message):
    assert error(job(group=group)).startswith("job.nomad.hcl: job 'j', group 'g': " + message)
