# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import inspect

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.nomadic.qemu.plugins.filter import constraints_unmet as plugin
from ansible_collections.nomadic.qemu.plugins.filter.constraints_unmet import constraints_unmet

ATTRIBUTES = {
    'driver.qemu': 'true',
    'driver.qemu.version': '7.2.22',
    'driver.qemu.emulators': 'i386,x86_64,x86_64-microvm',
    'kernel.name': 'linux',
    'kernel.version': '6.1.0-18-amd64',
    'cpu.arch': 'amd64',
    'meta.rack': 'r1',
}


def test_documented_options_match_the_signature():
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert plugin.FilterModule().filters() == {doc['name']: constraints_unmet}
    parameters = list(inspect.signature(constraints_unmet).parameters)
    assert ['_input'] + parameters[1:] == list(doc['options'])
    assert doc['positional'] == ', '.join(parameters[1:])
    assert yaml.safe_load(plugin.EXAMPLES)
    assert yaml.safe_load(plugin.RETURN)['_value']['elements'] == 'str'


@pytest.mark.parametrize('constraints, unmet', [
    ([], []),
    ([{'attribute': '${attr.driver.qemu.version}', 'operator': 'version', 'value': '>= 2.10'},
      {'attribute': '${attr.kernel.name}', 'value': 'linux'},
      {'attribute': '${attr.cpu.arch}', 'operator': 'regexp', 'value': '^(amd64|arm64)$'}], []),
    # Nomad's short forms
    ([{'attribute': '${attr.driver.qemu.version}', 'version': '>= 2.10'},
      {'attribute': '${attr.driver.qemu.version}', 'semver': '>= 99.0.0'},
      {'attribute': '${attr.driver.qemu.emulators}', 'set_contains_any': ['aarch64', 'riscv64']},
      {'attribute': '${attr.kernel.version}', 'regexp': '-amd64$'}],
     ["constraint '${attr.driver.qemu.version} semver >= 99.0.0' is not met: driver.qemu.version is '7.2.22'",
      "constraint '${attr.driver.qemu.emulators} set_contains_any aarch64,riscv64' is not met: "
      "driver.qemu.emulators is 'i386,x86_64,x86_64-microvm'"]),
    # every unmet constraint, in order, with the value the host has or that it has none
    ([{'attribute': '${meta.zone}', 'operator': 'is_set'},
      {'attribute': '${meta.rack}', 'value': 'r2'},
      {'attribute': '${attr.kernel.version}', 'operator': 'version', 'value': '>= 6.2'}],
     ["constraint '${meta.zone} is_set' is not met: meta.zone is not set",
      "constraint '${meta.rack} = r2' is not met: meta.rack is 'r1'",
      "constraint '${attr.kernel.version} version >= 6.2' is not met: kernel.version is '6.1.0-18-amd64'"]),
])
def test_constraints_unmet(constraints, unmet):
    assert constraints_unmet(ATTRIBUTES, constraints) == unmet


@pytest.mark.parametrize('attributes, constraints, message', [
    (ATTRIBUTES, [{'attribute': '${attr.driver.qemu.version}', 'operator': 'version', 'value': '>= 2.10, < '}],
     "constraint 1: version constraint '>= 2.10, < ' has the malformed part '<'; write an operator (=, !=, >, <, >=, <=, ~>) "
     "and a version, several separated by commas, such as \">= 2.10, < 9\""),
    (ATTRIBUTES, [{'attribute': 'x', 'value': 'a'}, {'attribute': 'x', 'operator': 'distinct_hosts', 'value': 'true'}],
     "constraint 2: operator 'distinct_hosts' spreads allocations over hosts and cannot be checked against one host's "
     "attributes; leave it out here"),
    (ATTRIBUTES, [{'attribute': 'x', 'version': '1', 'value': '1'}],
     "constraint 1 mixes the short form 'version' with operator, value or another short form; write either operator and value, "
     "or one short form such as version: \">= 2.10\""),
    (ATTRIBUTES, {'attribute': 'x'},
     "constraints must be a list of dictionaries with attribute, operator and value, got {'attribute': 'x'} (dict)"),
    ('linux', [], "attributes must be a dictionary of attribute names to values, got 'linux' (str)"),
])
def test_constraints_unmet_errors(attributes, constraints, message):
    with pytest.raises(AnsibleFilterError) as exc:
        constraints_unmet(attributes, constraints)
    assert exc.value.message == message
