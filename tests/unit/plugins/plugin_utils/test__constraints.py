# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import importlib.util
import itertools
import sys

import pytest

from packaging.specifiers import Specifier
from packaging.version import Version as Pep440Version

from ansible_collections.nomadic.qemu.plugins.plugin_utils import _constraints
from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import (
    OPERATORS,
    ConstraintError,
    attribute_name,
    check_constraint,
    check_constraints,
    describe_constraint,
    evaluate,
    normalize_version,
    parse_version,
    parse_version_constraints,
    version_satisfies,
)

UNKNOWN_OPERATOR = ("unknown operator '{0}'; use one of =, ==, is, !=, not, <, <=, >, >=, version, semver, regexp, "
                    "set_contains, set_contains_all, set_contains_any, is_set, is_not_set")
VERSION_HELP = 'write an operator (=, !=, >, <, >=, <=, ~>) and a version, several separated by commas, such as ">= 2.10, < 9"'
SEMVER_HELP = 'write an operator (=, !=, >, <, >=, <=) and a version, several separated by commas, such as ">= 2.10, < 9"'


@pytest.mark.parametrize('text, expected', [
    ('7.2.22', '7.2.22'),
    ('  7.2.22\n', '7.2.22'),
    ('2.4.0(qemu-kvm-ev)', '2.4.0'),
    ('8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)', '8.2.2'),
    ('1:8.2.2+ds-0ubuntu1', '8.2.2+ds-0ubuntu1'),
    ('8.2.2+ds', '8.2.2+ds'),
    # only a trailing parenthesis is dropped, and never the whole text
    ('(7.2)', '(7.2)'),
    ('7.2 (a) (b)', '7.2 (a) (b)'),
])
def test_normalize_version(text, expected):
    assert normalize_version(text) == expected


@pytest.mark.parametrize('value, release, prerelease, metadata', [
    ('7.2.22', (7, 2, 22), '', ''),
    ('7', (7,), '', ''),
    ('v1.10', (1, 10), '', ''),
    (7, (7,), '', ''),
    ('2.4.0(qemu-kvm-ev)', (2, 4, 0), '', ''),
    ('8.2.2+ds', (8, 2, 2), '', 'ds'),
    ('1:8.2.2+ds-0ubuntu1', (8, 2, 2), '', 'ds-0ubuntu1'),
    ('8.0.0-rc1', (8, 0, 0), 'rc1', ''),
    ('8.0.0~rc1', (8, 0, 0), '~rc1', ''),
    ('1.0beta1', (1, 0), 'beta1', ''),
    ('1.3.0-beta1+ent', (1, 3, 0), 'beta1', 'ent'),
    ('5.10.0-21-amd64', (5, 10, 0), '21-amd64', ''),
    ('1.2.3.4', (1, 2, 3, 4), '', ''),
])
def test_parse_version(value, release, prerelease, metadata):
    version = parse_version(value)
    assert (version.release, version.prerelease, version.metadata) == (release, prerelease, metadata)


@pytest.mark.parametrize('value', ['', 'abc', '1.', '.1', '1..2', '1.2.x', 'v', 'version 7.2', None, True, 7.2, ['7.2'], '1.0+'])
def test_parse_version_rejects(value):
    assert parse_version(value) is None


@pytest.mark.parametrize('value, semver, parsed', [
    ('1.0beta1', False, True),
    ('1.0beta1', True, False),
    ('1.0-beta1', True, True),
    ('1.0', True, True),
])
def test_parse_version_semver_form(value, semver, parsed):
    assert (parse_version(value, semver=semver) is not None) is parsed


@pytest.mark.parametrize('left, right, expected', [
    ('1.2', '1.2.0', 0),
    ('1.2.0.0', '1.2', 0),
    ('1.10', '1.9', 1),
    ('10.0.0', '9.1', 1),
    ('7.2.22', '7.2.3', 1),
    ('8.2.2+ds', '8.2.2', 0),
    ('8.2.2+a', '8.2.2+b', 0),
    ('8.0.0-rc1', '8.0.0', -1),
    ('8.0.0-rc1', '8.0.0-rc2', -1),
    ('8.0.0-rc10', '8.0.0-rc9', -1),  # alphanumeric identifiers compare as text (SemVer)
    ('1.0.0-alpha', '1.0.0-alpha.1', -1),
    ('1.0.0-alpha.1', '1.0.0-alpha.beta', -1),
    ('1.0.0-alpha.beta', '1.0.0-beta', -1),
    ('1.0.0-beta.2', '1.0.0-beta.11', -1),
    ('1.0.0-rc.1', '1.0.0', -1),
    ('1.0.0-alpha', '1.0.0-alpha.beta', -1),
    ('1.0.0-1', '1.0.0-alpha', -1),
])
def test_version_compare(left, right, expected):
    assert parse_version(left).compare(parse_version(right)) == expected
    assert parse_version(right).compare(parse_version(left)) == -expected


@pytest.mark.parametrize('version, constraints, expected', [
    # Nomad's qemu driver example and the examples
    ('7.2.22', '> 1.2.3', True),
    ('7.2.22', '>= 2.10, < 9', True),
    ('9.0.0', '>= 2.10, < 9', False),
    ('2.9.1', '>= 2.10, < 9', False),
    ('2.4.0(qemu-kvm-ev)', '> 2.3', True),
    ('2.4.0(qemu-kvm-ev)', '= 2.4', True),
    ('8.2.2+ds', '>= 8.2.2', True),
    ('8.2.2+ds', '= 8.2.2', True),
    ('1:8.2.2+ds-0ubuntu1', '~> 8.2', True),
    ('10.0.0', '> 9.2', True),
    # no operator means =
    ('7.2', '7.2.0', True),
    ('7.2.1', '7.2', False),
    ('7.2.1', '!= 7.2', True),
    ('7.2.0', '!= 7.2', False),
    ('7.2.22', '<= 7.2.22', True),
    ('7.2.22', '< 7.2.22', False),
    # spaces are optional
    ('7.2.22', '>=7.2,<8', True),
    # an integer version, as Nomad accepts
    (8, '>= 8, < 9', True),
    # the pessimistic operator
    ('1.2.9', '~> 1.2', True),
    ('1.9', '~> 1.2', True),
    ('2.0', '~> 1.2', False),
    ('1.1', '~> 1.2', False),
    ('1.2.3', '~> 1.2.3', True),
    ('1.2.99', '~> 1.2.3', True),
    ('1.3.0', '~> 1.2.3', False),
    ('1.2.2', '~> 1.2.3', False),
    ('5.0', '~> 1', True),           # go-version: ~> 1 has no upper bound
    ('1.2.3', '~> 1.2.3.4', False),
    # pre-releases only satisfy constraints on a pre-release of the same version
    ('8.0.0-rc1', '>= 8.0', False),
    ('8.0.0~rc1', '>= 7.0', False),
    ('8.0.0-rc2', '>= 8.0.0-rc1', True),
    ('8.1.0-rc2', '>= 8.0.0-rc1', False),
    ('8.0.0', '>= 8.0.0-rc1', True),
    ('8.0.0-rc1', '= 8.0.0-rc1', True),
    ('8.0.0-rc1', '!= 8.0.0', True),
    ('1.2.3-beta', '~> 1.2.3-alpha', True),
    ('1.2.3', '~> 1.2.3-alpha', False),
    # not a version: not satisfied (Nomad: the node does not match)
    ('unknown', '>= 1', False),
    (None, '>= 1', False),
])
def test_version_satisfies(version, constraints, expected):
    assert version_satisfies(version, constraints) is expected


@pytest.mark.parametrize('version, constraints, expected', [
    ('1.1.5', '>= 1.0, < 1.2', True),
    ('1.0.0', '1.0', True),
    ('8', '> 10', False),
    # pre-releases are ordered, not excluded
    ('2.1.0-beta', '> 2.0', True),
    ('2.1.0-beta', '> 2.1.0-a', True),
    ('2.1.1-beta', '> 2.1.0-a', True),
    ('2.1.0', '> 2.1.0-a', True),
    ('2.0.0', '<= 2.1.0-a', True),
    ('1.3.0-beta1', '>= 0.6.1', True),
    ('1.0-rc1', '> 1.0-beta1', True),
    # metadata is ignored
    ('1.3.0-beta1+ent', '>= 1.3.0-beta1', True),
    ('1.3.0-beta1+ent', '> 1.3.0-beta1+cgo', False),
    ('1.3.0-beta1+ent', '= 1.3.0-beta1+cgo', True),
    # the attribute may be in the looser form
    ('1.0beta1', '< 1.0', True),
    ('7.2.22', '>= 2.10, < 9', True),
])
def test_version_satisfies_semver(version, constraints, expected):
    assert version_satisfies(version, constraints, semver=True) is expected


@pytest.mark.parametrize('constraints, semver, message', [
    ('>= x', False, "version constraint '>= x' cannot be read; " + VERSION_HELP),
    ('', False, "version constraint '' cannot be read; " + VERSION_HELP),
    ('>= 1,', False, "version constraint '>= 1,' has an empty part; " + VERSION_HELP),
    ('>= 1, foo', False, "version constraint '>= 1, foo' has the malformed part 'foo'; " + VERSION_HELP),
    ('== 1.0', False, "version constraint '== 1.0' cannot be read; " + VERSION_HELP + ' (use = rather than ==)'),
    ('>= 1.0 < 2', False, "version constraint '>= 1.0 < 2' cannot be read; " + VERSION_HELP),
    ('=> 1.0', False, "version constraint '=> 1.0' cannot be read; " + VERSION_HELP),
    ('~> 1.0', True, "semver constraint '~> 1.0' cannot be read; " + SEMVER_HELP + ' (semver has no ~>; use the version operator or >= and <)'),
    ('>= 1.0beta1', True,
     "semver constraint '>= 1.0beta1' cannot be read; " + SEMVER_HELP + ' (semver wants a - before a pre-release: 1.0.0-beta1)'),
    (['>= 1'], False, 'the version constraint must be a string such as ">= 2.10, < 9", got [\'>= 1\'] (list)'),
    (None, True, 'the semver constraint must be a string such as ">= 2.10, < 9", got nothing (null)'),
])
def test_version_constraint_errors(constraints, semver, message):
    with pytest.raises(ConstraintError) as exc:
        parse_version_constraints(constraints, semver=semver)
    assert str(exc.value) == message
    with pytest.raises(ConstraintError) as exc:
        version_satisfies('1.0', constraints, semver=semver)
    assert str(exc.value) == message


def test_version_constraint_parts():
    parsed = parse_version_constraints(' >= 2.10 ,< 9,~>3.1, 7')
    assert [(c.text, c.operator, c.version.release) for c in parsed] == [
        ('>= 2.10', '>=', (2, 10)), ('< 9', '<', (9,)), ('~>3.1', '~>', (3, 1)), ('7', '=', (7,))]


@pytest.mark.parametrize('left, operator, right, expected', [
    # equality: exact text, as Nomad
    ('linux', '=', 'linux', True),
    ('linux', '==', 'linux', True),
    ('linux', 'is', 'linux', True),
    ('linux', '=', 'Linux', False),
    ('7.2', '=', '7.2.0', False),
    (None, '=', 'linux', False),
    ('', '=', '', True),
    # booleans and numbers compare as the text Nomad would see
    ('true', '=', True, True),
    (True, '=', 'true', True),
    (False, '=', 'false', True),
    ('3', '=', 3, True),
    (3, '==', '3', True),
    ('3.0', '=', 3, False),
    # inequality: a missing attribute is not equal to anything
    ('linux', '!=', 'windows', True),
    ('linux', 'not', 'linux', False),
    (None, '!=', 'linux', True),
    (None, 'not', '', True),
    # order: integers
    ('10', '>', '9', True),
    ('-1', '<', '0', True),
    ('+5', '>=', '5', True),
    ('007', '=', '7', False),
    ('007', '>=', '7', True),
    ('4', '<=', '3', False),
    # order: decimal numbers compare as floats, as in Nomad
    ('7.10', '>', '7.2', False),
    ('0.5', '>', '0.25', True),
    ('1e3', '>', '999', True),
    ('2.5', '<', '10', True),
    ('-2.5', '<', '-2', True),
    ('nan', '<', '1', False),
    ('nan', '>=', '1', False),
    # order: versions compare as versions (Nomad compares them as text: 10.0.0 > 9.1 is false there)
    ('10.0.0', '>', '9.1', True),
    ('7.2.22', '>', '1.2.3', True),
    ('7.2.22', '>', '7.2.3', True),
    ('7.2', '<', '7.2.22', True),
    ('8', '>', '7.2.22', True),
    ('2.4.0(qemu-kvm-ev)', '>=', '2.4', True),
    ('8.2.2+ds', '<=', '8.2.2', True),
    ('v10', '>', 'v9', True),
    ('8.0.0-rc1', '<', '8.0.0', True),
    # order: text otherwise
    ('b', '>', 'a', True),
    ('rack-10', '<', 'rack-9', True),
    ('abc', '<', '1', False),
    ('', '<', 'a', True),
    (None, '<', '1', False),
    (None, '>=', '1', False),
    # version and semver
    ('7.2.22', 'version', '>= 2.10, < 9', True),
    ('7.2.22', 'version', '>= 8', False),
    ('garbage', 'version', '>= 1', False),
    (None, 'version', '>= 1', False),
    (8, 'version', '= 8.0', True),
    ('9.0.0-rc1', 'semver', '>= 8.0', True),
    ('9.0.0-rc1', 'version', '>= 8.0', False),
    # regexp: unanchored search
    ('7.2.22', 'regexp', r'^7\.', True),
    ('7.2.22', 'regexp', r'2\.2', True),
    ('7.2.22', 'regexp', '^8', False),
    ('x86_64', 'regexp', 'X86', False),
    ('x86_64', 'regexp', '(?i)X86', True),
    (None, 'regexp', '.*', False),
    # sets: comma-separated, spaces trimmed; lists accepted
    ('i386,x86_64,x86_64-microvm', 'set_contains', 'x86_64', True),
    ('i386, x86_64', 'set_contains', 'x86_64 ,i386', True),
    ('i386,x86_64', 'set_contains', 'x86_64,aarch64', False),
    ('i386,x86_64', 'set_contains_all', 'x86_64,i386', True),
    ('i386,x86_64', 'set_contains_any', 'aarch64,x86_64', True),
    ('i386,x86_64', 'set_contains_any', 'aarch64,riscv64', False),
    (['i386', 'x86_64'], 'set_contains', ['x86_64'], True),
    ('x86_64', 'set_contains', '', False),
    ('x86_64', 'set_contains_any', 'x86', False),
    (None, 'set_contains', 'x86_64', False),
    (None, 'set_contains_any', 'x86_64', False),
    # presence
    ('7.2.22', 'is_set', None, True),
    ('', 'is_set', None, True),
    (None, 'is_set', None, False),
    (None, 'is_not_set', None, True),
    ('7.2.22', 'is_not_set', 'ignored', False),
])
def test_evaluate(left, operator, right, expected):
    assert evaluate(left, operator, right) is expected


def test_every_operator_is_tested():
    tested = set(case[1] for case in test_evaluate.pytestmark[0].args[1])
    assert tested == set(OPERATORS)


@pytest.mark.parametrize('left, operator, right, message', [
    ('1', '~=', '1', UNKNOWN_OPERATOR.format('~=')),
    ('1', '', '1', UNKNOWN_OPERATOR.format('')),
    ('1', 'VERSION', '1', UNKNOWN_OPERATOR.format('VERSION')),
    ('1', None, '1', 'operator must be a string such as "=" or "version", got nothing (null)'),
    ('1', 'distinct_hosts', 'true', "operator 'distinct_hosts' spreads allocations over hosts and cannot be checked against "
                                    "one host's attributes; leave it out here"),
    ('1', 'distinct_property', '2', "operator 'distinct_property' spreads allocations over hosts and cannot be checked "
                                    "against one host's attributes; leave it out here"),
    ('1', '=', None, "operator '=' needs a value to compare with"),
    ('1', '!=', None, "operator '!=' needs a value to compare with"),
    ('1', 'version', None, "operator 'version' needs a value to compare with"),
    ('1', 'regexp', '(', "regexp value '(' is not a valid regular expression: missing ), unterminated subpattern at position 0"),
    # the value is checked even when the attribute is missing, so a typo fails on every host
    (None, 'regexp', '(', "regexp value '(' is not a valid regular expression: missing ), unterminated subpattern at position 0"),
    (None, 'version', '=> 1', "version constraint '=> 1' cannot be read; " + VERSION_HELP),
    (None, '!=', {'a': 1}, "value must be a string, a number or a boolean, got {'a': 1} (dict)"),
    ('1', '=', ['1'], "value must be a string, a number or a boolean, got ['1'] (list)"),
    (['1'], '=', '1', "the attribute must be a string, a number or a boolean, got ['1'] (list)"),
    ({'a': 1}, '<', '1', "the attribute must be a string, a number or a boolean, got {'a': 1} (dict)"),
    ('1', 'set_contains', [None], 'value item must be a string, a number or a boolean, got nothing (null)'),
])
def test_evaluate_errors(left, operator, right, message):
    with pytest.raises(ConstraintError) as exc:
        evaluate(left, operator, right)
    assert str(exc.value) == message


def test_constraint_error_is_value_error():
    assert issubclass(ConstraintError, ValueError)


@pytest.mark.parametrize('target, name', [
    ('${attr.driver.qemu.version}', 'driver.qemu.version'),
    ('${driver.qemu.version}', 'driver.qemu.version'),
    ('driver.qemu.version', 'driver.qemu.version'),
    ('  ${attr.kernel.name}  ', 'kernel.name'),
    ('${ attr.kernel.name }', 'kernel.name'),
    ('${meta.rack}', 'meta.rack'),
    ('${node.datacenter}', 'node.datacenter'),
    ('${attr.unique.hostname}', 'unique.hostname'),
])
def test_attribute_name(target, name):
    assert attribute_name(target) == name


@pytest.mark.parametrize('target, message', [
    ('${driver.qemu.version', "attribute '${driver.qemu.version' is not an interpolation Nomad understands; write ${attr.NAME}, "
                              "for example ${attr.driver.qemu.version}"),
    ('${a}.${b}', "attribute '${a}.${b}' is not an interpolation Nomad understands; write ${attr.NAME}, for example "
                  "${attr.driver.qemu.version}"),
    ('', 'attribute must be a non-empty string such as "${attr.driver.qemu.version}", got \'\' (str)'),
    (None, 'attribute must be a non-empty string such as "${attr.driver.qemu.version}", got nothing (null)'),
    (7, 'attribute must be a non-empty string such as "${attr.driver.qemu.version}", got 7 (int)'),
])
def test_attribute_name_errors(target, message):
    with pytest.raises(ConstraintError) as exc:
        attribute_name(target)
    assert str(exc.value) == message


@pytest.mark.parametrize('attribute, operator, value, text', [
    ('${attr.driver.qemu.version}', 'version', '>= 2.10', '${attr.driver.qemu.version} version >= 2.10'),
    ('${meta.rack}', 'is_set', None, '${meta.rack} is_set'),
    ('${meta.rack}', 'is_not_set', 'x', '${meta.rack} is_not_set'),
    ('driver.qemu', '=', True, 'driver.qemu = true'),
    ('x', 'set_contains', ['a', 'b'], 'x set_contains a,b'),
])
def test_describe_constraint(attribute, operator, value, text):
    assert describe_constraint(attribute, operator, value) == text


ATTRIBUTES = {
    'driver.qemu': 'true',
    'driver.qemu.version': '7.2.22',
    'driver.qemu.emulators': 'i386,x86_64,x86_64-microvm',
    'meta.min_qemu': '7.0',
    'meta.empty': None,
}


@pytest.mark.parametrize('constraints, unmet', [
    ([], []),
    # Nomad's qemu driver example, in its old and new syntax
    ([{'attribute': '${driver.qemu.version}', 'operator': '>', 'value': '1.2.3'},
      {'attribute': '${attr.driver.qemu.version}', 'operator': '>', 'value': '1.2.3'}], []),
    ([{'attribute': '${attr.driver.qemu.version}', 'operator': 'version', 'value': '>= 9.0'}],
     ["constraint '${attr.driver.qemu.version} version >= 9.0' is not met: driver.qemu.version is '7.2.22'"]),
    # the operator defaults to =
    ([{'attribute': '${attr.driver.qemu}', 'value': 'true'}], []),
    ([{'attribute': '${attr.driver.qemu}', 'operator': None, 'value': True}], []),
    ([{'attribute': '${attr.driver.qemu}', 'value': 'false'}],
     ["constraint '${attr.driver.qemu} = false' is not met: driver.qemu is 'true'"]),
    # a missing attribute, or one set to null
    ([{'attribute': '${meta.rack}', 'operator': 'is_set'}], ["constraint '${meta.rack} is_set' is not met: meta.rack is not set"]),
    ([{'attribute': '${meta.empty}', 'operator': 'is_set'}], ["constraint '${meta.empty} is_set' is not met: meta.empty is not set"]),
    ([{'attribute': '${meta.rack}', 'operator': '!=', 'value': 'r1'}], []),
    ([{'attribute': '${meta.rack}', 'operator': 'is_not_set'}], []),
    ([{'attribute': '${attr.driver.qemu.version}', 'operator': 'is_not_set'}],
     ["constraint '${attr.driver.qemu.version} is_not_set' is not met: driver.qemu.version is '7.2.22'"]),
    # the value may name another attribute
    ([{'attribute': '${attr.driver.qemu.version}', 'operator': '>=', 'value': '${meta.min_qemu}'}], []),
    ([{'attribute': '${attr.driver.qemu.version}', 'operator': '<', 'value': '${meta.min_qemu}'}],
     ["constraint '${attr.driver.qemu.version} < ${meta.min_qemu}' is not met: driver.qemu.version is '7.2.22'"]),
    ([{'attribute': '${attr.driver.qemu.version}', 'operator': '=', 'value': '${meta.rack}'}],
     ["constraint '${attr.driver.qemu.version} = ${meta.rack}' is not met: driver.qemu.version is '7.2.22' but meta.rack is not set"]),
    ([{'attribute': '${attr.driver.qemu.version}', 'operator': '!=', 'value': '${meta.rack}'}], []),
    # Nomad's short forms
    ([{'attribute': '${attr.driver.qemu.version}', 'version': '>= 2.10, < 9'}], []),
    ([{'attribute': '${attr.driver.qemu.emulators}', 'set_contains': 'aarch64'}],
     ["constraint '${attr.driver.qemu.emulators} set_contains aarch64' is not met: "
      "driver.qemu.emulators is 'i386,x86_64,x86_64-microvm'"]),
    ([{'attribute': '${attr.driver.qemu.version}', 'regexp': '^7[.]'}], []),
    # every unmet constraint is reported, in order
    ([{'attribute': '${meta.rack}', 'operator': 'is_set'},
      {'attribute': '${attr.driver.qemu}', 'value': 'true'},
      {'attribute': 'driver.qemu.version', 'operator': 'semver', 'value': '< 7'}],
     ["constraint '${meta.rack} is_set' is not met: meta.rack is not set",
      "constraint 'driver.qemu.version semver < 7' is not met: driver.qemu.version is '7.2.22'"]),
])
def test_check_constraints(constraints, unmet):
    assert check_constraints(constraints, ATTRIBUTES) == unmet


@pytest.mark.parametrize('constraints, attributes, message', [
    ({'attribute': 'x'}, {}, "constraints must be a list of dictionaries with attribute, operator and value, "
                             "got {'attribute': 'x'} (dict)"),
    ([], None, 'attributes must be a dictionary of attribute names to values, got nothing (null)'),
    (['x'], {}, "constraint 1 must be a dictionary with the keys attribute, operator and value, got 'x' (str)"),
    ([{'attribute': 'x', 'value': '1'}, {'operator': 'is_set'}], {},
     'constraint 2 has no attribute; set attribute to the attribute to check, such as "${attr.driver.qemu.version}"'),
    ([{'attribute': 'x', 'operand': '='}], {}, "constraint 1 has the unknown key 'operand'; use attribute, operator and value"),
    ([{'attribute': 'x', 'b': 1, 'a': 2}], {}, "constraint 1 has the unknown keys 'a', 'b'; use attribute, operator and value"),
    ([{'attribute': 'x', 'version': '1', 'operator': 'version'}], {},
     "constraint 1 mixes the short form 'version' with operator, value or another short form; write either operator and value, "
     "or one short form such as version: \">= 2.10\""),
    ([{'attribute': 'x', 'version': '1', 'regexp': 'x'}], {},
     "constraint 1 mixes the short form 'version' with operator, value or another short form; write either operator and value, "
     "or one short form such as version: \">= 2.10\""),
    ([{'attribute': 'x', 'value': 'a'}, {'attribute': 'x', 'operator': 'distinct_hosts', 'value': 'true'}], {'x': 'a'},
     "constraint 2: operator 'distinct_hosts' spreads allocations over hosts and cannot be checked against one host's "
     "attributes; leave it out here"),
    ([{'attribute': '${attr.driver.qemu.version}', 'operator': 'version', 'value': '>= 2.10,'}], {},
     "constraint 1: version constraint '>= 2.10,' has an empty part; " + VERSION_HELP),
    ([{'attribute': '${x', 'operator': 'is_set'}], {},
     "constraint 1: attribute '${x' is not an interpolation Nomad understands; write ${attr.NAME}, for example "
     "${attr.driver.qemu.version}"),
    ([{'attribute': 'x', 'operator': '=', 'value': '${y'}], {},
     "constraint 1: attribute '${y' is not an interpolation Nomad understands; write ${attr.NAME}, for example "
     "${attr.driver.qemu.version}"),
])
def test_check_constraints_errors(constraints, attributes, message):
    with pytest.raises(ConstraintError) as exc:
        check_constraints(constraints, attributes)
    assert str(exc.value) == message


@pytest.mark.parametrize('args, result', [
    (('${attr.driver.qemu.version}', 'version', '>= 2.10'), None),
    (('${attr.driver.qemu.version}', 'version', '>= 9'),
     "constraint '${attr.driver.qemu.version} version >= 9' is not met: driver.qemu.version is '7.2.22'"),
    (('driver.qemu', None, 'true'), None),
    (('${meta.rack}', 'is_set'), "constraint '${meta.rack} is_set' is not met: meta.rack is not set"),
])
def test_check_constraint(args, result):
    assert check_constraint(ATTRIBUTES, *args) == result


def test_check_constraint_error_has_no_number():
    with pytest.raises(ConstraintError) as exc:
        check_constraint(ATTRIBUTES, 'x', 'is set')
    assert str(exc.value) == UNKNOWN_OPERATOR.format('is set')


# What rests on packaging, and where go-version's results differ from PEP 440's.

def test_release_segments_are_packaging_versions():
    version = parse_version('1:8.2.2-rc1+ds')
    assert version.release_version == Pep440Version('8.2.2')
    assert isinstance(version.release_version, Pep440Version)


@pytest.mark.parametrize('constraint, specifier', [
    ('= 7.2', '==7.2'),
    ('7.2', '==7.2'),
    ('!= 7.2.0', '!=7.2.0'),
    ('> 1.2.3', '>1.2.3'),
    ('< 9', '<9'),
    ('>= 2.10', '>=2.10'),
    ('<= v7.2.22', '<=7.2.22'),
    ('~> 1.2', '~=1.2'),
    ('~> 1.2.3.4', '~=1.2.3.4'),
    ('~> 1', '>=1'),               # PEP 440 has no ~=1; go-version's ~> 1 has no upper bound
    ('>= 2.4.0(qemu-kvm-ev)', '>=2.4.0'),
    ('= 1:8.2.2+ds', '==8.2.2'),   # the metadata is dropped: go-version ignores it
    ('>= 8.0.0-rc1', None),        # a pre-release: go-version's rules, not a specifier
])
def test_constraint_specifier(constraint, specifier):
    parsed, = parse_version_constraints(constraint)
    assert parsed.specifier == (Specifier(specifier) if specifier else None)


@pytest.mark.parametrize('version, constraints, semver, expected', [
    # ~> with more segments than the version: go-version says no, ~=1.2.3.0 would say yes
    ('1.2.3', '~> 1.2.3.0', False, False),
    ('1.2.3.0', '~> 1.2.3.0', False, True),
    ('1.2.3.9', '~> 1.2.3.0', False, True),
    ('1.2', '~> 1.2.0', False, True),
    ('1.2.3.4', '~> 1.2.3', False, True),
    ('1.3', '~> 1.2.3', False, False),
    # SemVer precedence of pre-releases, where PEP 440 reads rc10 after rc9 and -1 as a post-release
    ('8.0.0-rc10', '< 8.0.0-rc9', False, True),
    ('8.0.0-rc10', '< 8.0.0-rc9', True, True),
    ('1.0.0-1', '< 1.0.0-alpha', False, True),
    ('1.0.0-1', '>= 1.0.0', True, False),
    ('1.0.0-1', '< 1.0.0', True, True),
    # pre-releases PEP 440 cannot read at all
    ('1.0.0-foo', '>= 1.0.0-bar', False, True),
    ('1.0.0-foo', '> 0.9', True, True),
    ('1.0.0-foo', '> 0.9', False, False),
    ('8.0.0~rc1', '< 8.0.0', True, True),
    ('5.10.0-21-amd64', '>= 5.10.0-3', False, True),
    # metadata is ignored, where PEP 440 orders local versions after their public version
    ('8.2.2+ds', '> 8.2.2', False, False),
    ('8.2.2+ds', '<= 8.2.2', True, True),
    ('8.2.2+ds', '!= 8.2.2+other', False, False),
])
def test_version_satisfies_where_pep440_differs(version, constraints, semver, expected):
    assert version_satisfies(version, constraints, semver=semver) is expected


@pytest.mark.parametrize('left, operator, right, expected', [
    ('8.2.2+b', '>', '8.2.2+a', False),
    ('8.2.2+b', '>=', '8.2.2+a', True),
    ('8.0.0-rc10', '<', '8.0.0-rc9', True),
    ('1.0.0-1', '<', '1.0.0', True),
])
def test_evaluate_order_where_pep440_differs(left, operator, right, expected):
    assert evaluate(left, operator, right) is expected


def _go_version_check(version, operator, wanted):
    """go-version's constraint functions for two versions without pre-release, written out.

    Segments are padded with zeros to three; Compare pads the shorter one further; the
    pessimistic operator works on the padded segments and on the number actually given.
    """
    mine = version + (0,) * (3 - len(version))
    theirs = wanted + (0,) * (3 - len(wanted))
    width = max(len(mine), len(theirs))
    left, right = mine + (0,) * (width - len(mine)), theirs + (0,) * (width - len(theirs))
    comparison = (left > right) - (left < right)
    if operator == '~>':
        if comparison < 0 or len(theirs) > len(mine):
            return False
        if any(mine[index] != theirs[index] for index in range(len(wanted) - 1)):
            return False
        return theirs[-1] <= mine[len(theirs) - 1]
    return {'=': comparison == 0, '!=': comparison != 0, '>': comparison > 0, '<': comparison < 0,
            '>=': comparison >= 0, '<=': comparison <= 0}[operator]


_RELEASES = [(0,), (1,), (2,), (0, 9), (1, 0), (1, 2), (1, 3), (1, 10), (1, 2, 0), (1, 2, 3), (1, 2, 4), (1, 3, 0),
             (2, 0, 0), (1, 2, 3, 0), (1, 2, 3, 4), (1, 2, 4, 0), (1, 2, 0, 0, 0), (10, 0, 0)]


@pytest.mark.parametrize('operator', ['=', '!=', '>', '<', '>=', '<=', '~>'])
def test_specifiers_agree_with_go_version(operator):
    for version, wanted in itertools.product(_RELEASES, repeat=2):
        text, constraint = '.'.join(map(str, version)), '{0} {1}'.format(operator, '.'.join(map(str, wanted)))
        expected = _go_version_check(version, operator, wanted)
        assert version_satisfies(text, constraint) is expected, (text, constraint)
        if operator != '~>':
            assert version_satisfies(text, constraint, semver=True) is expected, (text, constraint)


def test_packaging_is_imported():
    assert _constraints.PACKAGING_IMPORT_ERROR is None


@pytest.fixture
def without_packaging(monkeypatch):
    """A fresh copy of the module, loaded where packaging cannot be imported."""
    monkeypatch.setitem(sys.modules, 'packaging.specifiers', None)
    monkeypatch.setitem(sys.modules, 'packaging.version', None)
    spec = importlib.util.spec_from_file_location('_constraints_without_packaging', _constraints.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_packaging_versions_are_an_error(without_packaging):
    message = ("comparing versions needs the Python library 'packaging' on the controller, which cannot be imported "
               "({0}); install it in the Python environment that runs Ansible: python -m pip install packaging".format(
                   without_packaging.PACKAGING_IMPORT_ERROR))
    assert isinstance(without_packaging.PACKAGING_IMPORT_ERROR, ImportError)
    calls = [
        (lambda: without_packaging.version_satisfies('7.2.22', '>= 2.10'), message),
        (lambda: without_packaging.parse_version('7.2.22'), message),
        (lambda: without_packaging.evaluate('7.2.22', '>', '7.2.3'), message),
        (lambda: without_packaging.check_constraints([{'attribute': 'v', 'version': '>= 1'}], {'v': '7.2'}),
         'constraint 1: ' + message),
    ]
    for call, expected in calls:
        with pytest.raises(without_packaging.ConstraintError) as exc:
            call()
        assert str(exc.value) == expected


def test_without_packaging_other_operators_work(without_packaging):
    assert without_packaging.evaluate('7.2.22', '=', '7.2.22') is True
    assert without_packaging.evaluate('10', '>', '9') is True
    assert without_packaging.evaluate('rack-10', '<', 'rack-9') is True
    assert without_packaging.check_constraints([{'attribute': 'x', 'regexp': '^a'}], {'x': 'abc'}) == []
