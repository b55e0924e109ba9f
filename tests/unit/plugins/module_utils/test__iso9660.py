# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ISO 9660 writer, read back with standard tools (xorriso, blkid) where they are installed."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._iso9660 import SECTOR, IsoError, write_iso

FILES = {'user-data': b'#cloud-config\nhostname: web1\n', 'meta-data': b'{"instance-id": "i-1"}\n', 'network-config': b'',
         'big.bin': bytes(range(256)) * 40}


@pytest.fixture
def iso(tmp_path):
    path = tmp_path / 'seed.iso'
    path.write_bytes(write_iso('cidata', FILES))
    return path


def test_layout(iso):
    data = iso.read_bytes()
    assert len(data) % SECTOR == 0
    assert data[16 * SECTOR + 1:16 * SECTOR + 6] == b'CD001' and data[16 * SECTOR] == 1
    assert data[17 * SECTOR] == 2 and data[17 * SECTOR + 88:17 * SECTOR + 91] == b'%/E'
    assert data[18 * SECTOR] == 255
    assert data[16 * SECTOR + 40:16 * SECTOR + 46] == b'cidata'
    assert write_iso('cidata', FILES) == data, 'the same input gives the same bytes'


@pytest.mark.skipif(shutil.which('xorriso') is None, reason='xorriso is not installed')
def test_read_back_with_xorriso(iso, tmp_path):
    out = tmp_path / 'out'
    subprocess.run(['xorriso', '-osirrox', 'on', '-indev', str(iso), '-extract', '/', str(out)], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert sorted(os.listdir(str(out))) == sorted(FILES)
    for name, content in FILES.items():
        assert (out / name).read_bytes() == content
    pvd = subprocess.run(['xorriso', '-indev', str(iso), '-pvd_info'], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True).stdout
    assert "Volume Id    : cidata" in pvd


@pytest.mark.skipif(shutil.which('blkid') is None, reason='blkid is not installed')
def test_blkid_sees_the_label(iso):
    label = subprocess.run(['blkid', '-p', '-o', 'value', '-s', 'LABEL', str(iso)], check=True, stdout=subprocess.PIPE,
                           universal_newlines=True).stdout.strip()
    assert label == 'cidata'


@pytest.mark.parametrize('label, files, message', [
    ('', {}, 'volume label'),
    ('a' * 33, {}, 'volume label'),
    ('cidata', {'../x': b''}, 'file name'),
    ('cidata', {'a-b': b'', 'a_b': b''}, 'the same once written'),
])
def test_refused(label, files, message):
    with pytest.raises(IsoError) as error:
        write_iso(label, files)
    assert message in str(error.value)
