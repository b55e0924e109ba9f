# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import inspect

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.nomadic.qemu.plugins.test import version_satisfies as plugin
from ansible_collections.nomadic.qemu.plugins.test.version_satisfies import version_satisfies


def test_registered():
    assert plugin.TestModule().tests() == {'version_satisfies': version_satisfies}


def test_documented_options_match_the_signature():
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc['name'] == 'version_satisfies'
    parameters = list(inspect.signature(version_satisfies).parameters)
    assert ['_input'] + parameters[1:] == list(doc['options'])
    assert doc['options']['semver']['default'] is False
    assert yaml.safe_load(plugin.RETURN)['_value']['type'] == 'bool'
    assert yaml.safe_load(plugin.EXAMPLES)


@pytest.mark.parametrize('value, constraints, kwargs, expected', [
    ('7.2.22', '> 1.2.3', {}, True),
    ('7.2.22', '>= 2.10, < 9', {}, True),
    ('1.2.3', '> 1.2.3', {}, False),
    ('2.4.0(qemu-kvm-ev)', '>= 2.4, < 2.5', {}, True),
    ('8.2.2+ds', '= 8.2.2', {}, True),
    ('10.0.0', '> 9.2', {}, True),
    (7, '~> 7.0', {}, True),
    # unquoted versions in YAML are numbers: taken as their text
    (7.2, '>= 7.2', {}, True),
    (7.2, '> 7.2', {}, False),
    (8.0, '= 8.0.0', {}, True),
    (10, '> 9.2', {}, True),
    ('9.0.0-rc1', '>= 8.0', {}, False),
    ('9.0.0-rc1', '>= 8.0', {'semver': True}, True),
    ('9.0.0-rc1', '>= 8.0', {'semver': 'yes'}, True),
    # a host without QEMU has driver_qemu_version null
    (None, '>= 1', {}, False),
])
def test_version_satisfies(value, constraints, kwargs, expected):
    assert version_satisfies(value, constraints, **kwargs) is expected


@pytest.mark.parametrize('value, constraints, kwargs, message', [
    ('7.2.22', '>= x', {}, 'version constraint \'>= x\' cannot be read; write an operator (=, !=, >, <, >=, <=, ~>) and a version, '
                           'several separated by commas, such as ">= 2.10, < 9"'),
    ('7.2.22', '~> 7.2', {'semver': True}, 'semver constraint \'~> 7.2\' cannot be read; write an operator (=, !=, >, <, >=, <=) '
                                           'and a version, several separated by commas, such as ">= 2.10, < 9" (semver has no ~>; '
                                           'use the version operator or >= and <)'),
    # the constraint is checked even when the version is null
    (None, '>= 1,', {}, 'version constraint \'>= 1,\' has an empty part; write an operator (=, !=, >, <, >=, <=, ~>) and a version, '
                        'several separated by commas, such as ">= 2.10, < 9"'),
    ('garbage', '>= 1', {}, "'garbage' is not a version; give a version such as 7.2.22 (null is accepted and satisfies nothing)"),
    # a boolean is not a number here
    (True, '>= 1', {}, "True is not a version; give a version such as 7.2.22 (null is accepted and satisfies nothing)"),
    (float('nan'), '>= 1', {}, "'nan' is not a version; give a version such as 7.2.22 (null is accepted and satisfies nothing)"),
    ({'driver.qemu.version': '7.2.22'}, '>= 1', {},
     "{'driver.qemu.version': '7.2.22'} is not a version; give a version such as 7.2.22 (null is accepted and satisfies nothing)"),
])
def test_version_satisfies_errors(value, constraints, kwargs, message):
    with pytest.raises(AnsibleFilterError) as exc:
        version_satisfies(value, constraints, **kwargs)
    assert exc.value.message == message
