# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.plugins.plugin_utils import _jobfile
from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import check_constraints
from ansible_collections.nomadic.qemu.plugins.plugin_utils._jobfile import (
    JobFileError,
    place_job,
    read_job,
    read_job_file,
    split_template,
    task_name,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
WHERE = "job.nomad.hcl: job 'j', group 'g', task 't': "
RESOLVED = ('NOMAD_JOB_NAME, NOMAD_JOB_ID, NOMAD_GROUP_NAME, NOMAD_TASK_NAME, NOMAD_ALLOC_INDEX, NOMAD_ALLOC_NAME, '
            'NOMAD_TASK_DIR, NOMAD_META_<key>')
SHA256 = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'


def fixture(name, **kw):
    return read_job_file(os.path.join(FIXTURES, name), display_name=name, **kw)


def job(task='', group='', job_extra='', top='', config='image_path = "local/vm.img"', driver='qemu'):
    """A job file with job 'j', group 'g' and task 't'."""
    return '''%s
job "j" {
  %s
  group "g" {
    %s
    task "t" {
      driver = "%s"
      config {
        %s
      }
      %s
    }
  }
}
''' % (top, job_extra, group, driver, config, task)


def read(text, **kw):
    return read_job(text, 'job.nomad.hcl', **kw)


def only_task(text, **kw):
    result = read(text, **kw)
    assert len(result['tasks']) == 1
    return result['tasks'][0]


def error(text, **kw):
    with pytest.raises(JobFileError) as exc:
        read(text, **kw)
    return str(exc.value)


# ---- the examples of Nomad's qemu driver documentation ---------------------------------

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
            },
            'artifacts': [],
            'constraints': [],
        }],
        'groups': [{'group': 'web', 'count': 1, 'tasks': ['docs-web-webservice-0'], 'constraints': []}],
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
    assert task['options'] == {'image_path': 'local/linux.img', 'accelerator': 'kvm', 'args': ['-nodefaults', '-nodefconfig']}
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


# ---- several groups and tasks ----------------------------------------------------------

def test_fleet_tasks():
    result = fixture('fleet.nomad.hcl', variables={'db_memory': 1024})
    assert [t['name'] for t in result['tasks']] == ['fleet-web-vm-0', 'fleet-web-vm-1', 'fleet-db-vm-0']
    assert [(t['group'], t['task'], t['index']) for t in result['tasks']] == [('web', 'vm', 0), ('web', 'vm', 1), ('db', 'vm', 0)]
    web0, web1, db = result['tasks']
    assert web0['options'] == {
        'image_path': 'local/web-1.2.img', 'accelerator': 'kvm', 'graceful_shutdown': True, 'guest_agent': True,
        'args': ['-fw_cfg', 'name=opt/web/id,string=0-team-a'], 'port_map': {'http': 80, 'ssh': 22},
        'memory': 512, 'cpus': 2, 'kill_timeout': 90,
    }
    assert web1['options']['args'] == ['-fw_cfg', 'name=opt/web/id,string=1-team-a']
    assert db['options'] == {
        'image_path': 'local/db/disk.qcow2', 'drive_interface': 'virtio', 'emulator': 'aarch64', 'machine_type': 'virt',
        'port_map': {'pg': 5432}, 'ports': {'pg': 15432}, 'memory': 1024, 'kill_timeout': 0.5,
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
        {'group': 'web', 'count': 2, 'tasks': ['fleet-web-vm-0', 'fleet-web-vm-1'], 'constraints': job_level + web_group + web_task},
        {'group': 'db', 'count': 1, 'tasks': ['fleet-db-vm-0'], 'constraints': job_level + db_task},
        {'group': 'spare', 'count': 0, 'tasks': [], 'constraints': job_level},
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
        ("job 'fleet', group 'web'", 'restart'),
        ("job 'fleet', group 'web'", "network.port 'ssh'.to"),
        ("job 'fleet', group 'web', task 'vm'", 'resources.cpu'),
    ]
    assert result['ignored'][0]['message'] == (
        "job 'fleet': datacenters is not applied: Nomad scheduling; here the inventory and the play choose the hosts")


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


# ---- placement -------------------------------------------------------------------------

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


# ---- mapping details -------------------------------------------------------------------

@pytest.mark.parametrize('value, seconds', [
    ('"5s"', 5),
    ('"30s"', 30),
    ('"1m30s"', 90),
    ('"500ms"', 0.5),
    ('"1h"', 3600),
    ('"2h45m"', 9900),
    ('"0"', 0),
    ('"${var.timeout}"', 45),
])
def test_kill_timeout(value, seconds):
    task = only_task(job(task='kill_timeout = %s' % value, top='variable "timeout" { default = "45s" }'))
    assert task['options']['kill_timeout'] == seconds
    assert isinstance(task['options']['kill_timeout'], type(seconds))


@pytest.mark.parametrize('value, message', [
    ('30', "kill_timeout '30' has no unit; Nomad durations need one, such as 30s or 1m30s"),
    ('"30"', "kill_timeout '30' has no unit; Nomad durations need one, such as 30s or 1m30s"),
    ('"1d"', "kill_timeout '1d' is not a duration; use seconds (30) or a Nomad duration such as 30s, 1m30s or 500ms"),
    ('"-5s"', "kill_timeout '-5s' is negative; use zero or more, such as 0, 30 or 30s"),
    ('true', "kill_timeout True is not a duration; use a Nomad duration such as 30s or 1m30s"),
])
def test_kill_timeout_errors(value, message):
    assert error(job(task='kill_timeout = %s' % value)) == WHERE + message


@pytest.mark.parametrize('checksum, expected', [
    ('md5:D41D8CD98F00B204E9800998ECF8427E', 'md5:d41d8cd98f00b204e9800998ecf8427e'),
    ('sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709', 'sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709'),
    ('SHA256:' + SHA256, 'sha256:' + SHA256),
    ('sha512:' + 'ab' * 64, 'sha512:' + 'ab' * 64),
])
def test_checksum_types(checksum, expected):
    task = only_task(job(task='artifact {\n source = "https://h/x.img"\n options { checksum = "%s" }\n}' % checksum))
    assert task['artifacts'][0]['checksum'] == expected
    assert task['artifacts'][0]['checksum_type'] == expected.split(':')[0]
    assert task['artifacts'][0]['checksum_value'] == expected.split(':')[1]


@pytest.mark.parametrize('checksum, message', [
    ('d41d8cd98f00b204e9800998ecf8427e', "artifact[0].options.checksum 'd41d8cd98f00b204e9800998ecf8427e' is not in the form type:value; "
                                         "use md5, sha1, sha256 or sha512, such as sha256:<64 hex digits>"),
    ('crc32:abcd1234', "artifact[0].options.checksum 'crc32:abcd1234' has the unsupported type 'crc32'; use md5, sha1, sha256 or sha512"),
    ('sha256:' + SHA256[:-1], "artifact[0].options.checksum 'sha256:%s' is not a valid sha256 checksum: sha256 needs 64 hexadecimal "
                              "digits, this has 63 characters" % SHA256[:-1]),
    ('sha1:' + 'z' * 40, "artifact[0].options.checksum 'sha1:%s' is not a valid sha1 checksum: sha1 needs 40 hexadecimal digits, "
                         "this has 40 characters" % ('z' * 40)),
    ('file:https://h/x.img.sha256', "artifact[0].options.checksum 'file:https://h/x.img.sha256' has the unsupported type 'file'; "
                                    "use md5, sha1, sha256 or sha512"),
])
def test_checksum_errors(checksum, message):
    assert error(job(task='artifact {\n source = "https://h/x.img"\n options { checksum = "%s" }\n}' % checksum)) == WHERE + message


def test_checksum_in_the_url_query():
    task = only_task(job(task='artifact {\n source = "https://h/x.img?checksum=sha256:%s&v=2"\n}' % SHA256))
    artifact = task['artifacts'][0]
    assert artifact['source'] == 'https://h/x.img?v=2'
    assert artifact['checksum'] == 'sha256:' + SHA256


@pytest.mark.parametrize('artifact, expected', [
    ('source = "https://h/d/linux.img"', ('https://h/d/linux.img', 'any', None, 'local', 'local/linux.img', 'linux.img')),
    ('source = "https://h/d/linux.tar.gz"', ('https://h/d/linux.tar.gz', 'any', 'tar.gz', 'local', 'local', None)),
    ('source = "https://h/d/linux.tgz"\ndestination = "local/sub/"', ('https://h/d/linux.tgz', 'any', 'tgz', 'local/sub', 'local/sub', None)),
    ('source = "https://h/d/linux.tar.xz"', ('https://h/d/linux.tar.xz', 'any', 'tar.xz', 'local', 'local', None)),
    ('source = "https://h/d/linux.tar.bz2"', ('https://h/d/linux.tar.bz2', 'any', 'tar.bz2', 'local', 'local', None)),
    ('source = "https://h/d/linux.tar.zst"', ('https://h/d/linux.tar.zst', 'any', 'tar.zst', 'local', 'local', None)),
    ('source = "https://h/d/images.zip"\nmode = "dir"', ('https://h/d/images.zip', 'dir', 'zip', 'local', 'local', None)),
    ('source = "https://h/d/linux.tar.gz"\noptions { archive = false }',
     ('https://h/d/linux.tar.gz', 'any', None, 'local', 'local/linux.tar.gz', 'linux.tar.gz')),
    ('source = "https://h/d/get?id=1&archive=tar"', ('https://h/d/get?id=1', 'any', 'tar', 'local', 'local', None)),
    ('source = "https://h/d/get?id=1"\noptions { filename = "disk.img" }',
     ('https://h/d/get?id=1', 'any', None, 'local', 'local/disk.img', 'disk.img')),
    ('source = "http://h/d/x.qcow2"\ndestination = "local/../disk.qcow2"\nmode = "file"',
     ('http://h/d/x.qcow2', 'file', None, 'disk.qcow2', 'disk.qcow2', 'disk.qcow2')),
    ('source = "https://h/d/x.img"\ndestination = "${NOMAD_TASK_DIR}/images"',
     ('https://h/d/x.img', 'any', None, 'local/images', 'local/images/x.img', 'x.img')),
])
def test_artifacts(artifact, expected):
    task = only_task(job(task='artifact {\n%s\n}' % artifact))
    a = task['artifacts'][0]
    assert (a['source'], a['mode'], a['archive'], a['destination'], a['path'], a['filename']) == expected


def test_artifact_headers_and_insecure():
    a = only_task(job(task='artifact {\n source = "https://h/x.img"\n insecure = true\n headers {\n A = "1"\n B = 2\n }\n}'))['artifacts'][0]
    assert a['headers'] == {'A': '1', 'B': '2'}
    assert a['insecure'] is True


@pytest.mark.parametrize('artifact, message', [
    ('destination = "local/"', "artifact[0] has no source; set source to the http or https URL of the file"),
    ('source = "git::https://example.com/repo.git"',
     "artifact[0].source 'git::https://example.com/repo.git' uses the git getter; only http and https sources are downloaded"),
    ('source = "s3://bucket/x.img"',
     "artifact[0].source 's3://bucket/x.img' is not an http or https URL; only those are downloaded (go-getter's git, s3, gcs, hg and "
     "file sources are not supported)"),
    ('source = "github.com/org/repo"',
     "artifact[0].source 'github.com/org/repo' is not an http or https URL; only those are downloaded (go-getter's git, s3, gcs, hg and "
     "file sources are not supported)"),
    ('source = "https://h/x.img"\noptions { ref = "main" }',
     "artifact[0].options has unknown key 'ref'; for http sources it takes checksum, archive, filename; remove it"),
    ('source = "https://h/x.img"\nmode = "folder"', "artifact[0].mode is 'folder'; use any, file or dir"),
    ('source = "https://h/x.img"\nsize = 1',
     "artifact[0] has unknown key 'size'; an artifact block takes chown, destination, headers, insecure, mode, options, source; "
     "remove it or fix its spelling"),
    ('source = "https://h/x.img.gz"',
     'artifact[0] is a single compressed file (.gz), which is not unpacked (Nomad unpacks it only with mode = "file"); '
     'ship a tar or zip archive, or set options { archive = false } to keep it compressed'),
    ('source = "https://h/x.tar.gz"\nmode = "file"\ndestination = "local/x"',
     'artifact[0] has mode = "file" with a tar.gz archive, which is not supported; use mode = "any" to unpack it into the '
     'destination directory'),
    ('source = "https://h/x.img"\nmode = "dir"',
     "artifact[0] has mode = \"dir\" but 'https://h/x.img' is not an archive; use mode = \"any\" for a single file"),
    ('source = "https://h/x.img"\noptions { archive = "rar" }',
     "artifact[0].options.archive is 'rar'; use false or one of bz2, gz, tar, tar.bz2, tar.gz, tar.xz, tar.zst, tbz2, tgz, txz, "
     "tzst, xz, zip, zst"),
    ('source = "https://h/x.img"\ndestination = "/srv/images"',
     "artifact[0].destination '/srv/images' is outside the task directory; use a relative path such as local/"),
    ('source = "https://h/x.img"\ndestination = "local/../../x"',
     "artifact[0].destination 'local/../../x' is outside the task directory; use a relative path such as local/"),
    ('source = "https://h/images/"',
     "artifact[0].source 'https://h/images/' does not end with a file name; add options { filename = \"disk.img\" } or use "
     "mode = \"file\" with a destination file"),
    ('source = "https://h/x.img"\ninsecure = "maybe"', "artifact[0].insecure must be true or false"),
    ('source = "https://h/x.img"\ndestination = "${NOMAD_ALLOC_DIR}/x"',
     "artifact[0].destination uses ${NOMAD_ALLOC_DIR}, which only a running Nomad client knows; nomadic.qemu resolves var.*, "
     "local.* and " + RESOLVED + "; write the value out or use a variable"),
])
def test_artifact_errors(artifact, message):
    assert error(job(task='artifact {\n%s\n}' % artifact)) == WHERE + message


@pytest.mark.parametrize('config, options', [
    ('image_path = "x.img"\naccelerator = ""', {'image_path': 'x.img'}),
    ('image_path = "x.img"\naccelerator = "auto"', {'image_path': 'x.img', 'accelerator': 'auto'}),
    ('image_path = "x.img"\ngraceful_shutdown = "true"\nguest_agent = false', {'image_path': 'x.img', 'graceful_shutdown': True,
                                                                               'guest_agent': False}),
    ('image_path = "x.img"\nargs = ["-smp", 2, true, 1.5]', {'image_path': 'x.img', 'args': ['-smp', '2', 'true', '1.5']}),
    ('image_path = "x.img"\nport_map = { http = "80" }', {'image_path': 'x.img', 'port_map': {'http': 80}}),
    ('image_path = "x.img"\nport_map {\n a = 1\n}\nemulator = null', {'image_path': 'x.img', 'port_map': {'a': 1}}),
    ('image_path = "${NOMAD_TASK_DIR}/${NOMAD_JOB_NAME}-${NOMAD_GROUP_NAME}-${NOMAD_TASK_NAME}.img"', {'image_path': 'local/j-g-t.img'}),
    ('image_path = "$${NOMAD_TASK_DIR}/x.img"', {'image_path': 'local/x.img'}),
    ('image_path = "${env["NOMAD_TASK_NAME"]}.img"', {'image_path': 't.img'}),
    ('image_path = "${NOMAD_ALLOC_NAME}.img"', {'image_path': 'j.g[0].img'}),
    ('image_path = "${NOMAD_META_role}-${NOMAD_META_ROLE}.img"', {'image_path': 'db-db.img'}),
    ('image_path = <<EOT\nheredoc.img\nEOT', {'image_path': 'heredoc.img'}),
])
def test_config(config, options):
    text = job(config=config, group='network {\n port "http" {}\n port "a" {}\n}', task='meta {\n role = "db"\n}')
    assert only_task(text)['options'] == options


def test_resources_and_ports():
    text = job(group='network {\n port "http" { static = 8080 }\n port "ssh" {}\n}',
               config='image_path = "x.img"\nport_map {\n http = 80\n ssh = 22\n}',
               task='resources {\n memory = 1024\n cores = 4\n}')
    assert only_task(text)['options'] == {'image_path': 'x.img', 'port_map': {'http': 80, 'ssh': 22}, 'ports': {'http': 8080},
                                          'memory': 1024, 'cpus': 4}


def test_legacy_task_network():
    text = job(config='image_path = "x.img"\nport_map {\n http = 80\n}',
               task='resources {\n network {\n mbits = 10\n port "http" { static = 8081 }\n }\n}')
    result = read(text)
    assert result['tasks'][0]['options']['ports'] == {'http': 8081}
    assert [i['key'] for i in result['ignored']] == ['resources.network.mbits']


def test_cores_with_smp_in_args():
    result = read(job(config='image_path = "x.img"\nargs = ["-smp", "2"]', task='resources {\n cores = 4\n}'))
    assert 'cpus' not in result['tasks'][0]['options']
    assert result['ignored'][0]['key'] == 'resources.cores'
    assert result['ignored'][0]['reason'] == 'config.args already has -smp, which wins, as in Nomad'


def test_count_and_names():
    result = read(job(group='count = 3'))
    assert [(t['name'], t['index']) for t in result['tasks']] == [('j-g-t-0', 0), ('j-g-t-1', 1), ('j-g-t-2', 2)]
    # Always with the index, as Nomad's allocation index: a count going from 1 to 2 renames nothing.
    assert [(t['name'], t['index']) for t in read(job(group='count = 1'))['tasks']] == [('j-g-t-0', 0)]
    assert [t['name'] for t in read(job())['tasks']] == ['j-g-t-0']
    assert read(job(group='count = 0'))['tasks'] == []


def test_count_index_interpolation():
    result = read(job(group='count = 2', config='image_path = "x.img"\nargs = ["${NOMAD_ALLOC_INDEX}", "${NOMAD_ALLOC_NAME}"]'))
    assert [t['options']['args'] for t in result['tasks']] == [['0', 'j.g[0]'], ['1', 'j.g[1]']]


def test_settings_reported_once_for_all_count_indexes():
    result = read(job(group='count = 3', task='resources {\n cpu = 100\n}'))
    assert [i['key'] for i in result['ignored']] == ['resources.cpu']


def test_job_name_and_batch_type():
    result = read(job(job_extra='name = "Web Job"\ntype = "batch"'))
    assert result['name'] == 'Web Job'
    assert result['ignored'][0]['key'] == 'type'
    assert result['ignored'][0]['reason'] == 'batch jobs run to completion in Nomad; here the VM is started and left running'


def test_distinct_hosts_is_reported():
    result = read(job(job_extra='constraint {\n distinct_hosts = true\n}\nconstraint {\n operator = "distinct_property"\n'
                                'attribute = "${meta.rack}"\n}'))
    assert result['tasks'][0]['constraints'] == []
    assert [(i['key'], i['reason']) for i in result['ignored']] == [
        ('constraint[0]', 'distinct_hosts spreads allocations over Nomad clients; here every selected host runs all instances of the job'),
        ('constraint[1]', 'distinct_property spreads allocations over Nomad clients; here every selected host runs all instances of the job'),
    ]


@pytest.mark.parametrize('constraint, expected', [
    ('attribute = "${attr.kernel.name}"\nvalue = "linux"', {'attribute': '${attr.kernel.name}', 'operator': '=', 'value': 'linux'}),
    ('attribute = "${attr.a}"\nregexp = "^x"', {'attribute': '${attr.a}', 'operator': 'regexp', 'value': '^x'}),
    ('attribute = "${attr.a}"\nsemver = ">= 1.0"', {'attribute': '${attr.a}', 'operator': 'semver', 'value': '>= 1.0'}),
    ('attribute = "${attr.a}"\nset_contains_any = "a,b"', {'attribute': '${attr.a}', 'operator': 'set_contains_any', 'value': 'a,b'}),
    ('attribute = "${attr.a}"\noperator = "is_set"', {'attribute': '${attr.a}', 'operator': 'is_set'}),
    ('attribute = "${attr.a}"\noperator = ">"\nvalue = 2', {'attribute': '${attr.a}', 'operator': '>', 'value': '2'}),
    ('attribute = "${meta.rack}"\nvalue = var.want', {'attribute': '${meta.rack}', 'operator': '=', 'value': 'yes'}),
    ('attribute = "${attr.a}"\nvalue = "${var.want}-${node.class}"',
     {'attribute': '${attr.a}', 'operator': '=', 'value': 'yes-${node.class}'}),
])
def test_constraint_forms(constraint, expected):
    top = 'variable "key" { default = "rack" }\nvariable "want" { default = "yes" }'
    task = only_task(job(task='constraint {\n%s\n}' % constraint, top=top))
    expected = dict(expected, level='task', source="job 'j', group 'g', task 't'")
    assert task['constraints'] == [expected]


def test_null_means_unset():
    task = only_task(job(config='image_path = "x.img"\naccelerator = null\nargs = null', task='kill_timeout = null'))
    assert task['options'] == {'image_path': 'x.img'}


def test_locals_and_typed_variables():
    top = 'variable "n" { default = 2 }\nvariable "agent" { default = true }\nlocals {\n img = "${local.dir}/x.img"\n dir = "local"\n}'
    result = read(job(top=top, group='count = var.n', config='image_path = local.img\nguest_agent = var.agent'))
    assert [t['options'] for t in result['tasks']] == [{'image_path': 'local/x.img', 'guest_agent': True}] * 2


def test_variables_block_and_overrides():
    result = read(job(top='variables {\n image = "a.img"\n}', config='image_path = var.image'), variables={'image': 'b.img'})
    assert result['tasks'][0]['options']['image_path'] == 'b.img'


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
    # duplicates that python-hcl2 would silently drop
    (job(config='image_path = "a.img"\nimage_path = "b.img"'),
     "job.nomad.hcl: line 10 sets image_path again (first set on line 9); HCL allows each attribute once per block, remove one of them"),
    (job(config='image_path = "a.img"\nport_map = { a = 1 }\nport_map {\n b = 2\n}'),
     "job.nomad.hcl: line 11 has a port_map block, but line 10 sets port_map as an attribute; use one form"),
    # config values
    (job(config='accelerator = "kvm"'),
     WHERE + "config has no image_path; set it to the image, such as local/linux.img for an artifact in local/"),
    (job(config='image_path = "x.img"\naccelerator = "hvf"'), WHERE + "config.accelerator is 'hvf'; use one of tcg, kvm, auto"),
    (job(config='image_path = "x.img"\ndrive_interface = "nvme"'),
     WHERE + "config.drive_interface is 'nvme'; use one of ide, scsi, sd, mtd, floppy, pflash, virtio, none"),
    (job(config='image_path = "x.img"\nemulator = 64'), WHERE + "config.emulator must be a string, not 64"),
    (job(config='image_path = "x.img"\ngraceful_shutdown = "yes"'), WHERE + "config.graceful_shutdown must be true or false, not 'yes'"),
    (job(config='image_path = "x.img"\nargs = "-nodefaults"'), WHERE + 'config.args must be a list of strings, such as ["-nodefaults"]'),
    (job(config='image_path = "x.img"\nargs = [["-a"]]'), WHERE + "config.args[0] must be a string, not ['-a']"),
    (job(config='image_path = "x.img"\nport_map {\n db = 6539\n}'),
     WHERE + "config.port_map label 'db' has no port in the network block (ports: none); add port \"db\" {} (dynamic) or port \"db\" "
             "{ static = <host port> } to the group's network block"),
    (job(config='image_path = "x.img"\nport_map {\n db = 70000\n}'),
     WHERE + "config.port_map label 'db' has guest port 70000; use a port between 1 and 65535"),
    (job(group='network {\n port "db" { static = 0.5 }\n}'),
     "job.nomad.hcl: job 'j', group 'g': network.port 'db'.static is 0.5; use a port between 1 and 65535"),
    (job(group='network {\n port "db" {}\n port "db" {}\n}'),
     "job.nomad.hcl: job 'j', group 'g': network: port label 'db' is declared twice; declare each label once"),
    (job(group='network {\n port "db" {}\n}', task='resources {\n network {\n port "db" {}\n }\n}'),
     WHERE + "port label 'db' is declared in both the group network block and resources.network; declare it once"),
    (job(task='resources {\n memory = 64\n}'), WHERE + "resources.memory is 64; the qemu driver needs 128 to 4000000 (MB)"),
    (job(task='resources {\n cores = 0\n}'), WHERE + "resources.cores is 0; use a whole number of cores, 1 or more"),
    (job(group='count = 2\nnetwork {\n port "http" { static = 8080 }\n}', config='image_path = "x.img"\nport_map {\n http = 80\n}'),
     WHERE + "host port 8080 is forwarded by both job 'j', group 'g', task 't' (index 0) port 'http' and job 'j', group 'g', "
             "task 't' (index 1) port 'http'; every task of the job runs on each host, so static ports must differ (use a dynamic "
             "port, or count = 1)"),
    # constraints
    (job(task='constraint {\n attribute = "${attr.a}"\n version = "1"\n regexp = "x"\n}'),
     WHERE + "constraint[0] mixes version, regexp; use operator and value, or one shorthand"),
    (job(task='constraint {\n value = "x"\n}'),
     WHERE + 'constraint[0] has no attribute; set attribute, such as attribute = "${attr.driver.qemu.version}"'),
    (job(task='constraint {\n attribute = "${attr.a}"\n weight = 50\n}'),
     WHERE + "constraint[0] has unknown key 'weight'; a constraint block takes attribute, distinct_hosts, distinct_property, operator, "
             "regexp, semver, set_contains, set_contains_all, set_contains_any, value, version; remove it or fix its spelling"),
    # interpolation
    (job(config='image_path = "x.img"\nargs = ["${NOMAD_PORT_http}"]'),
     WHERE + "config.args[0] uses ${NOMAD_PORT_http}, which only a running Nomad client knows; nomadic.qemu resolves var.*, local.* "
             "and " + RESOLVED + "; write the value out or use a variable"),
    (job(config='image_path = "${attr.unique.hostname}.img"'),
     WHERE + "config.image_path uses ${attr.unique.hostname}, which only a running Nomad client knows; nomadic.qemu resolves var.*, "
             "local.* and " + RESOLVED + "; write the value out or use a variable"),
    (job(config='image_path = "${upper("x")}.img"'),
     WHERE + "config.image_path uses ${upper(\"x\")}, an HCL expression that is not evaluated (variables var.* and local.* are, and "
     + RESOLVED + "); write the value out or use a variable"),
    (job(config='image_path = "%{ if true }x%{ endif }.img"'),
     WHERE + "config.image_path uses the template directive %{if true}, which is not evaluated; write the value out"),
    (job(config='image_path = var.image'),
     WHERE + "config.image_path uses ${var.image}, but the job file declares no variable 'image' (declared: none); add a variable "
             "\"image\" block"),
    (job(config='image_path = local.image'), WHERE + "config.image_path uses ${local.image}, but no locals block sets image"),
    (job(config='image_path = local.a', top='locals {\n a = local.b\n b = "${local.a}.img"\n}'),
     "job.nomad.hcl: locals.b uses local.a, whose value refers back to itself (local.a -> local.b -> local.a); break the cycle"),
    (job(config='image_path = "x-${var.list}"', top='variable "list" { default = ["a"] }'),
     WHERE + "config.image_path puts a list into the text 'x-${var.list}'; only strings, numbers and booleans can be part of a string"),
    (job(config='image_path = "%{ if true }x.img"'), "job.nomad.hcl: not valid HCL: Unterminated template if directive"),
    (job(config='image_path = "${NOMAD_TASK_NAME"'),
     "job.nomad.hcl: not valid HCL: Unexpected token Token('DBLQUOTE', '\"') at line 9, column 40."),
    # variables
    (job(top='variable "v" {\n default = 1\n kind = "x"\n}'),
     "job.nomad.hcl: variable 'v' has unknown key 'kind'; a variable block takes default, description, nullable, sensitive, type, "
     "validation; remove it or fix its spelling"),
    (job(top='variable "v" {}\nvariables {\n v = 1\n}'), "job.nomad.hcl: variable 'v' is declared twice; declare it once"),
])
def test_errors(text, message):
    assert error(text) == message


def test_variables_must_be_a_mapping():
    assert error(job(), variables=['a']) == 'job.nomad.hcl: job_vars must be a mapping of variable names to values, not list'


def test_broken_hcl_fixture():
    with pytest.raises(JobFileError) as exc:
        fixture('broken.nomad.hcl')
    assert str(exc.value) == "broken.nomad.hcl: not valid HCL: Unexpected token Token('STRING_CHARS', '\\n  }\\n}\\n\\n') at line 3, column 12."


def test_unreadable_file(tmp_path):
    with pytest.raises(JobFileError) as exc:
        read_job_file(str(tmp_path / 'missing.hcl'))
    assert str(exc.value) == '%s: cannot read the job file: No such file or directory' % (tmp_path / 'missing.hcl')


def test_text_must_be_text():
    with pytest.raises(JobFileError) as exc:
        read_job(b'job "x" {}', 'x.hcl')
    assert str(exc.value) == 'x.hcl: the job file content must be text, not bytes'


def test_missing_hcl2(monkeypatch):
    monkeypatch.setattr(_jobfile, 'hcl2', None)
    monkeypatch.setattr(_jobfile, 'HCL2_IMPORT_ERROR', ImportError("No module named 'hcl2'"))
    with pytest.raises(JobFileError) as exc:
        read('job "x" {}')
    assert str(exc.value) == ("reading Nomad job files needs the Python library python-hcl2 8.x on the controller; install it into "
                              "the Python that runs Ansible, for example with: pip install 'python-hcl2>=8,<9' "
                              "(No module named 'hcl2')")


def test_old_hcl2(monkeypatch):
    class Old:
        __version__ = '4.3.0'
    monkeypatch.setattr(_jobfile, 'hcl2', Old)
    with pytest.raises(JobFileError) as exc:
        read('job "x" {}')
    assert str(exc.value).startswith('python-hcl2 4.3.0 is too old; reading Nomad job files needs')


# ---- names and templates ---------------------------------------------------------------

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


@pytest.mark.parametrize('text, parts', [
    ('plain', [('text', 'plain')]),
    ('${a}', [('expr', 'a')]),
    ('x-${ a }-y', [('text', 'x-'), ('expr', 'a'), ('text', '-y')]),
    ('$${a} %%{b}', [('text', '${a} %{b}')]),
    ('${f("}")}', [('expr', 'f("}")')]),
    ('${m["k"]}{', [('expr', 'm["k"]'), ('text', '{')]),
    ('a  ${~ x ~}  b', [('text', 'a'), ('expr', 'x'), ('text', 'b')]),
    ('%{ if x }y%{ endif }', [('directive', 'if x'), ('text', 'y'), ('directive', 'endif')]),
])
def test_split_template(text, parts):
    assert split_template(text) == parts


def test_split_template_unclosed():
    with pytest.raises(ValueError, match=r'^\$\{ is not closed$'):
        split_template('a ${b')


# ---- checked when read -----------------------------------------------------------------

@pytest.mark.parametrize('text, message', [
    # a value next to a short form would be dropped
    (job(task='constraint {\n attribute = "${attr.a}"\n regexp = "lin"\n value = "zzz"\n}'),
     WHERE + 'constraint[0] sets value next to the short form regexp, which carries its own value; use operator and value, '
             'or regexp = "..." alone'),
    # operators and values, as placing the job on any host would check them
    (job(task='constraint {\n attribute = "${attr.a}"\n operator = "versoin"\n value = ">= 1"\n}'),
     WHERE + "constraint[0].operator: unknown operator 'versoin'; use one of =, ==, is, !=, not, <, <=, >, >=, version, semver, "
             "regexp, set_contains, set_contains_all, set_contains_any, is_set, is_not_set"),
    (job(group='constraint {\n attribute = "${attr.a}"\n version = ">>1"\n}'),
     "job.nomad.hcl: job 'j', group 'g': constraint[0].version: version constraint '>>1' cannot be read; write an operator "
     '(=, !=, >, <, >=, <=, ~>) and a version, several separated by commas, such as ">= 2.10, < 9"'),
    (job(job_extra='constraint {\n attribute = "${attr.a}"\n operator = "version"\n value = "~> x"\n}'),
     "job.nomad.hcl: job 'j': constraint[0].value: version constraint '~> x' cannot be read; write an operator "
     '(=, !=, >, <, >=, <=, ~>) and a version, several separated by commas, such as ">= 2.10, < 9"'),
    (job(job_extra='constraint {\n attribute = "${attr.a}"\n regexp = "("\n}'),
     "job.nomad.hcl: job 'j': constraint[0].regexp: regexp value '(' is not a valid regular expression: missing ), unterminated "
     "subpattern at position 0"),
    (job(job_extra='constraint {\n attribute = "${attr.a}"\n}'),
     "job.nomad.hcl: job 'j': constraint[0].value: operator '=' needs a value to compare with"),
    (job(job_extra='constraint {\n attribute = "${attr.a} x"\n value = "1"\n}'),
     "job.nomad.hcl: job 'j': constraint[0].attribute: attribute '${attr.a} x' is not an interpolation Nomad understands; "
     "write ${attr.NAME}, for example ${attr.driver.qemu.version}"),
    # config types
    (job(config='image_path = 5'), WHERE + 'config.image_path must be a string, such as "local/linux.img", not 5'),
    # variables: validation is not evaluated, so it is refused; types are checked
    (job(top='variable "n" {\n default = 1\n validation {\n condition = var.n > 0\n error_message = "n > 0"\n }\n}'),
     "job.nomad.hcl: variable 'n' has a validation block (condition '${var.n > 0}'), which is not evaluated here, and Nomad "
     "refuses a job whose validation fails; check the value before the run (for example with ansible.builtin.assert) and remove "
     "the validation block"),
    (job(top='variable "n" {\n type = number\n default = "x"\n}'),
     "job.nomad.hcl: variable 'n': its default is 'x', which is not a number (its type); give a value of that type"),
    (job(top='variable "n" {\n type = list(string)\n default = [[1]]\n}'),
     "job.nomad.hcl: variable 'n': its default is [[1]], which is not a list(string) (its type); give a value of that type"),
    (job(top='variable "n" {\n type = object({a = string})\n default = {}\n}'),
     "job.nomad.hcl: variable 'n' has the type 'object({a=string})', which is not checked here; use string, number, bool, any, "
     "or list(...), set(...) or map(...) of them"),
    (job(top='variable "n" {\n nullable = "maybe"\n default = 1\n}'),
     "job.nomad.hcl: variable 'n': nullable must be true or false, not 'maybe'"),
])
def test_refused_when_read(text, message):
    assert error(text) == message


@pytest.mark.parametrize('given, message', [
    ({'b': 'yes'}, "job.nomad.hcl: variable 'b': job_vars gives 'yes', which is not a bool (its type); give a value of that type"),
    ({'b': None, 'n': None}, "job.nomad.hcl: variable 'n' is null, but it is declared with nullable = false; give it a value"),
])
def test_variable_values_refused(given, message):
    top = 'variable "b" {\n type = bool\n default = true\n}\nvariable "n" {\n nullable = false\n}'
    assert error(job(top=top), variables=given) == message


def test_variable_types_convert():
    top = ('variable "n" {\n type = number\n}\nvariable "s" {\n type = set(string)\n default = [1, true, "1"]\n sensitive = true\n}\n'
           'variable "m" {\n type = map(bool)\n default = {a = "true"}\n}\nvariable "z" {\n nullable = false\n default = "d.img"\n}')
    result = read(job(top=top, group='count = var.n', config='image_path = var.z\nargs = var.s'), variables={'n': '2', 'z': None})
    assert [t['name'] for t in result['tasks']] == ['j-g-t-0', 'j-g-t-1']
    assert result['tasks'][0]['options'] == {'image_path': 'd.img', 'args': ['1', 'true']}
    assert result['ignored'] == [{
        'where': "variable 's'", 'key': 'sensitive',
        'reason': 'its value is not hidden: Ansible may show it in task output and logs; keep secrets out of job_vars or run with no_log',
        'message': "variable 's': sensitive is not applied: its value is not hidden: Ansible may show it in task output and logs; keep "
                   "secrets out of job_vars or run with no_log"}]


@pytest.mark.parametrize('config, options', [
    # HCL's escapes give the literal text to QEMU, as Nomad does
    ('image_path = "x.img"\nargs = ["$${x}", "a$${b.c}z", "%%{ if }"]', {'image_path': 'x.img', 'args': ['${x}', 'a${b.c}z', '%{ if }']}),
    # an escaped runtime variable is still replaced at run time, as a Nomad client does
    ('image_path = "$${NOMAD_TASK_DIR}/x.img"', {'image_path': 'local/x.img'}),
    # a variable's value is not a template
    ('image_path = var.v', {'image_path': '${v}.img'}),
])
def test_escapes(config, options):
    assert only_task(job(config=config, top='variable "v" { default = "$${v}.img" }'))['options'] == options


def test_escaped_runtime_value_only_a_client_knows():
    assert error(job(config='image_path = "x.img"\nargs = ["$${NOMAD_PORT_http}"]')) == (
        WHERE + "config.args[0] uses ${NOMAD_PORT_http}, which only a running Nomad client knows; nomadic.qemu resolves var.*, "
                "local.* and " + RESOLVED + "; write the value out or use a variable")


# ---- reading to stop -------------------------------------------------------------------

def test_stop_only_tolerates_config_errors():
    text = job(task='resources {\n memory = 64\n}', group='count = 2\nconstraint {\n attribute = "${attr.a}"\n operator = "versoin"\n}',
               top='variable "v" {\n validation {\n condition = true\n error_message = "x"\n }\n}')
    with pytest.raises(JobFileError):
        read(text)
    result = read(text, stop_only=True)
    assert [(t['name'], t['options']) for t in result['tasks']] == [('j-g-t-0', {}), ('j-g-t-1', {})]
    assert result['errors'] == [
        "job.nomad.hcl: variable 'v' has a validation block (condition 'true'), which is not evaluated here, and Nomad refuses a job "
        "whose validation fails; check the value before the run (for example with ansible.builtin.assert) and remove the validation block",
        "job.nomad.hcl: variable 'v' has no default and no value; pass it in job_vars (like nomad job run -var v=...)",
        "job.nomad.hcl: job 'j', group 'g': constraint[0].operator: unknown operator 'versoin'; use one of =, ==, is, !=, not, <, <=, "
        ">, >=, version, semver, regexp, set_contains, set_contains_all, set_contains_any, is_set, is_not_set",
        WHERE + "resources.memory is 64; the qemu driver needs 128 to 4000000 (MB)",
    ]


def test_stop_only_keeps_what_it_can_read():
    text = job(task='resources {\n memory = 256\n}', config='image_path = "x.img"\ngraceful_shutdown = true').replace(
        '  }\n}\n', '  }\n  group "h" {\n    count = var.c\n    task "u" {\n      driver = "qemu"\n      config { image_path = 5 }\n'
        '    }\n  }\n}\n')
    result = read(text, stop_only=True)
    options = {'image_path': 'x.img', 'graceful_shutdown': True, 'memory': 256}
    assert [(t['name'], t['options']) for t in result['tasks']] == [('j-g-t-0', options)]
    assert [g['group'] for g in result['groups']] == ['g']
    assert result['errors'] == ["job.nomad.hcl: job 'j', group 'h': count uses ${var.c}, but the job file declares no variable 'c' "
                                "(declared: none); add a variable \"c\" block"]
    assert read(job(), stop_only=True)['errors'] == []


@pytest.mark.parametrize('text', ['job "j" {', '', 'job "a" {}\njob "b" {}'])
def test_stop_only_still_needs_a_job(text):
    with pytest.raises(JobFileError):
        read(text, stop_only=True)


# ---- tasks the job no longer runs ------------------------------------------------------

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
