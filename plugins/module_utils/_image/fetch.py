# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Where an image comes from (an http, https or file URL, or a local path) and streaming it into a file.

fetch() writes the bytes to an open file and feeds them to hash objects as they come, so a
download is read once; it checks the length the server announced, since a connection closed
early otherwise looks like the end of the file.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import stat
import urllib.error
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import url2pathname

from ansible.module_utils.urls import open_url

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

CHUNK = 1 << 20
HTTP_SCHEMES = ('http', 'https')


class Source:
    """A parsed ``src``: ``url`` (http or https, to download) or ``path`` (a local file), and the text to show in messages."""

    __slots__ = ('src', 'url', 'path', 'shown')

    def __init__(self, src, url=None, path=None, shown=None):
        self.src = src
        self.url = url
        self.path = path
        self.shown = shown or src

    @property
    def is_local(self):
        return self.path is not None


def display_url(url):
    """The URL without a user name or password in it, for messages and results."""
    split = urlsplit(url)
    if '@' not in split.netloc:
        return url
    return urlunsplit((split.scheme, split.netloc.rsplit('@', 1)[1], split.path, split.query, split.fragment))


def parse_source(src):
    """The Source for the ``src`` option; raises QemuTaskError naming ``src`` when it is none of the accepted kinds."""
    if not isinstance(src, str) or not src.strip():
        raise QemuTaskError('src is required when state is present; give the http, https or file URL of the image, or its absolute path',
                            option='src')
    src = src.strip()
    if src.startswith('/'):
        return Source(src, path=os.path.normpath(src))
    split = urlsplit(src)
    scheme = split.scheme.lower()
    if scheme in HTTP_SCHEMES:
        if not split.hostname:
            raise QemuTaskError("src '%s' has no host name; give a URL such as https://example.org/disk.qcow2" % display_url(src), option='src')
        return Source(src, url=src, shown=display_url(src))
    if scheme == 'file':
        if split.netloc not in ('', 'localhost'):
            raise QemuTaskError("src '%s' names the host '%s'; a file URL must name a local file, such as file:///srv/disk.qcow2"
                                % (src, split.netloc), option='src')
        path = url2pathname(unquote(split.path))
        if not os.path.isabs(path):
            raise QemuTaskError("src '%s' is not an absolute file URL; use file:///absolute/path" % src, option='src')
        return Source(src, path=os.path.normpath(path))
    raise QemuTaskError("src '%s' is not an http, https or file URL, nor an absolute path; give one of those" % display_url(src), option='src')


def _reason(exc):
    if isinstance(exc, urllib.error.HTTPError):
        return 'HTTP %s %s' % (exc.code, exc.reason)
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return 'timed out'
    if isinstance(exc, ssl.SSLError) or isinstance(exc, ssl.CertificateError):
        return 'TLS error: %s (set validate_certs to false only for a server you trust)' % exc
    return str(exc) or type(exc).__name__


def fetch(source, out, hashes, timeout=60, validate_certs=True, headers=None, url_username=None, url_password=None, opener=open_url):
    """Copy the source into the open binary file ``out``, updating every hash object of ``hashes``; returns the byte count.

    Raises QemuTaskError naming the source on any failure, an interrupted transfer included.
    ``opener`` is ansible's open_url (a test may hand in another).
    """
    if source.is_local:
        try:
            fd = os.open(source.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise QemuTaskError("src '%s' cannot be read: %s; check the path" % (source.shown, exc.strerror or exc), option='src') from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise QemuTaskError("src '%s' is not a regular file; give the path of an image file" % source.shown, option='src')
        with os.fdopen(fd, 'rb') as f:
            return _copy(f, out, hashes, source, None)
    try:
        response = opener(source.url, headers=headers or None, timeout=timeout, validate_certs=validate_certs,
                          url_username=url_username, url_password=url_password, force_basic_auth=bool(url_username),
                          follow_redirects='safe')
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise QemuTaskError("download of %s failed: %s; check src, the server and timeout (%g s)" % (source.shown, _reason(exc), timeout),
                            option='src') from None
    try:
        length = response.headers.get('Content-Length')
        try:
            length = int(length) if length is not None else None
        except ValueError:
            length = None
        return _copy(response, out, hashes, source, length)
    finally:
        response.close()


def _copy(stream, out, hashes, source, length):
    total = 0
    while True:
        try:
            chunk = stream.read(CHUNK)
        except (http.client.HTTPException, OSError, ValueError) as exc:
            raise QemuTaskError('download of %s was interrupted after %d bytes: %s; nothing was kept, run again'
                                % (source.shown, total, _reason(exc)), option='src') from None
        if not chunk:
            break
        try:
            out.write(chunk)
        except OSError as exc:
            raise QemuTaskError('cannot write the download of %s into the cache: %s; free space there or choose another cache_dir'
                                % (source.shown, exc.strerror or exc), option='cache_dir') from None
        for h in hashes:
            h.update(chunk)
        total += len(chunk)
    if length is not None and total != length:
        raise QemuTaskError('download of %s was interrupted: got %d of the %d bytes the server announced; nothing was kept, run again'
                            % (source.shown, total, length), option='src')
    return total
