# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Nomad's node attributes of a host, derived from its Ansible facts.

Controller side only. Nothing here needs Ansible: errors are ``AttributesError`` (a
``ValueError``) and the filter turns them into ``AnsibleFilterError``.

Nomad's client fingerprints its host (``client/fingerprint/host.go`` and ``arch.go``):

- ``kernel.name``: Go's ``runtime.GOOS`` (``linux``), here the fact ``system`` in lower case;
- ``kernel.version``: gopsutil's ``KernelVersion``, the whole ``uname -r`` on Linux
  (``6.1.0-18-amd64``), here the fact ``kernel`` as it is;
- ``cpu.arch``: Go's ``runtime.GOARCH`` (``amd64``, ``arm64``), here the fact
  ``architecture`` mapped to Go's names by ``GO_ARCH``;
- ``os.name`` and ``os.version``: gopsutil's ``Platform`` and ``PlatformVersion``
  (``debian``, ``12.5``), here the facts ``distribution`` in lower case and
  ``distribution_version``;
- ``unique.hostname``: the host name, here the fact ``nodename``.

The fact ``driver_qemu_attributes`` of ``qemu_fingerprint`` (``driver.qemu``,
``driver.qemu.version``, ``driver.qemu.emulators``) is included as it is.
"""

from __future__ import annotations

# Ansible's architecture fact (uname -m, mostly) to Go's GOARCH, which Nomad reports as cpu.arch.
GO_ARCH = {
    'x86_64': 'amd64',
    'amd64': 'amd64',
    'aarch64': 'arm64',
    'arm64': 'arm64',
    'i386': '386',
    'i686': '386',
    'armv7l': 'arm',
    'armv6l': 'arm',
    'ppc64le': 'ppc64le',
    's390x': 's390x',
    'riscv64': 'riscv64',
}

# The attributes derived from one fact each: attribute -> (fact, conversion).
_DERIVED = (
    ('kernel.name', 'system', lambda value: value.lower()),
    ('kernel.version', 'kernel', lambda value: value),
    ('cpu.arch', 'architecture', lambda value: GO_ARCH.get(value, value)),
    ('os.name', 'distribution', lambda value: value.lower()),
    ('os.version', 'distribution_version', lambda value: value),
    ('unique.hostname', 'nodename', lambda value: value),
)

DRIVER_ATTRIBUTES_FACT = 'driver_qemu_attributes'


class AttributesError(ValueError):
    """Input that cannot be turned into attributes; the message says what to pass instead."""


def _describe(value):
    if value is None:
        return 'nothing (null)'
    return '{0!r} ({1})'.format(value, type(value).__name__)


def node_attributes(facts, extra=None):
    """Return Nomad's node attributes of a host as a dictionary of attribute names to strings.

    ``facts`` is the host's ``ansible_facts`` (keys without ``ansible_``). The result holds
    the fact ``driver_qemu_attributes`` when present, then the attributes derived from
    the facts (see the module's docstring), then ``extra`` (a dictionary such as
    ``{'meta.rack': 'r1', 'node.unique.name': 'web1'}``), each overriding the ones before.

    A fact that is missing or null gives no attribute, as Nomad sets none for what it
    cannot fingerprint; a constraint on it is then not met, with the attribute "not set".
    """
    if not isinstance(facts, dict):
        raise AttributesError('the input must be the dictionary ansible_facts, got {0}'.format(_describe(facts)))
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise AttributesError(
            'the extra attributes must be a dictionary of attribute names to values, such as '
            "{{'meta.rack': 'r1'}}, got {0}".format(_describe(extra)))
    driver = facts.get(DRIVER_ATTRIBUTES_FACT)
    if driver is None:
        driver = {}
    if not isinstance(driver, dict):
        raise AttributesError('the fact {0} must be a dictionary, as qemu_fingerprint sets it, got {1}'.format(
            DRIVER_ATTRIBUTES_FACT, _describe(driver)))
    attributes = dict(driver)
    for name, fact, convert in _DERIVED:
        value = facts.get(fact)
        if value is not None:
            attributes[name] = convert(str(value))
    attributes.update(extra)
    return attributes
