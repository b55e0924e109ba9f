# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: nomad_attributes
short_description: A host's Nomad node attributes, derived from its Ansible facts
version_added: 0.1.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Returns the node attributes a HashiCorp Nomad client would fingerprint on the host, with Nomad's names (without
    C(attr.)) and string values, for P(nomadic.qemu.constraints_unmet#filter), P(nomadic.qemu.constraint_met#test)
    and P(nomadic.qemu.nomad_job_placement#filter).
  - "The attributes are: the fact C(driver_qemu_attributes) set by M(nomadic.qemu.qemu_fingerprint) (C(driver.qemu),
    C(driver.qemu.version), C(driver.qemu.emulators)); C(kernel.name), the fact C(system) in lower case (V(linux));
    C(kernel.version), the fact C(kernel), the whole C(uname -r) as Nomad reports it (V(6.1.0-18-amd64));
    C(cpu.arch), the fact C(architecture) with Go's name as Nomad reports it (V(amd64) for V(x86_64), V(arm64) for
    V(aarch64), V(386) for V(i386) and V(i686), V(arm) for V(armv7l) and V(armv6l); others unchanged);
    C(os.name), the fact C(distribution) in lower case (V(debian)); C(os.version), the fact C(distribution_version);
    C(unique.hostname), the fact C(nodename)."
  - A fact that is missing gives no attribute, so a constraint on it is not met. The facts C(system), C(kernel),
    C(architecture), C(nodename), C(distribution) and C(distribution_version) come with the default fact gathering,
    and with C(gather_subset) V(min).
  - O(extra) is added last and overrides the rest. Nomad takes C(node.unique.name) from the client's name and
    C(meta.*) and C(node.class) from its configuration, which facts cannot tell; pass them there.
  - C(os.name) is Ansible's distribution name in lower case; for some distributions it is not the name Nomad reports
    (V(archlinux) where Nomad says V(arch)). Check the value on one host before writing a constraint on it.
positional: extra
options:
  _input:
    description: The host's facts, C(ansible_facts).
    type: dict
    required: true
  extra:
    description:
      - 'More attributes, such as V({"meta.rack": "r1", "node.unique.name": "web1"}), overriding the derived ones.'
    type: dict
seealso:
  - plugin: nomadic.qemu.constraints_unmet
    plugin_type: filter
    description: Check a list of Nomad constraints against these attributes.
  - module: nomadic.qemu.qemu_fingerprint
    description: Sets the C(driver_qemu_attributes) fact.
  - name: Nomad node attributes
    description: The attributes a Nomad client fingerprints.
    link: https://developer.hashicorp.com/nomad/docs/runtime/interpolation#node-attributes
"""

EXAMPLES = r"""
---
- name: Fingerprint QEMU
  nomadic.qemu.qemu_fingerprint:

- name: Compute the host's Nomad attributes, with its name and a rack
  ansible.builtin.set_fact:
    host_attributes: "{{ ansible_facts | nomadic.qemu.nomad_attributes({'node.unique.name': inventory_hostname, 'meta.rack': 'r1'}) }}"

- name: Run only on Linux hosts with the arm64 CPU architecture
  ansible.builtin.debug:
    msg: An arm64 Linux host
  when:
    - host_attributes is nomadic.qemu.constraint_met('${attr.kernel.name}', '=', 'linux')
    - host_attributes is nomadic.qemu.constraint_met('${attr.cpu.arch}', '=', 'arm64')
"""

RETURN = r"""
_value:
  description: Nomad attribute names (without C(attr.)) to values.
  type: dict
  sample:
    driver.qemu: "true"
    driver.qemu.version: "7.2.22"
    driver.qemu.emulators: "i386,x86_64,x86_64-microvm"
    kernel.name: linux
    kernel.version: 6.1.0-18-amd64
    cpu.arch: amd64
    os.name: debian
    os.version: "12.5"
    unique.hostname: vmhost1
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nomadic.qemu.plugins.plugin_utils._attributes import AttributesError, node_attributes


def nomad_attributes(facts, extra=None):
    """Nomad's node attributes of a host with the facts ``facts``, plus ``extra``."""
    try:
        return node_attributes(facts, extra)
    except AttributesError as exc:
        raise AnsibleFilterError('nomad_attributes: {0}'.format(exc)) from None


class FilterModule:
    """The nomad_attributes filter."""

    def filters(self):
        return {
            'nomad_attributes': nomad_attributes,
        }
