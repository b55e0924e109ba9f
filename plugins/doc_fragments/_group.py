# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

from __future__ import annotations


class ModuleDocFragment:

    # The host-policy options every module of the action group accepts, so that module_defaults for
    # group/nomadic.qemu.qemu work for all of them. The argument spec is GROUP_OPTIONS in
    # plugins/module_utils/_task/options.py (with state_dir, documented in the _task fragment).
    # nomadic.qemu.qemu_task documents these options more fully, since it enforces them.
    DOCUMENTATION = r"""
options:
  image_paths:
    description:
      - Directories that task images may come from, narrowing the C(image_paths) of the host policy
        C(/etc/nomadic-qemu/policy.json) (Nomad's plugin option of the same name).
      - Enforced by M(nomadic.qemu.qemu_task). Every module of the action group C(nomadic.qemu.qemu) accepts it,
        so that O(image_paths) can be set once in C(module_defaults) for C(group/nomadic.qemu.qemu);
        a module that does not use it says so in its notes.
    type: list
    elements: path
  args_allowlist:
    description:
      - The QEMU options tasks may pass in C(args), narrowing the C(args_allowlist) of the host policy
        C(/etc/nomadic-qemu/policy.json) (Nomad's plugin option of the same name).
      - Enforced by M(nomadic.qemu.qemu_task). Every module of the action group C(nomadic.qemu.qemu) accepts it,
        so that O(args_allowlist) can be set once in C(module_defaults) for C(group/nomadic.qemu.qemu);
        a module that does not use it says so in its notes.
    type: list
    elements: str
  emulators_allowlist:
    description:
      - The emulators tasks may use (architecture names such as V(x86_64), with or without the C(qemu-system-) prefix),
        narrowing the C(emulators_allowlist) of the host policy C(/etc/nomadic-qemu/policy.json)
        (Nomad's plugin option of the same name). It may only narrow the host policy, never widen it.
      - Enforced by M(nomadic.qemu.qemu_task). Every module of the action group C(nomadic.qemu.qemu) accepts it,
        so that O(emulators_allowlist) can be set once in C(module_defaults) for C(group/nomadic.qemu.qemu);
        a module that does not use it says so in its notes.
    type: list
    elements: str
"""
