# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Parse the version QEMU prints for ``--version``.

Pure functions only: this file is shared by the fingerprint module (on the managed host)
and by controller-side plugins.
"""

from __future__ import annotations

import re

# Nomad matches ``version (\d[\.\d+]+)``, which also swallows trailing dots and plus
# signs ("version 2.5." gives "2.5."). We take the first "version" followed by
# dot-separated numbers and keep only complete numeric components, so
# "QEMU emulator version 2.4.0(qemu-kvm-ev)" gives "2.4.0" and "version 2.5." gives "2.5".
_VERSION_RE = re.compile(r'\bversion\s+v?(\d+(?:\.\d+)+)', re.IGNORECASE)

_VERSION_STRING_RE = re.compile(r'^\d+(?:\.\d+)*$')


def parse_qemu_version(text):
    """Return the version from the output of ``qemu-system-<arch> --version``.

    ``text`` may span several lines (QEMU adds a copyright line) and may be bytes.
    Returns a string such as ``7.2.22``, or ``None`` when no version is found.
    """
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode('utf-8', errors='replace')
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    return match.group(1)


def version_tuple(version):
    """Turn a version string such as ``7.2.22`` into ``(7, 2, 22)`` for comparisons.

    Raises ``ValueError`` when ``version`` is not made of dot-separated numbers.
    """
    if not isinstance(version, str) or not _VERSION_STRING_RE.match(version):
        raise ValueError(
            'version {0!r} is not a dot-separated list of numbers such as 7.2.22'.format(version))
    return tuple(int(part) for part in version.split('.'))
