# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""qemu_image's reconciler: make an entry present (fetch once, verify, transform, store), remove one, or prune.

ImageCache uses only the module's parameters, its check mode, ``run`` (like
AnsibleModule.run_command) and ``warn``, so a test can hand it stand-ins.
"""

from __future__ import annotations

import os
import time

from ansible_collections.nomadic.qemu.plugins.module_utils._checksum import format_checksum, new_hash, parse_checksum
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._image import cache as layout
from ansible_collections.nomadic.qemu.plugins.module_utils._image.fetch import fetch, parse_source
from ansible_collections.nomadic.qemu.plugins.module_utils._size import parse_size
from ansible_collections.nomadic.qemu.plugins.module_utils._image.transform import (
    QemuImg,
    check_self_contained,
    decompress,
    describe,
    file_compression,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import IMAGE_OPTIONS
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskLock, check_state_dir, check_trusted_dir, fsync_dir, unlink

# How long a run waits for another one fetching the same image (its download has its own timeout).
LOCK_TIMEOUT = 3600


class Terminated(BaseException):
    """Raised from a SIGTERM handler, so that the temporary files are removed on the way out."""


class _Lock:
    """A TaskLock whose file is removed on release, so the cache keeps no lock files between runs.

    TaskLock re-checks after locking that the path is still the locked file, so a waiter on a
    removed lock file starts again on the new one.
    """

    def __init__(self, lock):
        self.lock = lock

    def __enter__(self):
        self.lock.acquire()
        return self

    def __exit__(self, *exc):
        self.lock.release(remove=True)


class ImageCache:

    def __init__(self, params, check_mode=False, run=None, warn=None, opener=None, now=time.time):
        self.params = params
        self.check_mode = check_mode
        self.run = run
        self.warn = warn or (lambda msg: None)
        self.opener = opener
        self.now = now
        self.qemu_img = QemuImg(run)
        self.state_dir = check_state_dir(params.get('state_dir'))
        cache_dir = params.get('cache_dir') or layout.default_cache_dir(self.state_dir)
        if not os.path.isabs(cache_dir):
            raise QemuTaskError("cache_dir '%s' is not an absolute path; give an absolute directory" % cache_dir, option='cache_dir')
        self.cache_dir = os.path.normpath(cache_dir)

    # -- helpers ------------------------------------------------------------------------------

    def option(self, name):
        return IMAGE_OPTIONS[name].check(self.params.get(name))

    def _check_trust(self):
        check_trusted_dir(self.state_dir, 'state_dir')
        check_trusted_dir(self.cache_dir, 'cache_dir', option='cache_dir')

    def _ensure_cache_dir(self):
        # The state directory as qemu_task makes it (0700); the cache in it readable by QEMU's users.
        for path, mode, option in ((self.state_dir, 0o700, 'state_dir'), (self.cache_dir, 0o755, 'cache_dir')):
            try:
                os.makedirs(path, mode=mode)
            except FileExistsError:
                pass
            except OSError as exc:
                raise QemuTaskError('%s %s: cannot create it: %s; choose a %s this user can write'
                                    % (option, path, exc.strerror or exc, option), option=option) from None
        self._check_trust()

    def _lock(self, key, what):
        return _Lock(TaskLock(os.path.join(self.cache_dir, layout.lock_name(key)), LOCK_TIMEOUT, what))

    def _transform(self):
        size = self.params.get('size')
        return layout.Transform(decompress=self.option('decompress'), format=self.params.get('format'),
                                size=parse_size(size, 'size') if size not in (None, '') else None)

    def _facts(self, name, index):
        """What the result says of an existing entry: path, checksum, format, virtual_size, size."""
        path = os.path.join(self.cache_dir, name)
        known = index.entries.get(name) or {}
        fmt, virtual_size = known.get('format'), known.get('virtual_size')
        if not fmt or not isinstance(virtual_size, int):
            fmt, virtual_size = describe(path, self.qemu_img)
        return {'path': path, 'checksum': layout.entry_checksum(name), 'format': fmt, 'virtual_size': virtual_size,
                'size': os.path.getsize(path)}

    def _result(self, changed, before, after, downloaded=False, removed=None):
        result = {'changed': changed, 'downloaded': downloaded, 'cache_dir': self.cache_dir,
                  'diff': {'before': before or {}, 'after': after or {}}}
        for key in ('path', 'checksum', 'format', 'virtual_size', 'size'):
            result[key] = (after or {}).get(key)
        if removed is not None:
            result['removed'] = removed
        return result

    def _update_index(self, src, checksum, name, facts):
        with self._lock(layout.INDEX_FILE, 'the index of the image cache %s' % self.cache_dir):
            index = layout.Index.load(self.cache_dir)
            new_entry = {'checksum': checksum, 'format': facts['format'], 'virtual_size': facts['virtual_size']}
            if index.sources.get(src) == checksum and index.entries.get(name) == new_entry:
                return
            index.sources[src] = checksum
            index.entries[name] = new_entry
            index.save(self.cache_dir)

    # -- state=present ------------------------------------------------------------------------

    def present(self):
        source = parse_source(self.params.get('src'))
        given = self.params.get('checksum')
        checksum = format_checksum(*parse_checksum(given, 'checksum')) if given else None
        transform = self._transform()
        self.option('timeout')
        self._check_trust()
        force = bool(self.params.get('force'))

        index = layout.Index.load(self.cache_dir)
        known = checksum or index.sources.get(source.src)
        name = layout.entry_name(known, transform) if known else None
        before = self._existing(name, index)
        if before and not force:
            return self._result(False, before, before)
        if self.check_mode:
            after = dict(before or {}, path=os.path.join(self.cache_dir, name) if name else None, checksum=known)
            return self._result(not before, before, after)

        self._ensure_cache_dir()
        with self._lock(name or source.src, 'fetching %s into the image cache' % source.shown):
            # Another run may have fetched it while this one waited for the lock.
            index = layout.Index.load(self.cache_dir)
            known = checksum or index.sources.get(source.src)
            name = layout.entry_name(known, transform) if known else None
            before = self._existing(name, index)
            if before and not force:
                return self._result(False, before, before)
            for stale in layout.stale_parts(self.cache_dir):
                unlink(stale)
            checksum, name, facts, already_there = self._fetch(source, checksum, transform)
            if already_there:
                before = facts
        self._update_index(source.src, checksum, name, facts)
        return self._result(before != facts, before, facts, downloaded=True)

    def _existing(self, name, index):
        if not name or not os.path.isfile(os.path.join(self.cache_dir, name)):
            return None
        return self._facts(name, index)

    def _fetch(self, source, checksum, transform):
        """Download, verify, transform and store; returns ``(checksum, name, facts, already_there)``. Nothing is left behind on failure."""
        parts = []

        def part():
            fd, path = layout.new_part(self.cache_dir)
            parts.append(path)
            return fd, path

        try:
            kind = checksum.split(':', 1)[0] if checksum else 'sha256'
            digest = new_hash(kind)
            fd, current = part()
            with os.fdopen(fd, 'wb') as out:
                fetch(source, out, [digest], timeout=self.option('timeout'), validate_certs=self.params.get('validate_certs', True),
                      headers=self.params.get('headers'), url_username=self.params.get('url_username'),
                      url_password=self.params.get('url_password'), **({'opener': self.opener} if self.opener else {}))
            actual = format_checksum(kind, digest.hexdigest())
            if checksum and actual != checksum:
                raise QemuTaskError('checksum mismatch for %s: expected %s, got %s; check the checksum option or the source'
                                    % (source.shown, checksum, actual), option='checksum')
            checksum = actual
            name = layout.entry_name(checksum, transform)
            final = os.path.join(self.cache_dir, name)
            if os.path.isfile(final) and not self.params.get('force'):
                # Known content under another src, or an index that was lost: the entry is already here.
                return checksum, name, self._facts(name, layout.Index.load(self.cache_dir)), True
            current = self._apply(current, transform, source.shown, part)
            facts_format, virtual_size = describe(current, self.qemu_img)
            os.chmod(current, 0o644)
            with open(current, 'rb+') as f:
                os.fsync(f.fileno())
            os.replace(current, final)
            fsync_dir(self.cache_dir)
            return checksum, name, {'path': final, 'checksum': checksum, 'format': facts_format, 'virtual_size': virtual_size,
                                    'size': os.path.getsize(final)}, False
        finally:
            for path in parts:
                unlink(path)

    def _apply(self, current, transform, shown, part):
        """Decompress, convert and grow the downloaded file ``current``; returns the file that holds the result."""
        if transform.decompress == 'auto':
            kind = file_compression(current)
            if kind:
                fd, target = part()
                os.close(fd)
                decompress(kind, current, target, shown, run=self.run)
                unlink(current)
                current = target
        check_self_contained(current, shown)
        if transform.format is None and transform.size is None:
            return current
        fmt, virtual_size = self.qemu_img.info(current) if self.qemu_img.available else describe(current, self.qemu_img)
        if transform.size is not None and transform.size < virtual_size:
            raise QemuTaskError('size %s (%d bytes) is smaller than the virtual size of %s, %d bytes; the image cache never '
                                'shrinks an image: use a size of at least %d bytes, or leave size unset'
                                % (self.params.get('size'), transform.size, shown, virtual_size, virtual_size), option='size')
        if transform.format and transform.format != fmt:
            fd, target = part()
            os.close(fd)
            self.qemu_img.convert(current, fmt, target, transform.format)
            unlink(current)
            current, fmt = target, transform.format
        if transform.size is not None and transform.size != virtual_size:
            self.qemu_img.resize(current, fmt, transform.size)
        return current

    # -- state=absent -------------------------------------------------------------------------

    def absent(self):
        source = parse_source(self.params.get('src'))
        given = self.params.get('checksum')
        checksum = format_checksum(*parse_checksum(given, 'checksum')) if given else None
        transform = self._transform()
        self._check_trust()
        index = layout.Index.load(self.cache_dir)
        known = checksum or index.sources.get(source.src)
        name = layout.entry_name(known, transform) if known else None
        before = self._existing(name, index)
        if not before:
            return self._result(False, None, None, removed=[])
        used, unreadable = layout.task_images(self.state_dir)
        users = layout.users_of(before['path'], used)
        if users:
            raise QemuTaskError('the cache entry %s of %s is used by the task%s %s; stop and remove %s first (state=absent), '
                                'or leave the entry' % (before['path'], source.shown, 's' if len(users) > 1 else '', ', '.join(users),
                                                        'them' if len(users) > 1 else 'it'), option='src')
        self._refuse_unreadable(unreadable, 'remove the cache entry %s' % before['path'])
        if not self.check_mode:
            self._remove([name])
        return self._result(True, before, None, removed=[before['path']])

    def _refuse_unreadable(self, unreadable, doing):
        if unreadable:
            raise QemuTaskError('cannot %s: the record of task%s %s in state_dir %s cannot be read, so whether %s uses it is unknown; '
                                'repair or remove %s first' % (doing, 's' if len(unreadable) > 1 else '', ', '.join(unreadable),
                                                               self.state_dir, 'they' if len(unreadable) > 1 else 'it',
                                                               'them' if len(unreadable) > 1 else 'it'), option='state_dir')

    def _remove(self, names):
        with self._lock(layout.INDEX_FILE, 'the index of the image cache %s' % self.cache_dir):
            index = layout.Index.load(self.cache_dir)
            for name in names:
                unlink(os.path.join(self.cache_dir, name))
                index.forget(name)
            fsync_dir(self.cache_dir)
            index.save(self.cache_dir)

    # -- state=pruned -------------------------------------------------------------------------

    def pruned(self):
        max_age = self.option('max_age')
        self._check_trust()
        found = layout.entries(self.cache_dir)
        used, unreadable = layout.task_images(self.state_dir)
        used_names = set(name for name in found if layout.users_of(os.path.join(self.cache_dir, name), used))
        names = layout.select_prunable(found, used_names, self.now(), max_age)
        if names:
            self._refuse_unreadable(unreadable, 'prune the image cache %s' % self.cache_dir)
        removed = [os.path.join(self.cache_dir, name) for name in names]
        if not self.check_mode:
            for stale in layout.stale_parts(self.cache_dir):
                unlink(stale)
            if names:
                self._remove(names)
        before = {'entries': sorted(found)}
        after = {'entries': sorted(set(found) - set(names))}
        result = self._result(bool(names), None, None, removed=removed)
        for key in ('path', 'checksum', 'format', 'virtual_size', 'size'):
            del result[key]
        result['diff'] = {'before': before, 'after': after}
        result['kept'] = sorted(os.path.join(self.cache_dir, name) for name in used_names)
        return result

    def reconcile(self):
        state = self.option('state')
        return getattr(self, state)()
