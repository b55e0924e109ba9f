# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import inspect

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.nomadic.qemu.plugins.filter import nomad_attributes as plugin
from ansible_collections.nomadic.qemu.plugins.filter.nomad_attributes import nomad_attributes

FACTS = {
    'system': 'Linux',
    'kernel': '6.1.0-18-amd64',
    'architecture': 'aarch64',
    'distribution': 'Ubuntu',
    'distribution_version': '24.04',
    'nodename': 'vmhost2',
    'driver_qemu_attributes': {'driver.qemu': 'true', 'driver.qemu.version': '8.2.2'},
}


def test_documented_options_match_the_signature():
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert plugin.FilterModule().filters() == {doc['name']: nomad_attributes}
    parameters = list(inspect.signature(nomad_attributes).parameters)
    assert ['_input'] + parameters[1:] == list(doc['options'])
    assert doc['positional'] == ', '.join(parameters[1:])
    assert yaml.safe_load(plugin.EXAMPLES)
    returned = yaml.safe_load(plugin.RETURN)['_value']
    assert returned['type'] == 'dict'
    assert sorted(returned['sample']) == sorted(nomad_attributes(dict(FACTS, driver_qemu_attributes=dict(
        FACTS['driver_qemu_attributes'], **{'driver.qemu.emulators': 'x86_64'}))))


@pytest.mark.parametrize('args, expected', [
    ((), {
        'driver.qemu': 'true', 'driver.qemu.version': '8.2.2', 'kernel.name': 'linux', 'kernel.version': '6.1.0-18-amd64',
        'cpu.arch': 'arm64', 'os.name': 'ubuntu', 'os.version': '24.04', 'unique.hostname': 'vmhost2',
    }),
    (({'node.unique.name': 'web2', 'kernel.name': 'other'},), {
        'driver.qemu': 'true', 'driver.qemu.version': '8.2.2', 'kernel.name': 'other', 'kernel.version': '6.1.0-18-amd64',
        'cpu.arch': 'arm64', 'os.name': 'ubuntu', 'os.version': '24.04', 'unique.hostname': 'vmhost2', 'node.unique.name': 'web2',
    }),
])
def test_nomad_attributes(args, expected):
    assert nomad_attributes(FACTS, *args) == expected


@pytest.mark.parametrize('facts, extra, message', [
    ('Linux', None, "nomad_attributes: the input must be the dictionary ansible_facts, got 'Linux' (str)"),
    (FACTS, ['meta.rack'], "nomad_attributes: the extra attributes must be a dictionary of attribute names to values, such as "
                           "{'meta.rack': 'r1'}, got ['meta.rack'] (list)"),
])
def test_nomad_attributes_errors(facts, extra, message):
    with pytest.raises(AnsibleFilterError) as exc:
        nomad_attributes(facts, extra)
    assert exc.value.message == message
