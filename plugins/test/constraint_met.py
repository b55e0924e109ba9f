# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: constraint_met
short_description: Check a Nomad job constraint (attribute, operator, value) against a host's attributes
version_added: 0.1.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Tests whether a host's attributes meet one constraint written as in a HashiCorp Nomad job's C(constraint) block.
    The block's C(attribute), C(operator) and C(value) become the test's arguments, in that order; see the examples.
  - The input is a dictionary of attribute names to values, such as
    RV(nomadic.qemu.qemu_fingerprint#module:ansible_facts.driver_qemu_attributes); combine it with other dictionaries
    to check other attributes (C(meta.rack), C(kernel.name)).
  - "The operators are Nomad's: V(=) (also V(==) and V(is)), V(!=) (also V(not)), V(<), V(<=), V(>), V(>=), V(version),
    V(semver), V(regexp), V(set_contains) (also V(set_contains_all)), V(set_contains_any), V(is_set) and V(is_not_set)."
  - "As in Nomad, a missing attribute meets only V(!=), V(not) and V(is_not_set); values compare as text, booleans
    as V(true)/V(false); V(<), V(<=), V(>), V(>=) compare integers and decimal numbers numerically. Unlike Nomad,
    they compare two versions such as V(7.2.22) and V(10.0.0) as versions rather than as text."
  - V(version) and V(semver) take a comma-separated list like V(>= 2.10, < 9); see P(nomadic.qemu.version_satisfies#test)
    for how versions compare.
  - An unknown operator, a value that cannot be read (a malformed version constraint, an invalid regular
    expression), V(distinct_hosts) and V(distinct_property) (which are about several hosts) are errors, where Nomad
    would silently not place the job.
  - See the collection's C(docs/constraints.md) for all differences from Nomad.
positional: attribute, operator, value
options:
  _input:
    description:
      - 'The host''s attributes, a dictionary of Nomad attribute names (without C(attr.)) to values, such as
        V({"driver.qemu": "true", "driver.qemu.version": "7.2.22"}).'
      - A missing key or a V(null) value means that the host does not have the attribute.
    type: dict
    required: true
  attribute:
    description:
      - The attribute to check, in Nomad's syntax V(${attr.driver.qemu.version}), in the V(${driver.qemu.version}) form of
        older Nomad documentation, or as a bare name V(driver.qemu.version).
      - V(${meta.NAME}) and V(${node.NAME}) look up the keys C(meta.NAME) and C(node.NAME) of the input.
      - "Unlike Nomad, where an attribute without C(${...}) is a literal string, a bare name here is an attribute name."
    type: str
    required: true
  operator:
    description:
      - The comparison, one of Nomad's operators. Nomad's default is V(=).
    type: str
    default: '='
  value:
    description:
      - The value to compare with. A literal, or an attribute in the C(${...}) syntax of O(attribute), looked up in the input.
      - Not used by V(is_set) and V(is_not_set); required by every other operator.
      - The set operators also take a list.
    type: raw
seealso:
  - plugin: nomadic.qemu.version_satisfies
    plugin_type: test
    description: Check a version against a version constraint.
  - module: nomadic.qemu.qemu_fingerprint
    description: Sets the fact C(ansible_facts.driver_qemu_attributes) with Nomad's attribute names.
  - name: Nomad constraint block
    description: The operators this test reproduces.
    link: https://developer.hashicorp.com/nomad/docs/job-specification/constraint
"""

EXAMPLES = r"""
---
- name: Fingerprint QEMU
  nomadic.qemu.qemu_fingerprint:

- name: Run only where QEMU is at least 2.10 (constraint { attribute = "${attr.driver.qemu.version}" ... })
  ansible.builtin.debug:
    msg: QEMU is recent enough
  when: >-
    ansible_facts.driver_qemu_attributes
    is nomadic.qemu.constraint_met('${attr.driver.qemu.version}', 'version', '>= 2.10')

- name: The example of Nomad's qemu driver documentation (the > operator compares versions here)
  ansible.builtin.assert:
    that:
      - ansible_facts.driver_qemu_attributes is nomadic.qemu.constraint_met('${driver.qemu.version}', '>', '1.2.3')

- name: Require the aarch64 emulator, with keyword arguments
  ansible.builtin.assert:
    that:
      - >-
        ansible_facts.driver_qemu_attributes
        is nomadic.qemu.constraint_met(attribute='driver.qemu.emulators', operator='set_contains', value='aarch64')

- name: Check a list of constraints, including one on a host's own metadata
  ansible.builtin.assert:
    that:
      - host_attributes is nomadic.qemu.constraint_met(item.attribute, item.operator | default('='), item.value | default(none))
    fail_msg: This host does not meet {{ item.attribute }} {{ item.operator | default('=') }} {{ item.value | default('') }}
  vars:
    host_attributes: "{{ ansible_facts.driver_qemu_attributes | combine({'meta.rack': 'r1'}) }}"
  loop:
    - attribute: ${attr.driver.qemu}
      value: "true"
    - attribute: ${meta.rack}
      operator: regexp
      value: ^r[0-9]+$
    - attribute: ${attr.driver.qemu.version}
      operator: is_set
"""

RETURN = r"""
_value:
  description: Whether the attributes meet the constraint.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import (
    DEFAULT_OPERATOR,
    ConstraintError,
    check_constraint,
)


def constraint_met(attributes, attribute, operator=DEFAULT_OPERATOR, value=None):
    """Test whether ``attributes`` meet the constraint ``attribute operator value``."""
    try:
        if not isinstance(attributes, dict):
            raise ConstraintError('the input must be a dictionary of attribute names to values, such as the fact '
                                  'driver_qemu_attributes, got {0!r}'.format(attributes))
        return check_constraint(attributes, attribute, operator, value) is None
    except ConstraintError as exc:
        raise AnsibleFilterError(str(exc)) from None


class TestModule:
    """The constraint_met test."""

    def tests(self):
        return {
            'constraint_met': constraint_met,
        }
