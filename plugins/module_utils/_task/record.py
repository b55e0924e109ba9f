# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Task state on disk: one directory per task, its record (TaskRecord), and locks.

The layout of a state directory::

    <state_dir>/.<name>.lock        the task's lock (flock)
    <state_dir>/.ports.lock         the lock around dynamic port allocation
    <state_dir>/<name>/task.json    the record
    <state_dir>/<name>/qemu.pid, qmp.sock, qga.sock, console.log   what QEMU makes
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pwd
import re
import shutil
import stat
import tempfile
import time

from ansible_collections.nomadic.qemu.plugins.module_utils._command import (
    AGENT_SOCKET,
    CONSOLE_LOG,
    DISK_FILE_PREFIX,
    MONITOR_SOCKET,
    OVERLAY_FILE,
    PIDFILE,
    SEED_FILE,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import DISK_FORMATS, DISK_NAME_RE

RECORD_FILE = 'task.json'
RECORD_VERSION = 1
PORTS_LOCK = '.ports.lock'
TASK_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z')
_TEMP_PREFIX, _TEMP_SUFFIX = '.task-', '.json'

# Files the collection creates inside a task directory; anything else (for example an
# image downloaded there) belongs to the user and is never removed.
OWN_FILES = (RECORD_FILE, PIDFILE, MONITOR_SOCKET, AGENT_SOCKET, CONSOLE_LOG, OVERLAY_FILE, SEED_FILE)
# The disks the collection creates (see _command.disk_file): disk-<name>.qcow2 or .raw.
OWN_DISK_RE = re.compile(r'^%s(?:%s)\.(?:%s)$' % (re.escape(DISK_FILE_PREFIX), DISK_NAME_RE.pattern.strip('^$'), '|'.join(DISK_FORMATS)))
RUNTIME_FILES = (PIDFILE, MONITOR_SOCKET, AGENT_SOCKET)
# The directories of Nomad's allocation that a task's args may name (see runtime.py).
ALLOC_SUBDIRS = ('local', 'alloc', 'secrets')


def default_state_dir(euid=None, environ=None):
    """Where task state lives when the user does not say: /var/lib for root, else the user's state home."""
    euid = os.geteuid() if euid is None else euid
    environ = os.environ if environ is None else environ
    if euid == 0:
        return '/var/lib/nomadic-qemu'
    base = environ.get('XDG_STATE_HOME') or os.path.join(os.path.expanduser('~'), '.local', 'state')
    return os.path.join(base, 'nomadic-qemu')


def validate_name(name):
    """The task name, matched whole (a trailing newline is not a name)."""
    if not isinstance(name, str) or not TASK_NAME_RE.fullmatch(name):
        raise QemuTaskError(
            "name %r is not a valid task name; use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit" % (name,), option='name')
    return name


class TaskRecord:
    """What the collection knows of one task: written to task.json, read back on the next run.

    ``damaged`` marks a record that could not be read (it then counts as no task).
    ``created_dir`` says the collection made the task directory, so ``absent`` may remove it whole.
    """

    FIELDS = ('name', 'state', 'argv', 'config', 'accelerator', 'ports', 'pid', 'start_time', 'started_at',
              'created_dir', 'labels', 'recoveries')

    def __init__(self, name=None, state='stopped', argv=None, config=None, accelerator=None, ports=None, pid=None,
                 start_time=None, started_at=None, created_dir=False, labels=None, recoveries=0, damaged=False):
        self.name = name
        self.state = state
        self.argv = list(argv or [])
        self.config = dict(config or {})
        self.accelerator = accelerator
        self.ports = dict(ports or {})
        self.pid = pid
        self.start_time = start_time
        self.started_at = started_at
        self.created_dir = bool(created_dir)
        self.labels = dict(labels or {})
        self.recoveries = int(recoveries or 0)
        self.damaged = damaged

    @classmethod
    def damaged_record(cls):
        return cls(damaged=True)

    @classmethod
    def from_dict(cls, data):
        """A record from its JSON form; a damaged one when it is not a record of this version."""
        if not isinstance(data, dict) or data.get('version') != RECORD_VERSION:
            return cls.damaged_record()
        try:
            return cls(**dict((key, data.get(key)) for key in cls.FIELDS if data.get(key) is not None))
        except (TypeError, ValueError):
            return cls.damaged_record()

    def to_dict(self):
        data = dict((key, getattr(self, key)) for key in self.FIELDS)
        data['version'] = RECORD_VERSION
        return data

    def copy(self, **changes):
        values = dict((key, getattr(self, key)) for key in self.FIELDS)
        values.update(changes)
        return TaskRecord(**values)

    def stopped(self):
        """This record once its QEMU no longer runs."""
        return self.copy(state='stopped', pid=None, start_time=None)

    @property
    def host_ports(self):
        """The host ports this task holds, {label: port}."""
        return dict((label, info['host']) for label, info in self.ports.items()
                    if isinstance(info, dict) and isinstance(info.get('host'), int))

    def __eq__(self, other):
        return isinstance(other, TaskRecord) and self.to_dict() == other.to_dict() and self.damaged == other.damaged

    def __repr__(self):
        return 'TaskRecord(%r)' % ({'damaged': True} if self.damaged else self.to_dict())


class TaskLock:
    """An exclusive flock on a lock file, safe against the file being removed by the holder.

    After locking, the path is checked to still be the locked inode; if another holder
    removed (or replaced) it meanwhile, locking starts again on the new file.
    """

    def __init__(self, path, timeout, what):
        self.path = path
        self.timeout = timeout
        self.what = what
        self.fd = None

    def acquire(self):
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            except OSError as exc:
                raise state_dir_error(os.path.dirname(self.path), 'create the lock file %s' % self.path, exc) from None
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except OSError as exc:
                        if exc.errno not in (errno.EAGAIN, errno.EACCES):
                            raise
                        if time.monotonic() >= deadline:
                            raise QemuTaskError(
                                '%s is locked by another run (lock file %s) and was not released within %d seconds; '
                                'wait for the other run to finish and retry' % (self.what, self.path, self.timeout))
                        time.sleep(0.05)
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(self.path))
                except FileNotFoundError:
                    same = False
                if same:
                    self.fd = fd
                    return self
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def release(self, remove=False):
        if self.fd is None:
            return
        if remove:
            unlink(self.path)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class TaskDir:
    """The on-disk layout of one task under a state directory, and its record."""

    def __init__(self, state_dir, name):
        self.state_dir = os.path.abspath(state_dir)
        self.name = validate_name(name)
        self.path = os.path.join(self.state_dir, name)
        self.record_path = os.path.join(self.path, RECORD_FILE)
        self.pidfile = os.path.join(self.path, PIDFILE)
        self.monitor_socket = os.path.join(self.path, MONITOR_SOCKET)
        self.agent_socket = os.path.join(self.path, AGENT_SOCKET)
        self.console_log = os.path.join(self.path, CONSOLE_LOG)
        self.lock_path = os.path.join(self.state_dir, '.%s.lock' % name)
        self.ports_lock_path = os.path.join(self.state_dir, PORTS_LOCK)

    @classmethod
    def from_params(cls, state_dir, name):
        """The task directory for the modules' state_dir and name options (state_dir defaults per user)."""
        return cls(check_state_dir(state_dir), name)

    def exists(self):
        return os.path.isdir(self.path)

    def ensure(self, task=True):
        """Create the state directory and, unless task is False, the task directory (mode 0700) if needed."""
        for path in (self.state_dir, self.path) if task else (self.state_dir,):
            try:
                os.makedirs(path, mode=0o700)
            except FileExistsError:
                if not os.path.isdir(path):
                    raise QemuTaskError('state_dir %s: %s exists and is not a directory; '
                                        'remove it or choose another state_dir' % (self.state_dir, path), option='state_dir')
            except OSError as exc:
                raise state_dir_error(self.state_dir, 'create %s' % path, exc) from None

    def lock(self, timeout):
        """The task's lock (in the state directory, which is created if needed; the task directory is not)."""
        if not os.path.isdir(self.state_dir):
            self.ensure(task=False)
        return TaskLock(self.lock_path, timeout, "task '%s'" % self.name)

    def ports_lock(self, timeout):
        return TaskLock(self.ports_lock_path, timeout, 'port allocation in %s' % self.state_dir)

    def read(self):
        """The TaskRecord, or None when there is none. A record that cannot be read comes back damaged."""
        return read_record_file(self.record_path)

    def write(self, record):
        """Write the record atomically and durably: a reader sees the old or the new one, never half of one."""
        try:
            fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=self.path)
        except OSError as exc:
            raise state_dir_error(self.state_dir, 'write the record of task %s' % self.name, exc) from None
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump(record.to_dict(), f, indent=2, sort_keys=True)
                f.write('\n')
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.record_path)
            fsync_dir(self.path)
        except OSError as exc:
            unlink(tmp)
            raise state_dir_error(self.state_dir, 'write the record of task %s' % self.name, exc) from None
        except BaseException:
            unlink(tmp)
            raise
        return record

    def mark_stopped(self, record):
        """Record that the task's QEMU no longer runs, and remove what it left; returns the new record."""
        record = self.write(record.stopped())
        self.remove_runtime_files()
        if record.config.get('ephemeral'):
            # An ephemeral task's overlay lives as long as its VM.
            unlink(os.path.join(self.path, OVERLAY_FILE))
        return record

    def remove_runtime_files(self):
        """Remove the pidfile and sockets a previous QEMU may have left behind."""
        for name in RUNTIME_FILES:
            unlink(os.path.join(self.path, name))

    def own_leftovers(self):
        """True when the directory holds something the collection created, or nothing at all."""
        try:
            entries = os.listdir(self.path)
        except OSError:
            return False
        return not entries or any(_is_own(entry) for entry in entries)

    def remove(self, keep_user_files=True):
        """Remove what the collection created; the directory goes too when nothing else is in it."""
        if not os.path.isdir(self.path):
            return False
        for entry in os.listdir(self.path):
            if _is_own(entry):
                unlink(os.path.join(self.path, entry))
            elif entry in ALLOC_SUBDIRS:
                # Made for the args' ${local_dir}, ${alloc_dir} or ${secrets_dir}: kept while something is in it.
                try:
                    os.rmdir(os.path.join(self.path, entry))
                except OSError:
                    pass
        if not keep_user_files:
            shutil.rmtree(self.path, ignore_errors=True)
        elif not os.listdir(self.path):
            try:
                os.rmdir(self.path)
            except OSError:
                pass
        return True

    def check_trusted(self):
        """Refuse a state directory or task directory that someone else could write (see check_trusted_dir)."""
        for path, what in ((self.state_dir, 'state_dir'), (self.path, 'the task directory')):
            check_trusted_dir(path, what)

    def remove_state_dir_if_empty(self):
        """Remove the state directory when nothing is left in it (a first run that failed)."""
        try:
            os.rmdir(self.state_dir)
        except OSError:
            pass

    def other_records(self):
        """Records of the other tasks in the same state directory (for port reservations)."""
        return [record for name, record in task_records(self.state_dir) if name != self.name and not record.damaged]


def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return 'uid %d' % uid


def check_trusted_dir(path, what, euid=None, option='state_dir'):
    """Refuse a directory the collection cannot trust, as OpenSSH's StrictModes does; a missing one is fine.

    It must be a real directory (not a symbolic link), owned by this user or root, and not
    writable by group or others: otherwise another user could plant a link or a record that
    the collection would follow or believe (and signal the process it names). ``option`` is the
    option the messages tell to change (qemu_image checks its cache_dir with this too).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise state_dir_error(path, 'inspect %s' % path, exc) from None
    euid = os.geteuid() if euid is None else euid
    if stat.S_ISLNK(st.st_mode):
        raise QemuTaskError('%s %s is a symbolic link; the collection never follows links for its state: '
                            'remove it, or use the directory it points to as %s' % (what, path, option), option=option)
    if not stat.S_ISDIR(st.st_mode):
        raise QemuTaskError('%s %s exists and is not a directory; remove it or choose another %s' % (what, path, option),
                            option=option)
    if st.st_uid not in (euid, 0):
        raise QemuTaskError('%s %s is owned by %s, not by this user (%s) or root; the collection does not trust a directory '
                            'another user controls: choose a %s of your own' % (what, path, _owner(st.st_uid), _owner(euid), option),
                            option=option)
    if st.st_mode & 0o022:
        raise QemuTaskError('%s %s is writable by %s (mode %04o, owner %s); another user could plant files or links in it: '
                            'run chmod go-w %s, or choose another %s'
                            % (what, path, 'group and others' if st.st_mode & 0o022 == 0o022 else 'others' if st.st_mode & 0o002 else 'group',
                               stat.S_IMODE(st.st_mode), _owner(st.st_uid), path, option), option=option)


def state_dir_error(state_dir, doing, exc):
    """A QemuTaskError for an OSError in the state directory, naming state_dir and the cause."""
    causes = {
        errno.EROFS: 'it is on a read-only file system; choose a writable state_dir',
        errno.ENOSPC: 'no space left on device; free space there or choose another state_dir',
        errno.EDQUOT: 'the disk quota is exceeded; free space there or choose another state_dir',
        errno.EACCES: 'permission denied; choose a state_dir this user can write',
        errno.EPERM: 'operation not permitted; choose a state_dir this user can write',
        errno.ELOOP: 'a symbolic link is in the way, and the collection does not follow links there; remove it',
    }
    cause = causes.get(exc.errno, '%s; check state_dir' % (exc.strerror or exc))
    return QemuTaskError('state_dir %s: cannot %s: %s' % (state_dir, doing, cause), option='state_dir')


def fsync_dir(path):
    """fsync a directory, so that a rename or removal in it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_state_dir(state_dir):
    """The state directory of the state_dir option (None: the per-user default); it must be absolute."""
    state_dir = state_dir or default_state_dir()
    if not os.path.isabs(state_dir):
        raise QemuTaskError("state_dir '%s' is not an absolute path; give an absolute directory" % state_dir, option='state_dir')
    return state_dir


def read_record_file(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, 'r', encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return TaskRecord.damaged_record()
    return TaskRecord.from_dict(data)


def task_records(state_dir):
    """``(name, TaskRecord)`` of every task directory in state_dir with a record, sorted by name."""
    try:
        entries = sorted(os.listdir(state_dir))
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.startswith('.') or not TASK_NAME_RE.fullmatch(entry):
            continue
        record = read_record_file(os.path.join(state_dir, entry, RECORD_FILE))
        if record is not None:
            found.append((entry, record))
    return found


def labels_match(labels, wanted):
    """Whether ``labels`` include every label of ``wanted`` with its value (qemu_task_info's labels, qemu_tasks' selector)."""
    return all(labels.get(key) == value for key, value in wanted.items())


def _is_own(entry):
    """A file of the task directory that the collection made (and absent removes, whoever made the directory)."""
    return entry in OWN_FILES or _is_temp(entry) or bool(OWN_DISK_RE.fullmatch(entry))


def _is_temp(entry):
    return entry.startswith(_TEMP_PREFIX) and entry.endswith(_TEMP_SUFFIX)


def unlink(path):
    """Remove a file; one already gone is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
