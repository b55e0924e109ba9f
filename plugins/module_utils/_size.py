# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Disk sizes as users write them (``10G``, ``512M``, ``1073741824``) and as QEMU stores them (bytes, whole sectors)."""

from __future__ import annotations

import re

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

# qemu-img's suffixes: powers of 1024 (K, M, G, T, P, E), with an optional B or iB.
_UNITS = {'': 1, 'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40, 'p': 1 << 50, 'e': 1 << 60}
_SIZE_RE = re.compile(r'^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtpe]?)(?:i?b)?\s*$', re.IGNORECASE)
# QEMU rounds a disk up to whole 512-byte sectors; sizes are compared after the same rounding.
SECTOR = 512
# qcow2's largest virtual size (QEMU 7.2: 64 PiB); raw files are bounded by the file system.
MAX_SIZE = 64 << 50


def parse_size(value, option):
    """Bytes of a size (an int is bytes; a string takes qemu-img's K/M/G/T suffixes), rounded up to whole sectors."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        size = value
    elif isinstance(value, float) and value.is_integer():
        size = int(value)
    else:
        match = _SIZE_RE.match(value) if isinstance(value, str) else None
        if not match:
            raise QemuTaskError('%s %r is not a size; use bytes or a number with K, M, G or T (powers of 1024), such as 10G'
                                % (option, value), option=option)
        number, unit = match.groups()
        size = int(float(number) * _UNITS[unit.lower()]) if '.' in number else int(number) * _UNITS[unit.lower()]
    if size <= 0:
        raise QemuTaskError('%s %r is not a size of 1 byte or more; use one such as 10G' % (option, value), option=option)
    if size > MAX_SIZE:
        raise QemuTaskError('%s %r is larger than QEMU allows (64P); use a smaller size' % (option, value), option=option)
    return -(-size // SECTOR) * SECTOR


def format_size(size):
    """Bytes in the largest unit that divides them exactly: 10737418240 -> '10G'."""
    for unit in ('E', 'P', 'T', 'G', 'M', 'K'):
        factor = _UNITS[unit.lower()]
        if size >= factor and size % factor == 0:
            return '%d%s' % (size // factor, unit)
    return str(size)


def whole_number(value):
    """``value`` as a whole number (an int, or a string of digits as templating gives), or None when it is none (a bool is none)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
