# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Checksums in Nomad's artifact form, ``type:hex``: the types, their lengths, parsing and hashing.

Declared once: the job-file reader (plugin_utils/_nomad/artifact.py) and qemu_image both use it.
"""

from __future__ import annotations

import hashlib
import re

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

# The checksum types of Nomad's artifact block (go-getter), and how many hexadecimal digits each has.
CHECKSUM_HEX_DIGITS = {'md5': 32, 'sha1': 40, 'sha256': 64, 'sha512': 128}
CHECKSUM_TYPES = tuple(CHECKSUM_HEX_DIGITS)
_HEX_RE = re.compile(r'^[0-9A-Fa-f]+\Z')


def parse_checksum(text, key='checksum'):
    """``(type, hex)`` of a ``type:hex`` checksum, the type and the digits in lower case.

    Raises QemuTaskError naming ``key`` (the option or job-file key) and what is wrong.
    """
    if not isinstance(text, str) or ':' not in text:
        raise QemuTaskError("%s '%s' is not in the form type:value; use md5, sha1, sha256 or sha512, such as sha256:<64 hex digits>"
                            % (key, text), option=key)
    kind, value = text.split(':', 1)
    kind = kind.strip().lower()
    value = value.strip()
    if kind not in CHECKSUM_HEX_DIGITS:
        raise QemuTaskError("%s '%s' has the unsupported type '%s'; use md5, sha1, sha256 or sha512" % (key, text, kind), option=key)
    digits = CHECKSUM_HEX_DIGITS[kind]
    if not _HEX_RE.match(value) or len(value) != digits:
        raise QemuTaskError("%s '%s' is not a valid %s checksum: %s needs %d hexadecimal digits, this has %d characters"
                            % (key, text, kind, kind, digits, len(value)), option=key)
    return kind, value.lower()


def format_checksum(kind, value):
    """The ``type:hex`` form."""
    return '%s:%s' % (kind, value)


def new_hash(kind):
    """A hashlib object for a checksum type (md5 is allowed for checksums only, not security)."""
    if kind == 'md5':
        try:
            return hashlib.md5(usedforsecurity=False)
        except TypeError:  # pragma: no cover - Python built without the keyword
            return hashlib.md5()  # nosec - a checksum named by the user, as Nomad's
    return hashlib.new(kind)
