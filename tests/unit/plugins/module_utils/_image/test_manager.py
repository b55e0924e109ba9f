# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ImageCache against a real HTTP server and real files: fetch once, verify, leave nothing on failure, prune."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import threading

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._image import fetch as fetch_module
from ansible_collections.nomadic.qemu.plugins.module_utils._image.manager import ImageCache, Terminated
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir, TaskRecord
from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils._image.http_fakes import FileServer

RAW = b'\0' * (1 << 20)
SHA = hashlib.sha256(RAW).hexdigest()
GZ = gzip.compress(RAW)
GZ_SHA = hashlib.sha256(GZ).hexdigest()


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def server():
    with FileServer({'/disk.raw': RAW, '/disk.raw.gz': GZ}) as fake:
        yield fake


@pytest.fixture
def state(tmp_path):
    return str(tmp_path / 'state')


def cache(state, check_mode=False, **params):
    params.setdefault('state_dir', state)
    params.setdefault('timeout', 5)
    params.setdefault('decompress', 'auto')
    return ImageCache(params, check_mode=check_mode, run=run)


def files(state):
    try:
        return sorted(os.listdir(os.path.join(state, '.images')))
    except FileNotFoundError:
        return []


def test_present_with_checksum_check_mode_real_and_again(server, state):
    params = dict(src=server.url('/disk.raw'), checksum='sha256:' + SHA)
    checked = cache(state, check_mode=True, **params).present()
    assert checked['changed'] and not checked['downloaded']
    assert checked['path'] == os.path.join(state, '.images', 'sha256-' + SHA)
    assert not os.path.exists(state) and server.gets == []
    first = cache(state, **params).present()
    assert first['changed'] and first['downloaded']
    assert (first['format'], first['virtual_size'], first['size']) == ('raw', len(RAW), len(RAW))
    assert first['diff'] == {'before': {}, 'after': dict((k, first[k]) for k in ('path', 'checksum', 'format', 'virtual_size', 'size'))}
    assert files(state) == ['index.json', 'sha256-' + SHA]
    for check_mode in (True, False):
        again = cache(state, check_mode=check_mode, **params).present()
        assert not again['changed'] and not again['downloaded']
        assert again['path'] == first['path']
    assert server.gets == ['/disk.raw']


def test_without_checksum_the_index_makes_the_second_run_unchanged(server, state):
    first = cache(state, src=server.url('/disk.raw.gz')).present()
    assert first['changed'] and first['checksum'] == 'sha256:' + GZ_SHA
    with open(first['path'], 'rb') as f:
        assert f.read() == RAW, 'decompressed'
    again = cache(state, src=server.url('/disk.raw.gz')).present()
    assert not again['changed'] and again['path'] == first['path']
    forced = cache(state, src=server.url('/disk.raw.gz'), force=True).present()
    assert forced['downloaded'] and not forced['changed']
    assert server.gets == ['/disk.raw.gz', '/disk.raw.gz']
    kept = cache(state, src=server.url('/disk.raw.gz'), decompress='none').present()
    assert kept['path'] != first['path'] and kept['size'] == len(GZ)


def test_concurrent_fetches_download_once(server, state):
    server.httpd.delay = 1.0
    params = dict(src=server.url('/slow/disk.raw'), checksum='sha256:' + SHA)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache(state, **params).present())) for _count in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.gets == ['/slow/disk.raw']
    assert sorted(r['downloaded'] for r in results) == [False, False, True]
    assert len(set(r['path'] for r in results)) == 1
    assert files(state) == ['index.json', 'sha256-' + SHA], 'no lock file is left'


def test_a_wrong_checksum_leaves_nothing(server, state):
    wrong = 'sha256:' + 'f' * 64
    url = server.url('/disk.raw')
    with pytest.raises(QemuTaskError) as exc:
        cache(state, src=url, checksum=wrong).present()
    assert str(exc.value) == ('checksum mismatch for %s: expected %s, got sha256:%s; check the checksum option or the source'
                              % (url, wrong, SHA))
    assert files(state) == []


def test_an_interrupted_download_leaves_nothing(server, state):
    with pytest.raises(QemuTaskError) as exc:
        cache(state, src=server.url('/cut/disk.raw')).present()
    assert 'was interrupted' in str(exc.value)
    assert files(state) == []


def test_a_signal_during_the_download_leaves_nothing(server, state, monkeypatch):
    def interrupted(stream, out, hashes, source, length):
        out.write(b'partial')
        raise Terminated()

    monkeypatch.setattr(fetch_module, '_copy', interrupted)
    with pytest.raises(Terminated):
        cache(state, src=server.url('/disk.raw')).present()
    assert files(state) == []


def test_convert_and_grow_and_refuse_to_shrink(server, state):
    grown = cache(state, src=server.url('/disk.raw'), format='qcow2', size='4M').present()
    assert (grown['format'], grown['virtual_size']) == ('qcow2', 4 << 20)
    assert grown['path'].endswith('-size4194304.qcow2')
    with pytest.raises(QemuTaskError) as exc:
        cache(state, src=server.url('/disk.raw'), checksum='sha256:' + SHA, size='512K').present()
    assert str(exc.value) == ('size 512K (524288 bytes) is smaller than the virtual size of %s, 1048576 bytes; the image cache never '
                              'shrinks an image: use a size of at least 1048576 bytes, or leave size unset' % server.url('/disk.raw'))
    assert files(state) == ['index.json', os.path.basename(grown['path'])]


def _task_using(state, name, image):
    task = TaskDir(state, name)
    task.ensure()
    task.write(TaskRecord(name=name, config={'image_path': image, 'image': image}))


def test_absent_and_pruned_keep_what_tasks_use(server, state):
    used = cache(state, src=server.url('/disk.raw')).present()
    unused = cache(state, src=server.url('/disk.raw.gz'), decompress='none').present()
    _task_using(state, 'web1', used['path'])
    with pytest.raises(QemuTaskError) as exc:
        cache(state, src=server.url('/disk.raw')).absent()
    assert str(exc.value) == ('the cache entry %s of %s is used by the task web1; stop and remove it first (state=absent), '
                              'or leave the entry' % (used['path'], server.url('/disk.raw')))
    checked = cache(state, check_mode=True).pruned()
    assert checked['changed'] and checked['removed'] == [unused['path']] and checked['kept'] == [used['path']]
    assert os.path.exists(unused['path'])
    young = cache(state, max_age='1h').pruned()
    assert not young['changed'] and young['removed'] == []
    pruned = cache(state).pruned()
    assert pruned['removed'] == [unused['path']]
    assert not cache(state).pruned()['changed']
    assert files(state) == ['index.json', os.path.basename(used['path'])]
    TaskDir(state, 'web1').remove(keep_user_files=False)
    removed = cache(state, src=server.url('/disk.raw')).absent()
    assert removed['changed'] and removed['removed'] == [used['path']]
    assert not cache(state, src=server.url('/disk.raw')).absent()['changed']
    assert files(state) == ['index.json']


def test_an_untrusted_cache_dir_is_refused_before_anything(server, state, tmp_path):
    open_dir = tmp_path / 'open'
    open_dir.mkdir()
    os.chmod(str(open_dir), 0o777)
    with pytest.raises(QemuTaskError) as exc:
        cache(state, src=server.url('/disk.raw'), cache_dir=str(open_dir)).present()
    assert str(exc.value).startswith('cache_dir %s is writable by group and others (mode 0777' % open_dir)
    assert str(exc.value).endswith('run chmod go-w %s, or choose another cache_dir' % open_dir)
    assert server.gets == [] and os.listdir(str(open_dir)) == []


def test_relative_cache_dir_is_refused(state):
    with pytest.raises(QemuTaskError) as exc:
        cache(state, src='/x', cache_dir='images')
    assert str(exc.value) == "cache_dir 'images' is not an absolute path; give an absolute directory"
