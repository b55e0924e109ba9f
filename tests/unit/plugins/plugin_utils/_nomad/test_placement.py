# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/placement.py: which tasks a host runs, and the running ones the job no longer wants."""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import check_constraints
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.placement import place_job, running_task
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError
from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import (
    WHERE,
    fixture,
    job,
    read,
)


FLEET_HOST = {
    'driver.qemu': 'true', 'driver.qemu.version': '7.2.22', 'driver.qemu.emulators': 'aarch64,x86_64',
    'kernel.name': 'linux', 'cpu.arch': 'amd64', 'meta.disk': 'ssd',
}


@pytest.mark.parametrize('changes, placed, unplaced', [
    ({}, ['fleet-web-vm-0', 'fleet-web-vm-1', 'fleet-db-vm-0'], []),
    ({'meta.disk': 'hdd'}, ['fleet-web-vm-0', 'fleet-web-vm-1'], [
        {'group': 'db', 'tasks': ['fleet-db-vm-0'],
         'reasons': ["job 'fleet', group 'db', task 'vm': constraint '${meta.disk} = ssd' is not met: meta.disk is 'hdd'"]}]),
    ({'driver.qemu.emulators': 'aarch64', 'cpu.arch': 'arm64'}, ['fleet-db-vm-0'], [
        {'group': 'web', 'tasks': ['fleet-web-vm-0', 'fleet-web-vm-1'],
         'reasons': ["job 'fleet', group 'web': constraint '${attr.cpu.arch} = amd64' is not met: cpu.arch is 'arm64'",
                     "job 'fleet', group 'web', task 'vm': constraint '${attr.driver.qemu.emulators} set_contains x86_64' "
                     "is not met: driver.qemu.emulators is 'aarch64'"]}]),
    ({'driver.qemu.version': '5.2.0', 'meta.disk': None}, [], [
        {'group': 'web', 'tasks': ['fleet-web-vm-0', 'fleet-web-vm-1'],
         'reasons': ["job 'fleet': constraint '${attr.driver.qemu.version} version >= 6.0' is not met: driver.qemu.version is '5.2.0'"]},
        {'group': 'db', 'tasks': ['fleet-db-vm-0'],
         'reasons': ["job 'fleet': constraint '${attr.driver.qemu.version} version >= 6.0' is not met: driver.qemu.version is '5.2.0'",
                     "job 'fleet', group 'db', task 'vm': constraint '${meta.disk} = ssd' is not met: meta.disk is not set"]}]),
])
def test_place_fleet(changes, placed, unplaced):
    job_ = fixture('fleet.nomad.hcl', variables={'db_memory': 1024})
    attributes = dict(FLEET_HOST, **changes)
    result = place_job(job_, attributes, check_constraints)
    assert [t['name'] for t in result['tasks']] == placed
    assert result['unplaced'] == unplaced


def _hand_made_job(constraint, source):
    """A job as place_job takes it, not read from a file (read_job refuses these constraints)."""
    constraint = dict(constraint, level='task', source=source)
    return {'file': 'job.nomad.hcl', 'job': 'j',
            'tasks': [{'job': 'j', 'group': 'g', 'task': 't', 'index': 0, 'name': 'j-g-t-0', 'options': {}, 'artifacts': [],
                       'constraints': [constraint]}],
            'groups': [{'group': 'g', 'count': 1, 'tasks': ['j-g-t-0'], 'constraints': [constraint]}]}


def test_place_a_constraint_that_cannot_be_evaluated():
    job_ = _hand_made_job({'attribute': '${attr.kernel.name}', 'operator': '~~', 'value': 'x'}, "job 'j', group 'g', task 't'")
    with pytest.raises(JobFileError) as exc:
        place_job(job_, {'kernel.name': 'linux'}, check_constraints)
    assert str(exc.value).startswith(WHERE + "unknown operator '~~'; use one of =, ")


def test_place_reports_where_a_bad_constraint_is():
    def check(constraints, attributes):
        assert constraints == [{'attribute': '${attr.a}', 'operator': 'regexp', 'value': '('}]
        assert attributes == {'a': 'x'}
        raise ValueError("constraint 1: invalid regular expression '('")

    job_ = _hand_made_job({'attribute': '${attr.a}', 'operator': 'regexp', 'value': '('}, "job 'j', group 'g'")
    with pytest.raises(JobFileError) as exc:
        place_job(job_, {'a': 'x'}, check)
    assert str(exc.value) == "job.nomad.hcl: job 'j', group 'g': invalid regular expression '('"


def test_place_uses_the_tasks_of_each_group_only():
    text = job(task='constraint {\n attribute = "${meta.a}"\n value = "1"\n}').replace(
        '  }\n}\n', '  }\n  group "h" {\n    task "u" {\n      driver = "qemu"\n      config { image_path = "x.img" }\n    }\n  }\n}\n')
    job_ = read(text)
    result = place_job(job_, {}, check_constraints)
    assert [t['name'] for t in result['tasks']] == ['j-h-u-0']
    assert result['unplaced'] == [{'group': 'g', 'tasks': ['j-g-t-0'],
                                   'reasons': ["job 'j', group 'g', task 't': constraint '${meta.a} = 1' is not met: meta.a is not set"]}]


def _mark(name, group='web', task='vm', index=0, job_id='fleet'):
    return {'job': job_id, 'file': '/srv/fleet.nomad.hcl', 'group': group, 'task': task, 'index': index, 'name': name,
            'task_dir': '/var/lib/nomadic-qemu/' + name}


@pytest.mark.parametrize('marks, attributes, stale', [
    # wanted, or another job's: left alone
    ([_mark('fleet-web-vm-0'), _mark('fleet-web-vm-1', index=1), _mark('other-web-vm-0', job_id='other')], {}, []),
    # a lower count
    ([_mark('fleet-web-vm-2', index=2)], {}, [('fleet-web-vm-2', "group 'web' now has count = 2, so index 2 is no longer run")]),
    # a group removed, a task removed (or no longer qemu), a group now with count 0
    ([_mark('fleet-cache-vm-0', group='cache'), _mark('fleet-web-old-0', task='old'), _mark('fleet-spare-vm-0', group='spare')], {}, [
        ('fleet-cache-vm-0', "the job file has no group 'cache' any more"),
        ('fleet-spare-vm-0', "group 'spare' now has count = 0, so index 0 is no longer run"),
        ('fleet-web-old-0', "group 'web' of the job file has no qemu task 'old' any more"),
    ]),
    # an older name of a task instance
    ([_mark('fleet-web-vm', index=None)], {}, [('fleet-web-vm', "the job file no longer has a task instance named 'fleet-web-vm'")]),
    # constraints that no longer hold on this host
    ([_mark('fleet-db-vm-0', group='db')], {'meta.disk': 'hdd'}, [
        ('fleet-db-vm-0', "its group 'db' does not run on this host: job 'fleet', group 'db', task 'vm': constraint '${meta.disk} = ssd' "
                          "is not met: meta.disk is 'hdd'")]),
])
def test_stale_tasks(marks, attributes, stale):
    job_ = fixture('fleet.nomad.hcl', variables={'db_memory': 1024})
    result = place_job(job_, dict(FLEET_HOST, **attributes), check_constraints, marks)
    assert [(t['name'], t['reason']) for t in result['stale']] == stale
    for item in result['stale']:
        assert item['message'] == '%s: stopped and removed: %s' % (item['name'], item['reason'])
        assert item['task_dir'] == '/var/lib/nomadic-qemu/' + item['name']


# ---- the running tasks as qemu_task_info returns them, found by their labels -----------

def _info(name, group='web', task='vm', index=0, job_id='fleet', state='running'):
    """A task as qemu_task_info returns it, with the labels the reader gives its task instance."""
    task_labels = {'nomad_job': job_id, 'nomad_group': group, 'nomad_task': task}
    if index is not None:
        task_labels['nomad_alloc_index'] = str(index)
    return {'name': name, 'state': state, 'task_dir': '/var/lib/nomadic-qemu/' + name, 'labels': task_labels}


@pytest.mark.parametrize('tasks, attributes, stale', [
    # wanted, another job's, or no job's (no labels, or labels of something else): left alone
    ([_info('fleet-web-vm-0'), _info('fleet-web-vm-1', index=1), _info('other-web-vm-0', job_id='other'),
      dict(_info('mine'), labels={}), dict(_info('yours'), labels={'team': 'fleet'})], {}, []),
    # a lower count, also for a stopped task
    ([_info('fleet-web-vm-2', index=2, state='stopped')], {}, [('fleet-web-vm-2', "group 'web' now has count = 2, so index 2 is no longer run")]),
    # a group removed, a task removed (or no longer qemu), a group now with count 0
    ([_info('fleet-cache-vm-0', group='cache'), _info('fleet-web-old-0', task='old'), _info('fleet-spare-vm-0', group='spare')], {}, [
        ('fleet-cache-vm-0', "the job file has no group 'cache' any more"),
        ('fleet-spare-vm-0', "group 'spare' now has count = 0, so index 0 is no longer run"),
        ('fleet-web-old-0', "group 'web' of the job file has no qemu task 'old' any more"),
    ]),
    # an older name of a task instance
    ([_info('fleet-web-vm', index=None)], {}, [('fleet-web-vm', "the job file no longer has a task instance named 'fleet-web-vm'")]),
    # constraints that no longer hold on this host
    ([_info('fleet-db-vm-0', group='db')], {'meta.disk': 'hdd'}, [
        ('fleet-db-vm-0', "its group 'db' does not run on this host: job 'fleet', group 'db', task 'vm': constraint '${meta.disk} = ssd' "
                          "is not met: meta.disk is 'hdd'")]),
])
def test_stale_tasks_from_labels(tasks, attributes, stale):
    job_ = fixture('fleet.nomad.hcl', variables={'db_memory': 1024})
    result = place_job(job_, dict(FLEET_HOST, **attributes), check_constraints, tasks)
    assert [(t['name'], t['reason']) for t in result['stale']] == stale
    by_name = dict((task['name'], task) for task in tasks)
    for item in result['stale']:
        assert item == dict(by_name[item['name']], reason=item['reason'],
                            message='%s: stopped and removed: %s' % (item['name'], item['reason']))


def test_the_labels_the_reader_gives_find_the_tasks_again():
    # What qemu_task records from the labels of each task instance, qemu_task_info returns.
    before = fixture('fleet.nomad.hcl', variables={'db_memory': 1024, 'web_count': 3})
    running = [{'name': task['name'], 'state': 'running', 'labels': task['options']['labels']} for task in before['tasks']]
    assert place_job(before, FLEET_HOST, check_constraints, running)['stale'] == []
    after = fixture('fleet.nomad.hcl', variables={'db_memory': 1024, 'web_count': 1})
    assert [(t['name'], t['reason']) for t in place_job(after, FLEET_HOST, check_constraints, running)['stale']] == [
        ('fleet-web-vm-1', "group 'web' now has count = 1, so index 1 is no longer run"),
        ('fleet-web-vm-2', "group 'web' now has count = 1, so index 2 is no longer run"),
    ]


@pytest.mark.parametrize('item, found', [
    (_info('fleet-web-vm-3', index=3), ('fleet', 'web', 'vm', 3)),
    (_info('fleet-web-vm', index=None), ('fleet', 'web', 'vm', None)),
    (dict(_info('x'), labels={'nomad_job': 'fleet', 'nomad_alloc_index': 'one'}), ('fleet', None, None, 'one')),
    # a mark of the run_job playbook (.nomadic-job.json), without labels
    (_mark('fleet-web-vm-1', index=1), ('fleet', 'web', 'vm', 1)),
    # labels decide when present, even next to the keys of a mark
    (dict(_mark('fleet-web-vm-1', index=1), labels={}), (None, None, None, None)),
    (dict(_info('x'), labels='nomad_job=fleet'), None),
    ('fleet-web-vm-0', None),
])
def test_running_task(item, found):
    assert running_task(item) == found


def test_items_that_are_no_tasks_are_left_alone():
    job_ = fixture('fleet.nomad.hcl', variables={'db_memory': 1024})
    assert place_job(job_, FLEET_HOST, check_constraints, ['fleet-web-vm-5', None, _info('fleet-web-vm-5', index=5)])['stale'] == [
        dict(_info('fleet-web-vm-5', index=5), reason="group 'web' now has count = 2, so index 5 is no longer run",
             message="fleet-web-vm-5: stopped and removed: group 'web' now has count = 2, so index 5 is no longer run")]
