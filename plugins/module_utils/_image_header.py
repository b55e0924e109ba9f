# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The backing file an image names, read from its header in Python (qcow2, qed, vmdk).

qemu-img opens a backing file to describe it, whatever it is: an ``nbd://`` name makes it
connect to that address. These readers look at the names first, so that a name outside
image_paths, or one that is not a local file, is refused before qemu-img ever runs.
"""

from __future__ import annotations

import os
import re
import struct

QCOW2_MAGIC = b'QFI\xfb'
QED_MAGIC = b'QED\x00'
VMDK_SPARSE_MAGIC = b'KDMV'
VMDK_DESCRIPTOR_START = b'# Disk DescriptorFile'
# A backing file name longer than this is not one QEMU would write (qcow2 allows 1023 bytes).
MAX_NAME = 4096
# How deep a chain is followed; QEMU's own limit is far above any real chain.
MAX_DEPTH = 16
_PARENT_HINT_RE = re.compile(rb'^\s*parentFileNameHint\s*=\s*"([^"]*)"', re.MULTILINE)


class HeaderError(ValueError):
    """An image header that cannot be read as its magic says."""


def _read_at(f, offset, size):
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise HeaderError('truncated header')
    return data


def backing_name(path):
    """The backing file name in the image's header, or None (no backing file, or not a format that has one)."""
    with open(path, 'rb') as f:
        head = f.read(512)
        if head.startswith(QCOW2_MAGIC) and len(head) >= 20:
            offset, size = struct.unpack('>QI', head[8:20])
            return _name(f, offset, size)
        if head.startswith(QED_MAGIC) and len(head) >= 64:
            features = struct.unpack('<Q', head[16:24])[0]
            offset, size = struct.unpack('<II', head[56:64])
            return _name(f, offset, size) if features & 1 else None
        if head.startswith(VMDK_SPARSE_MAGIC) and len(head) >= 44:
            sector, sectors = struct.unpack('<QQ', head[28:44])
            if not sector or not sectors:
                return None
            return _parent_hint(_read_at(f, sector * 512, min(sectors * 512, 65536)))
        if head.startswith(VMDK_DESCRIPTOR_START):
            f.seek(0)
            return _parent_hint(f.read(65536))
    return None


def _name(f, offset, size):
    if not offset or not size:
        return None
    if size > MAX_NAME:
        raise HeaderError('backing file name of %d bytes' % size)
    return _read_at(f, offset, size).decode('utf-8', 'surrogateescape')


def _parent_hint(descriptor):
    match = _PARENT_HINT_RE.search(descriptor)
    return match.group(1).decode('utf-8', 'surrogateescape') if match else None


def is_local_name(name):
    """True for a plain file name (or ``file:`` one): no protocol such as nbd:, http:, ssh: or json:."""
    head = name.split('/', 1)[0]
    return ':' not in head or name.startswith('file:')


def header_chain(image):
    """The chain of an image as its headers tell it, in the shape of ``qemu-img info --backing-chain`` entries.

    Local backing files are followed (relative names relative to the image naming them); a
    name with a protocol ends the chain there, so that check_image_chain() refuses it before
    anything opens it. Unreadable files end the chain too: qemu-img reports them next.
    """
    chain = []
    current = image
    for _depth in range(MAX_DEPTH):
        try:
            name = backing_name(current)
        except (OSError, HeaderError):
            break
        chain.append({'filename': current, 'backing-filename': name})
        if not name or not is_local_name(name):
            break
        local = name[len('file:'):] if name.startswith('file:') else name
        current = os.path.join(os.path.dirname(current), local)
    return chain
