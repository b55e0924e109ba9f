# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._checksum import CHECKSUM_HEX_DIGITS, format_checksum, new_hash, parse_checksum
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError


@pytest.mark.parametrize('kind', sorted(CHECKSUM_HEX_DIGITS))
@pytest.mark.parametrize('data', [b'', b'a', b'\x00' * 1000])
def test_every_type_parses_its_own_digest(kind, data):
    digest = hashlib.new(kind, data).hexdigest()
    assert len(digest) == CHECKSUM_HEX_DIGITS[kind]
    for text in (format_checksum(kind, digest), format_checksum(kind.upper(), digest.upper()), ' %s : %s ' % (kind, digest)):
        assert parse_checksum(text) == (kind, digest)
    h = new_hash(kind)
    h.update(data)
    assert h.hexdigest() == digest


@pytest.mark.parametrize('kind, digits', sorted(CHECKSUM_HEX_DIGITS.items()))
@pytest.mark.parametrize('delta', [-1, 1])
def test_wrong_lengths_are_refused(kind, digits, delta):
    text = '%s:%s' % (kind, 'a' * (digits + delta))
    with pytest.raises(QemuTaskError) as exc:
        parse_checksum(text, 'src_checksum')
    assert str(exc.value) == ("src_checksum '%s' is not a valid %s checksum: %s needs %d hexadecimal digits, this has %d characters"
                              % (text, kind, kind, digits, digits + delta))
    assert exc.value.option == 'src_checksum'


@pytest.mark.parametrize('text, message', [
    (None, "checksum 'None' is not in the form type:value; use md5, sha1, sha256 or sha512, such as sha256:<64 hex digits>"),
    ('abc', "checksum 'abc' is not in the form type:value; use md5, sha1, sha256 or sha512, such as sha256:<64 hex digits>"),
    ('crc32:abcd1234', "checksum 'crc32:abcd1234' has the unsupported type 'crc32'; use md5, sha1, sha256 or sha512"),
    ('md5:' + 'g' * 32, "checksum 'md5:%s' is not a valid md5 checksum: md5 needs 32 hexadecimal digits, this has 32 characters" % ('g' * 32)),
    ('md5:' + 'a' * 31 + '\n', "checksum 'md5:%s\n' is not a valid md5 checksum: md5 needs 32 hexadecimal digits, this has 31 characters"
     % ('a' * 31)),
])
def test_refused(text, message):
    with pytest.raises(QemuTaskError) as exc:
        parse_checksum(text)
    assert str(exc.value) == message
