# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The package names of the nomadic.qemu.host role, per OS family, rendered by Ansible's own templating."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19 trusts every template
    def trust_as_template(value):
        return value

ROLE = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'host'))
EMULATORS = ['x86_64', 'i386', 'aarch64', 'arm', 'ppc64', 'ppc', 'riscv64', 'riscv32', 's390x']


def _trust(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trust(item) for item in value]
    if isinstance(value, dict):
        return dict((key, _trust(item)) for key, item in value.items())
    return value


def _load(name):
    with open(os.path.join(ROLE, name), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def _variables(vars_file, emulators=None, packages=None, architecture='x86_64'):
    defaults = _load('defaults/main.yml')
    variables = dict(defaults)
    variables.update(_trust(_load('vars/main.yml')))
    variables.update(_trust(_load(os.path.join('vars', vars_file))))
    if emulators is not None:
        variables['nomadic_qemu_host_emulators'] = emulators
    variables['nomadic_qemu_host_packages'] = packages
    variables['ansible_facts'] = {'architecture': architecture}
    return variables


def _render(variables, name):
    return Templar(variables=variables).template(variables[name])


def test_every_vars_file_is_known():
    main = _load('vars/main.yml')
    known = set(main['__nomadic_qemu_host_families']) | set(main['__nomadic_qemu_host_distributions'])
    files = set(name[:-len('.yml')] for name in os.listdir(os.path.join(ROLE, 'vars')) if name != 'main.yml')
    assert files == known


@pytest.mark.parametrize('vars_file', ['Debian.yml', 'Ubuntu.yml', 'Fedora.yml', 'RedHat.yml', 'Suse.yml', 'Archlinux.yml', 'Alpine.yml'])
def test_vars_file_structure(vars_file):
    data = _load(os.path.join('vars', vars_file))
    assert sorted(data) == ['__nomadic_qemu_host_base_packages', '__nomadic_qemu_host_emulator_packages',
                            '__nomadic_qemu_host_qemu_kvm_binary']
    assert data['__nomadic_qemu_host_base_packages'] and all(isinstance(p, str) for p in data['__nomadic_qemu_host_base_packages'])
    for emulator, packages in data['__nomadic_qemu_host_emulator_packages'].items():
        assert emulator in EMULATORS
        assert packages and all(isinstance(p, str) and p for p in packages)


@pytest.mark.parametrize('vars_file, emulators, packages', [
    # the default: x86_64 and qemu-img
    ('Debian.yml', None, ['qemu-utils', 'qemu-system-x86']),
    ('Ubuntu.yml', None, ['qemu-utils', 'qemu-system-x86']),
    ('Fedora.yml', None, ['qemu-img', 'qemu-system-x86-core']),
    ('RedHat.yml', None, ['qemu-img', 'qemu-kvm']),
    ('Suse.yml', None, ['qemu-tools', 'qemu-x86']),
    ('Archlinux.yml', None, ['qemu-img', 'qemu-system-x86']),
    ('Alpine.yml', None, ['qemu-img', 'qemu-system-x86_64']),
    # several emulators, shared packages listed once, in order
    ('Debian.yml', ['x86_64', 'i386', 'aarch64', 'arm', 'riscv64', 's390x'],
     ['qemu-utils', 'qemu-system-x86', 'qemu-system-arm', 'qemu-system-misc']),
    ('Ubuntu.yml', ['aarch64', 's390x'], ['qemu-utils', 'qemu-system-arm', 'qemu-system-s390x']),
    ('Fedora.yml', ['aarch64', 'riscv64', 'riscv32', 'ppc64'],
     ['qemu-img', 'qemu-system-aarch64-core', 'qemu-system-riscv-core', 'qemu-system-ppc-core']),
    ('Suse.yml', ['x86_64', 'aarch64', 'riscv64'], ['qemu-tools', 'qemu-x86', 'qemu-arm', 'qemu-extra']),
    ('Archlinux.yml', ['i386', 'aarch64', 'arm'], ['qemu-img', 'qemu-system-x86', 'qemu-system-aarch64', 'qemu-system-arm']),
    ('Alpine.yml', ['i386', 'x86_64', 'riscv64'], ['qemu-img', 'qemu-system-i386', 'qemu-system-x86_64', 'qemu-system-riscv64']),
    ('RedHat.yml', ['aarch64'], ['qemu-img', 'qemu-kvm']),
])
def test_packages(vars_file, emulators, packages):
    assert _render(_variables(vars_file, emulators), '__nomadic_qemu_host_packages') == packages


@pytest.mark.parametrize('vars_file', ['Debian.yml', 'Ubuntu.yml', 'Fedora.yml', 'Suse.yml', 'Archlinux.yml', 'Alpine.yml'])
def test_every_emulator_has_packages(vars_file):
    assert sorted(_load(os.path.join('vars', vars_file))['__nomadic_qemu_host_emulator_packages']) == sorted(EMULATORS)


def test_redhat_has_only_the_native_emulator():
    data = _load('vars/RedHat.yml')
    assert data['__nomadic_qemu_host_qemu_kvm_binary'] == '/usr/libexec/qemu-kvm'
    assert data['__nomadic_qemu_host_emulator_packages'] == {
        'x86_64': ['qemu-kvm'], 'aarch64': ['qemu-kvm'], 'ppc64': ['qemu-kvm'], 's390x': ['qemu-kvm']}


@pytest.mark.parametrize('vars_file', ['Debian.yml', 'Ubuntu.yml', 'Fedora.yml', 'Suse.yml', 'Archlinux.yml', 'Alpine.yml'])
def test_only_redhat_needs_qemu_kvm(vars_file):
    assert _load(os.path.join('vars', vars_file))['__nomadic_qemu_host_qemu_kvm_binary'] is None


def test_packages_override():
    variables = _variables('Debian.yml', ['x86_64'], packages=['qemu-system-x86', 'qemu-block-extra'])
    assert _render(variables, '__nomadic_qemu_host_packages') == ['qemu-system-x86', 'qemu-block-extra']


@pytest.mark.parametrize('architecture, emulator', [
    ('x86_64', 'x86_64'),
    ('amd64', 'x86_64'),
    ('aarch64', 'aarch64'),
    ('arm64', 'aarch64'),
    ('ppc64le', 'ppc64'),
    ('s390x', 's390x'),
    ('i686', 'i386'),
    ('armv7l', 'arm'),
])
def test_native_emulator(architecture, emulator):
    variables = _variables('RedHat.yml', architecture=architecture)
    assert _render(variables, '__nomadic_qemu_host_native_emulator') == emulator
