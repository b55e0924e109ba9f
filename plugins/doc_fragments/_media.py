# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

from __future__ import annotations


class ModuleDocFragment:

    # A task's media: how its image is attached, its overlay, its disks and its cloud-init seed;
    # declared in plugins/module_utils/_task/options.py TASK_OPTIONS.
    DOCUMENTATION = r"""
options:
  image_media:
    description:
      - How the image is attached. V(disk) is a hard disk (C(-drive)). V(cdrom) is a CD-ROM (C(-drive
        media=cdrom)), read-only; an ISO image that is not hybrid boots only that way. Nomad always attaches a disk.
      - Unset, an ISO 9660 image (found by its content, not its name) is a CD-ROM when O(drive_interface) is
        V(ide) or V(scsi), the only interfaces a CD-ROM can use, and a disk otherwise.
      - The firmware tries the hard disks before the CD-ROM. So an installer ISO with an empty disk in O(disks)
        boots the installer, and once it has installed a system on the disk, the disk boots.
    type: str
    choices: [disk, cdrom]
  overlay:
    description:
      - Boot the image through a copy-on-write overlay of the task's own, C(overlay.qcow2) in the task
        directory, with O(image_path) as its read-only base and an explicit backing format (O(image_format)).
        The guest's writes go to the overlay; the base is never written, so many tasks can boot from one base
        at once. Without it, the image itself is the guest's disk, and a second VM on it fails on QEMU's
        write lock.
      - The overlay is kept across stop, start and restart, and removed with V(absent).
      - When the base changes (its real path, or its size, modification time or inode), the VM restarts and
        C(--diff) shows the change. The overlay holds the guest's data, so it is kept (moved onto the new
        path with C(qemu-img rebase -u)), with a warning that the guest may see an inconsistent disk, unless
        O(overlay_reset) is set.
    type: bool
    default: false
  ephemeral:
    description:
      - Like O(overlay) (which it implies), but the overlay is discarded whenever the VM stops, and a fresh one
        is made at every start, so each boot starts from the base as it is. O(disks) are kept all the same.
      - Turning it on or off for a running VM only updates the record; it applies from the VM's next stop.
    type: bool
    default: false
  overlay_reset:
    description:
      - When the base of O(overlay) changed, make a new, empty overlay on it instead of keeping the old one.
        The guest's writes to its root disk are lost. With an unchanged base it does nothing, so it can stay set.
      - Not part of the task's configuration, so setting it never restarts the VM.
    type: bool
    default: false
  disks:
    description:
      - Extra disks, attached after the image in this order (C(-drive id=disk-<name>)).
      - A disk with O(disks[].size) is the task's own. It is created in the task directory as
        C(disk-<name>.qcow2) or C(disk-<name>.raw) when missing, kept across stop, start and restart,
        and removed with V(absent). A larger size grows it (while the VM is stopped, so the VM restarts); a
        smaller one is refused.
      - A disk with O(disks[].file) is an existing image, used as it is and never removed; it is checked
        like O(image_path), with its backing files, against O(image_paths).
      - Adding, removing or changing a disk restarts the VM, with a diff. A disk removed from the list is
        detached, and its file is kept in the task directory until V(absent); listing it again attaches it
        with its data.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The disk's name, unique in the task; 1 to 32 letters, digits, C(.), C(_) or C(-).
        type: str
        required: true
      size:
        description:
          - The disk's size, in bytes or with a K, M, G or T suffix (powers of 1024), for example V(10G).
            Rounded up to whole 512-byte sectors.
          - Required unless O(disks[].file) is given; not allowed with it.
        type: raw
      format:
        description:
          - The disk's format. A disk's format never changes. For O(disks[].file), unset reads it from the
            image's header.
          - Defaults to V(qcow2) for a disk the task creates.
        type: str
        choices: [qcow2, raw]
      interface:
        description:
          - The interface the disk is attached with (C(-drive if=...)); V(virtio) disks are C(/dev/vdX)
            in a Linux guest, in the order of the list after any virtio image.
        type: str
        choices: [ide, scsi, sd, mtd, floppy, pflash, virtio, none]
        default: virtio
      serial:
        description:
          - The serial number the guest sees (up to 20 letters, digits, C(.), C(_) or C(-)); a Linux guest
            lists the disk as C(/dev/disk/by-id/virtio-<serial>). Only for the V(virtio) and V(ide)
            interfaces, whose devices QEMU gives a serial number.
        type: str
      readonly:
        description:
          - Attach the disk read-only.
        type: bool
        default: false
      cache:
        description:
          - QEMU's cache mode for the disk (C(-drive cache=...)); unset is QEMU's default, V(writeback).
        type: str
        choices: [none, writeback, writethrough, directsync, unsafe]
      discard:
        description:
          - Pass the guest's discard (TRIM) requests on to the file (C(discard=unmap)), so that freed space
            is given back to the host.
        type: bool
        default: false
      file:
        description:
          - An existing disk image to attach instead of creating one. Relative to the task directory when
            relative.
        type: path
  cloud_init:
    description:
      - Seed the guest with cloud-init (its NoCloud datasource), as cloud images expect. The module writes the seed,
        C(seed.iso) in the task directory (mode 0600, volume label C(cidata)), itself in Python, without genisoimage
        or cloud-localds, and attaches it read-only as a CD-ROM. It is kept as long as the task.
      - The seed's content is part of the task's configuration. The same data is no change (and the seed is not
        rewritten); changed data restarts the VM, with a diff of what changed, and gives it a new default instance-id,
        so that cloud-init in the guest applies it again.
      - O(cloud_init.user_data) and O(cloud_init.vendor_data) can hold passwords and tokens. Their values never appear
        in the result, the diff, the task record, warnings or logs; those show a SHA-256 hash of each document and the
        names of its top-level keys only. The seed itself holds them, readable by its owner only.
    type: dict
    suboptions:
      user_data:
        description:
          - A mapping, written as a C(#cloud-config) document; or a string, passed as it is (a C(#cloud-config)
            document, a shell script, a MIME multipart message...).
          - The qemu_task action plugin turns a mapping into its text on the controller, so that Ansible's C(no_log)
            hides the document as one string rather than every value in it (which would also hide those values
            wherever else they appear in the result).
        type: raw
      meta_data:
        description:
          - The instance's meta-data. C(instance-id) defaults to one derived from the task's name and the seed's
            other data (so it changes when they do); an C(instance-id) given here is kept whatever changes.
            C(local-hostname) defaults to the task's name.
        type: dict
      network_config:
        description:
          - A network configuration, version 1 or 2 (a mapping with C(version), or a string passed as it is). Unset,
            cloud-init configures the first NIC with DHCP, which suits QEMU's user network.
        type: raw
      vendor_data:
        description:
          - Vendor data, like O(cloud_init.user_data) (a mapping or a string).
        type: raw
      ssh_authorized_keys:
        description:
          - Public keys for the guest's default user (C(debian) on Debian's images), merged into
            O(cloud_init.user_data). With a string O(cloud_init.user_data), the keys and the string are sent as a
            two-part MIME message.
        type: list
        elements: str
        default: []
"""
