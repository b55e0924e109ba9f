# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import struct

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._image_header import backing_name, header_chain, is_local_name
from ansible_collections.nomadic.qemu.plugins.module_utils._paths import check_image_chain


def qcow2(backing=None):
    name = (backing or '').encode()
    header = bytearray(512)
    header[0:4] = b'QFI\xfb'
    header[4:8] = struct.pack('>I', 3)
    if name:
        header[8:20] = struct.pack('>QI', 512, len(name))
    return bytes(header) + name


def qed(backing=None):
    name = (backing or '').encode()
    header = bytearray(512)
    header[0:4] = b'QED\x00'
    if name:
        header[16:24] = struct.pack('<Q', 1)
        header[56:64] = struct.pack('<II', 512, len(name))
    return bytes(header) + name


def vmdk_sparse(backing=None):
    descriptor = b'# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
    if backing:
        descriptor += b'parentFileNameHint="%s"\n' % backing.encode()
    header = bytearray(512)
    header[0:4] = b'KDMV'
    header[28:44] = struct.pack('<QQ', 1, 1)
    return bytes(header) + descriptor.ljust(512, b'\0')


def vmdk_text(backing=None):
    text = b'# Disk DescriptorFile\nversion=1\n'
    if backing:
        text += b'  parentFileNameHint = "%s"\n' % backing.encode()
    return text + b'RW 2048 FLAT "x-flat.vmdk" 0\n'


@pytest.mark.parametrize('make', [qcow2, qed, vmdk_sparse, vmdk_text], ids=['qcow2', 'qed', 'vmdk', 'vmdk-descriptor'])
@pytest.mark.parametrize('backing', [None, 'base.img', 'nbd://127.0.0.1:10809/x', '/abs/base.qcow2'])
def test_backing_name(tmp_path, make, backing):
    path = tmp_path / 'image'
    path.write_bytes(make(backing))
    assert backing_name(str(path)) == backing


@pytest.mark.parametrize('data', [b'', b'\0' * 512, b'not an image at all'])
def test_no_backing_file(tmp_path, data):
    path = tmp_path / 'raw.img'
    path.write_bytes(data)
    assert backing_name(str(path)) is None


def test_chain_follows_local_files_and_stops_at_a_protocol(tmp_path):
    (tmp_path / 'top.qcow2').write_bytes(qcow2('mid.qcow2'))
    (tmp_path / 'mid.qcow2').write_bytes(qcow2('http://example.invalid/base.img'))
    assert header_chain(str(tmp_path / 'top.qcow2')) == [
        {'filename': str(tmp_path / 'top.qcow2'), 'backing-filename': 'mid.qcow2'},
        {'filename': str(tmp_path / 'mid.qcow2'), 'backing-filename': 'http://example.invalid/base.img'},
    ]


def test_chain_of_a_loop_is_bounded(tmp_path):
    (tmp_path / 'a.qcow2').write_bytes(qcow2('b.qcow2'))
    (tmp_path / 'b.qcow2').write_bytes(qcow2('a.qcow2'))
    assert len(header_chain(str(tmp_path / 'a.qcow2'))) == 16


@pytest.mark.parametrize('name, local', [('base.img', True), ('/x/y.qcow2', True), ('file:/x/y', True), ('dir/a:b', True),
                                         ('nbd://h:1/x', False), ('nbd:127.0.0.1:10809', False), ('json:{}', False),
                                         ('ssh://h/x', False), ('iscsi://h/t/0', False)])
def test_is_local_name(name, local):
    assert is_local_name(name) is local


def test_a_remote_backing_file_is_refused_from_the_header(tmp_path):
    (tmp_path / 'evil.qcow2').write_bytes(qcow2('nbd://127.0.0.1:10809/x'))
    with pytest.raises(QemuTaskError) as exc:
        check_image_chain(header_chain(str(tmp_path / 'evil.qcow2')), [str(tmp_path)])
    assert str(exc.value) == ("image_path '%s' refers to 'nbd://127.0.0.1:10809/x', which is not a local file; image_paths allows "
                              "local image files only" % (tmp_path / 'evil.qcow2'))
