# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host role checks emulator names with the one rule of plugins/module_utils/_emulator.py."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from ansible.template import Templar

from ansible_collections.nomadic.qemu.plugins.module_utils._emulator import EMULATOR_PATTERN, is_emulator_name

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19 trusts every template
    def trust_as_template(value):
        return value

ROLE = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'host'))
PATTERN_VARIABLE = '__nomadic_qemu_host_emulator_pattern'


def _load(name):
    with open(os.path.join(ROLE, name), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def _argument_check():
    """The conditions of the role's 'Check the role variables' assert."""
    tasks = _load('tasks/main.yml')
    [task] = [task for task in tasks if task['name'] == 'Check the role variables that the argument spec cannot check']
    return task['ansible.builtin.assert']['that']


def test_role_pattern_is_the_emulator_pattern():
    assert _load('vars/main.yml')[PATTERN_VARIABLE] == EMULATOR_PATTERN


def test_role_checks_both_emulator_variables_with_the_pattern():
    conditions = [condition for condition in _argument_check() if 'emulators' in condition and 'match' in condition]
    assert len(conditions) == 2
    assert any(condition.startswith('nomadic_qemu_host_emulators |') for condition in conditions)
    assert any('nomadic_qemu_host_emulators_allowlist' in condition for condition in conditions)
    for condition in conditions:
        assert "reject('match', %s)" % PATTERN_VARIABLE in condition


def test_role_has_no_other_emulator_regex():
    """No task file spells out a character class of emulator names: they all use the variable."""
    for name in sorted(os.listdir(os.path.join(ROLE, 'tasks'))):
        with open(os.path.join(ROLE, 'tasks', name), encoding='utf-8') as handle:
            text = handle.read()
        assert re.search(r'A-Za-z0-9', text) is None, name


@pytest.mark.parametrize('name', [
    'x86_64', 'aarch64', 'x86_64-microvm', 'or1k', 's390x', '9p',
    # the names the old rules disagreed on
    'x86_64.v2', '_x86',
    'x86/64', '../x86_64', '-x86_64', 'x86_64 --help', '', 'qemu-system-',
])
def test_role_check_agrees_with_the_module_rule(name):
    variables = {
        PATTERN_VARIABLE: trust_as_template(_load('vars/main.yml')[PATTERN_VARIABLE]),
        'nomadic_qemu_host_emulators': [name],
    }
    [condition] = [condition for condition in _argument_check()
                   if condition.startswith('nomadic_qemu_host_emulators |') and 'match' in condition]
    accepted = Templar(variables=variables).template(trust_as_template('{{ %s }}' % condition))
    assert accepted is is_emulator_name(name)
