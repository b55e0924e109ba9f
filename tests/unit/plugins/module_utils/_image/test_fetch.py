# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Sources and streaming them: URLs and paths, hashing while copying, HTTP errors and cut connections."""

from __future__ import annotations

import hashlib
import io

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._image import fetch

from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils._image.http_fakes import FileServer

DATA = bytes(range(256)) * 4096


@pytest.mark.parametrize('src, url, path, shown', [
    ('https://h/x.img', 'https://h/x.img', None, 'https://h/x.img'),
    ('http://u:secret@h:8080/x.img?a=1', 'http://u:secret@h:8080/x.img?a=1', None, 'http://h:8080/x.img?a=1'),
    ('file:///srv/x.img', None, '/srv/x.img', 'file:///srv/x.img'),
    ('file://localhost/srv/a%20b.img', None, '/srv/a b.img', 'file://localhost/srv/a%20b.img'),
    ('/srv/../srv/x.img', None, '/srv/x.img', '/srv/../srv/x.img'),
    ('  /srv/x.img ', None, '/srv/x.img', '/srv/x.img'),
])
def test_parse_source(src, url, path, shown):
    source = fetch.parse_source(src)
    assert (source.url, source.path, source.shown) == (url, path, shown)


@pytest.mark.parametrize('src, message', [
    (None, 'src is required when state is present; give the http, https or file URL of the image, or its absolute path'),
    ('', 'src is required when state is present; give the http, https or file URL of the image, or its absolute path'),
    ('x.img', "src 'x.img' is not an http, https or file URL, nor an absolute path; give one of those"),
    ('ftp://h/x.img', "src 'ftp://h/x.img' is not an http, https or file URL, nor an absolute path; give one of those"),
    ('s3::https://h/x', "src 's3::https://h/x' is not an http, https or file URL, nor an absolute path; give one of those"),
    ('https:///x.img', "src 'https:///x.img' has no host name; give a URL such as https://example.org/disk.qcow2"),
    ('file://other/x.img', "src 'file://other/x.img' names the host 'other'; a file URL must name a local file, such as file:///srv/disk.qcow2"),
])
def test_parse_source_refuses(src, message):
    with pytest.raises(QemuTaskError) as exc:
        fetch.parse_source(src)
    assert str(exc.value) == message
    assert exc.value.option == 'src'


def test_display_url_hides_credentials():
    assert fetch.display_url('https://user:pw@h/x') == 'https://h/x'
    assert fetch.display_url('https://h/x') == 'https://h/x'


def _fetch(source, **kw):
    out = io.BytesIO()
    h = hashlib.sha256()
    count = fetch.fetch(source, out, [h], timeout=5, **kw)
    return count, out.getvalue(), h.hexdigest()


def test_http_is_streamed_and_hashed():
    with FileServer({'/x.img': DATA}) as server:
        count, body, digest = _fetch(fetch.parse_source(server.url('/x.img')))
    assert (count, body, digest) == (len(DATA), DATA, hashlib.sha256(DATA).hexdigest())
    assert server.gets == ['/x.img']


def test_a_cut_connection_is_an_interrupted_download():
    with FileServer({'/x.img': DATA}) as server:
        url = server.url('/cut/x.img')
        with pytest.raises(QemuTaskError) as exc:
            _fetch(fetch.parse_source(url))
    assert str(exc.value) == ('download of %s was interrupted: got %d of the %d bytes the server announced; nothing was kept, run again'
                              % (url, len(DATA) // 2, len(DATA)))


def test_http_errors_name_the_url():
    with FileServer({}) as server:
        url = server.url('/missing.img')
        with pytest.raises(QemuTaskError) as exc:
            _fetch(fetch.parse_source(url))
    assert str(exc.value) == 'download of %s failed: HTTP 404 Not Found; check src, the server and timeout (5 s)' % url


def test_a_refused_connection_names_the_url():
    with FileServer({}) as server:
        url = server.url('/x.img')
    with pytest.raises(QemuTaskError) as exc:
        _fetch(fetch.parse_source(url))
    assert str(exc.value).startswith('download of %s failed: ' % url)


def test_local_files(tmp_path):
    path = tmp_path / 'x.img'
    path.write_bytes(DATA)
    assert _fetch(fetch.parse_source(str(path)))[0] == len(DATA)
    assert _fetch(fetch.parse_source('file://' + str(path)))[1] == DATA
    with pytest.raises(QemuTaskError) as exc:
        _fetch(fetch.parse_source(str(tmp_path / 'none')))
    assert str(exc.value) == "src '%s' cannot be read: No such file or directory; check the path" % (tmp_path / 'none')
    with pytest.raises(QemuTaskError) as exc:
        _fetch(fetch.parse_source(str(tmp_path)))
    assert str(exc.value) == "src '%s' is not a regular file; give the path of an image file" % tmp_path
