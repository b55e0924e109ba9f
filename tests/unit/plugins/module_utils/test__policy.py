# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._policy import (
    DEFAULT_POLICY_PATH,
    POLICY_KEYS,
    check_emulator,
    effective_policy,
    load_policy,
    normalize_emulator,
)


RULE = "(letters, digits, '_' and '-'), with or without the qemu-system- prefix"


def test_constants():
    assert DEFAULT_POLICY_PATH == '/etc/nomadic-qemu/policy.json'
    assert POLICY_KEYS == ('image_paths', 'args_allowlist', 'emulators_allowlist')


def write(tmp_path, content):
    path = tmp_path / 'policy.json'
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding='utf-8')
    return str(path)


def test_load_policy_missing(tmp_path):
    assert load_policy(str(tmp_path / 'none.json')) == {}


@pytest.mark.parametrize('content, expected', [
    ({}, {}),
    ({'image_paths': ['/var/lib/images']}, {'image_paths': ['/var/lib/images']}),
    ({'image_paths': [], 'args_allowlist': [], 'emulators_allowlist': []},
     {'image_paths': [], 'args_allowlist': [], 'emulators_allowlist': []}),
    ({'args_allowlist': ['-m', '-smp'], 'emulators_allowlist': ['qemu-system-x86_64', 'aarch64']},
     {'args_allowlist': ['-m', '-smp'], 'emulators_allowlist': ['x86_64', 'aarch64']}),
    ({'image_paths': None, 'args_allowlist': ['-m']}, {'args_allowlist': ['-m']}),
])
def test_load_policy(tmp_path, content, expected):
    path = write(tmp_path, content)
    if expected:
        expected = dict(expected, source=path)
    assert load_policy(path) == expected


@pytest.mark.parametrize('content, message', [
    ('{"image_paths": [', 'the host policy {path} is not valid JSON (Expecting value: line 1 column 18 (char 17)); fix the file'),
    ('', 'the host policy {path} is not valid JSON (Expecting value: line 1 column 1 (char 0)); fix the file'),
    ('["/var/lib/images"]',
     'the host policy {path} must be a JSON object with the keys image_paths, args_allowlist, emulators_allowlist; fix the file'),
    ({'imagepaths': ['/x']}, "the host policy {path} has the unknown key 'imagepaths'; use only image_paths, args_allowlist,"
                             " emulators_allowlist"),
    ({'image_paths': '/var/lib/images'}, 'the host policy {path} sets image_paths to "/var/lib/images"; use a list of strings'),
    ({'args_allowlist': ['-m', 2]}, 'the host policy {path} sets args_allowlist to ["-m", 2]; use a list of strings'),
    ({'emulators_allowlist': True}, 'the host policy {path} sets emulators_allowlist to true; use a list of strings'),
    ({'image_paths': ['images']}, "the host policy {path}: image_paths entry 'images' is not an absolute path; use absolute"
                                  " directories in image_paths"),
    ({'emulators_allowlist': ['../../bin/sh']}, "the host policy {path}: emulators_allowlist '../../bin/sh' is not a valid emulator"
                                                " name; use an architecture such as x86_64 or aarch64 " + RULE),
    # a dot is not part of an emulator name (the fingerprint never accepted it)
    ({'emulators_allowlist': ['x86_64.v2']}, "the host policy {path}: emulators_allowlist 'x86_64.v2' is not a valid emulator"
                                             " name; use an architecture such as x86_64 or aarch64 " + RULE),
])
def test_load_policy_errors(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(QemuTaskError) as exc:
        load_policy(path)
    assert str(exc.value) == message.format(path=path)
    assert exc.value.option == 'policy'


def test_load_policy_not_utf8(tmp_path):
    path = tmp_path / 'policy.json'
    path.write_bytes(b'{"image_paths": ["/\xff"]}')
    with pytest.raises(QemuTaskError) as exc:
        load_policy(str(path))
    assert str(exc.value) == 'the host policy %s is not UTF-8 text; fix the file' % path


def test_load_policy_directory(tmp_path):
    with pytest.raises(QemuTaskError) as exc:
        load_policy(str(tmp_path))
    assert str(exc.value) == 'cannot read the host policy %s (Is a directory); make it readable or remove it' % tmp_path


@pytest.mark.skipif(os.geteuid() == 0, reason='root reads any file')
def test_load_policy_unreadable(tmp_path):
    path = write(tmp_path, {})
    os.chmod(path, 0)
    with pytest.raises(QemuTaskError) as exc:
        load_policy(path)
    assert str(exc.value) == 'cannot read the host policy %s (Permission denied); make it readable or remove it' % path


HOST = {'image_paths': ['/var/lib/images', '/srv/vms'], 'args_allowlist': ['-m', '-smp', '-drive'],
        'emulators_allowlist': ['x86_64', 'aarch64'], 'source': '/etc/p.json'}


@pytest.mark.parametrize('host, task, expected', [
    ({}, {}, {'image_paths': None, 'args_allowlist': None, 'emulators_allowlist': None,
              'source': {'image_paths': None, 'args_allowlist': None, 'emulators_allowlist': None}}),
    (None, {'image_paths': ['/x'], 'args_allowlist': [], 'emulators_allowlist': ['qemu-system-riscv64']},
     {'image_paths': ['/x'], 'args_allowlist': [], 'emulators_allowlist': ['riscv64'],
      'source': {'image_paths': 'task', 'args_allowlist': 'task', 'emulators_allowlist': 'task'}}),
    (HOST, {}, {'image_paths': ['/var/lib/images', '/srv/vms'], 'args_allowlist': ['-m', '-smp', '-drive'],
                'emulators_allowlist': ['x86_64', 'aarch64'],
                'source': {'image_paths': 'host', 'args_allowlist': 'host', 'emulators_allowlist': 'host'}}),
    (HOST, {'image_paths': ['/var/lib/images/team-a', '/srv/vms'], 'args_allowlist': ['-m'], 'emulators_allowlist': ['qemu-system-x86_64']},
     {'image_paths': ['/var/lib/images/team-a', '/srv/vms'], 'args_allowlist': ['-m'], 'emulators_allowlist': ['x86_64'],
      'source': {'image_paths': 'task', 'args_allowlist': 'task', 'emulators_allowlist': 'task'}}),
    (HOST, {'image_paths': [], 'args_allowlist': [], 'emulators_allowlist': []},
     {'image_paths': [], 'args_allowlist': [], 'emulators_allowlist': [],
      'source': {'image_paths': 'task', 'args_allowlist': 'task', 'emulators_allowlist': 'task'}}),
    ({'args_allowlist': ['-m'], 'source': '/etc/p.json'}, {'image_paths': ['/anywhere']},
     {'image_paths': ['/anywhere'], 'args_allowlist': ['-m'], 'emulators_allowlist': None,
      'source': {'image_paths': 'task', 'args_allowlist': 'host', 'emulators_allowlist': None}}),
])
def test_effective_policy(host, task, expected):
    assert effective_policy(host, **task) == expected


@pytest.mark.parametrize('task, message, option', [
    ({'image_paths': ['/srv']}, "image_paths entry '/srv' is not within the host policy's image_paths (/var/lib/images, /srv/vms) in"
                                " /etc/p.json; use directories inside those, or leave image_paths unset to use the host policy",
     'image_paths'),
    ({'image_paths': ['/var/lib/imagesevil']}, "image_paths entry '/var/lib/imagesevil' is not within the host policy's image_paths"
                                               " (/var/lib/images, /srv/vms) in /etc/p.json; use directories inside those, or leave"
                                               " image_paths unset to use the host policy", 'image_paths'),
    ({'image_paths': ['/var/lib/images/../../etc']}, "image_paths entry '/var/lib/images/../../etc' is not within the host policy's"
                                                     " image_paths (/var/lib/images, /srv/vms) in /etc/p.json; use directories inside"
                                                     " those, or leave image_paths unset to use the host policy", 'image_paths'),
    ({'args_allowlist': ['-m', '-blockdev']}, "args_allowlist entry '-blockdev' is not in the host policy's args_allowlist (-m, -smp,"
                                              " -drive) in /etc/p.json; remove it from args_allowlist, or leave args_allowlist unset to"
                                              " use the host policy", 'args_allowlist'),
    ({'emulators_allowlist': ['qemu-system-ppc64']}, "emulators_allowlist entry 'ppc64' is not in the host policy's emulators_allowlist"
                                                     " (x86_64, aarch64) in /etc/p.json; remove it from emulators_allowlist, or leave"
                                                     " emulators_allowlist unset to use the host policy", 'emulators_allowlist'),
    ({'image_paths': ['relative']}, "image_paths entry 'relative' is not an absolute path; use absolute directories in image_paths",
     'image_paths'),
    ({'args_allowlist': '-m'}, 'args_allowlist must be a list of strings', 'args_allowlist'),
    ({'emulators_allowlist': ['x86_64', None]}, 'emulators_allowlist must be a list of strings', 'emulators_allowlist'),
])
def test_effective_policy_cannot_widen(task, message, option):
    with pytest.raises(QemuTaskError) as exc:
        effective_policy(HOST, **task)
    assert str(exc.value) == message
    assert exc.value.option == option


def test_effective_policy_uses_real_paths(tmp_path):
    allowed = tmp_path / 'images'
    (allowed / 'team').mkdir(parents=True)
    (tmp_path / 'sneaky').symlink_to(tmp_path / 'elsewhere')
    (tmp_path / 'inside').symlink_to(allowed / 'team')
    host = {'image_paths': [str(allowed)], 'source': '/etc/p.json'}
    assert effective_policy(host, image_paths=[str(tmp_path / 'inside')])['image_paths'] == [str(tmp_path / 'inside')]
    with pytest.raises(QemuTaskError) as exc:
        effective_policy(host, image_paths=[str(tmp_path / 'sneaky')])
    assert str(exc.value).startswith("image_paths entry '%s' is not within the host policy's image_paths" % (tmp_path / 'sneaky'))


def test_effective_policy_names_the_default_file_without_source():
    with pytest.raises(QemuTaskError) as exc:
        effective_policy({'args_allowlist': ['-m']}, args_allowlist=['-S'])
    assert ' in /etc/nomadic-qemu/policy.json; ' in str(exc.value)


@pytest.mark.parametrize('emulator, allowlist', [
    ('x86_64', None),
    ('qemu-system-x86_64', ['x86_64']),
    ('x86_64', ['qemu-system-x86_64']),
    ('aarch64', ['x86_64', 'aarch64']),
])
def test_check_emulator_allows(emulator, allowlist):
    check_emulator(emulator, allowlist)


@pytest.mark.parametrize('emulator, allowlist, message, option', [
    ('aarch64', ['x86_64'], "emulator 'aarch64' is not in emulators_allowlist (x86_64); use one of those or add it to emulators_allowlist",
     'emulator'),
    ('qemu-system-aarch64', [], "emulator 'aarch64' is not in emulators_allowlist (none); use one of those or add it to"
                                " emulators_allowlist", 'emulator'),
    ('../../bin/sh', None, "emulator '../../bin/sh' is not a valid emulator name; use an architecture such as x86_64 or aarch64 " + RULE,
     'emulator'),
    ('qemu-system-', None, "emulator 'qemu-system-' is not a valid emulator name; use an architecture such as x86_64 or aarch64 " + RULE,
     'emulator'),
    ('', None, "emulator '' is not a valid emulator name; use an architecture such as x86_64 or aarch64 " + RULE, 'emulator'),
    ('x86_64.v2', None, "emulator 'x86_64.v2' is not a valid emulator name; use an architecture such as x86_64 or aarch64 " + RULE,
     'emulator'),
    ('x86_64', ['x86 64'], "emulators_allowlist 'x86 64' is not a valid emulator name; use an architecture such as x86_64 or aarch64 "
     + RULE, 'emulators_allowlist'),
])
def test_check_emulator_refuses(emulator, allowlist, message, option):
    with pytest.raises(QemuTaskError) as exc:
        check_emulator(emulator, allowlist)
    assert str(exc.value) == message
    assert exc.value.option == option


@pytest.mark.parametrize('emulator, name', [('x86_64', 'x86_64'), ('qemu-system-x86_64', 'x86_64'), ('riscv64', 'riscv64')])
def test_normalize_emulator(emulator, name):
    assert normalize_emulator(emulator) == name
