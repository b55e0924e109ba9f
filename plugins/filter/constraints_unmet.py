# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: constraints_unmet
short_description: The Nomad job constraints a host's attributes do not meet
version_added: 0.1.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Checks a list of constraints written as HashiCorp Nomad's C(constraint) blocks against a host's attributes and
    returns one message per unmet constraint, in order, naming it and the value the host has; an empty list when
    all are met.
  - Each constraint is checked as P(nomadic.qemu.constraint_met#test) checks it; see the collection's
    C(docs/constraints.md) for the operators and how they differ from Nomad's.
  - A constraint that cannot be evaluated (an unknown operator or key, a malformed version constraint, an invalid
    regular expression, V(distinct_hosts)) is an error naming it by its position, counted from 1.
positional: constraints
options:
  _input:
    description:
      - The host's attributes, Nomad attribute names (without C(attr.)) to values, such as the result of
        P(nomadic.qemu.nomad_attributes#filter).
      - A missing key or a V(null) value means that the host does not have the attribute.
    type: dict
    required: true
  constraints:
    description:
      - The constraints, each a dictionary with C(attribute), C(operator) (default V(=)) and C(value), as in Nomad.
      - "Nomad's short forms are accepted: V({attribute: ..., version: \">= 2.10\"}) means the operator V(version) with
        the value V(>= 2.10); likewise C(semver), C(regexp), C(set_contains), C(set_contains_all) and C(set_contains_any)."
    type: list
    elements: dict
    required: true
seealso:
  - plugin: nomadic.qemu.nomad_attributes
    plugin_type: filter
    description: A host's Nomad node attributes, derived from its facts.
  - plugin: nomadic.qemu.constraint_met
    plugin_type: test
    description: Check one constraint.
  - name: Nomad constraint block
    description: The constraints this filter checks.
    link: https://developer.hashicorp.com/nomad/docs/job-specification/constraint
"""

EXAMPLES = r"""
---
- name: Fingerprint QEMU
  nomadic.qemu.qemu_fingerprint:

- name: Fail a host that does not meet the constraints
  ansible.builtin.assert:
    that:
      - unmet | length == 0
    fail_msg: "{{ unmet | join('; ') }}"
  vars:
    unmet: >-
      {{ ansible_facts | nomadic.qemu.nomad_attributes
         | nomadic.qemu.constraints_unmet([
             {'attribute': '${attr.driver.qemu.version}', 'version': '>= 7.0'},
             {'attribute': '${attr.kernel.name}', 'value': 'linux'},
           ]) }}
"""

RETURN = r"""
_value:
  description: One message per unmet constraint, in order; empty when all are met.
  type: list
  elements: str
  sample:
    - "constraint '${attr.driver.qemu.version} version >= 9.0' is not met: driver.qemu.version is '7.2.22'"
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import ConstraintError, check_constraints


def constraints_unmet(attributes, constraints):
    """The messages of the ``constraints`` that ``attributes`` do not meet."""
    try:
        return check_constraints(constraints, attributes)
    except ConstraintError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """The constraints_unmet filter."""

    def filters(self):
        return {
            'constraints_unmet': constraints_unmet,
        }
