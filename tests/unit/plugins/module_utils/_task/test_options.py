# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The option table and the modules' documentation say the same: types, defaults, choices and bounds."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.nomadic.qemu.plugins.module_utils._duration import format_duration
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task import options as table
from ansible_collections.nomadic.qemu.plugins.doc_fragments._group import ModuleDocFragment as GroupFragment
from ansible_collections.nomadic.qemu.plugins.doc_fragments._media import ModuleDocFragment as MediaFragment
from ansible_collections.nomadic.qemu.plugins.doc_fragments._supervision import ModuleDocFragment as SupervisionFragment
from ansible_collections.nomadic.qemu.plugins.doc_fragments._task import ModuleDocFragment as TaskFragment
from ansible_collections.nomadic.qemu.plugins.doc_fragments._task_items import ModuleDocFragment as TaskItemsFragment
from ansible_collections.nomadic.qemu.plugins.modules import qemu_image, qemu_shutdown, qemu_task, qemu_task_info, qemu_tasks


def documented(module):
    """The module's options, with those of the nomadic.qemu._task fragment when it extends it."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = {}
    for name, fragment in (('nomadic.qemu._task', TaskFragment), ('nomadic.qemu._group', GroupFragment),
                           ('nomadic.qemu._media', MediaFragment), ('nomadic.qemu._supervision', SupervisionFragment),
                           ('nomadic.qemu._task_items', TaskItemsFragment)):
        if name in doc.get('extends_documentation_fragment', []):
            options.update(yaml.safe_load(fragment.DOCUMENTATION)['options'])
    for name, option in doc['options'].items():
        options[name] = dict(options.get(name, {}), **option)
    return options


def _compare(option, doc):
    assert doc['type'] == option.type, option.name
    assert doc.get('elements') == option.elements, option.name
    assert doc.get('choices') == (list(option.choices) if option.choices else None), option.name
    expected_default = option.default if option.spec_default else None
    if expected_default in ({}, []) and 'default' not in doc:
        expected_default = None
    assert doc.get('default') == expected_default, option.name
    if option.suboptions:
        for name, sub in option.suboptions.items():
            _compare(sub, doc['suboptions'][name])
        assert sorted(doc['suboptions']) == sorted(option.suboptions)


@pytest.mark.parametrize('module, tables', [
    (qemu_task, (table.TASK_NAME_OPTIONS, table.TASK_OPTIONS, table.POLICY_OPTIONS)),
    (qemu_shutdown, (table.SHUTDOWN_OPTIONS, table.POLICY_OPTIONS)),
    (qemu_image, (table.IMAGE_OPTIONS, table.GROUP_OPTIONS)),
    (qemu_tasks, (table.BATCH_OPTIONS, table.GROUP_OPTIONS)),
], ids=['qemu_task', 'qemu_shutdown', 'qemu_image', 'qemu_tasks'])
def test_module_docs_match_the_table(module, tables):
    docs = documented(module)
    for options in tables:
        for name, option in options.items():
            _compare(option, docs[name])


def test_info_module_docs_match_the_table():
    docs = documented(qemu_task_info)
    _compare(table.TASK_OPTIONS['labels'], docs['labels'])
    for name, option in table.POLICY_OPTIONS.items():
        _compare(option, docs[name])


def _text(doc):
    return ' '.join(doc['description'])


def test_documented_bounds_are_the_declared_ones():
    docs = documented(qemu_task)
    assert 'within Nomad\'s bounds %d to %d' % table.MEMORY_BOUNDS in _text(docs['memory'])
    assert 'At most V(%s)' % format_duration(table.MAX_KILL_TIMEOUT).replace('0m0s', '') in _text(docs['kill_timeout'])
    assert 'At most V(%s)' % format_duration(table.MAX_WAIT_TIMEOUT).replace('0m0s', '') in \
        _text(docs['wait_for']['suboptions']['timeout'])
    assert 'At most V(%s)' % format_duration(table.MAX_KILL_TIMEOUT).replace('0m0s', '') in \
        _text(documented(qemu_shutdown)['kill_timeout'])
    assert 'At most V(%s)' % format_duration(table.MAX_DOWNLOAD_TIMEOUT).replace('0m0s', '') in \
        _text(documented(qemu_image)['timeout'])


def test_image_module_documents_every_option_of_its_table():
    docs = documented(qemu_image)
    assert set(docs) == set(table.IMAGE_OPTIONS) | set(table.GROUP_OPTIONS)
    assert docs['url_password'].get('no_log') is None and table.IMAGE_OPTIONS['url_password'].no_log is True


def test_nomad_config_keys():
    assert table.NOMAD_CONFIG_KEYS == {
        'image_path': 'image_path', 'accelerator': 'accelerator', 'graceful_shutdown': 'graceful_shutdown',
        'guest_agent': 'guest_agent', 'args': 'args', 'port_map': 'port_map', 'emulator': 'emulator',
        'machine_type': 'machine_type', 'drive_interface': 'drive_interface',
    }


def test_group_options_are_accepted_by_every_module_of_the_group():
    for module in (qemu_task, qemu_shutdown, qemu_task_info, qemu_image):
        assert set(table.GROUP_OPTIONS) <= set(documented(module)), module.__name__


@pytest.mark.parametrize('name, value, expected', [
    ('memory', None, 300),
    ('memory', '512', 512),
    ('memory', 128, 128),
    ('memory', 4000000, 4000000),
    ('cpus', None, None),
    ('cpus', 4, 4),
    ('kill_timeout', None, 5.0),
    ('kill_timeout', '1m30s', 90.0),
    ('kill_timeout', '1h', 3600.0),
    ('emulator', 'qemu-system-aarch64', 'aarch64'),
    ('accelerator', None, 'tcg'),
    ('labels', None, {}),
    ('args', None, []),
])
def test_check_option(name, value, expected):
    assert table.check_option(name, value) == expected


@pytest.mark.parametrize('name, value, message', [
    ('memory', 127, "memory 127 MB is out of bounds; use between 128 and 4000000 MB (Nomad's limits)"),
    ('memory', 4000001, "memory 4000001 MB is out of bounds; use between 128 and 4000000 MB (Nomad's limits)"),
    ('memory', 'lots', "memory 'lots' is not a whole number; use one such as 300"),
    ('memory', True, 'memory True is not a whole number; use one such as 300'),
    ('cpus', 0, 'cpus 0 is not a CPU count; use 1 or more'),
    ('accelerator', 'hvf', "accelerator 'hvf' is not valid; use one of tcg, kvm, auto"),
    ('drive_interface', 'nvme', "drive_interface 'nvme' is not valid; use one of ide, scsi, sd, mtd, floppy, pflash, virtio, none"),
    ('kill_timeout', '1000h', "kill_timeout '1000h' is longer than the maximum of 1h0m0s; use 1h0m0s or less"),
    ('kill_timeout', 3601, 'kill_timeout 3601 is longer than the maximum of 1h0m0s; use 1h0m0s or less'),
    ('emulator', 'x86_64.v2', "emulator 'x86_64.v2' is not a valid emulator name; use an architecture such as x86_64 or aarch64 "
                              "(letters, digits, '_' and '-'), with or without the qemu-system- prefix"),
    ('labels', ['a'], 'labels must be a mapping of strings to strings, such as {job: web}'),
])
def test_check_option_refuses(name, value, message):
    with pytest.raises(QemuTaskError) as exc:
        table.check_option(name, value)
    assert str(exc.value) == message
    assert exc.value.option == name


def _descriptions(options, where=''):
    for name, option in options.items():
        description = option['description']
        yield where + name, description if isinstance(description, list) else [description]
        if option.get('suboptions'):
            yield from _descriptions(option['suboptions'], where + name + '.')


@pytest.mark.parametrize('module', [qemu_task, qemu_shutdown, qemu_task_info, qemu_image],
                         ids=['qemu_task', 'qemu_shutdown', 'qemu_task_info', 'qemu_image'])
def test_descriptions_are_text(module):
    """A colon followed by a space in a plain YAML scalar turns a description line into a mapping."""
    for name, lines in _descriptions(documented(module)):
        assert all(isinstance(line, str) for line in lines), name
