# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.info import list_tasks
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir, TaskRecord


class Live:
    def __init__(self, pid):
        self.pid = pid


def observe_pids(*pids):
    return lambda record, task_dir: Live(record.pid) if record.pid in pids else None


@pytest.fixture
def state(tmp_path):
    state_dir = str(tmp_path / 'state')
    for name, state, pid, labels in (('a', 'running', 11, {'job': 'web'}), ('b', 'running', 12, {'job': 'web', 'tier': 'x'}),
                                     ('c', 'stopped', None, {'job': 'db'})):
        task = TaskDir(state_dir, name)
        task.ensure()
        task.write(TaskRecord(name=name, state=state, pid=pid, argv=['q', name], labels=labels, config={'guest_agent': name == 'a'}))
        with open(task.console_log, 'w') as f:
            f.write('\n'.join('line %d of %s' % (i, name) for i in range(30)) + '\n')
    os.makedirs(os.path.join(state_dir, 'not-a-task'))
    with open(os.path.join(state_dir, '.a.lock'), 'w'):
        pass
    return state_dir


def test_lists_every_task_with_its_state(state):
    tasks = list_tasks(state, observe_pids(11))
    assert [(t['name'], t['state'], t['pid']) for t in tasks] == [('a', 'running', 11), ('b', 'crashed', None), ('c', 'stopped', None)]
    assert tasks[0]['console_tail'] == ['line %d of a' % i for i in range(10, 30)]
    assert tasks[0]['agent_socket'] == os.path.join(state, 'a', 'qga.sock')
    assert tasks[1]['agent_socket'] is None


@pytest.mark.parametrize('kwargs, names', [
    ({'name': 'b'}, ['b']),
    ({'name': 'zz'}, []),
    ({'labels': {'job': 'web'}}, ['a', 'b']),
    ({'labels': {'job': 'web', 'tier': 'x'}}, ['b']),
    ({'labels': {'job': 'none'}}, []),
    ({'name': 'c', 'labels': {'job': 'web'}}, []),
])
def test_selects_by_name_and_labels(state, kwargs, names):
    assert [t['name'] for t in list_tasks(state, observe_pids(), **kwargs)] == names


def test_console_lines(state):
    assert list_tasks(state, observe_pids(), name='a', console_lines=2)[0]['console_tail'] == ['line 28 of a', 'line 29 of a']
    assert list_tasks(state, observe_pids(), name='a', console_lines=0)[0]['console_tail'] == []


def test_changes_nothing(state):
    before = {name: open(os.path.join(state, name, 'task.json')).read() for name in 'abc'}
    list_tasks(state, observe_pids())
    assert {name: open(os.path.join(state, name, 'task.json')).read() for name in 'abc'} == before


def test_damaged_records_are_skipped_with_a_warning(state):
    with open(os.path.join(state, 'c', 'task.json'), 'w') as f:
        f.write('{broken')
    warnings = []
    assert [t['name'] for t in list_tasks(state, observe_pids(), warn=warnings.append)] == ['a', 'b']
    assert warnings == ['the state record %s is damaged; task c is not listed' % os.path.join(state, 'c', 'task.json')]


def test_missing_state_dir_holds_no_task(tmp_path):
    assert list_tasks(str(tmp_path / 'none'), observe_pids()) == []
    assert not os.path.exists(str(tmp_path / 'none'))


def test_bad_name(state):
    with pytest.raises(QemuTaskError, match="name '../x' is not a valid task name"):
        list_tasks(state, observe_pids(), name='../x')
