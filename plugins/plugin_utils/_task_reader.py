# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins!

"""Read the task records of one state directory: the inventory plugin's view of a hypervisor.

This file is self-contained on purpose. The inventory plugin imports it for a ``local``
hypervisor, and sends its source to a remote one, where ``python3 - [STATE_DIR]`` runs it
with nothing of the collection installed; it prints one JSON document and exits 0.

It applies the collection's rules for reading state (plugins/module_utils/_task/record.py
and _process.py), restated here because nothing of the collection is on the remote side:
the per-user default state directory, the trust check (a real directory owned by this user
or root and not writable by group or others), records read without following links, and the
task's QEMU found by its pidfile (a QEMU process whose argv names the task's pidfile). The unit
tests hold these to the module_utils versions, so they cannot drift apart. The modules say
more about a task than this reader does (crashed, or a QEMU whose argv is no longer the
recorded one); here a task is running while its QEMU runs, and stopped otherwise.

Standard library only; Python 3.6 or later (what the oldest supported managed hosts run).
"""

import json
import os
import re
import stat
import sys

RECORD_FILE = 'task.json'
RECORD_VERSION = 1
PIDFILE = 'qemu.pid'
AGENT_SOCKET = 'qga.sock'
MONITOR_SOCKET = 'qmp.sock'
CONSOLE_LOG = 'console.log'
TASK_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z')
PROC = '/proc'
# What of a task's config the inventory shows (the whole config stays in qemu_task_info).
CONFIG_KEYS = ('image', 'memory', 'cpus', 'guest_agent', 'emulator')


def default_state_dir(euid=None, environ=None):
    """Where task state lives when the user does not say: /var/lib for root, else the user's state home."""
    euid = os.geteuid() if euid is None else euid
    environ = os.environ if environ is None else environ
    if euid == 0:
        return '/var/lib/nomadic-qemu'
    base = environ.get('XDG_STATE_HOME') or os.path.join(os.path.expanduser('~'), '.local', 'state')
    return os.path.join(base, 'nomadic-qemu')


def untrusted_reason(path, euid=None):
    """Why a directory cannot be trusted, or None when it can (or does not exist)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return 'cannot inspect it: %s' % (exc.strerror or exc)
    euid = os.geteuid() if euid is None else euid
    if stat.S_ISLNK(st.st_mode):
        return 'it is a symbolic link'
    if not stat.S_ISDIR(st.st_mode):
        return 'it is not a directory'
    if st.st_uid not in (euid, 0):
        return 'it is owned by uid %d, not by this user (uid %d) or root' % (st.st_uid, euid)
    if st.st_mode & 0o022:
        return 'it is writable by group or others (mode %04o)' % stat.S_IMODE(st.st_mode)
    return None


def _read_json(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, 'r', encoding='utf-8') as f:
        return json.load(f)


def _cmdline(pid, proc):
    try:
        with open(os.path.join(proc, str(pid), 'cmdline'), 'rb') as f:
            data = f.read()
    except OSError:
        return []
    return [part.decode('utf-8', 'surrogateescape') for part in data.rstrip(b'\0').split(b'\0')] if data else []


def _program(pid, proc, argv):
    try:
        path = os.readlink(os.path.join(proc, str(pid), 'exe'))
    except OSError:
        path = argv[0] if argv else ''
    if path.endswith(' (deleted)'):
        path = path[:-len(' (deleted)')]
    return os.path.basename(path)


def _zombie(pid, proc):
    try:
        with open(os.path.join(proc, str(pid), 'stat'), 'rb') as f:
            data = f.read()
    except OSError:
        return True
    fields = data[data.rfind(b')') + 2:].split()
    return not fields or fields[0] in (b'Z', b'X')


def running_pid(task_dir, proc=PROC):
    """The pid of the task's QEMU when one runs: the pidfile's process, if its argv names that pidfile."""
    pidfile = os.path.join(task_dir, PIDFILE)
    try:
        with open(pidfile, 'r') as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    argv = _cmdline(pid, proc)
    try:
        named = argv[argv.index('-pidfile') + 1]
    except (ValueError, IndexError):
        return None
    if named != pidfile or not _program(pid, proc, argv).startswith('qemu') or _zombie(pid, proc):
        return None
    return pid


def _valid_port(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def record_problem(data):
    """Why a record's fields cannot be shown (the modules count such a record as damaged), or None."""
    if not isinstance(data, dict) or data.get('version') != RECORD_VERSION:
        return 'its record is not a record of version %d' % RECORD_VERSION
    for key in ('labels', 'ports', 'config'):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return 'its record is damaged: %s is not a mapping' % key
    for key, value in (data.get('labels') or {}).items():
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            return 'its record is damaged: label %s is not a string' % key
    return None


def _port_entry(info):
    """A port of the record as the inventory shows it, or None for one without a usable host port (the modules skip it too)."""
    if not isinstance(info, dict) or not _valid_port(info.get('host')) or not isinstance(info.get('host_address') or '', str):
        return None
    return {'host': info['host'], 'guest': info['guest'] if _valid_port(info.get('guest')) else None,
            'host_address': info.get('host_address') or ''}


def task_entry(state_dir, name, data, pid):
    """What the inventory shows of one task whose record passed record_problem."""
    task_dir = os.path.join(state_dir, name)
    config = data.get('config') or {}
    ports = {}
    for label, info in sorted((data.get('ports') or {}).items()):
        if _port_entry(info):
            ports[str(label)] = _port_entry(info)
    entry = {
        'name': name,
        'state': 'running' if pid else 'stopped',
        'pid': pid,
        'accelerator': data.get('accelerator') if pid else None,
        'started_at': data.get('started_at') if pid else None,
        'labels': dict((str(k), str(v)) for k, v in sorted((data.get('labels') or {}).items())),
        'ports': ports,
        'task_dir': task_dir,
        'monitor_socket': os.path.join(task_dir, MONITOR_SOCKET),
        'agent_socket': os.path.join(task_dir, AGENT_SOCKET) if config.get('guest_agent') else None,
        'console_log': os.path.join(task_dir, CONSOLE_LOG),
    }
    for key in CONFIG_KEYS:
        value = config.get(key)
        entry[key] = value if isinstance(value, (str, int, float, bool)) or value is None else None
    entry['guest_agent'] = bool(config.get('guest_agent'))
    return entry


def read_state_dir(state_dir=None, euid=None, proc=PROC):
    """``{'state_dir', 'tasks': [...], 'skipped': [{'name', 'reason'}], 'error'}`` for one state directory."""
    state_dir = state_dir or default_state_dir(euid)
    result = {'state_dir': state_dir, 'tasks': [], 'skipped': [], 'error': None}
    if not os.path.isabs(state_dir):
        result['error'] = 'state_dir %s is not an absolute path' % state_dir
        return result
    reason = untrusted_reason(state_dir, euid)
    if reason:
        result['error'] = 'state_dir %s is not trusted: %s' % (state_dir, reason)
        return result
    try:
        entries = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return result
    except OSError as exc:
        result['error'] = 'state_dir %s cannot be read: %s' % (state_dir, exc.strerror or exc)
        return result
    for name in entries:
        if name.startswith('.') or not TASK_NAME_RE.match(name):
            continue
        task_dir = os.path.join(state_dir, name)
        if not os.path.islink(task_dir) and not os.path.isdir(task_dir):
            continue
        reason = untrusted_reason(task_dir, euid)
        if reason:
            result['skipped'].append({'name': name, 'reason': 'the task directory %s is not trusted: %s' % (task_dir, reason)})
            continue
        try:
            data = _read_json(os.path.join(task_dir, RECORD_FILE))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            result['skipped'].append({'name': name, 'reason': 'its record cannot be read: %s' % (getattr(exc, 'strerror', None) or exc)})
            continue
        problem = record_problem(data)
        if problem:
            result['skipped'].append({'name': name, 'reason': problem})
            continue
        result['tasks'].append(task_entry(state_dir, name, data, running_pid(task_dir, proc)))
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    json.dump(read_state_dir(argv[0] if argv else None), sys.stdout, sort_keys=True)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
