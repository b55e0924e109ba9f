# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""cloud-init seeds: their files, instance-ids, what is shown of them, and seeds through the reconciler."""

from __future__ import annotations

import datetime
import email
import json
import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.cloud_init import as_texts, build_seed

from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils._task.test_media import env, run, task_dir  # noqa: F401 pylint: disable=unused-import

SECRET = 'hunter2-s3cret-token'
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfakefakefakefakefakefakefakefakefakefakefake test@example'


def files(seed, tmp_path):
    """The seed's files, read back with xorriso."""
    path = tmp_path / 'seed.iso'
    path.write_bytes(seed.image)
    out = tmp_path / 'out'
    subprocess.run(['xorriso', '-osirrox', 'on', '-indev', str(path), '-extract', '/', str(out)], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return dict((name, (out / name).read_text()) for name in os.listdir(str(out)))


needs_xorriso = pytest.mark.skipif(shutil.which('xorriso') is None, reason='xorriso is not installed')


@needs_xorriso
def test_mapping_user_data_with_keys(tmp_path):
    seed = build_seed({'user_data': {'runcmd': ['touch /x'], 'chpasswd': {'list': 'root:' + SECRET}}, 'ssh_authorized_keys': [KEY]},
                      'web1')
    found = files(seed, tmp_path)
    assert sorted(found) == ['meta-data', 'user-data']
    assert found['user-data'].startswith('#cloud-config\n')
    body = json.loads(found['user-data'][len('#cloud-config\n'):])
    assert body == {'runcmd': ['touch /x'], 'chpasswd': {'list': 'root:' + SECRET}, 'ssh_authorized_keys': [KEY]}
    meta = json.loads(found['meta-data'])
    assert meta['local-hostname'] == 'web1' and meta['instance-id'].startswith('nomadic-web1-')
    assert seed.config['user_data']['keys'] == ['chpasswd', 'runcmd', 'ssh_authorized_keys']
    assert SECRET not in json.dumps(seed.config)


def test_instance_id_follows_the_data_unless_given():
    one = build_seed({'user_data': {'runcmd': ['a']}}, 'web1')
    same = build_seed({'user_data': {'runcmd': ['a']}}, 'web1')
    other = build_seed({'user_data': {'runcmd': ['b']}}, 'web1')
    assert one.image == same.image and one.sha256 == same.sha256
    assert other.instance_id != one.instance_id
    fixed = [build_seed({'user_data': {'runcmd': [x]}, 'meta_data': {'instance-id': 'i-7'}}, 'web1') for x in 'ab']
    assert [seed.instance_id for seed in fixed] == ['i-7', 'i-7'] and fixed[0].sha256 != fixed[1].sha256


@needs_xorriso
def test_string_user_data_with_keys_is_multipart(tmp_path):
    script = '#!/bin/sh\necho %s > /root/token\n' % SECRET
    seed = build_seed({'user_data': script, 'ssh_authorized_keys': [KEY], 'network_config': {'version': 2, 'ethernets': {}},
                       'vendor_data': {'runcmd': ['v']}}, 'db1')
    found = files(seed, tmp_path)
    assert sorted(found) == ['meta-data', 'network-config', 'user-data', 'vendor-data']
    parts = [part for part in email.message_from_string(found['user-data']).walk() if not part.is_multipart()]
    assert [part.get_content_type() for part in parts] == ['text/cloud-config', 'text/x-shellscript']
    assert parts[1].get_payload(decode=True).decode() == script
    assert json.loads(found['network-config']) == {'version': 2, 'ethernets': {}}
    assert 'keys' not in seed.config['user_data'] and seed.config['vendor_data']['keys'] == ['runcmd']
    assert SECRET not in json.dumps(seed.config)


def test_the_action_plugin_text_gives_the_same_seed():
    cloud_init = {'user_data': {'packages': ['nginx'], 'password': SECRET}, 'ssh_authorized_keys': [KEY], 'vendor_data': {'a': 1},
                  'meta_data': {'local-hostname': 'x'}}
    texts = as_texts(cloud_init)
    assert isinstance(texts['user_data'], str) and isinstance(texts['vendor_data'], str) and 'ssh_authorized_keys' not in texts
    direct, through = build_seed(cloud_init, 'vm1'), build_seed(texts, 'vm1')
    assert direct.image == through.image and direct.config == through.config


@pytest.mark.parametrize('cloud_init, message', [
    ({'user_data': ['x']}, 'cloud_init.user_data must be a mapping (written as #cloud-config YAML) or a string (passed as it is), not a list'),
    ({'user_data': {'when': datetime.date(2026, 1, 1), 'password': SECRET}},
     'cloud_init.user_data cannot be written as YAML: cloud_init.user_data.when (of type date)'),
    ({'user_data': {'x': float('nan')}}, 'cloud_init.user_data.x (a float that is not a number)'),
    ({'user_data': {1: SECRET}}, 'cloud_init.user_data (a key of type int)'),
    ({'vendor_data': 3}, 'cloud_init.vendor_data must be a mapping'),
    ({'network_config': {'ethernets': {}}}, 'cloud_init.network_config must say its version, 1 or 2'),
    ({'meta_data': 'x'}, 'cloud_init.meta_data must be a mapping'),
    ({'ssh_authorized_keys': [1]}, 'cloud_init.ssh_authorized_keys must be a list of public keys'),
    ({'user_data': 'Content-Type: multipart/mixed\n\n', 'ssh_authorized_keys': [KEY]}, 'already a MIME multipart message'),
])
def test_bad_cloud_init_never_shows_values(cloud_init, message):
    with pytest.raises(QemuTaskError) as error:
        build_seed(cloud_init, 'vm1')
    assert message in str(error.value) and SECRET not in str(error.value)
    assert error.value.option == 'cloud_init'


def test_seed_through_the_reconciler(env):  # noqa: F811 pylint: disable=redefined-outer-name
    cloud_init = {'user_data': {'password': SECRET}, 'ssh_authorized_keys': [KEY]}
    check = run(env, check_mode=True, cloud_init=cloud_init)
    assert check['changed'] and not os.path.exists(env['state_dir'])
    first = run(env, cloud_init=cloud_init)
    seed = os.path.join(task_dir(env).path, 'seed.iso')
    assert stat.S_IMODE(os.stat(seed).st_mode) == 0o600
    argv = first['task']['argv']
    assert 'file=%s,if=ide,id=cidata,format=raw,readonly=on,media=cdrom' % seed in argv
    mtime = os.stat(seed).st_mtime_ns
    again = run(env, cloud_init=cloud_init)
    assert again['changed'] is False and os.stat(seed).st_mtime_ns == mtime
    changed = run(env, cloud_init=dict(cloud_init, user_data={'password': SECRET + 'x'}))
    assert changed['actions'] == ['stopped', 'started']
    before, after = changed['diff']['before']['config']['cloud_init'], changed['diff']['after']['config']['cloud_init']
    assert before['user_data']['sha256'] != after['user_data']['sha256'] and before['instance_id'] != after['instance_id']
    with open(task_dir(env).record_path) as f:
        record = f.read()
    assert SECRET not in record and SECRET not in json.dumps(changed) and SECRET not in ''.join(env['warnings'])
    removed = run(env)
    assert removed['actions'] == ['stopped', 'started'] and not os.path.exists(seed)
    assert not any('cidata' in word for word in removed['task']['argv'])
