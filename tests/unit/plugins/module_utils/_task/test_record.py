# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import (
    TaskDir,
    TaskLock,
    TaskRecord,
    check_trusted_dir,
    state_dir_error,
    task_records,
    default_state_dir,
    validate_name,
)


@pytest.mark.parametrize('euid, environ, expected', [
    (0, {}, '/var/lib/nomadic-qemu'),
    (1000, {'XDG_STATE_HOME': '/xdg'}, '/xdg/nomadic-qemu'),
])
def test_default_state_dir(euid, environ, expected):
    assert default_state_dir(euid, environ) == expected


def test_default_state_dir_home(monkeypatch):
    monkeypatch.setenv('HOME', '/home/u')
    assert default_state_dir(1000, {}) == '/home/u/.local/state/nomadic-qemu'


@pytest.mark.parametrize('name', ['web1', 'a', 'A.b_c-d', '9' * 64])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize('name', ['', '-x', '.hidden', 'a/b', '..', 'a b', 'x' * 65, 'a,b', None, 'web1\n', 'web1\nx'])
def test_invalid_names(name):
    with pytest.raises(QemuTaskError) as exc:
        validate_name(name)
    assert str(exc.value) == (
        "name %r is not a valid task name; use 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit" % (name,))
    assert exc.value.option == 'name'


def test_record_roundtrip_and_atomic(tmp_path):
    task = TaskDir(str(tmp_path / 'state'), 'vm1')
    assert task.read() is None
    task.ensure()
    assert oct(os.stat(task.path).st_mode & 0o777) == '0o700'
    record = TaskRecord(name='vm1', state='running', argv=['a', 'b'], pid=42, start_time=7, labels={'job': 'web'},
                        ports={'ssh': {'host': 20001, 'guest': 22, 'host_address': ''}})
    task.write(record)
    assert task.read() == record
    assert task.read().host_ports == {'ssh': 20001}
    with open(task.record_path) as f:
        on_disk = json.load(f)
    assert on_disk['version'] == 1 and on_disk['labels'] == {'job': 'web'} and on_disk['recoveries'] == 0
    # no temporary files are left next to the record
    assert sorted(os.listdir(task.path)) == ['task.json']


@pytest.mark.parametrize('content', ['{not json', '[]', json.dumps({'version': 99})])
def test_damaged_record(tmp_path, content):
    task = TaskDir(str(tmp_path), 'vm1')
    task.ensure()
    with open(task.record_path, 'w') as f:
        f.write(content)
    assert task.read().damaged is True


def test_remove_keeps_user_files(tmp_path):
    task = TaskDir(str(tmp_path), 'vm1')
    task.ensure()
    for name in ('task.json', 'qemu.pid', 'qmp.sock', 'console.log', 'my.img'):
        (tmp_path / 'vm1' / name).write_text('x')
    assert task.remove(keep_user_files=True)
    assert os.listdir(task.path) == ['my.img']
    assert task.remove(keep_user_files=False)
    assert not os.path.exists(task.path)
    assert not task.remove()


def test_remove_empty_dir(tmp_path):
    task = TaskDir(str(tmp_path), 'vm1')
    task.ensure()
    (tmp_path / 'vm1' / 'qemu.pid').write_text('1')
    task.remove(keep_user_files=True)
    assert not os.path.exists(task.path)


def test_ensure_refuses_file(tmp_path):
    (tmp_path / 'vm1').write_text('')
    task = TaskDir(str(tmp_path), 'vm1')
    with pytest.raises(QemuTaskError, match='exists and is not a directory'):
        task.ensure()


def test_other_records(tmp_path):
    for name, ports in (('a', {'x': {'host': 20001}}), ('b', {'y': {'host': 20002}})):
        t = TaskDir(str(tmp_path), name)
        t.ensure()
        t.write(TaskRecord(name=name, ports=ports))
    (tmp_path / 'c').mkdir()
    (tmp_path / 'c' / 'task.json').write_text('garbage')
    records = TaskDir(str(tmp_path), 'a').other_records()
    assert [r.ports for r in records] == [{'y': {'host': 20002}}]
    assert [(name, record.damaged) for name, record in task_records(str(tmp_path))] == [('a', False), ('b', False), ('c', True)]


def test_mark_stopped_keeps_the_rest(tmp_path):
    task = TaskDir(str(tmp_path), 'vm1')
    task.ensure()
    (tmp_path / 'vm1' / 'qemu.pid').write_text('42')
    running = TaskRecord(name='vm1', state='running', pid=42, start_time=7, argv=['q'], labels={'a': 'b'}, recoveries=2)
    stopped = task.mark_stopped(running)
    assert task.read() == stopped
    assert (stopped.state, stopped.pid, stopped.start_time, stopped.labels, stopped.recoveries) == ('stopped', None, None, {'a': 'b'}, 2)
    assert not os.path.exists(task.pidfile)


def test_lock_excludes_and_times_out(tmp_path):
    path = str(tmp_path / 'x.lock')
    first = TaskLock(path, 1, "task 'x'").acquire()
    with pytest.raises(QemuTaskError) as exc:
        TaskLock(path, 0.2, "task 'x'").acquire()
    assert str(exc.value) == ("task 'x' is locked by another run (lock file %s) and was not released within 0 seconds; "
                              "wait for the other run to finish and retry" % path)
    first.release()
    TaskLock(path, 1, "task 'x'").acquire().release()


def test_lock_survives_removal_by_holder(tmp_path):
    """A waiter that locked a file the holder then removed must not believe it holds the lock."""
    path = str(tmp_path / 'x.lock')
    holder = TaskLock(path, 1, 'x').acquire()
    got = []

    def waiter():
        lock = TaskLock(path, 5, 'x').acquire()
        got.append(os.stat(path).st_ino == os.fstat(lock.fd).st_ino)
        lock.release()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)
    holder.release(remove=True)
    thread.join(10)
    assert got == [True]


def test_lock_creates_only_the_state_dir(tmp_path):
    task = TaskDir(str(tmp_path / 'new-state'), 'vm1')
    lock = task.lock(1).acquire()
    try:
        assert os.path.isdir(task.state_dir)
        assert not os.path.exists(task.path)
    finally:
        lock.release(remove=True)
    assert os.listdir(task.state_dir) == []


@pytest.mark.parametrize('files, expected', [
    ([], True),
    (['qemu.pid'], True),
    (['.task-abc.json'], True),
    (['precious.txt'], False),
    (['precious.txt', 'console.log'], True),
])
def test_own_leftovers(tmp_path, files, expected):
    task = TaskDir(str(tmp_path), 'vm1')
    task.ensure()
    for name in files:
        (tmp_path / 'vm1' / name).write_text('x')
    assert task.own_leftovers() is expected


@pytest.mark.parametrize('mode, message', [
    (0o777, 'is writable by group and others (mode 0777, owner root)'),
    (0o1777, 'is writable by group and others (mode 1777, owner root)'),
    (0o757, 'is writable by others (mode 0757, owner root)'),
    (0o770, 'is writable by group (mode 0770, owner root)'),
])
def test_untrusted_modes(tmp_path, mode, message):
    path = tmp_path / 'state'
    path.mkdir()
    os.chmod(str(path), mode)
    with pytest.raises(QemuTaskError) as exc:
        check_trusted_dir(str(path), 'state_dir')
    assert str(exc.value).startswith('state_dir %s %s; another user could plant files or links in it' % (path, message))


@pytest.mark.parametrize('mode', [0o700, 0o755, 0o750])
def test_trusted_modes(tmp_path, mode):
    path = tmp_path / 'state'
    path.mkdir()
    os.chmod(str(path), mode)
    check_trusted_dir(str(path), 'state_dir')
    check_trusted_dir(str(tmp_path / 'missing'), 'state_dir')


@pytest.mark.skipif(os.geteuid() != 0, reason='making a directory of another user needs root')
def test_foreign_owner_is_refused(tmp_path):
    path = tmp_path / 'state'
    path.mkdir()
    os.chown(str(path), 4242, 4242)
    with pytest.raises(QemuTaskError) as exc:
        check_trusted_dir(str(path), 'state_dir')
    assert str(exc.value) == ('state_dir %s is owned by uid 4242, not by this user (root) or root; the collection does not trust a '
                              'directory another user controls: choose a state_dir of your own' % path)


def test_symlink_is_refused(tmp_path):
    (tmp_path / 'real').mkdir()
    os.symlink(str(tmp_path / 'real'), str(tmp_path / 'link'))
    with pytest.raises(QemuTaskError, match='is a symbolic link'):
        check_trusted_dir(str(tmp_path / 'link'), 'the task directory')


@pytest.mark.parametrize('err, cause', [
    (30, 'it is on a read-only file system; choose a writable state_dir'),
    (28, 'no space left on device; free space there or choose another state_dir'),
    (13, 'permission denied; choose a state_dir this user can write'),
])
def test_state_dir_errors_name_the_cause(err, cause):
    exc = state_dir_error('/srv/vms', 'write the record of task web', OSError(err, os.strerror(err)))
    assert str(exc) == 'state_dir /srv/vms: cannot write the record of task web: %s' % cause
    assert exc.option == 'state_dir'


def test_record_is_not_read_through_a_link(tmp_path):
    task = TaskDir(str(tmp_path), 'vm1')
    task.ensure()
    (tmp_path / 'elsewhere.json').write_text('{"version": 1, "state": "running"}')
    os.symlink(str(tmp_path / 'elsewhere.json'), task.record_path)
    assert task.read().damaged is True
