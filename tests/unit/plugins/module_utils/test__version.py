# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._version import (
    parse_qemu_version,
    version_tuple,
)

COPYRIGHT = '\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n'


@pytest.mark.parametrize('text, expected', [
    # Debian 12
    ('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)' + COPYRIGHT, '7.2.22'),
    ('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n', '7.2.22'),
    # CentOS 7 qemu-kvm-ev: no space before the parenthesis
    ('QEMU emulator version 2.4.0(qemu-kvm-ev)', '2.4.0'),
    # Ubuntu 24.04
    ('QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)' + COPYRIGHT, '8.2.2'),
    # RHEL 6
    ('QEMU PC emulator version 0.12.1 (qemu-kvm-0.12.1.2), Copyright (c) 2003-2008 Fabrice Bellard', '0.12.1'),
    # RHEL 9 /usr/libexec/qemu-kvm
    ('QEMU emulator version 6.2.0 (qemu-kvm-6.2.0-11.el9)' + COPYRIGHT, '6.2.0'),
    # development build
    ('QEMU emulator version 9.0.50 (v9.0.0-1234-gabcdef)' + COPYRIGHT, '9.0.50'),
    # no package suffix at all
    ('QEMU emulator version 5.0.0\n', '5.0.0'),
    # qemu-img prints the same pattern
    ('qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)' + COPYRIGHT, '7.2.22'),
    # trailing dots and plus signs are not part of the version (Nomad's regex keeps them)
    ('QEMU emulator version 2.5.', '2.5'),
    ('QEMU emulator version 2.5..', '2.5'),
    ('QEMU emulator version 4.2+git (custom)', '4.2'),
    # warnings before the version line, version on a later line
    ('qemu-system-x86_64: warning: host doesn\'t support requested feature\nQEMU emulator version 7.2.0\n', '7.2.0'),
    # bytes are decoded
    (b'QEMU emulator version 7.2.22 (Debian)\n', '7.2.22'),
    # the first version wins
    ('QEMU emulator version 1.2.3, firmware version 4.5.6', '1.2.3'),
])
def test_parse_qemu_version(text, expected):
    assert parse_qemu_version(text) == expected


@pytest.mark.parametrize('text', [
    None,
    '',
    'hello garbage',
    b'\xff\xfe\x00garbage',
    'qemu-system-x86_64: unrecognized option --version',
    # a version needs at least major.minor
    'QEMU emulator version 7',
    'QEMU emulator version (unknown)',
    # the word must be "version", not a longer word ending in it
    'QEMU emulator subversion 1.2.3',
    'Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers',
])
def test_parse_qemu_version_none(text):
    assert parse_qemu_version(text) is None


@pytest.mark.parametrize('version, expected', [
    ('7.2.22', (7, 2, 22)),
    ('2.4.0', (2, 4, 0)),
    ('0.12.1', (0, 12, 1)),
    ('10.0', (10, 0)),
    ('9', (9,)),
])
def test_version_tuple(version, expected):
    assert version_tuple(version) == expected


def test_version_tuple_orders_numerically():
    assert version_tuple('7.10.0') > version_tuple('7.2.22')
    assert version_tuple('2.10.1') > version_tuple('2.9.99')


@pytest.mark.parametrize('version, message', [
    ('7.2.', "version '7.2.' is not a dot-separated list of numbers such as 7.2.22"),
    ('v7.2.22', "version 'v7.2.22' is not a dot-separated list of numbers such as 7.2.22"),
    ('', "version '' is not a dot-separated list of numbers such as 7.2.22"),
    (None, 'version None is not a dot-separated list of numbers such as 7.2.22'),
    (7.2, 'version 7.2 is not a dot-separated list of numbers such as 7.2.22'),
])
def test_version_tuple_invalid(version, message):
    with pytest.raises(ValueError) as exc:
        version_tuple(version)
    assert str(exc.value) == message
