# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.plugin_utils._attributes import (
    GO_ARCH,
    AttributesError,
    node_attributes,
)

# The facts of a Debian 12 host, as setup with gather_subset min returns them, after qemu_fingerprint.
DEBIAN_FACTS = {
    'system': 'Linux',
    'kernel': '6.1.0-18-amd64',
    'architecture': 'x86_64',
    'distribution': 'Debian',
    'distribution_version': '12.5',
    'nodename': 'vmhost1',
    'os_family': 'Debian',
    'driver_qemu': True,
    'driver_qemu_attributes': {
        'driver.qemu': 'true',
        'driver.qemu.version': '7.2.22',
        'driver.qemu.emulators': 'i386,x86_64,x86_64-microvm',
    },
}

DEBIAN_ATTRIBUTES = {
    'driver.qemu': 'true',
    'driver.qemu.version': '7.2.22',
    'driver.qemu.emulators': 'i386,x86_64,x86_64-microvm',
    'kernel.name': 'linux',
    # Nomad reports the whole uname -r, not only the numbers before the first '-'
    'kernel.version': '6.1.0-18-amd64',
    'cpu.arch': 'amd64',
    'os.name': 'debian',
    'os.version': '12.5',
    'unique.hostname': 'vmhost1',
}


def test_node_attributes():
    assert node_attributes(DEBIAN_FACTS) == DEBIAN_ATTRIBUTES


def test_node_attributes_does_not_change_its_input():
    facts = dict(DEBIAN_FACTS, driver_qemu_attributes=dict(DEBIAN_FACTS['driver_qemu_attributes']))
    extra = {'meta.rack': 'r1'}
    node_attributes(facts, extra)
    assert facts == DEBIAN_FACTS
    assert extra == {'meta.rack': 'r1'}


@pytest.mark.parametrize('extra, expected', [
    (None, DEBIAN_ATTRIBUTES),
    ({}, DEBIAN_ATTRIBUTES),
    # added last: Nomad's node.unique.name and meta.* come from the client's configuration
    ({'node.unique.name': 'web1', 'meta.rack': 'r1'}, dict(DEBIAN_ATTRIBUTES, **{'node.unique.name': 'web1', 'meta.rack': 'r1'})),
    # and override the derived attributes and the fingerprint's
    ({'os.name': 'custom', 'driver.qemu.version': '9.0.0'}, dict(DEBIAN_ATTRIBUTES, **{'os.name': 'custom', 'driver.qemu.version': '9.0.0'})),
])
def test_node_attributes_extra(extra, expected):
    assert node_attributes(DEBIAN_FACTS, extra) == expected


@pytest.mark.parametrize('architecture, arch', [
    ('x86_64', 'amd64'),
    ('amd64', 'amd64'),
    ('aarch64', 'arm64'),
    ('arm64', 'arm64'),
    ('i386', '386'),
    ('i686', '386'),
    ('armv7l', 'arm'),
    ('armv6l', 'arm'),
    ('ppc64le', 'ppc64le'),
    ('s390x', 's390x'),
    ('riscv64', 'riscv64'),
    # an architecture Go has no other name for stays as it is
    ('mips64', 'mips64'),
])
def test_cpu_arch_is_go_arch(architecture, arch):
    assert node_attributes({'architecture': architecture}) == {'cpu.arch': arch}


def test_every_go_arch_is_tested():
    tested = set(['x86_64', 'amd64', 'aarch64', 'arm64', 'i386', 'i686', 'armv7l', 'armv6l', 'ppc64le', 's390x', 'riscv64'])
    assert set(GO_ARCH) == tested


@pytest.mark.parametrize('facts, expected', [
    # no facts, no attributes: a host where nothing was gathered
    ({}, {}),
    # a host without QEMU: qemu_fingerprint sets driver_qemu_attributes to {}
    ({'driver_qemu_attributes': {}, 'system': 'Linux'}, {'kernel.name': 'linux'}),
    # a fact that is null gives no attribute
    ({'driver_qemu_attributes': None, 'distribution_version': None, 'distribution': 'Fedora'}, {'os.name': 'fedora'}),
    # kernel.version is the whole release, whatever it looks like
    ({'kernel': '5.14.0-427.13.1.el9_4.x86_64'}, {'kernel.version': '5.14.0-427.13.1.el9_4.x86_64'}),
    ({'kernel': '6.6.8-arch1-1'}, {'kernel.version': '6.6.8-arch1-1'}),
    # values are text, as Nomad's attributes are
    ({'distribution_version': 12}, {'os.version': '12'}),
    ({'system': 'Darwin', 'distribution': 'MacOSX'}, {'kernel.name': 'darwin', 'os.name': 'macosx'}),
    # facts gathered with the ansible_ prefix are not these facts
    ({'ansible_system': 'Linux'}, {}),
])
def test_node_attributes_from_some_facts(facts, expected):
    assert node_attributes(facts) == expected


@pytest.mark.parametrize('facts, extra, message', [
    (None, None, 'the input must be the dictionary ansible_facts, got nothing (null)'),
    (['Linux'], None, "the input must be the dictionary ansible_facts, got ['Linux'] (list)"),
    ({}, 'meta.rack=r1', "the extra attributes must be a dictionary of attribute names to values, such as {'meta.rack': 'r1'}, "
                         "got 'meta.rack=r1' (str)"),
    ({'driver_qemu_attributes': 'true'}, None,
     "the fact driver_qemu_attributes must be a dictionary, as qemu_fingerprint sets it, got 'true' (str)"),
])
def test_node_attributes_errors(facts, extra, message):
    with pytest.raises(AttributesError) as exc:
        node_attributes(facts, extra)
    assert str(exc.value) == message


def test_attributes_error_is_value_error():
    assert issubclass(AttributesError, ValueError)
