# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The image cache on disk: entry names, the index, locks, temporary files, and which entries tasks use.

The layout of a cache directory (by default ``<state_dir>/.images``; a name starting with a dot
is never a task name)::

    <cache_dir>/sha256-<hex>[-asis][-size<bytes>][.<format>]   an entry (mode 0644)
    <cache_dir>/index.json          src -> checksum of what it served; each entry's format and sizes
    <cache_dir>/.lock-<key>         a lock while a run fetches (removed when it is released)
    <cache_dir>/.part-<pid>-<rand>  a download or transformation in progress (removed on any failure)

An entry is named by the checksum of the source (given, or computed while downloading) and the
transformation applied to it, so the same options on the same content always give the same name,
and a decompressed, converted or resized variant is an entry of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile

from ansible_collections.nomadic.qemu.plugins.module_utils._checksum import CHECKSUM_TYPES
from ansible_collections.nomadic.qemu.plugins.module_utils._image_header import HeaderError, backing_name, header_chain
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import fsync_dir, task_records, unlink

CACHE_DIR_NAME = '.images'
INDEX_FILE = 'index.json'
INDEX_VERSION = 1
LOCK_PREFIX = '.lock-'
PART_PREFIX = '.part-'
_ENTRY_RE = re.compile(r'^(%s)-([0-9a-f]+)(-asis)?(-size[0-9]+)?(\.(?:qcow2|raw))?\Z' % '|'.join(CHECKSUM_TYPES))
_PART_RE = re.compile(r'^\.part-([0-9]+)-')
# How deep task directories are searched for overlays (a task's artifacts sit in local/ and the like).
TASK_DIR_DEPTH = 3


class Transform:
    """What is done to the source: ``decompress`` (auto or none), ``format`` (None: kept) and ``size`` (bytes, None: kept)."""

    __slots__ = ('decompress', 'format', 'size')

    def __init__(self, decompress='auto', format=None, size=None):
        self.decompress = decompress
        self.format = format
        self.size = size

    def suffix(self):
        return '%s%s%s' % ('-asis' if self.decompress == 'none' else '', '-size%d' % self.size if self.size else '',
                           '.%s' % self.format if self.format else '')


def default_cache_dir(state_dir):
    return os.path.join(state_dir, CACHE_DIR_NAME)


def entry_name(checksum, transform):
    """The entry's file name for a source checksum ``type:hex`` and a Transform."""
    kind, value = checksum.split(':', 1)
    return '%s-%s%s' % (kind, value, transform.suffix())


def is_entry_name(name):
    return bool(_ENTRY_RE.match(name))


def entry_checksum(name):
    """The source checksum ``type:hex`` an entry name carries."""
    match = _ENTRY_RE.match(name)
    return '%s:%s' % (match.group(1), match.group(2)) if match else None


def lock_name(key):
    """The lock file of a key (an entry name, or a source URL when its checksum is not known yet)."""
    return LOCK_PREFIX + hashlib.sha256(key.encode('utf-8', 'surrogateescape')).hexdigest()[:32]


def new_part(cache_dir):
    """A new temporary file in the cache (O_EXCL, mode 0600): ``(fd, path)``."""
    return tempfile.mkstemp(prefix='%s%d-' % (PART_PREFIX, os.getpid()), dir=cache_dir)


def stale_parts(cache_dir, alive=None):
    """Temporary files whose run is gone (its pid no longer exists): left by a run that was killed."""
    alive = alive or _alive
    found = []
    for name in _listdir(cache_dir):
        match = _PART_RE.match(name)
        if match and not alive(int(match.group(1))):
            found.append(os.path.join(cache_dir, name))
    return found


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def entries(cache_dir):
    """``{name: mtime}`` of the entries in the cache."""
    found = {}
    for name in _listdir(cache_dir):
        if is_entry_name(name):
            try:
                st = os.lstat(os.path.join(cache_dir, name))
            except FileNotFoundError:
                continue
            found[name] = st.st_mtime
    return found


class Index:
    """index.json: ``sources`` maps a src to the checksum of what it served, ``entries`` an entry name to its facts."""

    def __init__(self, sources=None, entries=None):
        self.sources = dict(sources or {})
        self.entries = dict(entries or {})

    @classmethod
    def load(cls, cache_dir):
        """The index; an empty one when there is none or it cannot be read (it is only a shortcut)."""
        try:
            fd = os.open(os.path.join(cache_dir, INDEX_FILE), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, 'r', encoding='utf-8') as f:
                data = json.load(f)
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict) or data.get('version') != INDEX_VERSION:
            return cls()
        sources = data.get('sources') if isinstance(data.get('sources'), dict) else {}
        found = data.get('entries') if isinstance(data.get('entries'), dict) else {}
        return cls(dict((k, v) for k, v in sources.items() if isinstance(v, str)),
                   dict((k, v) for k, v in found.items() if isinstance(v, dict)))

    def to_dict(self):
        return {'version': INDEX_VERSION, 'sources': self.sources, 'entries': self.entries}

    def forget(self, name):
        """Drop an entry, and the sources of its checksum when no other entry has that checksum."""
        self.entries.pop(name, None)
        checksum = entry_checksum(name)
        if not any(entry_checksum(other) == checksum for other in self.entries):
            for src in [src for src, value in self.sources.items() if value == checksum]:
                del self.sources[src]

    def save(self, cache_dir):
        write_json_atomically(os.path.join(cache_dir, INDEX_FILE), self.to_dict())


def write_json_atomically(path, data):
    """Write JSON durably: a reader sees the old or the new file, never half of one; nothing is left on failure."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='%s%d-' % (PART_PREFIX, os.getpid()), dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        fsync_dir(directory)
    except BaseException:
        unlink(tmp)
        raise


def _image_files(root, depth):
    """Files under a task directory that may be images, without following links, ``depth`` levels down."""
    base = root.rstrip(os.sep).count(os.sep)
    for path, dirs, files in os.walk(root, followlinks=False):
        if path.count(os.sep) - base >= depth:
            dirs[:] = []
        for name in files:
            full = os.path.join(path, name)
            if not os.path.islink(full):
                yield full


def _chain(path):
    """Real paths of an image and every local backing file it names."""
    found = []
    for link in header_chain(path):
        found.append(os.path.realpath(link['filename']))
    return found


def task_images(state_dir):
    """``{real path: [task names]}`` of every image the tasks of state_dir use.

    A task uses the images its record names (``config.image``, ``config.image_path``, the base
    of its overlay ``config.base.path`` and the files of its disks ``config.disks[].file``), every
    backing file of those, and every backing file of an image file in its task directory
    (an overlay there whose base is a cache entry). A record that cannot be read uses nothing
    known; ``unreadable`` lists those tasks so a caller can refuse to guess.
    """
    used = {}
    unreadable = []

    def add(path, task):
        users = used.setdefault(path, [])
        if task not in users:
            users.append(task)

    for name, record in task_records(state_dir):
        if record.damaged:
            unreadable.append(name)
            continue
        base = record.config.get('base')
        named = [record.config.get('image'), record.config.get('image_path'), base.get('path') if isinstance(base, dict) else base]
        named += [disk.get('file') for disk in record.config.get('disks') or [] if isinstance(disk, dict)]
        for value in named:
            if isinstance(value, str) and value:
                path = value if os.path.isabs(value) else os.path.join(state_dir, name, value)
                for real in _chain(path) or [os.path.realpath(path)]:
                    add(real, name)
        for path in _image_files(os.path.join(state_dir, name), TASK_DIR_DEPTH):
            try:
                has_backing = backing_name(path)
            except (OSError, HeaderError):
                continue
            if has_backing:
                for real in _chain(path)[1:]:
                    add(real, name)
    return used, unreadable


def users_of(path, used):
    return sorted(used.get(os.path.realpath(path), []))


def select_prunable(found, used_names, now, max_age=None):
    """The entries to prune, sorted: not used by any task and, when ``max_age`` (seconds) is given, older than that.

    ``found`` is ``{name: mtime}``; ``used_names`` the entry names that tasks use.
    """
    return sorted(name for name, mtime in found.items()
                  if name not in used_names and (max_age is None or now - mtime > max_age))
