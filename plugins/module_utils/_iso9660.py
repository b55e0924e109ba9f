# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A minimal ISO 9660 image writer: one root directory of small files, with Joliet names.

Enough for a cloud-init NoCloud seed (volume label ``cidata``, files ``user-data``,
``meta-data``...), written with the standard library alone, as lima does, so that no
genisoimage or cloud-localds is needed on the host. The primary volume descriptor carries
ISO 9660 names (upper case, ``-`` as ``_``); the Joliet one carries the exact names, which
Linux (and so cloud-init) reads. The output depends on the label and files only: the same
input gives the same bytes, so its hash can stand for its content.
"""

from __future__ import annotations

import re
import struct

SECTOR = 2048
# Sectors 0-15 are the system area; the volume descriptors start at 16.
_PVD, _SVD, _TERMINATOR = 16, 17, 18
_PATH_TABLES = (19, 20, 21, 22)  # PVD L and M, Joliet L and M
_ROOTS = (23, 24)  # the root directory of each tree
_FIRST_FILE = 25
# A fixed recording time (2000-01-01 00:00:00 UTC) keeps the output reproducible.
_DIR_TIME = bytes((100, 1, 1, 0, 0, 0, 0))
_VOLUME_TIME = b'2000010100000000\x00'
_UNSET_TIME = b'0' * 16 + b'\x00'
# Joliet level 3 (UCS-2), in the supplementary volume descriptor's escape sequences.
_JOLIET_ESCAPE = b'%/E'
_LABEL_RE = re.compile(r'^[A-Za-z0-9_]{1,32}$')
_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')


class IsoError(ValueError):
    """The label or a file name cannot be written."""


def _both16(value):
    return struct.pack('<H', value) + struct.pack('>H', value)


def _both32(value):
    return struct.pack('<I', value) + struct.pack('>I', value)


def _pad(text, size, joliet=False):
    if joliet:
        data = text.encode('utf-16-be')
        return data + b'\x00\x20' * ((size - len(data)) // 2) + b'\x20' * ((size - len(data)) % 2)
    return text.encode('ascii') + b' ' * (size - len(text))


def _record(identifier, extent, size, directory):
    length = 33 + len(identifier) + (1 - len(identifier) % 2)
    return (struct.pack('<BB', length, 0) + _both32(extent) + _both32(size) + _DIR_TIME
            + struct.pack('<BBB', 2 if directory else 0, 0, 0) + _both16(1) + struct.pack('<B', len(identifier))
            + identifier + b'\x00' * (1 - len(identifier) % 2))


def _iso_name(name):
    """The ISO 9660 identifier of a file: upper case, d-characters, one dot, version 1."""
    stem, dot, ext = name.upper().replace('-', '_').partition('.')
    return ('%s.%s;1' % (stem, ext.replace('.', '_'))).encode('ascii')


def _joliet_name(name):
    return ('%s;1' % name).encode('utf-16-be')


def _directory(root, files, naming):
    """One sector holding a root directory: '.', '..' and the files, sorted by identifier."""
    entries = [_record(b'\x00', root, SECTOR, True), _record(b'\x01', root, SECTOR, True)]
    for identifier, extent, size in sorted((naming(name), extent, len(data)) for name, (extent, data) in files.items()):
        entries.append(_record(identifier, extent, size, False))
    data = b''.join(entries)
    if len(data) > SECTOR:
        raise IsoError('too many files for one directory sector')
    return data + b'\x00' * (SECTOR - len(data))


def _path_table(root, little_endian):
    pack = '<' if little_endian else '>'
    return struct.pack(pack + 'BBIH', 1, 0, root, 1) + b'\x00\x00'


def _descriptor(kind, label, total, path_tables, root, joliet):
    system = _pad('LINUX', 32, joliet)
    volume = _pad(label, 32, joliet)
    blank = _pad('', 128, joliet)
    descriptor = (struct.pack('<B', kind) + b'CD001\x01\x00' + system + volume + b'\x00' * 8 + _both32(total)
                  + (_JOLIET_ESCAPE + b'\x00' * 29 if joliet else b'\x00' * 32) + _both16(1) + _both16(1) + _both16(SECTOR)
                  + _both32(10) + struct.pack('<I', path_tables[0]) + b'\x00' * 4 + struct.pack('>I', path_tables[1])
                  + b'\x00' * 4 + _record(b'\x00', root, SECTOR, True) + blank + blank + blank
                  + _pad('NOMADIC.QEMU', 128, joliet) + _pad('', 37, joliet) + _pad('', 37, joliet) + _pad('', 37, joliet)
                  + _VOLUME_TIME + _VOLUME_TIME + _UNSET_TIME + _UNSET_TIME + b'\x01\x00')
    return descriptor + b'\x00' * (SECTOR - len(descriptor))


def write_iso(label, files):
    """The bytes of an ISO 9660 image with volume label ``label`` and ``files`` ({name: bytes}) in its root."""
    if not isinstance(label, str) or not _LABEL_RE.match(label):
        raise IsoError('volume label %r is not 1 to 32 letters, digits or _' % (label,))
    layout = {}
    extent = _FIRST_FILE
    for name in sorted(files):
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise IsoError('file name %r is not 1 to 64 letters, digits, ., _ or -, starting with a letter or digit' % (name,))
        data = files[name]
        layout[name] = (extent, data)
        extent += max(1, -(-len(data) // SECTOR))
    if len(set(_iso_name(name) for name in files)) != len(files):
        raise IsoError('file names %s are the same once written as ISO 9660 names' % ', '.join(sorted(files)))
    total = extent
    image = bytearray(SECTOR * _PVD)
    image += _descriptor(1, label, total, _PATH_TABLES[0:2], _ROOTS[0], False)
    image += _descriptor(2, label, total, _PATH_TABLES[2:4], _ROOTS[1], True)
    image += struct.pack('<B', 255) + b'CD001\x01' + b'\x00' * (SECTOR - 7)
    for root in _ROOTS:
        for little_endian in (True, False):
            image += _path_table(root, little_endian) + b'\x00' * (SECTOR - 10)
    image += _directory(_ROOTS[0], layout, _iso_name)
    image += _directory(_ROOTS[1], layout, _joliet_name)
    for name in sorted(layout):
        data = layout[name][1]
        image += data + b'\x00' * (max(1, -(-len(data) // SECTOR)) * SECTOR - len(data))
    return bytes(image)
