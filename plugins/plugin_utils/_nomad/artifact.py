# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The artifact blocks of a task: what to download into the task directory, where, and with which checksum.

Only http and https sources are downloaded; archives are unpacked as go-getter unpacks them, and a single
compressed file (.gz, .bz2, .xz, .zst) with mode = "file" is decompressed into that file, as go-getter does.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ansible_collections.nomadic.qemu.plugins.module_utils._checksum import parse_checksum
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.hcl import check_keys, hcl_text, merged, to_bool
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import quote
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.tables import (
    ARCHIVES,
    ARTIFACT_KEYS,
    ARTIFACT_MODES,
    ARTIFACT_OPTIONS,
    DEFAULT_ARTIFACT_DESTINATION,
)

_HTTP_SCHEMES = ('http', 'https')


def _check_checksum(text, ctx, key):
    try:
        return parse_checksum(text, key)
    except QemuTaskError as exc:
        raise ctx.error(str(exc)) from None


def _archive_for(path):
    best = None
    for ext in ARCHIVES:
        if path.endswith('.' + ext) and (best is None or len(ext) > len(best)):
            best = ext
    return best


def artifact(reader, item, index, ctx):
    """The artifact ``artifact[index]`` of a task, from its block ``item`` (after both interpolation passes)."""
    key = 'artifact[%d]' % index
    check_keys(item, ARTIFACT_KEYS, ctx, key, 'an artifact block')
    source = item.get('source')
    if not isinstance(source, str) or not source.strip():
        raise ctx.error('%s has no source; set source to the http or https URL of the file' % key)
    source = source.strip()
    forced = re.match(r'^([A-Za-z0-9]+)::', source)
    if forced:
        raise ctx.error('%s.source %s uses the %s getter; only http and https sources are downloaded' % (key, quote(source), forced.group(1)))
    try:
        split = urlsplit(source)
    except ValueError as exc:
        # urllib refuses some URLs outright, such as an IPv6 host without its closing bracket.
        raise ctx.error('%s.source %s is not a valid URL (%s); write it as an http or https URL, such as '
                        'https://images.example.com/linux.img' % (key, quote(source), exc)) from None
    if split.scheme.lower() not in _HTTP_SCHEMES or not split.netloc:
        raise ctx.error('%s.source %s is not an http or https URL; only those are downloaded (go-getter\'s git, s3, gcs, hg and '
                        'file sources are not supported)' % (key, quote(source)))
    options = dict((k, hcl_text(v)) for k, v in merged(item.get('options'), ctx, '%s.options' % key).items())
    query = []
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        if name in ARTIFACT_OPTIONS:
            options.setdefault(name, value)
        else:
            query.append((name, value))
    for name in options:
        if name not in ARTIFACT_OPTIONS:
            raise ctx.error('%s.options has unknown key %s; for http sources it takes %s; remove it'
                            % (key, quote(name), ', '.join(ARTIFACT_OPTIONS)))
    url = urlunsplit((split.scheme, split.netloc, split.path, urlencode(query), split.fragment))

    mode = item.get('mode', 'any')
    if mode not in ARTIFACT_MODES:
        raise ctx.error('%s.mode is %s; use any, file or dir' % (key, quote(mode)))

    destination = item.get('destination', DEFAULT_ARTIFACT_DESTINATION)
    if not isinstance(destination, str) or not destination.strip():
        raise ctx.error('%s.destination must be a path inside the task directory, such as local/' % key)
    # Nomad joins an absolute destination with the task directory too: /local/disk is local/disk.
    normalized = posixpath.normpath(destination.strip().lstrip('/') or '.')
    if normalized == '..' or normalized.startswith('../'):
        raise ctx.error('%s.destination %s is outside the task directory; use a path inside it, such as local/' % (key, quote(destination)))

    archive = options.get('archive')
    if archive is not None:
        flag = to_bool(archive)
        if flag is False:
            archive = None
        elif archive not in ARCHIVES:
            raise ctx.error('%s.options.archive is %s; use false or one of %s' % (key, quote(archive), ', '.join(sorted(ARCHIVES))))
    else:
        archive = _archive_for(split.path)
    decompress = None
    if archive and not ARCHIVES[archive]:
        if mode != 'file':
            # go-getter decompresses a single compressed file only into a file: with mode any or dir, Nomad's
            # download fails ("gzip-compressed files can only unarchive to a single file").
            plain_name = posixpath.basename(split.path)[:-len(archive) - 1] or 'disk.img'
            raise ctx.error('%s is a single compressed file (.%s), which Nomad decompresses only with mode = "file" (with mode = '
                            '"%s" its download fails); add mode = "file" and destination = "%s", or set options { archive = false } '
                            'to keep it compressed' % (key, archive, mode, posixpath.join(normalized, plain_name)))
        # Downloaded, checked against the checksum of the compressed file (as go-getter checks it), then decompressed.
        decompress, archive = archive, None
    if archive and mode == 'file':
        raise ctx.error('%s has mode = "file" with a %s archive, which is not supported; use mode = "any" to unpack it '
                        'into the destination directory' % (key, archive))
    if not archive and mode == 'dir':
        raise ctx.error('%s has mode = "dir" but %s is not an archive; use mode = "any" for a single file' % (key, quote(url)))

    checksum = options.get('checksum')
    checksum_type = checksum_value = None
    if checksum is not None:
        checksum_type, checksum_value = _check_checksum(checksum, ctx, '%s.options.checksum' % key)

    headers = dict((k, hcl_text(v)) for k, v in merged(item.get('headers'), ctx, '%s.headers' % key).items())
    insecure = to_bool(item.get('insecure', False))
    if insecure is None:
        raise ctx.error('%s.insecure must be true or false' % key)
    if to_bool(item.get('chown', False)):
        reader.ignored.add(ctx, '%s.chown' % key, 'files belong to the user Ansible becomes on the host')

    filename = None
    if mode == 'file':
        path = normalized
        filename = posixpath.basename(normalized)
    elif archive:
        path = normalized
    else:
        filename = options.get('filename') or posixpath.basename(split.path)
        if not filename or filename in ('.', '..') or '/' in filename:
            raise ctx.error('%s.source %s does not end with a file name; add options { filename = "disk.img" } or use mode = "file" '
                            'with a destination file' % (key, quote(source)))
        path = posixpath.normpath(posixpath.join(normalized, filename))
    result = {
        'source': url,
        'destination': normalized,
        'mode': mode,
        'archive': archive,
        'path': path,
        'filename': filename,
        'checksum': '%s:%s' % (checksum_type, checksum_value) if checksum_type else None,
        'checksum_type': checksum_type,
        'checksum_value': checksum_value,
        'headers': headers,
        'insecure': insecure,
    }
    if decompress:
        # Only when set, so the id (and the spec label) of every other artifact stays as it was.
        result['decompress'] = decompress
    result['id'] = hashlib.sha1(json.dumps(result, sort_keys=True).encode('utf-8')).hexdigest()[:16]
    return result
