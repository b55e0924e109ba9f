# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import inspect

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.nomadic.qemu.plugins.test import constraint_met as plugin
from ansible_collections.nomadic.qemu.plugins.test.constraint_met import constraint_met

# What qemu_fingerprint returns as driver_qemu_attributes on a Debian 12 host.
ATTRIBUTES = {
    'driver.qemu': 'true',
    'driver.qemu.version': '7.2.22',
    'driver.qemu.emulators': 'i386,x86_64,x86_64-microvm',
}


def test_registered():
    assert plugin.TestModule().tests() == {'constraint_met': constraint_met}


def test_documented_options_match_the_signature():
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc['name'] == 'constraint_met'
    parameters = list(inspect.signature(constraint_met).parameters)
    assert ['_input'] + parameters[1:] == list(doc['options'])
    assert doc['positional'] == ', '.join(parameters[1:])
    assert doc['options']['operator']['default'] == inspect.signature(constraint_met).parameters['operator'].default
    assert yaml.safe_load(plugin.RETURN)['_value']['type'] == 'bool'
    assert yaml.safe_load(plugin.EXAMPLES)


@pytest.mark.parametrize('args, kwargs, expected', [
    (('${attr.driver.qemu.version}', 'version', '>= 2.10'), {}, True),
    (('${attr.driver.qemu.version}', 'version', '>= 9'), {}, False),
    (('${driver.qemu.version}', '>', '1.2.3'), {}, True),
    (('driver.qemu.version', '>', '10.0'), {}, False),
    (('${attr.driver.qemu}',), {'value': 'true'}, True),
    (('${attr.driver.qemu}', '=', True), {}, True),
    ((), {'attribute': 'driver.qemu.emulators', 'operator': 'set_contains', 'value': 'x86_64,i386'}, True),
    (('driver.qemu.emulators', 'set_contains_any', ['aarch64', 'riscv64']), {}, False),
    (('${meta.rack}', 'is_set'), {}, False),
    (('${meta.rack}', 'is_not_set'), {}, True),
    (('${meta.rack}', '!=', 'r1'), {}, True),
    (('${attr.driver.qemu.version}', 'regexp', '^7[.]2[.]'), {}, True),
])
def test_constraint_met(args, kwargs, expected):
    assert constraint_met(ATTRIBUTES, *args, **kwargs) is expected


def test_constraint_met_on_an_undetected_host():
    # qemu_fingerprint returns no attributes when QEMU is undetected, as Nomad sets none
    assert constraint_met({}, '${attr.driver.qemu.version}', 'version', '>= 1') is False
    assert constraint_met({}, '${attr.driver.qemu}', 'is_not_set') is True


@pytest.mark.parametrize('attributes, args, message', [
    (ATTRIBUTES, ('${attr.driver.qemu.version}', '=>', '2.10'),
     "unknown operator '=>'; use one of =, ==, is, !=, not, <, <=, >, >=, version, semver, regexp, set_contains, set_contains_all, "
     "set_contains_any, is_set, is_not_set"),
    (ATTRIBUTES, ('${attr.driver.qemu.version}', 'version', '>= 2.10.'),
     'version constraint \'>= 2.10.\' cannot be read; write an operator (=, !=, >, <, >=, <=, ~>) and a version, several separated '
     'by commas, such as ">= 2.10, < 9"'),
    (ATTRIBUTES, ('${attr.driver.qemu.version}', 'version'), "operator 'version' needs a value to compare with"),
    (ATTRIBUTES, ('${attr.driver.qemu.version', 'is_set'),
     "attribute '${attr.driver.qemu.version' is not an interpolation Nomad understands; write ${attr.NAME}, for example "
     "${attr.driver.qemu.version}"),
    (ATTRIBUTES, ('x', 'distinct_hosts', 'true'),
     "operator 'distinct_hosts' spreads allocations over hosts and cannot be checked against one host's attributes; leave it out here"),
    ('7.2.22', ('${attr.driver.qemu.version}', 'version', '>= 2.10'),
     "the input must be a dictionary of attribute names to values, such as the fact driver_qemu_attributes, got '7.2.22'"),
])
def test_constraint_met_errors(attributes, args, message):
    with pytest.raises(AnsibleFilterError) as exc:
        constraint_met(attributes, *args)
    assert exc.value.message == message
