# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/job.py: reading a job, its groups, tasks and task instances."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import check_option
from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import check_constraints
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.job import read_job, read_job_file, task_name
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.placement import place_job
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError
from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import (
    FIXTURES,
    LABELS,
    SHA256,
    WHERE,
    error,
    fixture,
    job,
    labels,
    read,
)


def test_docs_task_configuration_and_port_map():
    assert fixture('docs-webservice.nomad.hcl') == {
        'file': 'docs-webservice.nomad.hcl',
        'job': 'docs',
        'name': 'docs',
        'type': 'service',
        'tasks': [{
            'job': 'docs', 'group': 'web', 'task': 'webservice', 'index': 0, 'name': 'docs-web-webservice-0',
            'options': {
                'image_path': '/path/to/my/linux.img',
                'accelerator': 'kvm',
                'graceful_shutdown': True,
                'args': ['-nodefaults', '-nodefconfig'],
                'port_map': {'db': 6539},
                'labels': {'nomad_job': 'docs', 'nomad_group': 'web', 'nomad_task': 'webservice', 'nomad_alloc_index': '0'},
            },
            'artifacts': [],
            'constraints': [],
        }],
        'groups': [{'group': 'web', 'count': 1, 'tasks': ['docs-web-webservice-0'], 'constraints': [], 'affinities': [],
                    'spreads': [], 'max_parallel': None}],
        'skipped': [],
        'ignored': [],
        'errors': [],
    }


def test_docs_simple_example_as_published_is_broken_hcl():
    # The task block of the documentation's example is never closed.
    with pytest.raises(JobFileError) as exc:
        fixture('docs-virtual-as-published.nomad.hcl')
    assert str(exc.value) == "docs-virtual-as-published.nomad.hcl: not valid HCL: Unexpected token Token('$END', '') at line 25, column 1."


def test_docs_simple_example_has_no_real_md5():
    with pytest.raises(JobFileError) as exc:
        fixture('docs-virtual.nomad.hcl')
    assert str(exc.value) == (
        "docs-virtual.nomad.hcl: job 'docs', group 'virtual', task 'virtual': artifact[0].options.checksum "
        "'md5:123445555555555' is not a valid md5 checksum: md5 needs 32 hexadecimal digits, this has 15 characters")


def test_docs_simple_example_with_a_real_md5():
    text = open(os.path.join(FIXTURES, 'docs-virtual.nomad.hcl')).read().replace(
        'md5:123445555555555', 'md5:D41D8CD98F00B204E9800998ECF8427E')
    task = read_job(text, 'docs-virtual.nomad.hcl')['tasks'][0]
    assert task['name'] == 'docs-virtual-virtual-0'
    assert task['options'] == {'image_path': 'local/linux.img', 'accelerator': 'kvm', 'args': ['-nodefaults', '-nodefconfig'],
                               'labels': labels('docs', 'virtual', 'virtual', 0)}
    assert task['artifacts'] == [{
        'source': 'https://internal.file.server/linux.img',
        'destination': 'local',
        'mode': 'any',
        'archive': None,
        'path': 'local/linux.img',
        'filename': 'linux.img',
        'checksum': 'md5:d41d8cd98f00b204e9800998ecf8427e',
        'checksum_type': 'md5',
        'checksum_value': 'd41d8cd98f00b204e9800998ecf8427e',
        'headers': {},
        'insecure': False,
        'id': task['artifacts'][0]['id'],
        'disk_image': True,
    }]
    assert len(task['artifacts'][0]['id']) == 16


def test_docs_client_attributes_example():
    result = fixture('docs-constraint.nomad.hcl')
    assert result == {'file': 'docs-constraint.nomad.hcl', 'job': 'docs', 'name': 'docs', 'type': 'service',
                      'tasks': [], 'groups': [], 'skipped': [], 'ignored': [], 'errors': []}
    assert place_job(result, {'driver.qemu.version': '7.2.0'}, check_constraints) == {'tasks': [], 'unplaced': [], 'stale': []}


def test_docs_plugin_options_are_not_a_job():
    with pytest.raises(JobFileError) as exc:
        fixture('docs-plugin.hcl')
    assert str(exc.value) == ("docs-plugin.hcl: the file has unknown key 'plugin'; a job file takes job, locals, variable, "
                              "variables; remove it or fix its spelling")


def test_fleet_tasks():
    result = fixture('fleet.nomad.hcl', variables={'db_memory': 1024})
    assert [t['name'] for t in result['tasks']] == ['fleet-web-vm-0', 'fleet-web-vm-1', 'fleet-db-vm-0']
    assert [(t['group'], t['task'], t['index']) for t in result['tasks']] == [('web', 'vm', 0), ('web', 'vm', 1), ('db', 'vm', 0)]
    web0, web1, db = result['tasks']
    assert web0['options'] == {
        'image_path': 'local/web-1.2.img', 'accelerator': 'kvm', 'graceful_shutdown': True, 'guest_agent': True,
        'args': ['-fw_cfg', 'name=opt/web/id,string=0-team-a'], 'port_map': {'http': 80, 'ssh': 22},
        'memory': 512, 'cpus': 2, 'kill_timeout': 90, 'restart': {'attempts': 3}, 'labels': labels('fleet', 'web', 'vm', 0),
    }
    assert web1['options']['args'] == ['-fw_cfg', 'name=opt/web/id,string=1-team-a']
    assert web1['options']['labels'] == labels('fleet', 'web', 'vm', 1)
    assert db['options'] == {
        'image_path': 'local/db/disk.qcow2', 'drive_interface': 'virtio', 'emulator': 'aarch64', 'machine_type': 'virt',
        'port_map': {'pg': 5432}, 'ports': {'pg': 15432}, 'memory': 1024, 'kill_timeout': 0.5, 'labels': labels('fleet', 'db', 'vm', 0),
    }
    assert result['job'] == 'fleet'
    assert result['type'] == 'service'


def test_fleet_artifacts_every_checksum_type():
    result = fixture('fleet.nomad.hcl', variables={'db_memory': 1024})
    web0, web1, db = result['tasks']
    assert web0['artifacts'] == web1['artifacts']
    summary = [(a['source'], a['destination'], a['mode'], a['archive'], a['path'], a['filename'], a['checksum_type'], a['headers'])
               for a in web0['artifacts'] + db['artifacts']]
    assert summary == [
        ('https://images.example.com/web-1.2.img', 'local', 'any', None, 'local/web-1.2.img', 'web-1.2.img', 'sha256', {}),
        ('https://images.example.com/seed.tar.gz', 'local', 'any', 'tar.gz', 'local', None, 'md5', {}),
        ('https://images.example.com/db.zip?token=abc', 'local/db', 'any', 'zip', 'local/db', None, 'sha1',
         {'Authorization': 'Bearer xyz'}),
        ('https://images.example.com/firmware/download?id=7', 'local/firmware.fd', 'file', None, 'local/firmware.fd', 'firmware.fd',
         'sha512', {}),
    ]
    assert [a['checksum'] for a in web0['artifacts'] + db['artifacts']] == [
        'sha256:' + SHA256,
        'md5:d41d8cd98f00b204e9800998ecf8427e',
        'sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709',
        'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    ]
    ids = [a['id'] for a in web0['artifacts'] + db['artifacts']]
    assert len(set(ids)) == 4


def test_fleet_constraints_at_every_level():
    result = fixture('fleet.nomad.hcl', variables={'db_memory': 1024})
    job_level = [
        {'attribute': '${attr.kernel.name}', 'operator': '=', 'value': 'linux', 'level': 'job', 'source': "job 'fleet'"},
        {'attribute': '${attr.driver.qemu.version}', 'operator': 'version', 'value': '>= 6.0', 'level': 'job', 'source': "job 'fleet'"},
    ]
    web_group = [{'attribute': '${attr.cpu.arch}', 'operator': '=', 'value': 'amd64', 'level': 'group',
                  'source': "job 'fleet', group 'web'"}]
    web_task = [{'attribute': '${attr.driver.qemu.emulators}', 'operator': 'set_contains', 'value': 'x86_64', 'level': 'task',
                 'source': "job 'fleet', group 'web', task 'vm'"}]
    db_task = [{'attribute': '${meta.disk}', 'operator': '=', 'value': 'ssd', 'level': 'task', 'source': "job 'fleet', group 'db', task 'vm'"}]
    web0, web1, db = result['tasks']
    assert web0['constraints'] == job_level + web_group + web_task
    assert web1['constraints'] == web0['constraints']
    assert db['constraints'] == job_level + db_task
    assert result['groups'] == [
        {'group': 'web', 'count': 2, 'tasks': ['fleet-web-vm-0', 'fleet-web-vm-1'], 'constraints': job_level + web_group + web_task,
         'affinities': [], 'spreads': [], 'max_parallel': None},
        {'group': 'db', 'count': 1, 'tasks': ['fleet-db-vm-0'], 'constraints': job_level + db_task, 'affinities': [], 'spreads': [],
         'max_parallel': None},
        {'group': 'spare', 'count': 0, 'tasks': [], 'constraints': job_level, 'affinities': [], 'spreads': [], 'max_parallel': None},
    ]


def test_fleet_skipped_and_ignored():
    result = fixture('fleet.nomad.hcl', variables={'db_memory': 1024})
    assert result['skipped'] == [
        {'job': 'fleet', 'group': 'web', 'task': 'proxy', 'driver': 'docker', 'reason': "its driver 'docker' is not qemu",
         'message': "job 'fleet', group 'web', task 'proxy' is not run: its driver 'docker' is not qemu"},
        {'job': 'fleet', 'group': 'spare', 'task': 'vm', 'driver': 'qemu', 'reason': 'the group count is 0',
         'message': "job 'fleet', group 'spare', task 'vm' is not run: the group count is 0"},
    ]
    assert [(i['where'], i['key']) for i in result['ignored']] == [
        ("job 'fleet'", 'datacenters'),
        ("job 'fleet', group 'web'", "network.port 'ssh'.to"),
        ("job 'fleet', group 'web', task 'vm'", 'resources.cpu'),
    ]
    assert result['ignored'][0]['message'] == (
        "job 'fleet': datacenters is not applied: Nomad scheduling that run_job does not apply; it places by count, resources, "
        "constraints, affinity, spread and update.max_parallel on the hosts of the play")


def test_fleet_variables():
    assert fixture('fleet.nomad.hcl', variables={'db_memory': 2048, 'web_count': 3})['groups'][0]['tasks'] == [
        'fleet-web-vm-0', 'fleet-web-vm-1', 'fleet-web-vm-2']
    result = fixture('fleet.nomad.hcl', variables={'db_memory': 2048, 'image_server': 'http://10.0.0.1:8080'})
    assert result['tasks'][2]['options']['memory'] == 2048
    assert result['tasks'][0]['artifacts'][0]['source'] == 'http://10.0.0.1:8080/web-1.2.img'
    with pytest.raises(JobFileError) as exc:
        fixture('fleet.nomad.hcl')
    assert str(exc.value) == ("fleet.nomad.hcl: variable 'db_memory' has no default and no value; pass it in job_vars "
                              "(like nomad job run -var db_memory=...)")
    with pytest.raises(JobFileError) as exc:
        fixture('fleet.nomad.hcl', variables={'db_memory': 1, 'db_mem': 2})
    assert str(exc.value) == ("fleet.nomad.hcl: job_vars gives 'db_mem', which the job file does not declare "
                              "(declared: db_memory, image_server, web_count); remove it or add a variable block")


def test_count_and_names():
    result = read(job(group='count = 3'))
    assert [(t['name'], t['index']) for t in result['tasks']] == [('j-g-t-0', 0), ('j-g-t-1', 1), ('j-g-t-2', 2)]
    # Always with the index, as Nomad's allocation index: a count going from 1 to 2 renames nothing.
    assert [(t['name'], t['index']) for t in read(job(group='count = 1'))['tasks']] == [('j-g-t-0', 0)]
    assert [t['name'] for t in read(job())['tasks']] == ['j-g-t-0']
    assert read(job(group='count = 0'))['tasks'] == []


def test_labels_name_the_job_group_task_and_index():
    result = read(job(job_extra='name = "Web Job"', group='count = 2'))
    assert result['name'] == 'Web Job'
    # The job's ID, as the task names and the run_job playbook's marks use it.
    assert [t['options']['labels'] for t in result['tasks']] == [
        {'nomad_job': 'j', 'nomad_group': 'g', 'nomad_task': 't', 'nomad_alloc_index': '0'},
        {'nomad_job': 'j', 'nomad_group': 'g', 'nomad_task': 't', 'nomad_alloc_index': '1'},
    ]
    # qemu_task takes them as they are.
    for task in result['tasks']:
        assert check_option('labels', task['options']['labels']) == task['options']['labels']


def test_count_index_interpolation():
    result = read(job(group='count = 2', config='image_path = "x.img"\nargs = ["${NOMAD_ALLOC_INDEX}", "${NOMAD_ALLOC_NAME}"]'))
    assert [t['options']['args'] for t in result['tasks']] == [['0', 'j.g[0]'], ['1', 'j.g[1]']]


def test_settings_reported_once_for_all_count_indexes():
    result = read(job(group='count = 3', task='resources {\n cpu = 100\n}'))
    assert [i['key'] for i in result['ignored']] == ['resources.cpu']


def test_a_task_directly_under_the_job_is_a_group_of_its_own():
    # As Nomad's parser makes it: a group named after the task, with the group defaults, before the group blocks.
    text = (
        'job "j" {\n'
        '  task "vm" {\n'
        '    driver = "qemu"\n'
        '    config { image_path = "local/a.img" }\n'
        '    resources { memory = 256 }\n'
        '  }\n'
        '  group "g" {\n'
        '    task "t" {\n'
        '      driver = "qemu"\n'
        '      config { image_path = "local/b.img" }\n'
        '    }\n'
        '  }\n'
        '  task "proxy" {\n'
        '    driver = "docker"\n'
        '    config { image = "nginx" }\n'
        '  }\n'
        '}\n')
    result = read(text)
    assert [(t['name'], t['group'], t['task'], t['options']) for t in result['tasks']] == [
        ('j-vm-vm-0', 'vm', 'vm', {'image_path': 'local/a.img', 'memory': 256, 'labels': labels('j', 'vm', 'vm', 0)}),
        ('j-g-t-0', 'g', 't', {'image_path': 'local/b.img', 'labels': LABELS}),
    ]
    assert [(g['group'], g['count'], g['tasks']) for g in result['groups']] == [
        ('vm', 1, ['j-vm-vm-0']), ('proxy', 1, []), ('g', 1, ['j-g-t-0'])]
    assert [(s['group'], s['task']) for s in result['skipped']] == [('proxy', 'proxy')]


@pytest.mark.parametrize('text, message', [
    ('job "j" {\n task "g" {\n driver = "qemu"\n config { image_path = "x" }\n }\n group "g" {}\n}',
     "job.nomad.hcl: job 'j': task 'g' directly under the job is a group of that name, as in Nomad, and group 'g' is declared "
     "too; rename one of them"),
    ('job "j" {\n task "t" {\n driver = "qemu"\n config { image_path = "x" }\n }\n task "t" {\n driver = "qemu"\n'
     ' config { image_path = "y" }\n }\n}',
     "job.nomad.hcl: job 'j': task 't' is declared twice directly under the job; task names must be unique there"),
    ('job "j" {\n task "t" {\n driver = "qemu"\n config { image_path = "x" }\n count = 2\n }\n}',
     "job.nomad.hcl: job 'j', group 't', task 't': the task has unknown key 'count'; it is not a setting of a task block; "
     "remove it or fix its spelling"),
    ('job "j" {\n task {\n driver = "qemu"\n }\n}', 'job.nomad.hcl: job \'j\': task block needs one name, such as task "vm" { ... }'),
])
def test_a_task_directly_under_the_job_errors(text, message):
    assert error(text) == message


def test_job_name_and_batch_type():
    result = read(job(job_extra='name = "Web Job"\ntype = "batch"'))
    assert result['name'] == 'Web Job'
    assert result['ignored'][0]['key'] == 'type'
    assert result['ignored'][0]['reason'] == 'batch jobs run to completion in Nomad; here the VM is started and left running'


def test_non_qemu_tasks_are_not_evaluated():
    result = read(job(driver='docker', config='image = "${upper("nginx")}"\nports = ["${NOMAD_PORT_http}"]', task='bogus = 1'))
    assert result['tasks'] == []
    assert result['skipped'][0]['reason'] == "its driver 'docker' is not qemu"


@pytest.mark.parametrize('text, message', [
    # structure
    ('', "job.nomad.hcl: holds no job block; a Nomad job file holds exactly one, such as job \"web\" { ... }"),
    ('job "a" {}\njob "b" {}', "job.nomad.hcl: holds 2 jobs; a Nomad job file holds exactly one job block"),
    ('job {\n}', "job.nomad.hcl: job block needs one name, such as job \"web\" { ... }"),
    ('job "a" "b" {\n}', "job.nomad.hcl: job 'a' has more than one name; give it exactly one, such as job \"web\" { ... }"),
    ('job "j" {\n group "g" {}\n group "g" {}\n}', "job.nomad.hcl: job 'j': group 'g' is declared twice; group names must be unique in a job"),
    (job(task='}\ntask "t" {\ndriver = "qemu"\nconfig { image_path = "y" }'),
     "job.nomad.hcl: job 'j', group 'g': task 't' is declared twice; task names must be unique in a group"),
    (job(job_extra='periodic {\n cron = "@daily"\n}'),
     "job.nomad.hcl: job 'j': is periodic: Nomad starts it on a schedule, running it here would start it now; remove the periodic "
     "block and schedule the playbook instead (cron, a systemd timer, AWX)"),
    (job(job_extra='parameterized {}'),
     "job.nomad.hcl: job 'j': is parameterized: Nomad only runs it when dispatched with a payload; remove the parameterized block "
     "to run it as a regular job"),
    (job(job_extra='type = "daemon"'), "job.nomad.hcl: job 'j': type is 'daemon'; Nomad job types are service, batch, system, sysbatch"),
    (job(job_extra='datacentres = ["dc1"]'),
     "job.nomad.hcl: job 'j': the job has unknown key 'datacentres'; it is not a setting of a job block; remove it or fix its spelling"),
    (job(group='cout = 2'),
     "job.nomad.hcl: job 'j', group 'g': the group has unknown key 'cout'; it is not a setting of a group block; remove it or fix "
     "its spelling"),
    (job(task='kill_timout = "5s"'), WHERE + "the task has unknown key 'kill_timout'; it is not a setting of a task block; remove it or "
                                             "fix its spelling"),
    (job(config='image_path = "x.img"\nimage_format = "raw"'),
     WHERE + "config has unknown key 'image_format'; the qemu driver takes accelerator, args, drive_interface, emulator, "
             "graceful_shutdown, guest_agent, image_path, machine_type, port_map; remove it or fix its spelling"),
    (job(task='resources {\n memory = 256\n gpu = 1\n}'),
     WHERE + "resources has unknown key 'gpu'; a resources block takes cores, cpu, device, disk, iops, memory, memory_max, network, "
             "numa, secrets; remove it or fix its spelling"),
    (job(driver=''), WHERE + 'has no driver; set driver = "qemu"'),
    ('job "j" {\n group "g" {\n task "t" {\n driver = "qemu"\n }\n }\n}',
     WHERE + 'has no config block; the qemu driver needs config { image_path = "local/<image>" }'),
    (job(task='config {\n image_path = "y"\n}'), WHERE + 'has 2 config blocks; Nomad allows one'),
    (job(group='network {}\nnetwork {}'), "job.nomad.hcl: job 'j', group 'g': has 2 network blocks; Nomad allows one per group"),
    (job(group='count = -1'), "job.nomad.hcl: job 'j', group 'g': count is -1; use a whole number, 0 or more"),
    (job(group='count = "two"'), "job.nomad.hcl: job 'j', group 'g': count is 'two'; use a whole number, 0 or more"),
])
def test_errors(text, message):
    assert error(text) == message


def test_unreadable_file(tmp_path):
    with pytest.raises(JobFileError) as exc:
        read_job_file(str(tmp_path / 'missing.hcl'))
    assert str(exc.value) == '%s: cannot read the job file: No such file or directory' % (tmp_path / 'missing.hcl')


@pytest.mark.parametrize('parts, index, name', [
    (('web', 'front', 'vm'), None, 'web-front-vm'),
    (('web', 'front', 'vm'), 3, 'web-front-vm-3'),
    (('my job', 'g/1', 'vm:a'), None, 'my-job-g-1-vm-a'),
    (('_x', 'g', 't'), None, 'x-g-t'),
    (('a.b', 'c_d', 'e-f'), 0, 'a.b-c_d-e-f-0'),
    (('j' * 40, 'g' * 20, 't' * 10), None, 'j' * 40 + '-' + 'g' * 14 + '-58f01620'),
    (('j' * 40, 'g' * 20, 't' * 10), 12, 'j' * 40 + '-' + 'g' * 11 + '-58f01620-12'),
])
def test_task_name(parts, index, name):
    assert task_name(*parts, index=index) == name
    assert len(name) <= 64


def test_task_name_collision():
    text = 'job "j" {\n group "a-b" {\n task "c" {\n driver = "qemu"\n config { image_path = "x" }\n }\n }\n' \
           ' group "a" {\n task "b-c" {\n driver = "qemu"\n config { image_path = "x" }\n }\n }\n}\n'
    assert error(text) == ("job.nomad.hcl: job 'j', group 'a', task 'b-c': its task name 'j-a-b-c-0' is also the name of job 'j', "
                           "group 'a-b', task 'c'; rename one of them")


def test_stop_only_tolerates_config_errors():
    text = job(task='resources {\n memory = 64\n}', group='count = 2\nconstraint {\n attribute = "${attr.a}"\n operator = "versoin"\n}',
               top='variable "v" {\n validation {\n condition = true\n error_message = "x"\n }\n}')
    with pytest.raises(JobFileError):
        read(text)
    result = read(text, stop_only=True)
    assert [(t['name'], t['options']) for t in result['tasks']] == [('j-g-t-0', {'labels': LABELS}),
                                                                    ('j-g-t-1', {'labels': labels('j', 'g', 't', 1)})]
    assert result['errors'] == [
        "job.nomad.hcl: variable 'v' has a validation block (condition 'true'), which is not evaluated here, and Nomad refuses a job "
        "whose validation fails; check the value before the run (for example with ansible.builtin.assert) and remove the validation block",
        "job.nomad.hcl: variable 'v' has no default and no value; pass it in job_vars (like nomad job run -var v=...)",
        "job.nomad.hcl: job 'j', group 'g': constraint[0].operator: unknown operator 'versoin'; use one of =, ==, is, !=, not, <, <=, "
        ">, >=, version, semver, regexp, set_contains, set_contains_all, set_contains_any, is_set, is_not_set",
        WHERE + "resources.memory: memory 64 MB is out of bounds; use between 128 and 4000000 MB (Nomad's limits)",
    ]


def test_stop_only_keeps_what_it_can_read():
    text = job(task='resources {\n memory = 256\n}', config='image_path = "x.img"\ngraceful_shutdown = true').replace(
        '  }\n}\n', '  }\n  group "h" {\n    count = var.c\n    task "u" {\n      driver = "qemu"\n      config { image_path = 5 }\n'
        '    }\n  }\n}\n')
    result = read(text, stop_only=True)
    options = {'image_path': 'x.img', 'graceful_shutdown': True, 'memory': 256, 'labels': LABELS}
    assert [(t['name'], t['options']) for t in result['tasks']] == [('j-g-t-0', options)]
    assert [g['group'] for g in result['groups']] == ['g']
    assert result['errors'] == ["job.nomad.hcl: job 'j', group 'h': count uses ${var.c}, but the job file declares no variable 'c' "
                                "(declared: none); add a variable \"c\" block"]
    assert read(job(), stop_only=True)['errors'] == []


@pytest.mark.parametrize('text', ['job "j" {', '', 'job "a" {}\njob "b" {}'])
def test_stop_only_still_needs_a_job(text):
    with pytest.raises(JobFileError):
        read(text, stop_only=True)
