# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Whether KVM can be used on this host: open the device and create a VM, as QEMU would.

Kept apart from the fingerprint: qemu_task checks KVM before every start with
accelerator kvm or auto, and should not carry the rest of the fingerprint code with it.
"""

from __future__ import annotations

import errno
import fcntl
import os

DEFAULT_KVM_DEVICE = '/dev/kvm'
KVM_USABLE = 'usable'

# <linux/kvm.h>: _IO(KVMIO, 0x00) and _IO(KVMIO, 0x01) with KVMIO = 0xAE
KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_API_VERSION = 12


def errno_text(exc):
    """An OSError's errno as its name and text: ENOENT (No such file or directory)."""
    if exc.errno is None:
        return str(exc)
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    return '{0} ({1})'.format(name, os.strerror(exc.errno))


def check_kvm(device=DEFAULT_KVM_DEVICE, opener=os.open, ioctl=fcntl.ioctl, closer=os.close):
    """Check that KVM can really be used: open ``device`` read-write and create a VM.

    Returns ``(usable, description)``; ``description`` is ``usable`` or says why not.
    ``opener``, ``ioctl`` and ``closer`` default to the real system calls.
    """
    try:
        fd = opener(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False, (
                '{0} does not exist; load the kvm_intel or kvm_amd kernel module and enable hardware '
                'virtualization in the firmware (or nested virtualization for a virtual machine)'.format(device))
        if exc.errno in (errno.EACCES, errno.EPERM):
            return False, (
                'permission denied opening {0} read-write; run as root or add the user to the group '
                'that owns {0} (usually kvm)'.format(device))
        return False, 'cannot open {0} read-write: {1}'.format(device, errno_text(exc))
    try:
        try:
            api_version = ioctl(fd, KVM_GET_API_VERSION, 0)
        except OSError as exc:
            return False, 'KVM_GET_API_VERSION on {0} failed: {1}; {0} is not a KVM device'.format(device, errno_text(exc))
        if api_version != KVM_API_VERSION:
            return False, '{0} reports KVM API version {1}, expected {2}'.format(device, api_version, KVM_API_VERSION)
        try:
            vm_fd = ioctl(fd, KVM_CREATE_VM, 0)
        except OSError as exc:
            hint = ''
            if exc.errno == errno.EBUSY:
                hint = '; another hypervisor may hold the virtualization extensions'
            return False, 'KVM_CREATE_VM on {0} failed: {1}{2}'.format(device, errno_text(exc), hint)
        closer(vm_fd)
    finally:
        closer(fd)
    return True, KVM_USABLE
