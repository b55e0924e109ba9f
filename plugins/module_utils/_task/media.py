# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A task's media: its boot image (a disk, a CD-ROM, or a base under a per-task overlay) and its data disks.

plan_media() reads what is on disk and decides; it changes nothing, so check mode and bad
input leave no trace. The Media it returns holds the drives for the command line, the part
of the task's configuration that needs a restart when it changes, and the steps (qemu-img
create, resize, rebase) that prepare() runs just before QEMU starts.
"""

from __future__ import annotations

import os
import struct

from ansible_collections.nomadic.qemu.plugins.module_utils._command import OVERLAY_FILE, SEED_DRIVE_ID, SEED_FILE, disk_file
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._image_header import QCOW2_MAGIC, QED_MAGIC, VMDK_SPARSE_MAGIC, backing_name
from ansible_collections.nomadic.qemu.plugins.module_utils._size import format_size
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import unlink

# An ISO 9660 volume descriptor starts at sector 16 (byte 32768): a type byte, then "CD001".
ISO_MAGIC_OFFSET = 32769
ISO_MAGIC = b'CD001'
# Interfaces a CD-ROM can be attached with (-drive media=cdrom).
CDROM_INTERFACES = ('ide', 'scsi')
# Configuration keys whose change restarts the VM although the command line may not show it.
RESTART_KEYS = ('base', 'disks', 'cloud_init')


def detect_media(path):
    """'cdrom' for an ISO 9660 image, else 'disk'."""
    try:
        with open(path, 'rb') as f:
            f.seek(ISO_MAGIC_OFFSET)
            return 'cdrom' if f.read(len(ISO_MAGIC)) == ISO_MAGIC else 'disk'
    except OSError:
        return 'disk'


def detect_format(path):
    """The image format its header says (qcow2, qed, vmdk), else raw."""
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
    except OSError:
        return 'raw'
    for magic, name in ((QCOW2_MAGIC, 'qcow2'), (QED_MAGIC, 'qed'), (VMDK_SPARSE_MAGIC, 'vmdk')):
        if head == magic:
            return name
    return 'raw'


def virtual_size(path, fmt):
    """The size the guest sees, for raw (the file's size) and qcow2 (its header); None for other formats."""
    if fmt == 'raw':
        return os.stat(path).st_size
    if fmt == 'qcow2':
        with open(path, 'rb') as f:
            head = f.read(32)
        if len(head) == 32 and head[:4] == QCOW2_MAGIC:
            return struct.unpack('>Q', head[24:32])[0]
    return None


def identity(path):
    """What tells a base image changed: its real path, size, modification time and inode."""
    st = os.stat(path)
    return {'path': path, 'size': st.st_size, 'mtime_ns': st.st_mtime_ns, 'inode': st.st_ino}


class Step:
    """One preparation before QEMU starts: ``argv`` for qemu-img (after its binary), ``data`` to write (mode 0600), or a
    removal (neither)."""

    __slots__ = ('what', 'path', 'argv', 'creates', 'data')

    def __init__(self, what, path, argv=None, creates=False, data=None):
        self.what = what
        self.path = path
        self.argv = argv
        self.creates = creates or data is not None
        self.data = data

    def __repr__(self):
        return 'Step(%r, %r, %r)' % (self.what, self.path, self.argv)


class Media:
    """The drives of a task (dicts for build_argv), its media configuration, the steps to prepare it and warnings."""

    __slots__ = ('image_media', 'boot', 'drives', 'config', 'steps', 'warnings', 'overlay')

    def __init__(self):
        self.image_media = 'disk'
        self.boot = None
        self.drives = []
        self.config = {}
        self.steps = []
        self.warnings = []
        self.overlay = None


def _image_media(params, image, drive_interface):
    requested = params['image_media']
    if requested is None:
        found = detect_media(image)
        # A hybrid ISO on an interface a CD-ROM cannot use still boots as a disk, as it did before.
        return found if found == 'disk' or drive_interface in CDROM_INTERFACES else 'disk'
    if requested == 'cdrom' and drive_interface not in CDROM_INTERFACES:
        raise QemuTaskError("image_media cdrom cannot be attached with drive_interface %s; use drive_interface ide or scsi"
                            % drive_interface, option='image_media')
    return requested


def _base_format(image, image_format):
    found = detect_format(image)
    if image_format is None:
        return found
    headed = ('qcow2', 'qed', 'vmdk')
    if image_format != found and (found in headed or image_format in headed):
        raise QemuTaskError("image_format is %s but image_path %s is a %s image; set image_format to %s, or leave it unset"
                            % (image_format, image, found, found), option='image_format')
    return image_format


def plan_media(params, task_dir, record, image, image_format, drive_interface, check_file):
    """Decide the task's media from its options and what is on disk; changes nothing.

    ``params`` holds image_media, overlay, ephemeral, overlay_reset and disks (checked);
    ``image`` is the real path of image_path; ``check_file(path, option)`` resolves a disk's
    ``file`` under the image policy and returns its real path.
    """
    media = Media()
    media.image_media = _image_media(params, image, drive_interface)
    overlay = bool(params['overlay'] or params['ephemeral'])
    media.config = {'image_media': media.image_media, 'overlay': overlay, 'ephemeral': bool(params['ephemeral'])}
    recorded = record.config if record is not None and not record.damaged else {}
    if overlay:
        if media.image_media == 'cdrom':
            raise QemuTaskError('overlay (or ephemeral) needs a disk image, and image_path %s is attached as a CD-ROM (an ISO image); '
                                'remove overlay and ephemeral, or set image_media: disk' % image, option='overlay')
        _plan_overlay(media, params, task_dir, recorded, image, image_format)
    else:
        fmt = image_format if image_format is not None else ('raw' if media.image_media == 'cdrom' else None)
        media.boot = {'file': image, 'format': fmt, 'media': media.image_media}
    disks = [_plan_disk(media, disk, task_dir, check_file) for disk in params['disks']]
    media.config['disks'] = disks
    _plan_seed(media, params.get('cloud_init'), task_dir)
    return media


def _plan_seed(media, cloud_init, task_dir):
    path = os.path.join(task_dir.path, SEED_FILE)
    if cloud_init is None:
        if os.path.exists(path):
            media.steps.append(Step('remove the cloud-init seed', path))
        return
    # Imported here: the seed's builder (the email and ISO 9660 code) is needed only by a task with cloud_init.
    from ansible_collections.nomadic.qemu.plugins.module_utils._task.cloud_init import build_seed
    seed = build_seed(cloud_init, task_dir.name)
    media.config['cloud_init'] = seed.config
    media.drives.append({'id': SEED_DRIVE_ID, 'file': path, 'format': 'raw', 'interface': 'ide', 'media': 'cdrom', 'serial': None,
                         'readonly': True, 'cache': None, 'discard': False})
    try:
        with open(path, 'rb') as f:
            current = f.read(len(seed.image) + 1)
    except FileNotFoundError:
        current = None
    if current != seed.image:
        # Written only when its content changes: the same data is no change, and no rewrite.
        media.steps.append(Step('write the cloud-init seed', path, data=seed.image))


def _plan_overlay(media, params, task_dir, recorded, image, image_format):
    base_format = _base_format(image, image_format)
    base = dict(identity(image), format=base_format)
    media.config['base'] = base
    path = os.path.join(task_dir.path, OVERLAY_FILE)
    media.overlay = path
    media.boot = {'file': path, 'format': 'qcow2', 'media': 'disk'}
    size = virtual_size(image, base_format)
    create = ['create', '-q', '-f', 'qcow2', '-F', base_format, '-b', image]
    # With the size known, qemu-img need not open the base (which a running VM may hold).
    create += ['-u', path, str(size)] if size is not None else [path]
    exists = os.path.exists(path)
    if params['ephemeral'] or not exists:
        if exists:
            media.steps.append(Step('remove the overlay', path))
        media.steps.append(Step('create the overlay on %s' % image, path, create, creates=True))
        return
    previous = recorded.get('base')
    try:
        backing = backing_name(path)
    except (OSError, ValueError):
        backing = None
    backing_real = os.path.realpath(os.path.join(task_dir.path, backing)) if backing else None
    changed = backing_real != image or (previous is not None and previous != base)
    if not changed:
        return
    if params['overlay_reset']:
        media.steps.append(Step('remove the overlay', path))
        media.steps.append(Step('create the overlay on %s' % image, path, create, creates=True))
        return
    media.warnings.append(
        "task '%s': the base image changed (%s) under the overlay %s, which keeps the guest's writes and is kept; the guest "
        "may see an inconsistent disk. Set overlay_reset: true to start again from the new base" % (
            task_dir.name, 'now %s' % image if backing_real != image else 'its size, time or inode', path))
    if backing_real != image:
        media.steps.append(Step('rebase the overlay onto %s' % image, path,
                                ['rebase', '-q', '-u', '-f', 'qcow2', '-F', base_format, '-b', image, path]))


def _plan_disk(media, disk, task_dir, check_file):
    where = 'disks[%s]' % disk['name']
    drive = {'id': 'disk-%s' % disk['name'], 'interface': disk['interface'], 'serial': disk['serial'], 'readonly': disk['readonly'],
             'cache': disk['cache'], 'discard': disk['discard']}
    entry = dict(disk)
    if disk['file'] is not None:
        path = check_file(disk['file'], '%s.file' % where)
        fmt = disk['format'] or detect_format(path)
        entry.update(file=path, format=fmt)
        media.drives.append(dict(drive, file=path, format=fmt))
        return entry
    fmt = disk['format']
    path = os.path.join(task_dir.path, disk_file(disk['name'], fmt))
    for other in ('qcow2', 'raw'):
        if other != fmt and os.path.exists(os.path.join(task_dir.path, disk_file(disk['name'], other))):
            raise QemuTaskError('%s exists as a %s disk (%s); a disk keeps its format: set format: %s, or give the new disk another name'
                                % (where, other, disk_file(disk['name'], other), other), option='disks')
    entry['file'] = None
    media.drives.append(dict(drive, file=path, format=fmt))
    size = disk['size']
    if not os.path.exists(path):
        media.steps.append(Step('create the disk %s' % disk['name'], path, ['create', '-q', '-f', fmt, path, str(size)], creates=True))
        return entry
    current = virtual_size(path, fmt)
    if current is None:
        raise QemuTaskError('%s: %s is not a %s image; remove it, or set the format it has' % (where, path, fmt), option='disks')
    if size < current:
        raise QemuTaskError('%s.size %s is smaller than the disk (%s, %s); a disk never shrinks, as that would cut off the data at its '
                            'end: give %s or more' % (where, format_size(size), format_size(current), path, format_size(current)),
                            option='disks')
    if size > current:
        media.steps.append(Step('grow the disk %s from %s to %s' % (disk['name'], format_size(current), format_size(size)), path,
                                ['resize', '-q', '-f', fmt, path, str(size)]))
    return entry


def prepare(steps, qemu_img, run_command):
    """Run the steps; returns the files they created. On failure, removes what this call created and raises."""
    created = []
    try:
        for step in steps:
            if step.data is not None:
                _write_private(step.path, step.data)
                created.append(step.path)
                continue
            if step.argv is None:
                unlink(step.path)
                continue
            if qemu_img is None:
                raise QemuTaskError('disks and overlay need qemu-img, which was not found on PATH; install it (Debian: qemu-utils)',
                                    option='disks' if 'disk' in step.what else 'overlay')
            rc, out, err = run_command([qemu_img] + step.argv)
            if step.creates and os.path.exists(step.path):
                created.append(step.path)
            if rc != 0:
                raise QemuTaskError('cannot %s: qemu-img exited with %s: %s' % (step.what, rc, (err or out or '').strip()[:400]),
                                    option='disks' if 'disk' in step.what else 'overlay')
    except BaseException:
        for path in created:
            unlink(path)
        raise
    return created


def _write_private(path, data):
    """Write a file readable by its owner only, atomically: a reader sees the old file or the new one."""
    tmp = '%s.tmp-%d' % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        unlink(tmp)
        raise QemuTaskError('cannot write %s: %s; check the task directory' % (path, exc.strerror or exc), option='cloud_init') from None
    except BaseException:
        unlink(tmp)
        raise
