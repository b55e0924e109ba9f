# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A task's console logs as Nomad's ``logs`` block keeps them: at most ``max_files`` files of ``max_file_size`` bytes.

The live file is ``console.log``; older ones are ``console.log.1`` (the newest) to
``console.log.<max_files - 1>``. Rotation renames, never copies or truncates: a QEMU that keeps
the live file open (with ``append=on``) writes on into what is now ``console.log.1`` until it
is pointed at the new file, so no line is lost, and the last lines of a crashed run survive the
start that recovers it.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._size import parse_size, whole_number

# Nomad's defaults (logs { max_files = 10, max_file_size = 10 }, in MB).
DEFAULT_MAX_FILES = 10
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024


def check_logs(value, option='logs'):
    """The logs block normalized: {max_files, max_file_size (bytes)}; None is Nomad's default."""
    logs = {'max_files': DEFAULT_MAX_FILES, 'max_file_size': DEFAULT_MAX_FILE_SIZE}
    if value is None:
        return logs
    if not isinstance(value, dict):
        raise QemuTaskError('%s must be a mapping with max_files and max_file_size, such as {max_files: 5, max_file_size: 1M}' % option,
                            option=option)
    unknown = sorted(set(value) - set(logs))
    if unknown:
        raise QemuTaskError('%s has the unknown key(s) %s; it takes max_files and max_file_size' % (option, ', '.join(unknown)),
                            option=option)
    if value.get('max_files') is not None:
        files = whole_number(value['max_files'])
        if files is None or files < 1:
            raise QemuTaskError('%s.max_files %r is not a file count; use 1 or more' % (option, value['max_files']), option=option)
        logs['max_files'] = files
    size = value.get('max_file_size')
    if size is not None:
        # A number (or a string of digits, as templating gives) is megabytes, as in Nomad's job files;
        # a string may name its unit (512K, 10M).
        number = whole_number(size)
        if number is not None:
            size = '%dM' % number if number > 0 else number
        try:
            logs['max_file_size'] = parse_size(size, '%s.max_file_size' % option)
        except QemuTaskError as exc:
            raise QemuTaskError(exc.msg, option=option) from None
    return logs


def rotated_name(path, index):
    """The ``index``-th older file of ``path`` (0: ``path`` itself)."""
    return path if index == 0 else '%s.%d' % (path, index)


def log_files(path, max_files):
    """The console files that exist, newest first (the live one first when it exists)."""
    return [rotated_name(path, index) for index in range(max_files) if os.path.lexists(rotated_name(path, index))]


def needs_rotation(path, max_file_size):
    """True when the live file has reached max_file_size."""
    try:
        return os.lstat(path).st_size >= max_file_size
    except FileNotFoundError:
        return False


def rotate(path, max_files):
    """Shift ``path`` to ``path.1``, ``path.1`` to ``path.2``...; the oldest beyond ``max_files`` files is removed.

    With ``max_files`` 1 there is no older file: the live one is removed. Returns the files removed.
    Only regular files are moved: a symbolic link planted in the task directory is removed, never
    followed.
    """
    removed = []
    oldest = rotated_name(path, max_files - 1)
    for index in range(max_files - 1, -1, -1):
        name = rotated_name(path, index)
        try:
            st = os.lstat(name)
        except FileNotFoundError:
            continue
        if name == oldest or not stat.S_ISREG(st.st_mode):
            os.unlink(name)
            removed.append(name)
            continue
        os.replace(name, rotated_name(path, index + 1))
    # Files beyond max_files (left by a larger max_files before) go too.
    index = max(max_files, 1)
    while os.path.lexists(rotated_name(path, index)):
        os.unlink(rotated_name(path, index))
        removed.append(rotated_name(path, index))
        index += 1
    return removed
