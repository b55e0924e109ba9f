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
  - Lists every C(qemu-system-*) emulator found on E(PATH).
  - Checks that KVM can really be used, not only that C(/dev/kvm) exists.
  - Returns the results as host facts (RV(ansible_facts)) and, under the same names, at the top level of the result
    for use with C(register).
  - Also returns Nomad's node attributes (RV(ansible_facts.driver_qemu_attributes)) with Nomad's names and string values,
    so that job constraints such as C(${driver.qemu.version} > 1.2.3) translate directly into conditions.
  - A missing or broken QEMU is not an error. The module then reports RV(ansible_facts.driver_qemu=false), the health
    V(undetected) and the reason in RV(ansible_facts.driver_qemu_health_description).
  - The module never changes the host. It reports C(changed=false), also in check mode, because running
    C(qemu-system-<emulator> --version) and the KVM check change nothing.
extends_documentation_fragment:
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
      - Ignored when O(binary) is set.
    type: str
    default: x86_64
  binary:
    description:
      - Absolute path of the QEMU system emulator to use instead of searching E(PATH) for C(qemu-system-<emulator>),
        for example V(/usr/libexec/qemu-kvm) on Red Hat family systems.
      - When set, O(emulator) is ignored. If the name of the binary is C(qemu-system-<arch>), C(<arch>) is added to
        RV(ansible_facts.driver_qemu_emulators).
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
notes:
  - The module uses the E(PATH) of the managed host's environment, so the C(environment) keyword changes where it looks.
  - "For a quick look at many hosts, run it ad hoc: C(ansible all -m nomadic.qemu.qemu_fingerprint)."
  - Nomad's attribute C(driver.qemu) is V(true) as a string, and Nomad sets no attribute at all when QEMU is undetected;
    RV(ansible_facts.driver_qemu_attributes) follows this, so test for a key with C(in) before reading it.
seealso:
  - name: Nomad QEMU task driver
    description: The client attributes this module reproduces.
    link: https://developer.hashicorp.com/nomad/docs/drivers/qemu#client-attributes
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
      description: Sorted architectures of all C(qemu-system-*) executables on E(PATH) (and of O(binary) when it is named so).
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
    DEFAULT_KVM_DEVICE,
    FingerprintError,
    Fingerprinter,
    module_runner,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            emulator=dict(type='str', default='x86_64'),
            binary=dict(type='path'),
            kvm_check=dict(type='bool', default=True),
            timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    try:
        fingerprinter = Fingerprinter(
            emulator=module.params['emulator'],
            binary=module.params['binary'],
            search_path=os.environ.get('PATH', ''),
            runner=module_runner(module),
            timeout=module.params['timeout'],
            kvm_device=DEFAULT_KVM_DEVICE if module.params['kvm_check'] else None,
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
