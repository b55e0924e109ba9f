# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/tables.py: the keys of a job file at each level."""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import TASK_OPTIONS
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.tables import (
    CONFIG_KEYS,
    GROUP_KEYS,
    IGNORED_GROUP_KEYS,
    IGNORED_JOB_KEYS,
    IGNORED_RESOURCES_KEYS,
    IGNORED_TASK_KEYS,
    JOB_KEYS,
    REFUSED_JOB_KEYS,
    RESOURCES_KEYS,
    RESOURCES_OPTION_KEYS,
    TASK_KEYS,
    TASK_OPTION_KEYS,
)


def test_option_keys_come_from_the_option_table():
    assert TASK_OPTION_KEYS == {'kill_timeout': 'kill_timeout', 'restart': 'restart', 'logs': 'logs', 'user': 'run_as'}
    assert RESOURCES_OPTION_KEYS == {'memory': 'memory', 'cores': 'cpus'}
    nomad_keys = sorted(['config.%s' % key for key in CONFIG_KEYS] + list(TASK_OPTION_KEYS)
                        + ['resources.%s' % key for key in RESOURCES_OPTION_KEYS] + ['group.network.port'])
    assert nomad_keys == sorted(option.nomad for option in TASK_OPTIONS.values() if option.nomad)


def test_option_keys_are_keys_of_their_level():
    assert set(TASK_OPTION_KEYS) <= set(TASK_KEYS)
    assert set(RESOURCES_OPTION_KEYS) <= set(RESOURCES_KEYS)


def test_a_key_is_mapped_ignored_or_refused_never_two_of_them():
    # Each level's keys are the mapped ones, then the ignored (and refused) ones: a key in two
    # of them would be there twice.
    for keys in (JOB_KEYS, GROUP_KEYS, TASK_KEYS, RESOURCES_KEYS):
        assert len(keys) == len(set(keys))
    for keys, ignored in ((JOB_KEYS, IGNORED_JOB_KEYS), (GROUP_KEYS, IGNORED_GROUP_KEYS), (TASK_KEYS, IGNORED_TASK_KEYS),
                          (RESOURCES_KEYS, IGNORED_RESOURCES_KEYS)):
        assert set(ignored) <= set(keys)
    assert set(REFUSED_JOB_KEYS) <= set(JOB_KEYS)
