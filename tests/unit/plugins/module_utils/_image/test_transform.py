# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Decompression by magic bytes, sizes, header sniffing and qemu-img errors."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import subprocess

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._image import transform

DATA = b'disk image\0' * 5000


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


COMPRESSORS = {
    'gz': gzip.compress,
    'bz2': bz2.compress,
    'xz': lzma.compress,
    'zst': lambda data: subprocess.run(['zstd', '-q', '-c'], input=data, capture_output=True, check=True).stdout,
}


@pytest.mark.parametrize('kind', sorted(COMPRESSORS))
def test_each_format_is_recognised_and_decompressed(tmp_path, kind):
    if kind == 'zst' and not shutil.which('zstd'):
        pytest.skip('no zstd program')
    packed = tmp_path / 'in'
    packed.write_bytes(COMPRESSORS[kind](DATA))
    assert transform.file_compression(str(packed)) == kind
    out = tmp_path / 'out'
    out.write_bytes(b'')
    transform.decompress(kind, str(packed), str(out), 'src', run=run)
    assert out.read_bytes() == DATA


@pytest.mark.parametrize('head', [b'', b'QFI\xfb\0\0\0\3', b'\0' * 8, b'\x1f', b'BZ', b'\xfd7zXZ', b'\x28\xb5\x2f'])
def test_other_data_is_not_compressed(head):
    assert transform.detect_compression(head) is None


@pytest.mark.parametrize('kind', ['gz', 'bz2', 'xz'])
def test_damaged_data_is_named(tmp_path, kind):
    packed = tmp_path / 'in'
    packed.write_bytes(COMPRESSORS[kind](DATA)[:40])
    out = tmp_path / 'out'
    with pytest.raises(QemuTaskError) as exc:
        transform.decompress(kind, str(packed), str(out), 'http://h/x.%s' % kind)
    assert str(exc.value).startswith('http://h/x.%s is not valid .%s data (' % (kind, kind))
    assert str(exc.value).endswith('); check the source or set decompress to none')


def test_zstd_missing_names_the_package(tmp_path):
    with pytest.raises(QemuTaskError) as exc:
        transform.decompress('zst', 'in', 'out', 'http://h/x.zst', run=run, which=lambda name: None)
    assert str(exc.value) == ('http://h/x.zst is zstd-compressed, and decompressing it needs the zstd program, which was not found on '
                              'PATH; install it (Debian: zstd), or set decompress to none')


def test_sniff(tmp_path):
    raw = tmp_path / 'raw'
    raw.write_bytes(b'\0' * 4096)
    assert transform.sniff(str(raw)) == ('raw', 4096)
    qcow = tmp_path / 'q'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(qcow), '5M'], check=True)
    assert transform.sniff(str(qcow)) == ('qcow2', 5 << 20)
    assert transform.QemuImg(run).info(str(qcow)) == ('qcow2', 5 << 20)


def test_an_image_with_a_backing_file_is_refused(tmp_path):
    base = tmp_path / 'base'
    base.write_bytes(b'\0' * 4096)
    top = tmp_path / 'top'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', str(base), '-F', 'raw', str(top)], check=True)
    with pytest.raises(QemuTaskError) as exc:
        transform.check_self_contained(str(top), 'http://h/top')
    assert str(exc.value) == ("http://h/top names the backing file '%s'; the image cache keeps only self-contained images: "
                              'flatten it first (qemu-img convert) and serve that' % base)
    transform.check_self_contained(str(base), 'http://h/base')


def test_missing_qemu_img_names_the_package():
    qemu_img = transform.QemuImg(run, which=lambda name: None)
    assert not qemu_img.available
    with pytest.raises(QemuTaskError) as exc:
        qemu_img.convert('a', 'raw', 'b', 'qcow2')
    assert str(exc.value) == 'format needs qemu-img, which was not found on PATH; install it (Debian: qemu-utils)'
