# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/task_options.py: a task's qemu_task options, checked by qemu_task's option table."""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._ports import PORT_RANGE
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import (
    ACCELERATORS,
    DRIVE_INTERFACES,
    MAX_KILL_TIMEOUT,
    MEMORY_BOUNDS,
    NOMAD_CONFIG_KEYS,
    TASK_OPTIONS,
)
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.tables import CONFIG_KEYS
from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import (
    LABELS,
    WHERE,
    error,
    job,
    labels,
    only_task,
    read,
)


@pytest.mark.parametrize('value, seconds', [
    ('"5s"', 5),
    ('"30s"', 30),
    ('"1m30s"', 90),
    ('"500ms"', 0.5),
    ('"1h"', 3600),
    ('"59m59.5s"', 3599.5),
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
    # qemu_task's maximum: every wait for a guest stays bounded
    ('"2h45m"', "kill_timeout '2h45m' is longer than the maximum of 1h0m0s; use 1h0m0s or less"),
    ('"3600.001s"', "kill_timeout '3600.001s' is longer than the maximum of 1h0m0s; use 1h0m0s or less"),
])
def test_kill_timeout_errors(value, message):
    assert error(job(task='kill_timeout = %s' % value)) == WHERE + message


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
    assert only_task(text)['options'] == dict(options, labels=LABELS)


def test_resources_and_ports():
    text = job(group='network {\n port "http" { static = 8080 }\n port "ssh" {}\n}',
               config='image_path = "x.img"\nport_map {\n http = 80\n ssh = 22\n}',
               task='resources {\n memory = 1024\n cores = 4\n}')
    assert only_task(text)['options'] == {'image_path': 'x.img', 'port_map': {'http': 80, 'ssh': 22}, 'ports': {'http': 8080},
                                          'memory': 1024, 'cpus': 4, 'labels': LABELS}


def test_legacy_task_network():
    text = job(config='image_path = "x.img"\nport_map {\n http = 80\n}',
               task='resources {\n network {\n mbits = 10\n port "http" { static = 8081 }\n }\n}')
    result = read(text)
    assert result['tasks'][0]['options']['ports'] == {'http': 8081}
    assert [i['key'] for i in result['ignored']] == ['resources.network.mbits']


def test_port_map_without_any_network_block_forwards_nothing():
    # Nomad's qemu driver skips port_map when the task has no network, without an error; here it is listed as not applied.
    result = read(job(config='image_path = "x.img"\nport_map {\n ssh = 22\n db = 5432\n}', group='count = 2'))
    assert [t['options'] for t in result['tasks']] == [{'image_path': 'x.img', 'labels': labels('j', 'g', 't', i)} for i in (0, 1)]
    assert result['ignored'] == [{
        'where': "job 'j', group 'g', task 't'", 'key': 'config.port_map',
        'reason': 'no network block declares its ports (db, ssh), so nothing is forwarded, as in Nomad; add them to a group network '
                  'block, such as network { port "ssh" {} }, to forward them',
        'message': "job 'j', group 'g', task 't': config.port_map is not applied: no network block declares its ports (db, ssh), so "
                   'nothing is forwarded, as in Nomad; add them to a group network block, such as network { port "ssh" {} }, to '
                   'forward them',
    }]
    # The guest ports are still checked.
    assert error(job(config='image_path = "x.img"\nport_map {\n db = 70000\n}')) == (
        WHERE + "config.port_map label 'db' has guest port 70000; use a port between 1 and 65535")


def test_cores_with_smp_in_args():
    result = read(job(config='image_path = "x.img"\nargs = ["-smp", "2"]', task='resources {\n cores = 4\n}'))
    assert 'cpus' not in result['tasks'][0]['options']
    assert result['ignored'][0]['key'] == 'resources.cores'
    assert result['ignored'][0]['reason'] == 'config.args already has -smp, which wins, as in Nomad'


def test_null_means_unset():
    task = only_task(job(config='image_path = "x.img"\naccelerator = null\nargs = null', task='kill_timeout = null'))
    assert task['options'] == {'image_path': 'x.img', 'labels': LABELS}


@pytest.mark.parametrize('text, message', [
    # config values
    (job(config='accelerator = "kvm"'),
     WHERE + "config has no image_path; set it to the image, such as local/linux.img for an artifact in local/"),
    (job(config='image_path = "x.img"\naccelerator = "hvf"'), WHERE + "config.accelerator: accelerator 'hvf' is not valid; use one of tcg, kvm, auto"),
    (job(config='image_path = "x.img"\ndrive_interface = "nvme"'),
     WHERE + "config.drive_interface: drive_interface 'nvme' is not valid; use one of ide, scsi, sd, mtd, floppy, pflash, virtio, none"),
    (job(config='image_path = "x.img"\nemulator = 64'), WHERE + "config.emulator must be a string, not 64"),
    (job(config='image_path = "x.img"\ngraceful_shutdown = "yes"'), WHERE + "config.graceful_shutdown must be true or false, not 'yes'"),
    (job(config='image_path = "x.img"\nargs = "-nodefaults"'), WHERE + 'config.args must be a list of strings, such as ["-nodefaults"]'),
    (job(config='image_path = "x.img"\nargs = [["-a"]]'), WHERE + "config.args[0] must be a string, not ['-a']"),
    # A label missing from a network block that exists: Nomad's "Unknown port label" when the task starts.
    (job(group='network {}', config='image_path = "x.img"\nport_map {\n db = 6539\n}'),
     WHERE + "config.port_map label 'db' has no port in the network block (ports: none); add port \"db\" {} (dynamic) or port \"db\" "
             "{ static = <host port> } to the group's network block"),
    (job(group='network {\n port "http" {}\n}', config='image_path = "x.img"\nport_map {\n db = 6539\n}'),
     WHERE + "config.port_map label 'db' has no port in the network block (ports: http); add port \"db\" {} (dynamic) or port \"db\" "
             "{ static = <host port> } to the group's network block"),
    (job(task='resources {\n network {\n mbits = 10\n }\n}', config='image_path = "x.img"\nport_map {\n db = 6539\n}'),
     WHERE + "config.port_map label 'db' has no port in the network block (ports: none); add port \"db\" {} (dynamic) or port \"db\" "
             "{ static = <host port> } to the group's network block"),
    (job(config='image_path = "x.img"\nport_map {\n db = 70000\n}'),
     WHERE + "config.port_map label 'db' has guest port 70000; use a port between 1 and 65535"),
    (job(group='network {\n port "db" { static = 0.5 }\n}'),
     "job.nomad.hcl: job 'j', group 'g': network.port 'db'.static is '0.5'; use a port between 1 and 65535"),
    (job(group='network {\n port "db" {}\n port "db" {}\n}'),
     "job.nomad.hcl: job 'j', group 'g': network: port label 'db' is declared twice; declare each label once"),
    (job(group='network {\n port "db" {}\n}', task='resources {\n network {\n port "db" {}\n }\n}'),
     WHERE + "port label 'db' is declared in both the group network block and resources.network; declare it once"),
    (job(task='resources {\n memory = 64\n}'),
     WHERE + "resources.memory: memory 64 MB is out of bounds; use between 128 and 4000000 MB (Nomad's limits)"),
    (job(task='resources {\n cores = 0\n}'), WHERE + "resources.cores: cpus 0 is not a CPU count; use 1 or more"),
    (job(group='network {\n port "http" { static = 8080 }\n}\ntask "u" {\n driver = "qemu"\n config {\n image_path = "y.img"\n'
               'port_map {\n http = 80\n }\n }\n}', config='image_path = "x.img"\nport_map {\n http = 80\n}'),
     "job.nomad.hcl: job 'j', group 'g', task 't': host port 8080 is forwarded by both job 'j', group 'g', task 'u' port 'http' and "
     "job 'j', group 'g', task 't' port 'http'; two tasks of a job cannot share a static port, as both may run on one host (use "
     "another port, or a dynamic one)"),
])
def test_config_errors(text, message):
    assert error(text) == message


def test_the_count_indexes_of_a_task_share_its_static_port_on_hosts_of_their_own():
    result = read(job(group='count = 2\nnetwork {\n port "http" { static = 8080 }\n}', config='image_path = "x.img"\nport_map {\n http = 80\n}'))
    assert [task['options']['ports'] for task in result['tasks']] == [{'http': 8080}, {'http': 8080}]
    assert result['groups'][0]['constraints'] == [
        {'operator': 'distinct_hosts', 'value': 'true', 'level': 'group', 'source': "job 'j', group 'g': static port 8080"}]


@pytest.mark.parametrize('text, message', [
    # config types
    (job(config='image_path = 5'), WHERE + 'config.image_path must be a string, such as "local/linux.img", not 5'),
])
def test_config_types(text, message):
    assert error(text) == message


# ---- the option table decides -----------------------------------------------------------

def test_config_keys_are_the_option_tables():
    assert CONFIG_KEYS == NOMAD_CONFIG_KEYS
    assert sorted(CONFIG_KEYS) == ['accelerator', 'args', 'drive_interface', 'emulator', 'graceful_shutdown', 'guest_agent',
                                   'image_path', 'machine_type', 'port_map']
    for key, name in CONFIG_KEYS.items():
        assert TASK_OPTIONS[name].nomad == 'config.' + key


@pytest.mark.parametrize('key, choices', [('accelerator', ACCELERATORS), ('drive_interface', DRIVE_INTERFACES)])
def test_every_choice_of_the_option_table_is_taken(key, choices):
    for choice in choices:
        options = only_task(job(config='image_path = "x.img"\n%s = "%s"' % (key, choice)))['options']
        assert options[key] == choice


@pytest.mark.parametrize('memory, expected', [
    (MEMORY_BOUNDS[0], 128),
    (MEMORY_BOUNDS[1], 4000000),
    ('"512"', 512),
    ('512.0', 512),
])
def test_memory_within_the_option_tables_bounds(memory, expected):
    assert only_task(job(task='resources {\n memory = %s\n}' % (memory,)))['options']['memory'] == expected


@pytest.mark.parametrize('memory, message', [
    (MEMORY_BOUNDS[0] - 1, "resources.memory: memory 127 MB is out of bounds; use between 128 and 4000000 MB (Nomad's limits)"),
    (MEMORY_BOUNDS[1] + 1, "resources.memory: memory 4000001 MB is out of bounds; use between 128 and 4000000 MB (Nomad's limits)"),
    ('"lots"', "resources.memory: memory 'lots' is not a whole number; use one such as 300"),
    ('512.5', "resources.memory: memory 512.5 is not a whole number; use one such as 300"),
    ('true', "resources.memory: memory True is not a whole number; use one such as 300"),
])
def test_memory_errors(memory, message):
    assert error(job(task='resources {\n memory = %s\n}' % (memory,))) == WHERE + message


@pytest.mark.parametrize('cores, message', [
    ('-1', "resources.cores: cpus -1 is not a CPU count; use 1 or more"),
    ('"two"', "resources.cores: cpus 'two' is not a whole number; use one such as 1"),
])
def test_cores_errors(cores, message):
    assert error(job(task='resources {\n cores = %s\n}' % cores)) == WHERE + message


def test_kill_timeout_up_to_the_option_tables_maximum():
    assert MAX_KILL_TIMEOUT == 3600
    assert only_task(job(task='kill_timeout = "60m"'))['options']['kill_timeout'] == 3600
    assert only_task(job(task='kill_timeout = "3600s"'))['options']['kill_timeout'] == 3600


def test_kill_timeout_above_the_maximum_is_listed_with_stop_only():
    result = read(job(task='kill_timeout = "2h"', config='image_path = "x.img"\ngraceful_shutdown = true'), stop_only=True)
    assert [(t['name'], t['options']) for t in result['tasks']] == [('j-g-t-0', {'labels': LABELS})]
    assert result['errors'] == [WHERE + "kill_timeout '2h' is longer than the maximum of 1h0m0s; use 1h0m0s or less"]


@pytest.mark.parametrize('emulator, expected', [('aarch64', 'aarch64'), ('qemu-system-x86_64', 'x86_64'), (' riscv64 ', 'riscv64')])
def test_emulator_as_qemu_task_reads_it(emulator, expected):
    assert only_task(job(config='image_path = "x.img"\nemulator = "%s"' % emulator))['options']['emulator'] == expected


def test_emulator_errors():
    assert error(job(config='image_path = "x.img"\nemulator = "x86 64"')) == WHERE + (
        "config.emulator: emulator 'x86 64' is not a valid emulator name; use an architecture such as x86_64 or aarch64 (letters, "
        "digits, '_' and '-'), with or without the qemu-system- prefix")


@pytest.mark.parametrize('port_map, message', [
    ('db = 0', "config.port_map label 'db' has guest port 0; use a port between 1 and 65535"),
    ('db = 65536', "config.port_map label 'db' has guest port 65536; use a port between 1 and 65535"),
    ('db = "http"', "config.port_map label 'db' has guest port 'http'; use a port between 1 and 65535"),
    ('db = 22.5', "config.port_map label 'db' has guest port '22.5'; use a port between 1 and 65535"),
])
def test_guest_ports_in_the_port_range(port_map, message):
    assert PORT_RANGE == (1, 65535)
    assert error(job(group='network {\n port "db" {}\n}', config='image_path = "x.img"\nport_map {\n %s\n}' % port_map)) == WHERE + message


@pytest.mark.parametrize('static, ports', [('65535', {'db': 65535}), ('"8080"', {'db': 8080}), ('1', {'db': 1}), ('0', None)])
def test_static_ports_in_the_port_range(static, ports):
    options = only_task(job(group='network {\n port "db" { static = %s }\n}' % static,
                            config='image_path = "x.img"\nport_map {\n db = 5432\n}'))['options']
    assert options.get('ports') == ports


@pytest.mark.parametrize('static, shown', [('65536', '65536'), ('-1', '-1'), ('"x"', "'x'"), ('true', "'True'")])
def test_static_port_errors(static, shown):
    assert error(job(group='network {\n port "db" { static = %s }\n}' % static)) == (
        "job.nomad.hcl: job 'j', group 'g': network.port 'db'.static is %s; use a port between 1 and 65535" % shown)


def test_restart_blocks_of_group_and_task_merge_key_by_key_as_in_nomad():
    task = only_task(job(group='restart {\n attempts = 5\n delay = "20s"\n}',
                         task='restart {\n delay = "${var.delay}"\n mode = "delay"\n interval = "10m"\n}',
                         top='variable "delay" { default = "30s" }'))
    assert task['options']['restart'] == {'attempts': 5, 'delay': '30s', 'mode': 'delay', 'interval': '10m'}
    assert only_task(job(group='restart {\n attempts = 0\n}'))['options']['restart'] == {'attempts': 0}
    assert 'restart' not in only_task(job())['options']


def test_logs_block_is_mapped_and_what_does_not_apply_is_listed():
    result = read(job(task='logs {\n max_files = 3\n max_file_size = 5\n disabled = false\n}\nrestart {\n render_templates = true\n}'))
    assert result['tasks'][0]['options']['logs'] == {'max_files': 3, 'max_file_size': 5}
    assert result['tasks'][0]['options']['restart'] == {}
    assert sorted(i['key'] for i in result['ignored']) == ['logs.disabled', 'restart.render_templates']


@pytest.mark.parametrize('task, message', [
    ('restart {\n delay = 15\n}', "restart.delay '15' has no unit; Nomad durations need one, such as 30s or 1m30s"),
    ('restart {\n delay = "2m"\n interval = "1m"\n}', 'restart.interval 1m0s is shorter than restart.delay 2m0s'),
    ('restart {\n mode = "never"\n}', "restart.mode 'never' is not valid; use one of fail, delay"),
    ('restart {\n tries = 3\n}', "restart has unknown key 'tries'; a restart block takes attempts, delay, interval, mode, render_templates"),
    ('logs {\n max_files = 0\n}', 'logs.max_files 0 is not a file count; use 1 or more'),
])
def test_restart_and_logs_errors_name_the_key(task, message):
    assert message in error(job(task=task))


def test_user_is_the_user_qemu_runs_as():
    assert only_task(job(task='user = "nobody"'))['options']['run_as'] == 'nobody'
    assert "user: run_as 'no body' is not a user name" in error(job(task='user = "no body"'))
