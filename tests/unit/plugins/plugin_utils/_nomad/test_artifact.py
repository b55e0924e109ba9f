# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/artifact.py: artifact blocks."""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import (
    ARGS_RESOLVED,
    RESOLVED,
    SHA256,
    WHERE,
    error,
    job,
    only_task,
)


@pytest.mark.parametrize('checksum, expected', [
    ('md5:D41D8CD98F00B204E9800998ECF8427E', 'md5:d41d8cd98f00b204e9800998ecf8427e'),
    ('sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709', 'sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709'),
    ('SHA256:' + SHA256, 'sha256:' + SHA256),
    ('sha512:' + 'ab' * 64, 'sha512:' + 'ab' * 64),
])
def test_checksum_types(checksum, expected):
    task = only_task(job(task='artifact {\n source = "https://h/x.img"\n options { checksum = "%s" }\n}' % checksum))
    assert task['artifacts'][0]['checksum'] == expected
    assert task['artifacts'][0]['checksum_type'] == expected.split(':')[0]
    assert task['artifacts'][0]['checksum_value'] == expected.split(':')[1]


@pytest.mark.parametrize('checksum, message', [
    ('d41d8cd98f00b204e9800998ecf8427e', "artifact[0].options.checksum 'd41d8cd98f00b204e9800998ecf8427e' is not in the form type:value; "
                                         "use md5, sha1, sha256 or sha512, such as sha256:<64 hex digits>"),
    ('crc32:abcd1234', "artifact[0].options.checksum 'crc32:abcd1234' has the unsupported type 'crc32'; use md5, sha1, sha256 or sha512"),
    ('sha256:' + SHA256[:-1], "artifact[0].options.checksum 'sha256:%s' is not a valid sha256 checksum: sha256 needs 64 hexadecimal "
                              "digits, this has 63 characters" % SHA256[:-1]),
    ('sha1:' + 'z' * 40, "artifact[0].options.checksum 'sha1:%s' is not a valid sha1 checksum: sha1 needs 40 hexadecimal digits, "
                         "this has 40 characters" % ('z' * 40)),
    ('file:https://h/x.img.sha256', "artifact[0].options.checksum 'file:https://h/x.img.sha256' has the unsupported type 'file'; "
                                    "use md5, sha1, sha256 or sha512"),
])
def test_checksum_errors(checksum, message):
    assert error(job(task='artifact {\n source = "https://h/x.img"\n options { checksum = "%s" }\n}' % checksum)) == WHERE + message


def test_checksum_in_the_url_query():
    task = only_task(job(task='artifact {\n source = "https://h/x.img?checksum=sha256:%s&v=2"\n}' % SHA256))
    artifact = task['artifacts'][0]
    assert artifact['source'] == 'https://h/x.img?v=2'
    assert artifact['checksum'] == 'sha256:' + SHA256


@pytest.mark.parametrize('artifact, expected', [
    ('source = "https://h/d/linux.img"', ('https://h/d/linux.img', 'any', None, 'local', 'local/linux.img', 'linux.img')),
    ('source = "https://h/d/linux.tar.gz"', ('https://h/d/linux.tar.gz', 'any', 'tar.gz', 'local', 'local', None)),
    ('source = "https://h/d/linux.tgz"\ndestination = "local/sub/"', ('https://h/d/linux.tgz', 'any', 'tgz', 'local/sub', 'local/sub', None)),
    ('source = "https://h/d/linux.tar.xz"', ('https://h/d/linux.tar.xz', 'any', 'tar.xz', 'local', 'local', None)),
    ('source = "https://h/d/linux.tar.bz2"', ('https://h/d/linux.tar.bz2', 'any', 'tar.bz2', 'local', 'local', None)),
    ('source = "https://h/d/linux.tar.zst"', ('https://h/d/linux.tar.zst', 'any', 'tar.zst', 'local', 'local', None)),
    ('source = "https://h/d/images.zip"\nmode = "dir"', ('https://h/d/images.zip', 'dir', 'zip', 'local', 'local', None)),
    ('source = "https://h/d/linux.tar.gz"\noptions { archive = false }',
     ('https://h/d/linux.tar.gz', 'any', None, 'local', 'local/linux.tar.gz', 'linux.tar.gz')),
    ('source = "https://h/d/get?id=1&archive=tar"', ('https://h/d/get?id=1', 'any', 'tar', 'local', 'local', None)),
    ('source = "https://h/d/get?id=1"\noptions { filename = "disk.img" }',
     ('https://h/d/get?id=1', 'any', None, 'local', 'local/disk.img', 'disk.img')),
    ('source = "http://h/d/x.qcow2"\ndestination = "local/../disk.qcow2"\nmode = "file"',
     ('http://h/d/x.qcow2', 'file', None, 'disk.qcow2', 'disk.qcow2', 'disk.qcow2')),
    ('source = "https://h/d/x.img"\ndestination = "${NOMAD_TASK_DIR}/images"',
     ('https://h/d/x.img', 'any', None, 'local/images', 'local/images/x.img', 'x.img')),
    ('source = "https://h/d/x.img"\ndestination = "${NOMAD_ALLOC_DIR}/images"',
     ('https://h/d/x.img', 'any', None, 'alloc/images', 'alloc/images/x.img', 'x.img')),
    # An absolute destination is inside the task directory, as Nomad joins it with the task directory.
    ('source = "https://h/d/x.img"\ndestination = "/local/disk"',
     ('https://h/d/x.img', 'any', None, 'local/disk', 'local/disk/x.img', 'x.img')),
    ('source = "https://h/d/x.img"\ndestination = "/alloc/x.img"\nmode = "file"',
     ('https://h/d/x.img', 'file', None, 'alloc/x.img', 'alloc/x.img', 'x.img')),
    ('source = "https://h/d/x.img"\ndestination = "//srv/images/"',
     ('https://h/d/x.img', 'any', None, 'srv/images', 'srv/images/x.img', 'x.img')),
    ('source = "https://h/d/x.img"\ndestination = "/"', ('https://h/d/x.img', 'any', None, '.', 'x.img', 'x.img')),
])
def test_artifacts(artifact, expected):
    task = only_task(job(task='artifact {\n%s\n}' % artifact))
    a = task['artifacts'][0]
    assert (a['source'], a['mode'], a['archive'], a['destination'], a['path'], a['filename']) == expected


def test_artifact_headers_and_insecure():
    a = only_task(job(task='artifact {\n source = "https://h/x.img"\n insecure = true\n headers {\n A = "1"\n B = 2\n }\n}'))['artifacts'][0]
    assert a['headers'] == {'A': '1', 'B': '2'}
    assert a['insecure'] is True


@pytest.mark.parametrize('artifact, message', [
    ('destination = "local/"', "artifact[0] has no source; set source to the http or https URL of the file"),
    ('source = "git::https://example.com/repo.git"',
     "artifact[0].source 'git::https://example.com/repo.git' uses the git getter; only http and https sources are downloaded"),
    ('source = "s3://bucket/x.img"',
     "artifact[0].source 's3://bucket/x.img' is not an http or https URL; only those are downloaded (go-getter's git, s3, gcs, hg and "
     "file sources are not supported)"),
    ('source = "github.com/org/repo"',
     "artifact[0].source 'github.com/org/repo' is not an http or https URL; only those are downloaded (go-getter's git, s3, gcs, hg and "
     "file sources are not supported)"),
    ('source = "https://h/x.img"\noptions { ref = "main" }',
     "artifact[0].options has unknown key 'ref'; for http sources it takes checksum, archive, filename; remove it"),
    ('source = "https://h/x.img"\nmode = "folder"', "artifact[0].mode is 'folder'; use any, file or dir"),
    ('source = "https://h/x.img"\nsize = 1',
     "artifact[0] has unknown key 'size'; an artifact block takes chown, destination, headers, insecure, mode, options, source; "
     "remove it or fix its spelling"),
    # go-getter decompresses a single compressed file only into a file: in the other modes Nomad's download fails.
    ('source = "https://h/x.img.gz"',
     'artifact[0] is a single compressed file (.gz), which Nomad decompresses only with mode = "file" (with mode = "any" its '
     'download fails); add mode = "file" and destination = "local/x.img", or set options { archive = false } to keep it compressed'),
    ('source = "https://h/d/x.qcow2.zst"\ndestination = "local/img"\nmode = "dir"',
     'artifact[0] is a single compressed file (.zst), which Nomad decompresses only with mode = "file" (with mode = "dir" its '
     'download fails); add mode = "file" and destination = "local/img/x.qcow2", or set options { archive = false } to keep it '
     'compressed'),
    ('source = "https://h/x.tar.gz"\nmode = "file"\ndestination = "local/x"',
     'artifact[0] has mode = "file" with a tar.gz archive, which is not supported; use mode = "any" to unpack it into the '
     'destination directory'),
    ('source = "https://h/x.img"\nmode = "dir"',
     "artifact[0] has mode = \"dir\" but 'https://h/x.img' is not an archive; use mode = \"any\" for a single file"),
    ('source = "https://h/x.img"\noptions { archive = "rar" }',
     "artifact[0].options.archive is 'rar'; use false or one of bz2, gz, tar, tar.bz2, tar.gz, tar.xz, tar.zst, tbz2, tgz, txz, "
     "tzst, xz, zip, zst"),
    ('source = "https://h/x.img"\ndestination = "local/../../x"',
     "artifact[0].destination 'local/../../x' is outside the task directory; use a path inside it, such as local/"),
    ('source = "https://h/x.img"\ndestination = "/local/../../x"',
     "artifact[0].destination '/local/../../x' is outside the task directory; use a path inside it, such as local/"),
    ('source = "https://h/x.img"\ndestination = "/.."',
     "artifact[0].destination '/..' is outside the task directory; use a path inside it, such as local/"),
    ('source = "https://h/images/"',
     "artifact[0].source 'https://h/images/' does not end with a file name; add options { filename = \"disk.img\" } or use "
     "mode = \"file\" with a destination file"),
    ('source = "https://h/x.img"\ninsecure = "maybe"', "artifact[0].insecure must be true or false"),
    # urllib refuses it outright; a traceback names no task.
    ('source = "http://[::1/b.img"',
     "artifact[0].source 'http://[::1/b.img' is not a valid URL (Invalid IPv6 URL); write it as an http or https URL, such as "
     "https://images.example.com/linux.img"),
    ('source = "https://h/x.img"\ndestination = "${NOMAD_ALLOC_ID}/x"',
     "artifact[0].destination uses ${NOMAD_ALLOC_ID}, which only a running Nomad client knows; nomadic.qemu resolves var.*, "
     "local.* and " + RESOLVED + " (and in config.args also " + ARGS_RESOLVED + "); write the value out or use a variable"),
])
def test_artifact_errors(artifact, message):
    assert error(job(task='artifact {\n%s\n}' % artifact)) == WHERE + message


@pytest.mark.parametrize('config, block, expected', [
    ('image_path = "local/vm.img"', 'source = "https://h/vm.img"', True),
    ('image_path = "local/./vm.img"', 'source = "https://h/vm.img"', True),
    ('image_path = "${NOMAD_TASK_DIR}/vm.img"', 'source = "https://h/vm.img"', True),
    ('image_path = "local/vm.img"', 'source = "https://h/x.bin"\ndestination = "local/vm.img"\nmode = "file"', True),
    ('image_path = "local/vm.img"', 'source = "https://h/get?id=1"\noptions { filename = "vm.img" }', True),
    ('image_path = "local/vm.img"', 'source = "https://h/vm.img"\ndestination = "/local"', True),
    ('image_path = "local/vm.img"', 'source = "https://h/vm.img.xz"\ndestination = "local/vm.img"\nmode = "file"', True),
    ('image_path = "local/vm.img"', 'source = "https://h/other.img"', False),
    ('image_path = "local/vm.img"', 'source = "https://h/vm.tar.gz"', False),
    ('image_path = "/srv/images/vm.img"', 'source = "https://h/vm.img"', False),
])
def test_the_artifact_of_the_image_path_is_the_disk_image(config, block, expected):
    task = only_task(job(task='artifact {\n%s\n}' % block, config=config))
    assert task['artifacts'][0]['disk_image'] is expected


@pytest.mark.parametrize('artifact, expected', [
    ('source = "https://h/d/linux.qcow2.gz"\ndestination = "local/linux.qcow2"\nmode = "file"', ('gz', 'local/linux.qcow2', 'linux.qcow2')),
    ('source = "https://h/d/linux.img.xz"\ndestination = "local/linux.img"\nmode = "file"', ('xz', 'local/linux.img', 'linux.img')),
    ('source = "https://h/d/linux.img.bz2"\ndestination = "/local/linux.img"\nmode = "file"', ('bz2', 'local/linux.img', 'linux.img')),
    ('source = "https://h/d/linux.raw.zst"\ndestination = "local/disk.raw"\nmode = "file"', ('zst', 'local/disk.raw', 'disk.raw')),
    ('source = "https://h/d/get?id=7"\ndestination = "local/fw.fd"\nmode = "file"\noptions { archive = "gz" }',
     ('gz', 'local/fw.fd', 'fw.fd')),
])
def test_a_single_compressed_file_with_mode_file_is_decompressed(artifact, expected):
    # As go-getter does: the checksum is that of the file as downloaded, the destination file is the decompressed one.
    a = only_task(job(task='artifact {\n%s\noptions { checksum = "sha256:%s" }\n}' % (artifact, SHA256)))['artifacts'][0]
    assert (a['decompress'], a['path'], a['filename']) == expected
    assert (a['mode'], a['archive'], a['checksum']) == ('file', None, 'sha256:' + SHA256)


def test_only_a_compressed_file_has_the_decompress_key():
    # So the id and the spec label of every other artifact stay as they were.
    a = only_task(job(task='artifact {\nsource = "https://h/d/linux.img"\n}'))['artifacts'][0]
    assert 'decompress' not in a
    a = only_task(job(task='artifact {\nsource = "https://h/d/linux.img.gz"\noptions { archive = false }\n}'))['artifacts'][0]
    assert 'decompress' not in a
    assert (a['archive'], a['path']) == (None, 'local/linux.img.gz')
