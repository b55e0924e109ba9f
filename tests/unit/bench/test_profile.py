# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the pure parts of the bench's profile stage (bench/nqbench/profile.py) and scale playbooks."""

from __future__ import annotations


import pytest

from ansible_collections.nomadic.qemu.tests.unit.bench.bench_loader import load as _load


profile = _load('profile')
scale = _load('scale')
yaml = pytest.importorskip('yaml')

IMPORT_TIME = """import time: self [us] | cumulative | imported package
import time:       120 |        120 |   _io
import time:       300 |        420 | _frozen_importlib_external
import time:        80 |         80 |     marshal
import time:        50 |        130 |   encodings.aliases
import time:       100 |        230 | encodings
not an import line
import time:      2000 |       2500 | ansible_collections.nomadic.qemu.plugins.module_utils._task
import time:        30 |         30 |   _io"""


def test_parse_import_time():
    total, selfs = profile.parse_import_time(IMPORT_TIME)
    # Only the top-level imports (one space of indent) add up to the total.
    assert total == 420 + 230 + 2500
    # The smallest self time of a module listed twice.
    assert selfs == {'_io': 30, '_frozen_importlib_external': 300, 'marshal': 80, 'encodings.aliases': 50, 'encodings': 100,
                     'ansible_collections.nomadic.qemu.plugins.module_utils._task': 2000}


def test_import_summary():
    ping = {'total_us': 1000, 'self_us': {'json': 100, 'ansible.module_utils.basic': 500}}
    ours = {'total_us': 3000, 'self_us': {'json': 110, 'ansible.module_utils.basic': 480, 'socket': 70, 'select': 30,
                                          'ansible_collections.nomadic.qemu.plugins.module_utils._qmp': 200,
                                          'ansible_collections.nomadic.qemu.plugins.module_utils._task': 900}}
    assert profile.import_summary(ours, ping) == {
        'total_us': 3000,
        'modules': 6,
        'collection_us': 1100,
        'collection_modules': [['ansible_collections.nomadic.qemu.plugins.module_utils._task', 900],
                               ['ansible_collections.nomadic.qemu.plugins.module_utils._qmp', 200]],
        'extra_us': 100,
        'extra_modules': [['socket', 70], ['select', 30]],
    }


@pytest.mark.parametrize('module, mode, call, tasks', [
    ('ping', 'loop', {'ansible.builtin.ping': None}, 1),
    ('qemu_task', 'loop', {'nomadic.qemu.qemu_task': {'name': 'vm{{ item }}', 'state_dir': '{{ state_dir }}',
                                                      'image_path': '{{ image_dir }}/vm{{ item }}.img', 'memory': 128,
                                                      'graceful_shutdown': True, 'kill_timeout': '10s'}}, 1),
    ('qemu_shutdown', 'async', {'nomadic.qemu.qemu_shutdown': {'name': 'vm{{ item }}', 'state_dir': '{{ state_dir }}',
                                                               'kill_timeout': '10s'}}, 2),
])
def test_scale_playbook(module, mode, call, tasks):
    play = yaml.safe_load(scale.playbook_text(module, mode))[0]
    assert (play['name'], play['hosts'], play['gather_facts']) == ('%s of {{ count }} VMs (%s)' % (module, mode), 'localhost', False)
    assert len(play['tasks']) == tasks
    first = play['tasks'][0]
    assert first['loop'] == '{{ range(count | int) | list }}'
    assert {key: value for key, value in first.items() if key in call} == call
    if mode == 'async':
        assert (first['async'], first['poll'], first['register']) == (600, 0, 'bench_jobs')
        assert play['tasks'][1]['ansible.builtin.async_status'] == {'jid': '{{ item.ansible_job_id }}'}
    else:
        assert 'async' not in first
