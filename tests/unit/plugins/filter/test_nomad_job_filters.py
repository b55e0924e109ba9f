# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

# The filters nomad_job and nomad_job_placement (plugins/filter/); named apart from the lookup's
# tests/unit/plugins/lookup/test_nomad_job.py so that both collect in one pytest run.

import inspect
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.nomadic.qemu.plugins.filter import nomad_job as job_plugin
from ansible_collections.nomadic.qemu.plugins.filter import nomad_job_placement as placement_plugin
from ansible_collections.nomadic.qemu.plugins.filter.nomad_job import nomad_job
from ansible_collections.nomadic.qemu.plugins.filter.nomad_job_placement import nomad_job_placement

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'plugin_utils', 'fixtures')
FLEET_HOST = {
    'driver.qemu': 'true', 'driver.qemu.version': '7.2.22', 'driver.qemu.emulators': 'aarch64,x86_64',
    'kernel.name': 'linux', 'cpu.arch': 'amd64',
}


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return handle.read()


@pytest.mark.parametrize('module, function', [(job_plugin, nomad_job), (placement_plugin, nomad_job_placement)])
def test_documented_options_match_the_signature(module, function):
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert module.FilterModule().filters() == {doc['name']: function}
    parameters = list(inspect.signature(function).parameters)
    assert ['_input'] + parameters[1:] == list(doc['options'])
    assert doc['positional'] == ', '.join(parameters[1:])
    assert yaml.safe_load(module.EXAMPLES)
    assert yaml.safe_load(module.RETURN)['_value']


def test_nomad_job_from_text():
    result = nomad_job(fixture_text('fleet.nomad.hcl'), {'db_memory': 512}, 'fleet.nomad.hcl')
    assert result['file'] == 'fleet.nomad.hcl'
    assert [task['name'] for task in result['tasks']] == ['fleet-web-vm-0', 'fleet-web-vm-1', 'fleet-db-vm-0']
    assert nomad_job(fixture_text('docs-webservice.nomad.hcl'))['file'] == '<job>'


def test_nomad_job_error():
    with pytest.raises(AnsibleFilterError) as exc:
        nomad_job(fixture_text('docs-plugin.hcl'), filename='client.hcl')
    assert str(exc.value) == ("client.hcl: the file has unknown key 'plugin'; a job file takes job, locals, variable, variables; "
                              "remove it or fix its spelling")


def test_placement():
    job = nomad_job(fixture_text('fleet.nomad.hcl'), {'db_memory': 512})
    result = nomad_job_placement(job, FLEET_HOST)
    assert [task['name'] for task in result['tasks']] == ['fleet-web-vm-0', 'fleet-web-vm-1']
    assert result['unplaced'] == [{
        'group': 'db', 'tasks': ['fleet-db-vm-0'],
        'reasons': ["job 'fleet', group 'db', task 'vm': constraint '${meta.disk} = ssd' is not met: meta.disk is not set"],
    }]
    assert [task['name'] for task in nomad_job_placement(job, dict(FLEET_HOST, **{'meta.disk': 'ssd'}))['tasks']] == [
        'fleet-web-vm-0', 'fleet-web-vm-1', 'fleet-db-vm-0']


@pytest.mark.parametrize('job, attributes, message', [
    ({'tasks': []}, {}, 'nomad_job_placement needs a job read by the nomadic.qemu.nomad_job lookup or filter as input'),
    ('job "x" {}', {}, 'nomad_job_placement needs a job read by the nomadic.qemu.nomad_job lookup or filter as input'),
    ({'tasks': [], 'groups': []}, ['linux'], 'nomad_job_placement needs the host attributes as a dictionary, such as '
                                             'ansible_facts.driver_qemu_attributes, not list'),
])
def test_placement_input_errors(job, attributes, message):
    with pytest.raises(AnsibleFilterError) as exc:
        nomad_job_placement(job, attributes)
    assert str(exc.value) == message


def test_bad_constraint_is_refused_when_read():
    with pytest.raises(AnsibleFilterError) as exc:
        nomad_job('job "j" {\n constraint {\n attribute = "${attr.a}"\n version = ">>1"\n }\n group "g" {\n task "t" {\n'
                  ' driver = "qemu"\n config { image_path = "x.img" }\n }\n }\n}\n', filename='j.hcl')
    assert str(exc.value).startswith("j.hcl: job 'j': constraint[0].version: version constraint '>>1' cannot be read; ")


def test_placement_bad_constraint():
    constraint = {'attribute': '${attr.a}', 'operator': 'version', 'value': '>>1', 'level': 'job', 'source': "job 'j'"}
    job = {'file': 'j.hcl', 'job': 'j', 'tasks': [{'name': 'j-g-t-0', 'group': 'g'}],
           'groups': [{'group': 'g', 'tasks': ['j-g-t-0'], 'constraints': [constraint]}]}
    with pytest.raises(AnsibleFilterError) as exc:
        nomad_job_placement(job, {'a': '1.0'})
    assert str(exc.value).startswith("j.hcl: job 'j': ")


def test_placement_running():
    job = nomad_job(fixture_text('fleet.nomad.hcl'), {'db_memory': 512, 'web_count': 1})
    marks = [{'job': 'fleet', 'group': 'web', 'task': 'vm', 'index': 1, 'name': 'fleet-web-vm-1'},
             {'job': 'fleet', 'group': 'web', 'task': 'vm', 'index': 0, 'name': 'fleet-web-vm-0'}]
    result = nomad_job_placement(job, FLEET_HOST, marks)
    assert [task['name'] for task in result['tasks']] == ['fleet-web-vm-0']
    assert [(item['name'], item['reason']) for item in result['stale']] == [
        ('fleet-web-vm-1', "group 'web' now has count = 1, so index 1 is no longer run")]
    assert nomad_job_placement(job, FLEET_HOST)['stale'] == []
    with pytest.raises(AnsibleFilterError) as exc:
        nomad_job_placement(job, FLEET_HOST, {'name': 'x'})
    assert str(exc.value) == 'nomad_job_placement needs running as a list of dictionaries with name and labels, not dict'


def test_placement_running_from_labels():
    job = nomad_job(fixture_text('fleet.nomad.hcl'), {'db_memory': 512, 'web_count': 1})
    running = [
        {'name': 'fleet-web-vm-1', 'state': 'running',
         'labels': {'nomad_job': 'fleet', 'nomad_group': 'web', 'nomad_task': 'vm', 'nomad_alloc_index': '1'}},
        {'name': 'fleet-web-vm-0', 'state': 'running', 'labels': job['tasks'][0]['options']['labels']},
        {'name': 'other', 'state': 'stopped', 'labels': {}},
    ]
    result = nomad_job_placement(job, FLEET_HOST, running)
    assert [task['name'] for task in result['tasks']] == ['fleet-web-vm-0']
    assert result['stale'] == [dict(running[0], reason="group 'web' now has count = 1, so index 1 is no longer run",
                                    message="fleet-web-vm-1: stopped and removed: group 'web' now has count = 1, so index 1 is no longer run")]


def test_nomad_job_stop_only():
    text = fixture_text('fleet.nomad.hcl').replace('memory = var.db_memory', 'memory = 64')
    with pytest.raises(AnsibleFilterError):
        nomad_job(text, {'db_memory': 512})
    result = nomad_job(text, {'db_memory': 512}, 'fleet.nomad.hcl', True)
    assert [task['name'] for task in result['tasks']] == ['fleet-web-vm-0', 'fleet-web-vm-1', 'fleet-db-vm-0']
    assert result['errors'] == ["fleet.nomad.hcl: job 'fleet', group 'db', task 'vm': resources.memory: memory 64 MB is out of bounds; "
                                "use between 128 and 4000000 MB (Nomad's limits)"]
