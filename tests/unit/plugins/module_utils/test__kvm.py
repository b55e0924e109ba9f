# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._kvm import KVM_CREATE_VM, KVM_GET_API_VERSION, check_kvm, errno_text


def test_check_kvm_missing(tmp_path):
    device = str(tmp_path / 'kvm')
    assert check_kvm(device) == (False, (
        '{0} does not exist; load the kvm_intel or kvm_amd kernel module and enable hardware '
        'virtualization in the firmware (or nested virtualization for a virtual machine)'.format(device)))


def test_check_kvm_regular_file(tmp_path):
    device = tmp_path / 'kvm'
    device.write_text('')
    device.chmod(0o666)
    device = str(device)
    assert check_kvm(device) == (False, (
        'KVM_GET_API_VERSION on {0} failed: ENOTTY (Inappropriate ioctl for device); '
        '{0} is not a KVM device'.format(device)))


def test_check_kvm_other_device():
    assert check_kvm('/dev/null') == (False, (
        'KVM_GET_API_VERSION on /dev/null failed: ENOTTY (Inappropriate ioctl for device); '
        '/dev/null is not a KVM device'))


def test_check_kvm_directory(tmp_path):
    assert check_kvm(str(tmp_path)) == (False, 'cannot open {0} read-write: EISDIR (Is a directory)'.format(tmp_path))


@pytest.mark.parametrize('error', [errno.EACCES, errno.EPERM])
def test_check_kvm_permission_denied(error):
    def opener(path, flags):
        raise OSError(error, os.strerror(error), path)

    assert check_kvm('/dev/kvm', opener=opener) == (False, (
        'permission denied opening /dev/kvm read-write; run as root or add the user to the group '
        'that owns /dev/kvm (usually kvm)'))


class FakeKvm:
    """Stands in for the KVM system calls: answers KVM_GET_API_VERSION and KVM_CREATE_VM."""

    def __init__(self, api_version=12, create_error=None):
        self.api_version = api_version
        self.create_error = create_error
        self.opened = []
        self.closed = []
        self.requests = []

    def open(self, path, flags):
        assert flags & os.O_RDWR
        self.opened.append(path)
        return 100

    def ioctl(self, fd, request, arg):
        self.requests.append((fd, request, arg))
        if request == KVM_GET_API_VERSION:
            return self.api_version
        if request == KVM_CREATE_VM:
            if self.create_error is not None:
                raise OSError(self.create_error, os.strerror(self.create_error))
            return 101
        raise AssertionError('unexpected ioctl {0:#x}'.format(request))

    def close(self, fd):
        self.closed.append(fd)

    def check(self):
        return check_kvm('/dev/kvm', opener=self.open, ioctl=self.ioctl, closer=self.close)


def test_check_kvm_usable_fake():
    kvm = FakeKvm()
    assert kvm.check() == (True, 'usable')
    assert kvm.requests == [(100, KVM_GET_API_VERSION, 0), (100, KVM_CREATE_VM, 0)]
    assert sorted(kvm.closed) == [100, 101]


def test_check_kvm_wrong_api_version():
    kvm = FakeKvm(api_version=11)
    assert kvm.check() == (False, '/dev/kvm reports KVM API version 11, expected 12')
    assert kvm.closed == [100]


@pytest.mark.parametrize('error, message', [
    (errno.EBUSY, 'KVM_CREATE_VM on /dev/kvm failed: EBUSY (Device or resource busy); another hypervisor may hold the virtualization extensions'),
    (errno.ENOMEM, 'KVM_CREATE_VM on /dev/kvm failed: ENOMEM (Cannot allocate memory)'),
    (errno.EINVAL, 'KVM_CREATE_VM on /dev/kvm failed: EINVAL (Invalid argument)'),
])
def test_check_kvm_create_vm_fails(error, message):
    kvm = FakeKvm(create_error=error)
    assert kvm.check() == (False, message)
    assert kvm.closed == [100]


@pytest.mark.skipif(not os.path.exists('/dev/kvm') or not os.access('/dev/kvm', os.R_OK | os.W_OK),
                    reason='needs a /dev/kvm this user may open')
def test_check_kvm_real_device():
    assert check_kvm('/dev/kvm') == (True, 'usable')


@pytest.mark.parametrize('exc, text', [
    (OSError(errno.ENOENT, 'No such file or directory'), 'ENOENT (No such file or directory)'),
    (OSError('no errno'), 'no errno'),
])
def test_errno_text(exc, text):
    assert errno_text(exc) == text
