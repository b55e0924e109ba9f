# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/constraint.py: constraint blocks."""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import (
    WHERE,
    error,
    job,
    only_task,
    read,
)


def test_distinct_constraints_are_read_for_the_planner():
    result = read(job(job_extra='constraint {\n distinct_hosts = true\n}\nconstraint {\n operator = "distinct_property"\n'
                                'attribute = "${meta.rack}"\n}',
                      group='constraint {\n distinct_property = "${node.datacenter}"\n value = 2\n}\n'
                            'constraint {\n operator = "distinct_hosts"\n}'))
    assert result['tasks'][0]['constraints'] == [
        {'operator': 'distinct_hosts', 'value': 'true', 'level': 'job', 'source': "job 'j'"},
        {'operator': 'distinct_property', 'attribute': '${meta.rack}', 'level': 'job', 'source': "job 'j'"},
        {'operator': 'distinct_property', 'attribute': '${node.datacenter}', 'value': '2', 'level': 'group', 'source': "job 'j', group 'g'"},
        {'operator': 'distinct_hosts', 'value': 'true', 'level': 'group', 'source': "job 'j', group 'g'"},
    ]
    assert result['ignored'] == []


@pytest.mark.parametrize('constraint, message', [
    ('distinct_hosts = "maybe"', "constraint[0]: distinct_hosts is 'maybe'; use true or false"),
    ('operator = "distinct_property"', 'constraint[0]: distinct_property needs the attribute, such as distinct_property = "${meta.rack}"'),
    ('distinct_property = "${meta.rack}"\nvalue = 0',
     "constraint[0].value is 0; distinct_property takes the number of allocations allowed per value, 1 or more"),
])
def test_distinct_constraint_errors(constraint, message):
    assert error(job(group='constraint {\n%s\n}' % constraint)).startswith("job.nomad.hcl: job 'j', group 'g': " + message)


@pytest.mark.parametrize('constraint, expected', [
    ('attribute = "${attr.kernel.name}"\nvalue = "linux"', {'attribute': '${attr.kernel.name}', 'operator': '=', 'value': 'linux'}),
    ('attribute = "${attr.a}"\nregexp = "^x"', {'attribute': '${attr.a}', 'operator': 'regexp', 'value': '^x'}),
    ('attribute = "${attr.a}"\nsemver = ">= 1.0"', {'attribute': '${attr.a}', 'operator': 'semver', 'value': '>= 1.0'}),
    ('attribute = "${attr.a}"\nset_contains_any = "a,b"', {'attribute': '${attr.a}', 'operator': 'set_contains_any', 'value': 'a,b'}),
    ('attribute = "${attr.a}"\noperator = "is_set"', {'attribute': '${attr.a}', 'operator': 'is_set'}),
    ('attribute = "${attr.a}"\noperator = ">"\nvalue = 2', {'attribute': '${attr.a}', 'operator': '>', 'value': '2'}),
    ('attribute = "${meta.rack}"\nvalue = var.want', {'attribute': '${meta.rack}', 'operator': '=', 'value': 'yes'}),
    ('attribute = "${attr.a}"\nvalue = "${var.want}-${node.class}"',
     {'attribute': '${attr.a}', 'operator': '=', 'value': 'yes-${node.class}'}),
])
def test_constraint_forms(constraint, expected):
    top = 'variable "key" { default = "rack" }\nvariable "want" { default = "yes" }'
    task = only_task(job(task='constraint {\n%s\n}' % constraint, top=top))
    expected = dict(expected, level='task', source="job 'j', group 'g', task 't'")
    assert task['constraints'] == [expected]


@pytest.mark.parametrize('text, message', [
    # constraints
    (job(task='constraint {\n attribute = "${attr.a}"\n version = "1"\n regexp = "x"\n}'),
     WHERE + "constraint[0] mixes version, regexp; use operator and value, or one shorthand"),
    (job(task='constraint {\n value = "x"\n}'),
     WHERE + 'constraint[0] has no attribute; set attribute, such as attribute = "${attr.driver.qemu.version}"'),
    (job(task='constraint {\n attribute = "${attr.a}"\n weight = 50\n}'),
     WHERE + "constraint[0] has unknown key 'weight'; a constraint block takes attribute, distinct_hosts, distinct_property, operator, "
             "regexp, semver, set_contains, set_contains_all, set_contains_any, value, version; remove it or fix its spelling"),
])
def test_constraint_errors(text, message):
    assert error(text) == message


@pytest.mark.parametrize('text, message', [
    # a value next to a short form would be dropped
    (job(task='constraint {\n attribute = "${attr.a}"\n regexp = "lin"\n value = "zzz"\n}'),
     WHERE + 'constraint[0] sets value next to the short form regexp, which carries its own value; use operator and value, '
             'or regexp = "..." alone'),
    # operators and values, as placing the job on any host would check them
    (job(task='constraint {\n attribute = "${attr.a}"\n operator = "versoin"\n value = ">= 1"\n}'),
     WHERE + "constraint[0].operator: unknown operator 'versoin'; use one of =, ==, is, !=, not, <, <=, >, >=, version, semver, "
             "regexp, set_contains, set_contains_all, set_contains_any, is_set, is_not_set"),
    (job(group='constraint {\n attribute = "${attr.a}"\n version = ">>1"\n}'),
     "job.nomad.hcl: job 'j', group 'g': constraint[0].version: version constraint '>>1' cannot be read; write an operator "
     '(=, !=, >, <, >=, <=, ~>) and a version, several separated by commas, such as ">= 2.10, < 9"'),
    (job(job_extra='constraint {\n attribute = "${attr.a}"\n operator = "version"\n value = "~> x"\n}'),
     "job.nomad.hcl: job 'j': constraint[0].value: version constraint '~> x' cannot be read; write an operator "
     '(=, !=, >, <, >=, <=, ~>) and a version, several separated by commas, such as ">= 2.10, < 9"'),
    (job(job_extra='constraint {\n attribute = "${attr.a}"\n regexp = "("\n}'),
     "job.nomad.hcl: job 'j': constraint[0].regexp: regexp value '(' is not a valid regular expression: missing ), unterminated "
     "subpattern at position 0"),
    (job(job_extra='constraint {\n attribute = "${attr.a}"\n}'),
     "job.nomad.hcl: job 'j': constraint[0].value: operator '=' needs a value to compare with"),
    (job(job_extra='constraint {\n attribute = "${attr.a} x"\n value = "1"\n}'),
     "job.nomad.hcl: job 'j': constraint[0].attribute: attribute '${attr.a} x' is not an interpolation Nomad understands; "
     "write ${attr.NAME}, for example ${attr.driver.qemu.version}"),
])
def test_constraints_refused_when_read(text, message):
    assert error(text) == message
