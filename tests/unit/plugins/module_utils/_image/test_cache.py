# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cache layout: entry names, the index, temporary files, and which entries tasks use."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._checksum import CHECKSUM_HEX_DIGITS
from ansible_collections.nomadic.qemu.plugins.module_utils._image import cache
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir, TaskRecord

SHA = hashlib.sha256(b'x').hexdigest()

TRANSFORMS = [cache.Transform(decompress, fmt, size) for decompress, fmt, size in
              itertools.product(('auto', 'none'), (None, 'qcow2', 'raw'), (None, 1, 10 << 30))]


@pytest.mark.parametrize('kind', sorted(CHECKSUM_HEX_DIGITS))
def test_names_are_deterministic_distinct_and_carry_the_checksum(kind):
    checksum = '%s:%s' % (kind, hashlib.new(kind, b'x').hexdigest())
    names = [cache.entry_name(checksum, transform) for transform in TRANSFORMS]
    assert len(set(names)) == len(TRANSFORMS)
    assert names == [cache.entry_name(checksum, transform) for transform in TRANSFORMS]
    for name in names:
        assert cache.is_entry_name(name), name
        assert cache.entry_checksum(name) == checksum
        assert not name.startswith('.') and '/' not in name


@pytest.mark.parametrize('transform, name', [
    (cache.Transform(), 'sha256-' + SHA),
    (cache.Transform('none'), 'sha256-%s-asis' % SHA),
    (cache.Transform(format='qcow2'), 'sha256-%s.qcow2' % SHA),
    (cache.Transform('none', 'raw', 10 << 30), 'sha256-%s-asis-size10737418240.raw' % SHA),
])
def test_entry_names(transform, name):
    assert cache.entry_name('sha256:' + SHA, transform) == name


@pytest.mark.parametrize('name', ['.lock-abc', '.part-1-x', 'index.json', 'sha256-', 'crc32-abcd', 'sha256-%s.vmdk' % SHA,
                                  'sha256-%s-size.qcow2' % SHA, 'sha256-%sX' % SHA, 'sha256-%s\n' % SHA])
def test_other_files_are_not_entries(name):
    assert not cache.is_entry_name(name)
    assert cache.entry_checksum(name) is None


def test_lock_names_are_hidden_and_stable():
    assert cache.lock_name('https://h/x.img') == cache.lock_name('https://h/x.img')
    assert cache.lock_name('https://h/x.img') != cache.lock_name('https://h/y.img')
    assert cache.lock_name('x').startswith('.lock-')


def test_the_default_cache_dir_is_no_task_name(tmp_path):
    assert cache.default_cache_dir(str(tmp_path)) == os.path.join(str(tmp_path), '.images')


def test_index_round_trip_and_forget(tmp_path):
    index = cache.Index()
    a, b = 'sha256-' + SHA, 'sha256-%s.qcow2' % SHA
    index.sources['https://h/x'] = 'sha256:' + SHA
    index.entries[a] = {'format': 'raw'}
    index.entries[b] = {'format': 'qcow2'}
    index.save(str(tmp_path))
    loaded = cache.Index.load(str(tmp_path))
    assert loaded.to_dict() == index.to_dict()
    loaded.forget(a)
    assert loaded.sources == {'https://h/x': 'sha256:' + SHA}, 'another entry still has that checksum'
    loaded.forget(b)
    assert loaded.sources == {} and loaded.entries == {}
    assert os.listdir(str(tmp_path)) == ['index.json']
    assert os.stat(str(tmp_path / 'index.json')).st_mode & 0o777 == 0o644


@pytest.mark.parametrize('content', ['', 'not json', '[]', '{"version": 2}', '{"version": 1, "sources": [1]}'])
def test_an_unreadable_index_is_empty(tmp_path, content):
    (tmp_path / 'index.json').write_text(content)
    assert cache.Index.load(str(tmp_path)).to_dict() == cache.Index().to_dict()


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / 'index.json'
    target.write_text('old')
    with pytest.raises(TypeError):
        cache.write_json_atomically(str(target), {'bad': object()})
    assert os.listdir(str(tmp_path)) == ['index.json']
    assert target.read_text() == 'old'


def test_stale_parts_are_those_of_dead_runs(tmp_path):
    mine = tmp_path / ('.part-%d-abc' % os.getpid())
    dead = tmp_path / '.part-999999999-abc'
    for path in (mine, dead, tmp_path / 'sha256-x'):
        path.write_text('')
    assert cache.stale_parts(str(tmp_path)) == [str(dead)]


def test_new_part_is_private_and_named_for_this_run(tmp_path):
    fd, path = cache.new_part(str(tmp_path))
    os.close(fd)
    assert os.path.basename(path).startswith('.part-%d-' % os.getpid())
    assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize('found, used, now, max_age, expected', [
    ({}, set(), 100, None, []),
    ({'a': 0, 'b': 50, 'c': 99}, set(), 100, None, ['a', 'b', 'c']),
    ({'a': 0, 'b': 50, 'c': 99}, {'a'}, 100, None, ['b', 'c']),
    ({'a': 0, 'b': 50, 'c': 99}, set(), 100, 10, ['a', 'b']),
    ({'a': 0, 'b': 50, 'c': 99}, {'a'}, 100, 10, ['b']),
    ({'a': 0, 'b': 90}, set(), 100, 10, ['a']),
    ({'a': 0}, {'a'}, 10 ** 9, 0, []),
])
def test_prune_selection_never_takes_a_used_entry(found, used, now, max_age, expected):
    assert cache.select_prunable(found, used, now, max_age) == expected


def _record(state_dir, name, **config):
    task = TaskDir(str(state_dir), name)
    task.ensure()
    task.write(TaskRecord(name=name, config=config))
    return task


def test_task_images(tmp_path):
    state = tmp_path / 'state'
    images = tmp_path / 'images'
    images.mkdir()
    base = images / 'base.raw'
    base.write_bytes(b'\0' * 1024)
    other = images / 'other.raw'
    other.write_bytes(b'\0' * 1024)
    _record(state, 'direct', image=str(base), image_path=str(base))
    data = images / 'data.raw'
    data.write_bytes(b'\0' * 1024)
    _record(state, 'disks', image=str(images / 'gone.raw'), base={'path': str(images / 'gone.raw')}, disks=[{'name': 'd', 'file': str(data)}])
    task = _record(state, 'overlay')
    os.makedirs(os.path.join(task.path, 'local'))
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', str(other), '-F', 'raw', os.path.join(task.path, 'local', 'disk.qcow2')],
                   check=True)
    (state / 'broken').mkdir()
    (state / 'broken' / 'task.json').write_text('{')
    used, unreadable = cache.task_images(str(state))
    assert used == {str(base): ['direct'], str(other): ['overlay'], str(data): ['disks'], str(images / 'gone.raw'): ['disks']}
    assert unreadable == ['broken']
    assert cache.users_of(str(other), used) == ['overlay']
    assert cache.users_of(str(images / 'none'), used) == []


def test_task_images_of_no_state_dir(tmp_path):
    assert cache.task_images(str(tmp_path / 'none')) == ({}, [])


def test_entries_lists_only_entries(tmp_path):
    for name in ('sha256-' + SHA, '.lock-x', 'index.json', '.part-1-x'):
        (tmp_path / name).write_text('')
    assert list(cache.entries(str(tmp_path))) == ['sha256-' + SHA]
    assert json.dumps(cache.entries(str(tmp_path / 'none'))) == '{}'
