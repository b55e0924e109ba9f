# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils import _fingerprint, _policy
from ansible_collections.nomadic.qemu.plugins.module_utils._emulator import (
    DEFAULT_EMULATOR,
    EMULATOR_PATTERN,
    EMULATOR_PREFIX,
    is_emulator_name,
    normalize_emulator,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

VALID = ['x86_64', 'aarch64', 'x86_64-microvm', 'or1k', 's390x', 'mips64el', '9p', 'X86']
# '.' and a leading '_' are the names the fingerprint and the policy used to disagree on.
INVALID = ['', 'x86_64.v2', '_x86', 'x86/64', '../x86_64', '-x86_64', 'x86_64 --help', 'x86_64.exe', 'x86_64\n', None, 64]


def test_constants():
    assert (EMULATOR_PREFIX, DEFAULT_EMULATOR) == ('qemu-system-', 'x86_64')
    assert EMULATOR_PATTERN == r'^[A-Za-z0-9][A-Za-z0-9_-]*$'


@pytest.mark.parametrize('name', VALID)
def test_is_emulator_name(name):
    assert is_emulator_name(name)


@pytest.mark.parametrize('name', INVALID)
def test_is_not_emulator_name(name):
    assert not is_emulator_name(name)


@pytest.mark.parametrize('emulator, name', [
    ('x86_64', 'x86_64'),
    ('qemu-system-aarch64', 'aarch64'),
    (' riscv64 ', 'riscv64'),
    ('qemu-system-x86_64-microvm', 'x86_64-microvm'),
])
def test_normalize_emulator(emulator, name):
    assert normalize_emulator(emulator) == name


@pytest.mark.parametrize('emulator', ['', 'qemu-system-', 'x86_64.v2', '_x86', 'qemu-system-../sh', None])
@pytest.mark.parametrize('option', ['emulator', 'emulators_allowlist'])
def test_normalize_emulator_refuses(emulator, option):
    with pytest.raises(QemuTaskError) as exc:
        normalize_emulator(emulator, option)
    assert str(exc.value) == (
        "%s %r is not a valid emulator name; use an architecture such as x86_64 or aarch64 "
        "(letters, digits, '_' and '-'), with or without the qemu-system- prefix" % (option, emulator))
    assert exc.value.option == option


@pytest.mark.parametrize('name', VALID + ['x86_64.v2', '_x86'])
def test_one_rule_for_fingerprint_and_policy(name):
    """The fingerprint's binary names and the host policy's emulators follow the same rule."""
    in_fingerprint = _fingerprint.emulator_from_binary('/usr/bin/qemu-system-' + name) is not None
    try:
        _policy.check_emulator(name, None)
        in_policy = True
    except QemuTaskError:
        in_policy = False
    assert in_fingerprint is in_policy is is_emulator_name(name)
