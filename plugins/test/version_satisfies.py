# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: version_satisfies
short_description: Check a version against a Nomad version constraint such as C(>= 2.10, < 9)
version_added: 0.1.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Tests whether a version satisfies a comma-separated list of constraints, the value of HashiCorp Nomad's
    C(version) constraint operator (or of C(semver) with O(semver=true)).
  - Each constraint is an operator and a version. The operators are C(=) (also when left out), C(!=), C(>), C(<),
    C(>=), C(<=) and the pessimistic C(~>) (C(~> 1.2) means C(>= 1.2, < 2), C(~> 1.2.3) means C(>= 1.2.3, < 1.3)).
  - 'Versions compare segment by segment as numbers, so C(10.0) is greater than C(9.2); missing segments count as zero
    (C(7.2) equals C(7.2.0)). Build metadata after C(+) is ignored (C(8.2.2+ds) equals C(8.2.2)); text in parentheses
    after the version and a Debian epoch are dropped (C(2.4.0) for 2.4.0(qemu-kvm-ev), C(8.2.2) for C(1:8.2.2)).'
  - A pre-release (C(8.0.0-rc1), C(8.0.0~rc1)) is lower than its release. As in Nomad's C(version) operator, it satisfies
    a constraint only if that constraint names a pre-release of the same version; with O(semver=true) it is
    compared by plain SemVer 2.0 order, as Nomad's C(semver) operator does.
  - An input that is V(null) (for example RV(nomadic.qemu.qemu_fingerprint#module:ansible_facts.driver_qemu_version) on a host
    without QEMU) does not satisfy any constraint.
  - See the collection's C(docs/constraints.md) for how this compares with Nomad.
options:
  _input:
    description:
      - The version to test, for example the fact C(ansible_facts.driver_qemu_version) set by M(nomadic.qemu.qemu_fingerprint).
      - A string, or a number as YAML reads an unquoted version such as V(7.2), which is taken as its text. Quote a
        version whose last digit is a zero, since YAML reads V(7.10) as the number V(7.1).
      - V(null) gives V(false); any other value that is not a version is an error.
    type: raw
    required: true
  constraints:
    description:
      - One or more constraints separated by commas, such as V(> 1.2.3) or V(>= 2.10, < 9).
      - A constraint that cannot be read is an error naming it.
    type: str
    required: true
  semver:
    description:
      - Use the rules of Nomad's C(semver) operator instead of those of its C(version) operator.
      - The versions in O(constraints) must then be Semantic Versions (a C(-) before a pre-release), C(~>) is not
        available, and pre-releases compare by SemVer 2.0 order, so that V(1.6.0-beta) satisfies V(>= 1.0).
    type: bool
    default: false
seealso:
  - plugin: nomadic.qemu.constraint_met
    plugin_type: test
    description: Check a whole Nomad constraint (attribute, operator, value) against a host's attributes.
  - module: nomadic.qemu.qemu_fingerprint
    description: Sets the fact C(ansible_facts.driver_qemu_version).
  - name: Nomad constraint operators
    description: The C(version) and C(semver) operators this test reproduces.
    link: https://developer.hashicorp.com/nomad/docs/job-specification/constraint#operator-values
"""

EXAMPLES = r"""
---
- name: Do something only where QEMU is newer than 1.2.3
  ansible.builtin.debug:
    msg: QEMU {{ ansible_facts.driver_qemu_version }} is recent enough
  when: ansible_facts.driver_qemu_version is nomadic.qemu.version_satisfies('> 1.2.3')

- name: Require QEMU 2.10 or later, but older than 9
  ansible.builtin.assert:
    that:
      - ansible_facts.driver_qemu_version is nomadic.qemu.version_satisfies('>= 2.10, < 9')
    fail_msg: QEMU {{ ansible_facts.driver_qemu_version }} is not supported

- name: In a later play, use the facts the nomadic.qemu.host role persisted
  ansible.builtin.debug:
    msg: This host has a QEMU 8.x
  when: ansible_local.nomadic_qemu.driver_qemu_version is nomadic.qemu.version_satisfies('~> 8.0')

- name: Accept pre-releases, as Nomad's semver operator does
  ansible.builtin.assert:
    that:
      - "'9.0.0-rc1' is nomadic.qemu.version_satisfies('>= 8.0', semver=true)"
      - "'9.0.0-rc1' is not nomadic.qemu.version_satisfies('>= 8.0')"
"""

RETURN = r"""
_value:
  description: Whether the version satisfies every constraint.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import (
    ConstraintError,
    parse_version,
    version_satisfies as _version_satisfies,
)


def version_satisfies(value, constraints, semver=False):
    """Test whether ``value`` satisfies the comma-separated version ``constraints``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # a version YAML reads as a number: 7.2, or 7 (7.10 reads as 7.1, so quote such versions)
        value = str(value)
    try:
        if value is not None and parse_version(value) is None:
            raise ConstraintError(
                '{0!r} is not a version; give a version such as 7.2.22 (null is accepted and satisfies nothing)'.format(value))
        # the constraints are checked even for null, so that a typo fails on every host
        satisfied = _version_satisfies(value, constraints, semver=bool(semver))
        return value is not None and satisfied
    except ConstraintError as exc:
        raise AnsibleFilterError(str(exc)) from None


class TestModule:
    """The version_satisfies test."""

    def tests(self):
        return {
            'version_satisfies': version_satisfies,
        }
