# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Disks, overlays and CD-ROMs through the reconciler: the real planner, task store and qemu-img, a stand-in QEMU."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._size import format_size, parse_size
from ansible_collections.nomadic.qemu.plugins.module_utils._task.media import detect_format, detect_media, virtual_size
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import check_option
from ansible_collections.nomadic.qemu.plugins.module_utils._task.plan import Planner
from ansible_collections.nomadic.qemu.plugins.module_utils._task.reconcile import Reconciler
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir

from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils._task.test_reconcile import FakeDriver

QEMU_IMG = shutil.which('qemu-img')
needs_qemu_img = pytest.mark.skipif(QEMU_IMG is None, reason='qemu-img (Debian: qemu-utils) is not installed')

MIB = 1 << 20


def run_command(argv):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, universal_newlines=True)
    return result.returncode, result.stdout, result.stderr


def qemu_img_info(path):
    return json.loads(subprocess.check_output([QEMU_IMG, 'info', '--output=json', '-U', path]))


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def env(tmp_path):
    base = tmp_path / 'base.raw'
    base.write_bytes(b'\x55' * (4 * MIB))
    return {'driver': FakeDriver(), 'state_dir': str(tmp_path / 'state'), 'image': str(base), 'warnings': [], 'tmp': tmp_path}


def run(env, check_mode=False, **params):
    params = dict({'name': 'vm1', 'state_dir': env['state_dir'], 'image_path': env['image']}, **params)
    planner = Planner(params, find_binary=lambda name: QEMU_IMG if name == 'qemu-img' else '/usr/bin/' + name,
                      run_command=run_command, kvm_check=lambda: (False, 'no kvm'), host_policy={})
    return Reconciler(params, planner, env['driver'], check_mode=check_mode, warn=env['warnings'].append).run()


def task_dir(env):
    return TaskDir(env['state_dir'], 'vm1')


def drives(result):
    argv = result['task']['argv']
    return [argv[i + 1] for i, word in enumerate(argv) if word == '-drive']


# --- sizes -------------------------------------------------------------------


@pytest.mark.parametrize('value, size', [
    (1073741824, 1 << 30), ('10G', 10 << 30), ('512M', 512 * MIB), ('512MiB', 512 * MIB), ('1.5G', 3 << 29), ('4k', 4096),
    ('1000', 1024), (' 2 T ', 2 << 40), (1, 512),
])
def test_sizes(value, size):
    assert parse_size(value, 'size') == size


@pytest.mark.parametrize('value', ['', 'ten', '10X', '-1G', 0, True, None, '1e9', [1]])
def test_bad_sizes_name_the_option(value):
    with pytest.raises(QemuTaskError) as error:
        parse_size(value, 'disks[data].size')
    assert 'disks[data].size' in str(error.value)


def test_format_size():
    assert [format_size(s) for s in (10 << 30, 512 * MIB, 1536, 3 << 29, 512)] == ['10G', '512M', '1536', '1536M', '512']


# --- the disks option ----------------------------------------------------------


@pytest.mark.parametrize('disks, message', [
    ('data', 'disks must be a list'),
    ([{'name': 'data'}], 'disks[data] has no size'),
    ([{'name': 'data', 'size': '1G', 'file': '/x.img'}], 'has both file and size'),
    ([{'name': 'a', 'size': '1G'}, {'name': 'a', 'size': '2G'}], 'disks[a] is given twice'),
    ([{'name': 'bad name', 'size': '1G'}], 'is not a disk name'),
    ([{'name': 'data\n', 'size': '1G'}], 'is not a disk name'),
    ([{'name': 'data', 'size': '1G', 'format': 'vdi'}], "disks[0].format 'vdi' is not valid; use one of qcow2, raw"),
    ([{'name': 'data', 'size': '1G', 'serial': 'x' * 21}], 'serial'),
    ([{'name': 'data', 'size': '1G', 'serial': 'x', 'interface': 'scsi'}], 'disks[data].serial needs interface virtio or ide'),
    ([{'name': 'data', 'size': '1G', 'colour': 'red'}], 'unknown key(s) colour'),
    ([{'name': 'data', 'size': 'big'}], 'disks[data].size'),
])
def test_bad_disks(disks, message):
    with pytest.raises(QemuTaskError) as error:
        check_option('disks', disks)
    assert message in str(error.value)
    assert error.value.option == 'disks' or error.value.option.startswith('disks')


def test_disk_defaults():
    assert check_option('disks', [{'name': 'data', 'size': '1G'}]) == [{
        'name': 'data', 'size': 1 << 30, 'format': 'qcow2', 'interface': 'virtio', 'serial': None, 'readonly': False, 'cache': None,
        'discard': False, 'file': None}]
    assert check_option('disks', [{'name': 'data', 'file': '/x'}])[0]['format'] is None


# --- detection -------------------------------------------------------------------


def test_detection(tmp_path):
    iso = tmp_path / 'x.iso'
    iso.write_bytes(b'\0' * 32768 + b'\x01CD001' + b'\0' * 2042)
    raw = tmp_path / 'x.raw'
    raw.write_bytes(b'\0' * 40000)
    assert detect_media(str(iso)) == 'cdrom' and detect_media(str(raw)) == 'disk' and detect_media(str(tmp_path / 'missing')) == 'disk'
    assert detect_format(str(raw)) == 'raw' and virtual_size(str(raw), 'raw') == 40000


@needs_qemu_img
def test_qcow2_size_from_its_header(tmp_path):
    path = str(tmp_path / 'x.qcow2')
    subprocess.check_call([QEMU_IMG, 'create', '-q', '-f', 'qcow2', path, '3G'])
    assert detect_format(path) == 'qcow2' and virtual_size(path, 'qcow2') == 3 << 30


# --- data disks ----------------------------------------------------------------


@needs_qemu_img
def test_disk_created_kept_grown_and_removed(env):
    disks = [{'name': 'data', 'size': '8M', 'serial': 'data1', 'cache': 'none', 'discard': True}]
    check = run(env, check_mode=True, disks=disks)
    assert check['changed'] and not os.path.exists(env['state_dir'])
    first = run(env, disks=disks)
    path = os.path.join(task_dir(env).path, 'disk-data.qcow2')
    assert first['task']['disks'] == [{'name': 'data', 'path': path, 'format': 'qcow2', 'size': 8 * MIB, 'interface': 'virtio',
                                       'serial': 'data1', 'readonly': False, 'created': True}]
    assert drives(first)[1] == 'file=%s,if=none,id=disk-data,format=qcow2,cache=none,discard=unmap' % path
    assert 'virtio-blk-pci,drive=disk-data,serial=data1' in first['task']['argv']
    assert qemu_img_info(path)['virtual-size'] == 8 * MIB
    # Same again: nothing changes, nothing is written.
    mtime = os.stat(path).st_mtime_ns
    assert run(env, disks=disks)['changed'] is False and os.stat(path).st_mtime_ns == mtime
    # Kept across stop and start.
    run(env, state='stopped', disks=disks)
    assert os.path.exists(path)
    assert run(env, disks=disks)['actions'] == ['started']
    # Grown: a restart, with the diff saying so.
    grown = [dict(disks[0], size='16M')]
    check = run(env, check_mode=True, disks=grown)
    assert check['actions'] == ['stopped', 'started'] and qemu_img_info(path)['virtual-size'] == 8 * MIB
    real = run(env, disks=grown)
    assert real['actions'] == ['stopped', 'started']
    assert real['diff']['before']['config']['disks'][0]['size'] == 8 * MIB
    assert real['diff']['after']['config']['disks'][0]['size'] == 16 * MIB
    assert qemu_img_info(path)['virtual-size'] == 16 * MIB
    assert run(env, disks=grown)['changed'] is False
    # Shrinking is refused before anything happens: the VM keeps running.
    pid = task_dir(env).read().pid
    with pytest.raises(QemuTaskError) as error:
        run(env, disks=disks)
    assert 'disks[data].size 8M is smaller than the disk (16M' in str(error.value)
    assert task_dir(env).read().pid == pid and qemu_img_info(path)['virtual-size'] == 16 * MIB
    # Removed from the list: detached (a restart), its file kept; absent removes it.
    detached = run(env)
    assert detached['actions'] == ['stopped', 'started'] and len(drives(detached)) == 1 and os.path.exists(path)
    assert run(env, disks=grown)['actions'] == ['stopped', 'started']
    run(env, state='absent')
    assert not os.path.exists(task_dir(env).path)


@needs_qemu_img
def test_raw_disk_and_a_format_that_cannot_change(env):
    run(env, disks=[{'name': 'scratch', 'size': '2M', 'format': 'raw', 'readonly': True, 'interface': 'ide'}])
    path = os.path.join(task_dir(env).path, 'disk-scratch.raw')
    assert os.path.getsize(path) == 2 * MIB
    with pytest.raises(QemuTaskError) as error:
        run(env, disks=[{'name': 'scratch', 'size': '2M'}])
    assert 'disks[scratch] exists as a raw disk (disk-scratch.raw); a disk keeps its format' in str(error.value)
    assert not os.path.exists(os.path.join(task_dir(env).path, 'disk-scratch.qcow2'))


@needs_qemu_img
def test_file_disk_is_checked_and_never_removed(env):
    data = env['tmp'] / 'images' / 'data.qcow2'
    data.parent.mkdir()
    subprocess.check_call([QEMU_IMG, 'create', '-q', '-f', 'qcow2', str(data), '4M'])
    result = run(env, disks=[{'name': 'shared', 'file': str(data), 'readonly': True}])
    assert drives(result)[1] == 'file=%s,if=virtio,id=disk-shared,format=qcow2,readonly=on' % data
    assert result['task']['disks'][0]['created'] is False
    run(env, state='absent')
    assert data.exists()
    with pytest.raises(QemuTaskError) as error:
        allowed = env['tmp'] / 'allowed'
        allowed.mkdir()
        shutil.copy(env['image'], str(allowed / 'base.raw'))
        run(env, disks=[{'name': 'shared', 'file': str(data)}], image_path=str(allowed / 'base.raw'), image_paths=[str(allowed)])
    assert "disks[shared].file '%s' is outside the allowed image_paths" % data in str(error.value)
    with pytest.raises(QemuTaskError) as error:
        run(env, disks=[{'name': 'shared', 'file': str(env['tmp'] / 'missing.qcow2')}])
    assert 'disks[shared].file' in str(error.value) and 'does not exist' in str(error.value)
    assert not os.path.exists(task_dir(env).path)


@needs_qemu_img
def test_a_new_task_that_fails_to_start_leaves_no_disk(env):
    env['driver'].fail_start = 'QEMU failed'
    with pytest.raises(QemuTaskError):
        run(env, disks=[{'name': 'data', 'size': '1M'}], overlay=True)
    assert not os.path.exists(task_dir(env).path)


# --- overlays --------------------------------------------------------------------


@needs_qemu_img
def test_overlay_keeps_the_base_unwritten(env):
    before = sha256(env['image'])
    check = run(env, check_mode=True, overlay=True)
    assert check['changed'] and not os.path.exists(env['state_dir'])
    result = run(env, overlay=True)
    overlay = os.path.join(task_dir(env).path, 'overlay.qcow2')
    assert drives(result) == ['file=%s,if=ide,id=image0,format=qcow2' % overlay]
    assert result['task']['overlay'] == overlay and result['task']['image'] == env['image']
    info = qemu_img_info(overlay)
    assert info['backing-filename'] == env['image'] and info['backing-filename-format'] == 'raw'
    assert info['virtual-size'] == 4 * MIB
    assert result['diff']['after']['config']['base']['path'] == env['image']
    assert run(env, overlay=True)['changed'] is False
    # Kept across a restart.
    subprocess.check_call([QEMU_IMG, 'resize', '-q', overlay, '8M'])
    run(env, state='restarted', overlay=True)
    assert qemu_img_info(overlay)['virtual-size'] == 8 * MIB
    assert sha256(env['image']) == before


@needs_qemu_img
def test_ephemeral_discards_the_overlay_at_every_stop(env):
    run(env, ephemeral=True)
    overlay = os.path.join(task_dir(env).path, 'overlay.qcow2')
    inode = os.stat(overlay).st_ino
    assert run(env, ephemeral=True)['changed'] is False and os.stat(overlay).st_ino == inode
    run(env, state='stopped')
    assert not os.path.exists(overlay)
    run(env, ephemeral=True)
    assert os.path.exists(overlay)
    # A crash too: the next start makes a fresh overlay.
    subprocess.check_call([QEMU_IMG, 'resize', '-q', overlay, '8M'])
    env['driver'].crash()
    assert run(env, ephemeral=True)['recovered'] is True
    assert qemu_img_info(overlay)['virtual-size'] == 4 * MIB


@needs_qemu_img
def test_a_changed_base_restarts_and_keeps_the_overlay_unless_reset(env):
    run(env, overlay=True)
    overlay = os.path.join(task_dir(env).path, 'overlay.qcow2')
    subprocess.check_call([QEMU_IMG, 'resize', '-q', overlay, '8M'])  # stands for the guest's data
    # The base changes in place (a new mtime).
    os.utime(env['image'], ns=(1, 1))
    check = run(env, check_mode=True, overlay=True)
    assert check['actions'] == ['stopped', 'started']
    assert check['diff']['before']['config']['base']['mtime_ns'] != check['diff']['after']['config']['base']['mtime_ns']
    env['warnings'].clear()
    real = run(env, overlay=True)
    assert real['actions'] == ['stopped', 'started']
    assert any('the base image changed' in w and 'overlay_reset' in w for w in env['warnings'])
    assert qemu_img_info(overlay)['virtual-size'] == 8 * MIB
    assert run(env, overlay=True)['changed'] is False
    # A new base at another path: the overlay follows it (rebased), still kept.
    other = env['tmp'] / 'base2.raw'
    other.write_bytes(b'\x66' * (4 * MIB))
    run(env, overlay=True, image_path=str(other))
    assert qemu_img_info(overlay)['backing-filename'] == str(other)
    assert qemu_img_info(overlay)['virtual-size'] == 8 * MIB
    # overlay_reset does nothing while the base stays the same...
    assert run(env, overlay=True, overlay_reset=True, image_path=str(other))['changed'] is False
    assert qemu_img_info(overlay)['virtual-size'] == 8 * MIB
    # ... and starts again from the base once it changed.
    os.utime(str(other), ns=(2, 2))
    assert run(env, overlay=True, overlay_reset=True, image_path=str(other))['actions'] == ['stopped', 'started']
    assert qemu_img_info(overlay)['virtual-size'] == 4 * MIB


@needs_qemu_img
def test_overlay_format_is_checked(env):
    base = env['tmp'] / 'base.qcow2'
    subprocess.check_call([QEMU_IMG, 'create', '-q', '-f', 'qcow2', str(base), '4M'])
    with pytest.raises(QemuTaskError) as error:
        run(env, overlay=True, image_path=str(base), image_format='raw')
    assert 'image_format is raw but image_path %s is a qcow2 image' % base in str(error.value)
    result = run(env, overlay=True, image_path=str(base))
    assert qemu_img_info(result['task']['overlay'])['backing-filename-format'] == 'qcow2'
    assert not os.path.exists(os.path.join(env['tmp'], 'state', 'vm1', 'disk-x.qcow2'))


# --- CD-ROMs -----------------------------------------------------------------------


def test_iso_is_a_cdrom(env):
    iso = env['tmp'] / 'install.iso'
    iso.write_bytes(b'\0' * 32768 + b'\x01CD001' + b'\0' * 2042)
    result = run(env, image_path=str(iso))
    assert drives(result) == ['file=%s,if=ide,id=image0,format=raw,media=cdrom' % iso]
    assert result['task']['config']['image_media'] == 'cdrom'
    # On an interface a CD-ROM cannot use, it stays a disk unless asked.
    assert drives(run(env, image_path=str(iso), drive_interface='virtio'))[0] == 'file=%s,if=virtio,id=image0' % iso
    with pytest.raises(QemuTaskError) as error:
        run(env, image_path=str(iso), drive_interface='virtio', image_media='cdrom')
    assert 'image_media cdrom cannot be attached with drive_interface virtio' in str(error.value)
    with pytest.raises(QemuTaskError) as error:
        run(env, image_path=str(iso), overlay=True)
    assert 'overlay (or ephemeral) needs a disk image' in str(error.value)
    assert drives(run(env, image_path=str(iso), image_media='disk'))[0] == 'file=%s,if=ide,id=image0' % iso


@needs_qemu_img
def test_ephemeral_turned_on_applies_from_the_next_stop(env):
    run(env, overlay=True)
    overlay = os.path.join(task_dir(env).path, 'overlay.qcow2')
    switched = run(env, ephemeral=True)
    assert switched['actions'] == ['updated'] and os.path.exists(overlay)
    run(env, state='stopped')
    assert not os.path.exists(overlay)
