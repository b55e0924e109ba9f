# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Emulator names: the one rule for qemu_task, qemu_fingerprint, the host policy and the host role."""

from __future__ import annotations

import re

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

EMULATOR_PREFIX = 'qemu-system-'
DEFAULT_EMULATOR = 'x86_64'
# QEMU's system emulators are named after the target: x86_64, aarch64, s390x, mips64el, or1k...
# Letters, digits, '_' and '-', starting with a letter or digit: never a path, never a dot.
# The host role's argument check uses the same pattern (roles/host/tasks/main.yml), tested to agree.
EMULATOR_PATTERN = r'^[A-Za-z0-9][A-Za-z0-9_-]*$'
_EMULATOR_RE = re.compile(EMULATOR_PATTERN)


def is_emulator_name(name):
    """True when ``name`` (without the qemu-system- prefix) is a valid emulator name."""
    return isinstance(name, str) and _EMULATOR_RE.fullmatch(name) is not None


def normalize_emulator(emulator, option='emulator'):
    """The emulator's architecture name: ``qemu-system-x86_64`` -> ``x86_64`` (Nomad accepts both).

    Raises QemuTaskError naming ``option`` for anything else.
    """
    name = emulator
    if isinstance(name, str):
        name = name.strip()
        if name.startswith(EMULATOR_PREFIX):
            name = name[len(EMULATOR_PREFIX):]
    if not is_emulator_name(name):
        raise QemuTaskError("%s %r is not a valid emulator name; use an architecture such as x86_64 or aarch64 "
                            "(letters, digits, '_' and '-'), with or without the %s prefix" % (option, emulator, EMULATOR_PREFIX),
                            option=option)
    return name
