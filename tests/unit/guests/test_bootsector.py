# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of tests/guests/bootsector.py: the embedded sector matches bootsector.S."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from ansible_collections.nomadic.qemu.tests.unit.guests.guest_modules import GUESTS_DIR, load as _load


bootsector = _load('bootsector')

needs_binutils = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ('as', 'ld', 'objcopy')), reason='GNU binutils (as, ld, objcopy) not installed')


@needs_binutils
def test_embedded_sector_is_the_assembled_source():
    assert bootsector.assemble() == bootsector.SECTOR


@needs_binutils
def test_hex_command_prints_the_embedded_block(capsys):
    assert bootsector.main(['hex']) == 0
    with open(os.path.join(GUESTS_DIR, 'bootsector.py'), encoding='utf-8') as f:
        block = re.search(r'^SECTOR_HEX = \(\n(.*?)\n\)$', f.read(), re.MULTILINE | re.DOTALL).group(1)
    assert capsys.readouterr().out == block + '\n'


def test_sector_size_and_signature():
    assert len(bootsector.SECTOR) == bootsector.SECTOR_SIZE == 512
    assert bootsector.SECTOR[510:] == b'\x55\xaa'
    assert bootsector.SECTOR[bootsector.IGNORE_BUTTON_OFFSET] == 0


@pytest.mark.parametrize('line', [
    bootsector.READY_LINE,
    bootsector.POWEROFF_LINE,
    bootsector.IGNORED_LINE,
])
def test_sector_prints_crlf_terminated_lines(line):
    assert (line + '\r\n\0').encode() in bootsector.SECTOR


@pytest.mark.parametrize('ignore_button, flag', [
    (False, 0),
    (True, 1),
])
def test_image_is_padded_to_one_mebibyte(ignore_button, flag):
    data = bootsector.image(ignore_button)
    assert len(data) == bootsector.IMAGE_SIZE == 1024 * 1024
    assert data[bootsector.IGNORE_BUTTON_OFFSET] == flag
    assert data[:bootsector.IGNORE_BUTTON_OFFSET] == bootsector.SECTOR[:bootsector.IGNORE_BUTTON_OFFSET]
    assert data[510:512] == b'\x55\xaa'
    assert data[512:] == bytes(bootsector.IMAGE_SIZE - 512)


@pytest.mark.parametrize('argv, flag', [
    (['write', '{path}'], 0),
    (['write', '{path}', '--ignore-button'], 1),
])
def test_write_command(tmp_path, argv, flag):
    path = tmp_path / 'guest.img'
    path.write_bytes(b'old content')
    assert bootsector.main([arg.format(path=path) for arg in argv]) == 0
    data = path.read_bytes()
    assert data == bootsector.image(bool(flag))
    assert [p.name for p in tmp_path.iterdir()] == ['guest.img']
