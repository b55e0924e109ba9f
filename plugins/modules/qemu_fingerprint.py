#!/usr/bin/python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: qemu_fingerprint
short_description: Detect QEMU and KVM on a host the way Nomad's qemu driver fingerprints it
version_added: 0.1.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Looks for the QEMU system emulator C(qemu-system-<emulator>) on E(PATH), runs it with C(--version) and reads the version,
    as the fingerprint of HashiCorp Nomad's C(qemu) task driver does.
  - Lists every C(qemu-system-*) emulator found on E(PATH) that the emulator allowlist allows (see O(emulators_allowlist)).
  - Checks that KVM can really be used, not only that C(/dev/kvm) exists.
  - Returns the results as host facts (C(ansible_facts)) and, under the same names, at the top level of the result
    for use with C(register).
  - Also returns Nomad's node attributes (RV(ansible_facts.driver_qemu_attributes)) with Nomad's names and string values,
    so that job constraints such as C(${driver.qemu.version} > 1.2.3) translate directly into conditions.
  - A missing or broken QEMU is not an error. The module then reports RV(ansible_facts.driver_qemu=false), the health
    V(undetected) and the reason in RV(ansible_facts.driver_qemu_health_description).
  - Honours the emulator allowlist of the host policy C(/etc/nomadic-qemu/policy.json), as Nomad's fingerprint honours
    the plugin option C(emulators_allowlist), so that the facts never advertise an emulator that
    M(nomadic.qemu.qemu_task) refuses.
  - The module never changes the host. It reports C(changed=false), also in check mode, because running
    C(qemu-system-<emulator> --version) and the KVM check change nothing.
extends_documentation_fragment:
  - nomadic.qemu._group
  - nomadic.qemu._attributes
  - nomadic.qemu._attributes.info_module
  - nomadic.qemu._attributes.actiongroup_qemu
attributes:
  facts:
    support: full
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
options:
  emulator:
    description:
      - The architecture of the QEMU system emulator to look for on E(PATH). The binary is C(qemu-system-<emulator>).
      - A C(qemu-system-) prefix is accepted and removed, as Nomad does, so V(qemu-system-aarch64) and V(aarch64) are the same.
      - Letters, digits, V(_) and V(-), starting with a letter or digit (the rule M(nomadic.qemu.qemu_task) applies).
      - Defaults to V(x86_64), or, when an emulator allowlist applies (see O(emulators_allowlist)), to its first entry,
        as Nomad takes the version from the first allowed emulator.
      - Ignored when O(binary) is set, except for a binary not named C(qemu-system-<arch>), such as C(qemu-kvm), for which
        O(emulator) is the architecture checked against the emulator allowlist.
    type: str
  binary:
    description:
      - Absolute path of the QEMU system emulator to use instead of searching E(PATH) for C(qemu-system-<emulator>),
        for example V(/usr/libexec/qemu-kvm) on Red Hat family systems.
      - When set, O(emulator) is ignored (see there for a binary such as C(qemu-kvm)). If the name of the binary is
        C(qemu-system-<arch>), C(<arch>) is added to RV(ansible_facts.driver_qemu_emulators) when the emulator allowlist
        allows it.
      - A binary that does not exist or is not executable gives the health V(undetected) with the reason, not an error.
    type: path
  kvm_check:
    description:
      - Whether to check that KVM is usable. The check opens C(/dev/kvm) read-write, asks for the KVM API version
        (it must be 12) and creates (and at once destroys) an empty virtual machine. The existence of C(/dev/kvm) alone
        is not enough.
      - When V(false), RV(ansible_facts.driver_qemu_kvm) is V(null) and RV(ansible_facts.driver_qemu_kvm_description)
        is V(not checked).
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for C(<binary> --version) to finish. A binary that takes longer is killed and the health is
        V(undetected), so that a hung binary cannot hang the play.
    type: int
    default: 10
  emulators_allowlist:
    description:
      - The emulators that tasks may use, narrowing the C(emulators_allowlist) of the host policy
        C(/etc/nomadic-qemu/policy.json) exactly as the option of the same name of M(nomadic.qemu.qemu_task) does, so
        it may only narrow the host policy. An entry the host policy does not allow is an error.
      - The effective allowlist (the host policy's, or this option's) is applied as Nomad's fingerprint applies its
        plugin option C(emulators_allowlist). RV(ansible_facts.driver_qemu_emulators) lists only the allowed emulators.
        The version is read from the first allowed emulator unless O(emulator) or O(binary) is set. An emulator that
        is not allowed, or an empty allowlist, gives the health V(undetected) with the reason, not an error.
      - Unset and without a host policy (or with the host policy's key unset or V(null)), every emulator is allowed.
      - Architecture names such as V(x86_64), with or without the C(qemu-system-) prefix.
    type: list
    elements: str
  state_dir:
    description:
      - Accepted, so that O(state_dir) can be set in C(module_defaults) for the action group C(group/nomadic.qemu.qemu);
        not used by this module.
    type: path
notes:
  - The module uses the E(PATH) of the managed host's environment, so the C(environment) keyword changes where it looks.
  - "For a quick look at many hosts, run it ad hoc: C(ansible all -m nomadic.qemu.qemu_fingerprint)."
  - O(image_paths), O(args_allowlist) and O(state_dir) are accepted, so that C(module_defaults) for the action group
    C(group/nomadic.qemu.qemu) can set them for all of its modules; this module does not use them.
  - The host policy is read from C(/etc/nomadic-qemu/policy.json), the only one M(nomadic.qemu.qemu_task) enforces.
    A policy file that cannot be read, or an O(emulators_allowlist) that would widen it, is an error.
  - Nomad's attribute C(driver.qemu) is V(true) as a string, and Nomad sets no attribute at all when QEMU is undetected;
    RV(ansible_facts.driver_qemu_attributes) follows this, so test for a key with C(in) before reading it.
seealso:
  - name: Nomad QEMU task driver
    description: The client attributes this module reproduces.
    link: https://developer.hashicorp.com/nomad/docs/drivers/qemu#client-attributes
  - name: Nomad QEMU plugin options
    description: The plugin option C(emulators_allowlist) that the host policy mirrors.
    link: https://developer.hashicorp.com/nomad/docs/drivers/qemu#plugin-options
"""

EXAMPLES = r"""
---
- name: Detect QEMU and KVM
  nomadic.qemu.qemu_fingerprint:

- name: Stop unless QEMU and KVM are usable
  ansible.builtin.assert:
    that:
      - ansible_facts.driver_qemu
      - ansible_facts.driver_qemu_kvm
    fail_msg: >-
      QEMU: {{ ansible_facts.driver_qemu_health_description }};
      KVM: {{ ansible_facts.driver_qemu_kvm_description }}

- name: Use a Nomad-style constraint on the QEMU version
  ansible.builtin.debug:
    msg: QEMU is newer than 1.2.3
  when:
    - "'driver.qemu.version' in ansible_facts.driver_qemu_attributes"
    - ansible_facts.driver_qemu_attributes['driver.qemu.version'] is version('1.2.3', '>')

- name: Look for the aarch64 emulator, without the KVM check
  nomadic.qemu.qemu_fingerprint:
    emulator: aarch64
    kvm_check: false
  register: qemu_aarch64

- name: Show why the aarch64 emulator cannot be used
  ansible.builtin.debug:
    msg: "{{ qemu_aarch64.driver_qemu_health_description }}"
  when: not qemu_aarch64.driver_qemu

- name: Fingerprint only what tasks may use on this host (the host policy may narrow it further)
  nomadic.qemu.qemu_fingerprint:
    emulators_allowlist: [x86_64, aarch64]

- name: The action group's module_defaults work for every module of the group
  module_defaults:
    group/nomadic.qemu.qemu:
      state_dir: /srv/vms
      image_paths: [/srv/images]
  block:
    - name: Fingerprint (state_dir and image_paths are not used here)
      nomadic.qemu.qemu_fingerprint:

- name: Fingerprint a binary outside PATH
  nomadic.qemu.qemu_fingerprint:
    binary: /usr/libexec/qemu-kvm

- name: Fingerprint with another PATH
  nomadic.qemu.qemu_fingerprint:
  environment:
    PATH: /opt/qemu/bin:/usr/bin:/bin
"""

RETURN = r"""
ansible_facts:
  description: Facts about QEMU and KVM on the host. Each one is also returned at the top level of the result.
  returned: always
  type: dict
  contains:
    driver_qemu:
      description: Whether a working QEMU system emulator was found, that is whether the health is V(healthy).
      returned: always
      type: bool
      sample: true
    driver_qemu_version:
      description: The version printed by C(<binary> --version); V(null) when QEMU is undetected.
      returned: always
      type: str
      sample: 7.2.22
    driver_qemu_binary:
      description:
        - Path of the emulator binary that was found or given with O(binary); V(null) when none was found.
        - Set also when the binary was found but did not work.
      returned: always
      type: str
      sample: /usr/bin/qemu-system-x86_64
    driver_qemu_emulators:
      description:
        - Sorted architectures of all C(qemu-system-*) executables on E(PATH) (and of O(binary) when it is named so)
          that the emulator allowlist allows (see O(emulators_allowlist)).
      returned: always
      type: list
      elements: str
      sample: [i386, x86_64, x86_64-microvm]
    driver_qemu_kvm:
      description: Whether KVM is usable; V(null) when O(kvm_check=false).
      returned: always
      type: bool
      sample: true
    driver_qemu_kvm_description:
      description: V(usable), V(not checked), or why KVM cannot be used.
      returned: always
      type: str
      sample: usable
    driver_qemu_health:
      description: The health of the driver in Nomad's terms.
      returned: always
      type: str
      choices: [healthy, undetected]
      sample: healthy
    driver_qemu_health_description:
      description: V(Healthy) as Nomad says, or why QEMU is undetected.
      returned: always
      type: str
      sample: Healthy
    driver_qemu_attributes:
      description:
        - The node attributes Nomad's qemu driver sets, with Nomad's names and string values.
        - C(driver.qemu) is V(true), C(driver.qemu.version) is the version and C(driver.qemu.emulators) the
          comma-separated emulators.
        - Empty when QEMU is undetected, as in Nomad.
      returned: always
      type: dict
      sample:
        driver.qemu: "true"
        driver.qemu.version: 7.2.22
        driver.qemu.emulators: i386,x86_64,x86_64-microvm
driver_qemu:
  description: Same as RV(ansible_facts.driver_qemu).
  returned: always
  type: bool
  sample: true
driver_qemu_version:
  description: Same as RV(ansible_facts.driver_qemu_version).
  returned: always
  type: str
  sample: 7.2.22
driver_qemu_binary:
  description: Same as RV(ansible_facts.driver_qemu_binary).
  returned: always
  type: str
  sample: /usr/bin/qemu-system-x86_64
driver_qemu_emulators:
  description: Same as RV(ansible_facts.driver_qemu_emulators).
  returned: always
  type: list
  elements: str
  sample: [i386, x86_64, x86_64-microvm]
driver_qemu_kvm:
  description: Same as RV(ansible_facts.driver_qemu_kvm).
  returned: always
  type: bool
  sample: true
driver_qemu_kvm_description:
  description: Same as RV(ansible_facts.driver_qemu_kvm_description).
  returned: always
  type: str
  sample: usable
driver_qemu_health:
  description: Same as RV(ansible_facts.driver_qemu_health).
  returned: always
  type: str
  choices: [healthy, undetected]
  sample: healthy
driver_qemu_health_description:
  description: Same as RV(ansible_facts.driver_qemu_health_description).
  returned: always
  type: str
  sample: Healthy
driver_qemu_attributes:
  description: Same as RV(ansible_facts.driver_qemu_attributes).
  returned: always
  type: dict
  sample:
    driver.qemu: "true"
    driver.qemu.version: 7.2.22
    driver.qemu.emulators: i386,x86_64,x86_64-microvm
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nomadic.qemu.plugins.module_utils._fingerprint import (
    FingerprintError,
    Fingerprinter,
    emulators_allowlist,
    module_runner,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._kvm import DEFAULT_KVM_DEVICE
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import GROUP_OPTIONS, argument_spec


def main():
    # The action group's shared options (state_dir, image_paths, args_allowlist, emulators_allowlist), then our own.
    spec = argument_spec(GROUP_OPTIONS)
    spec.update(
        emulator=dict(type='str'),
        binary=dict(type='path'),
        kvm_check=dict(type='bool', default=True),
        timeout=dict(type='int', default=10),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        allowlist, origin = emulators_allowlist(module.params['emulators_allowlist'])
        fingerprinter = Fingerprinter(
            emulator=module.params['emulator'],
            binary=module.params['binary'],
            search_path=os.environ.get('PATH', ''),
            runner=module_runner(module),
            timeout=module.params['timeout'],
            kvm_device=DEFAULT_KVM_DEVICE if module.params['kvm_check'] else None,
            emulators_allowlist=allowlist,
            allowlist_origin=origin,
        )
        facts = fingerprinter.fingerprint().facts()
    except FingerprintError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:
        module.fail_json(msg='Unexpected error while fingerprinting QEMU: {0}'.format(exc), exception=traceback.format_exc())
    else:
        module.exit_json(changed=False, ansible_facts=facts, **facts)


if __name__ == '__main__':
    main()
