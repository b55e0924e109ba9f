# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""What is done to a downloaded image before it is cached: decompress, inspect, convert and grow.

Compression is recognised by its magic bytes (gzip, bzip2, xz, zstd); gzip, bzip2 and xz are
decompressed in Python, streamed, and zstd with the ``zstd`` program (the standard library has
no zstd before Python 3.14). qemu-img converts and resizes; ``run`` is a callable like
AnsibleModule.run_command, so tests need no module.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import shutil
import struct
import zlib

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._image_header import QCOW2_MAGIC, HeaderError, backing_name

CHUNK = 1 << 20
DECOMPRESS_CHOICES = ('auto', 'none')
FORMATS = ('qcow2', 'raw')
# Magic bytes of the single-file compressors, as file(1) knows them, and the suffix each uses.
COMPRESSIONS = (
    ('gz', b'\x1f\x8b'),
    ('bz2', b'BZh'),
    ('xz', b'\xfd7zXZ\x00'),
    ('zst', b'\x28\xb5\x2f\xfd'),
)
_OPENERS = {'gz': gzip.open, 'bz2': bz2.open, 'xz': lzma.open}


def detect_compression(head):
    """'gz', 'bz2', 'xz' or 'zst' when the first bytes are that compressor's magic, else None."""
    for kind, magic in COMPRESSIONS:
        if head.startswith(magic):
            return kind
    return None


def file_compression(path):
    with open(path, 'rb') as f:
        return detect_compression(f.read(8))


def decompress(kind, src_path, dst_path, shown, run=None, which=shutil.which):
    """Decompress ``src_path`` (compressed with ``kind``) into the existing file ``dst_path``."""
    if kind == 'zst':
        zstd = which('zstd')
        if not zstd:
            raise QemuTaskError('%s is zstd-compressed, and decompressing it needs the zstd program, which was not found on PATH; '
                                'install it (Debian: zstd), or set decompress to none' % shown, option='decompress')
        rc, out, err = run([zstd, '-d', '-q', '-f', '-o', dst_path, src_path])
        if rc != 0:
            raise QemuTaskError('%s is not valid zstd data (zstd exit status %s: %s); check the source or set decompress to none'
                                % (shown, rc, (err or out or '').strip()[:300]), option='decompress')
        return
    try:
        with _OPENERS[kind](src_path, 'rb') as f, open(dst_path, 'wb') as out:
            shutil.copyfileobj(f, out, CHUNK)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise QemuTaskError('cannot write the decompressed %s into the cache: %s; free space there or choose another cache_dir'
                                % (shown, exc.strerror or exc), option='cache_dir') from None
        raise QemuTaskError('%s is not valid .%s data (%s); check the source or set decompress to none' % (shown, kind, exc),
                            option='decompress') from None


def sniff(path):
    """``(format, virtual_size)`` from the header: qcow2 by its magic, anything else as raw (its file size)."""
    with open(path, 'rb') as f:
        head = f.read(32)
    if head.startswith(QCOW2_MAGIC) and len(head) >= 32:
        return 'qcow2', struct.unpack('>Q', head[24:32])[0]
    return 'raw', os.path.getsize(path)


def check_self_contained(path, shown):
    """Refuse an image whose header names a backing file: a cached image must not pull in another file or address."""
    try:
        name = backing_name(path)
    except (OSError, HeaderError) as exc:
        raise QemuTaskError('%s has a damaged image header (%s); check the source' % (shown, exc), option='src') from None
    if name:
        raise QemuTaskError("%s names the backing file '%s'; the image cache keeps only self-contained images: "
                            'flatten it first (qemu-img convert) and serve that' % (shown, name), option='src')


class QemuImg:
    """qemu-img, found on PATH when first needed."""

    def __init__(self, run, which=shutil.which):
        self.run = run
        self.which = which
        self._binary = None

    @property
    def available(self):
        return bool(self._binary or self.which('qemu-img'))

    def binary(self, why):
        if not self._binary:
            self._binary = self.which('qemu-img')
            if not self._binary:
                raise QemuTaskError('%s needs qemu-img, which was not found on PATH; install it (Debian: qemu-utils)' % why)
        return self._binary

    def _call(self, argv, what):
        rc, out, err = self.run(argv)
        if rc != 0:
            raise QemuTaskError('qemu-img could not %s (exit status %s): %s' % (what, rc, (err or out or '').strip()[:300]))
        return out

    def info(self, path, fmt=None):
        """``(format, virtual_size)`` as qemu-img reads them (the format probed unless ``fmt``)."""
        argv = [self.binary('reading the image format'), 'info', '-U', '--output=json']
        if fmt:
            argv += ['-f', fmt]
        out = self._call(argv + [path], 'read the downloaded image')
        try:
            data = json.loads(out)
            return data['format'], int(data['virtual-size'])
        except (ValueError, KeyError, TypeError):
            raise QemuTaskError('qemu-img info gave output that is not its JSON: %r' % (out or '')[:200]) from None

    def convert(self, src, src_fmt, dst, dst_fmt):
        self._call([self.binary('format'), 'convert', '-q', '-f', src_fmt, '-O', dst_fmt, src, dst],
                   'convert the image from %s to %s' % (src_fmt, dst_fmt))

    def resize(self, path, fmt, size):
        self._call([self.binary('size'), 'resize', '-q', '-f', fmt, path, str(size)], 'resize the image to %d bytes' % size)


def describe(path, qemu_img):
    """``(format, virtual_size)``: by qemu-img when it is there, else from the header."""
    if qemu_img.available:
        return qemu_img.info(path)
    return sniff(path)
