# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import errno
import json
import os
import time

import pytest

from ansible.module_utils import basic

from ansible_collections.nomadic.qemu.plugins.module_utils._fingerprint import (
    Fingerprint,
    FingerprintError,
    Fingerprinter,
    emulator_from_binary,
    excerpt,
    find_on_path,
    list_emulators,
    emulators_allowlist,
    module_runner,
    run_with_timeout,
)

VERSION_OUTPUT = 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n'

GOOD_SCRIPT = "#!/bin/sh\nprintf '%s'\n" % VERSION_OUTPUT.replace('\n', '\\n')
GARBAGE_SCRIPT = '#!/bin/sh\necho hello garbage\n'
FAILING_SCRIPT = '#!/bin/sh\necho "some stdout"\necho "qemu-system-x86_64: unable to load libfoo.so" >&2\nexit 1\n'
SILENT_FAILING_SCRIPT = '#!/bin/sh\nexit 3\n'
SLEEPING_SCRIPT = '#!/bin/sh\nsleep 30\necho "QEMU emulator version 7.2.22"\n'
SEGFAULT_SCRIPT = '#!/bin/sh\nkill -SEGV $$\n'
NO_SHEBANG_SCRIPT = 'echo "QEMU emulator version 7.2.22"\n'


def make_file(path, content='', mode=0o755):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)
    return str(path)


def no_kvm_check(device):
    raise AssertionError('the KVM check must not run when kvm_device is None')


def fixed_kvm(device):
    return True, 'usable'


class FakeRunner:
    """Stands in for the process runner: returns or raises what it was given, records calls."""

    def __init__(self, result=None, exception=None):
        self.result = result
        self.exception = exception
        self.calls = []

    def __call__(self, argv, timeout):
        self.calls.append((list(argv), timeout))
        if self.exception is not None:
            raise self.exception
        return self.result


# ---------------------------------------------------------------- names

@pytest.mark.parametrize('emulator, expected', [
    (None, 'x86_64'),
    ('x86_64', 'x86_64'),
    ('aarch64', 'aarch64'),
    ('qemu-system-aarch64', 'aarch64'),
    (' riscv64 ', 'riscv64'),
    ('x86_64-microvm', 'x86_64-microvm'),
])
def test_fingerprinter_emulator(emulator, expected):
    assert Fingerprinter(emulator=emulator, search_path='').emulator == expected


# The one rule of _emulator.py: '.' and a leading '_' are refused, as by qemu_task and the host policy.
@pytest.mark.parametrize('emulator', ['', 'qemu-system-', 'x86/64', '../x86_64', '-x86_64', 'x86_64 --help', 'x86_64.exe',
                                      'x86_64.v2', '_x86'])
def test_fingerprinter_emulator_invalid(emulator):
    with pytest.raises(FingerprintError) as exc:
        Fingerprinter(emulator=emulator, search_path='')
    assert str(exc.value) == (
        "emulator {0!r} is not a valid emulator name; use an architecture such as x86_64 or aarch64 "
        "(letters, digits, '_' and '-'), with or without the qemu-system- prefix".format(emulator))


def test_fingerprinter_allowlist_invalid():
    with pytest.raises(FingerprintError) as exc:
        Fingerprinter(emulators_allowlist=['x86_64', 'x86_64.v2'], search_path='')
    assert str(exc.value) == (
        "emulators_allowlist 'x86_64.v2' is not a valid emulator name; use an architecture such as x86_64 or aarch64 "
        "(letters, digits, '_' and '-'), with or without the qemu-system- prefix")


@pytest.mark.parametrize('path, expected', [
    ('/usr/bin/qemu-system-x86_64', 'x86_64'),
    ('qemu-system-aarch64', 'aarch64'),
    ('/usr/bin/qemu-system-x86_64-microvm', 'x86_64-microvm'),
    ('/usr/libexec/qemu-kvm', None),
    ('/usr/bin/qemu-img', None),
    ('/usr/bin/qemu-system-', None),
    ('/usr/bin/qemu-system-x86_64.dpkg-old', None),
    ('/usr/bin/qemu-system-x86_64.v2', None),
    ('/usr/bin/qemu-system-_x86', None),
])
def test_emulator_from_binary(path, expected):
    assert emulator_from_binary(path) == expected


@pytest.mark.parametrize('text, expected', [
    (None, ''),
    ('', ''),
    ('  one\n two\t\tthree \n', 'one two three'),
    ('x' * 200, 'x' * 200),
    ('x' * 201, 'x' * 200 + '...'),
])
def test_excerpt(text, expected):
    assert excerpt(text) == expected


# ---------------------------------------------------------------- PATH

@pytest.fixture
def path_dirs(tmp_path):
    """Two PATH directories with emulators, plus things that are not emulators."""
    first = tmp_path / 'first'
    second = tmp_path / 'second'
    make_file(first / 'qemu-system-x86_64', GOOD_SCRIPT)
    make_file(first / 'qemu-system-aarch64', GOOD_SCRIPT)
    make_file(first / 'qemu-img', GOOD_SCRIPT)
    make_file(first / 'qemu-system-riscv64', GOOD_SCRIPT, mode=0o644)
    (first / 'qemu-system-arm').mkdir()
    make_file(second / 'qemu-system-x86_64', GOOD_SCRIPT)
    make_file(second / 'qemu-system-x86_64.dpkg-old', GOOD_SCRIPT)
    make_file(tmp_path / 'elsewhere' / 'real-ppc64', GOOD_SCRIPT)
    (second / 'qemu-system-ppc64').symlink_to(tmp_path / 'elsewhere' / 'real-ppc64')
    (second / 'qemu-system-mips').symlink_to(tmp_path / 'missing')
    return first, second


def test_list_emulators(path_dirs, tmp_path):
    first, second = path_dirs
    search_path = os.pathsep.join(['', str(first), str(tmp_path / 'nonexistent'), str(second), str(first)])
    assert list_emulators(search_path) == ['aarch64', 'ppc64', 'x86_64']


@pytest.mark.parametrize('search_path', ['', None, os.pathsep])
def test_list_emulators_empty_path(search_path):
    assert list_emulators(search_path) == []


def test_find_on_path_first_wins(path_dirs):
    first, second = path_dirs
    search_path = os.pathsep.join([str(second), str(first)])
    assert find_on_path('qemu-system-x86_64', search_path) == (str(second / 'qemu-system-x86_64'), None)


def test_find_on_path_skips_non_executable(path_dirs, tmp_path):
    first, second = path_dirs
    make_file(second / 'qemu-system-riscv64', GOOD_SCRIPT)
    search_path = os.pathsep.join([str(first), str(second)])
    assert find_on_path('qemu-system-riscv64', search_path) == (str(second / 'qemu-system-riscv64'), None)


def test_find_on_path_reports_non_executable(path_dirs):
    first, second = path_dirs
    search_path = os.pathsep.join([str(second), str(first)])
    assert find_on_path('qemu-system-riscv64', search_path) == (None, str(first / 'qemu-system-riscv64'))
    assert find_on_path('qemu-system-arm', search_path) == (None, str(first / 'qemu-system-arm'))
    assert find_on_path('qemu-system-s390x', search_path) == (None, None)


# ---------------------------------------------------------------- the default runner, with real processes

def test_run_with_timeout_output(tmp_path):
    script = make_file(tmp_path / 'qemu-system-x86_64', FAILING_SCRIPT)
    assert run_with_timeout([script, '--version'], 10) == (1, 'some stdout\n', 'qemu-system-x86_64: unable to load libfoo.so\n')


def test_run_with_timeout_kills_the_process_group(tmp_path):
    marker = tmp_path / 'survived'
    script = make_file(tmp_path / 'qemu-system-x86_64', '#!/bin/sh\n(sleep 2; touch "%s") &\nsleep 30\n' % marker)
    start = time.monotonic()
    with pytest.raises(TimeoutError) as exc:
        run_with_timeout([script, '--version'], 0.5)
    assert time.monotonic() - start < 5
    assert str(exc.value) == '{0} did not finish within 0.5 seconds'.format(script)
    time.sleep(2.5)
    assert not marker.exists()


def test_run_with_timeout_cannot_start(tmp_path):
    script = make_file(tmp_path / 'qemu-system-x86_64', NO_SHEBANG_SCRIPT)
    with pytest.raises(OSError) as exc:
        run_with_timeout([script, '--version'], 10)
    assert exc.value.errno == errno.ENOEXEC


# ---------------------------------------------------------------- the runner built on AnsibleModule.run_command

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    from contextlib import contextmanager
    from unittest import mock

    @contextmanager
    def patch_module_args(args=None):
        with mock.patch.object(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}).encode()):
            yield


@pytest.fixture
def ansible_module():
    with patch_module_args({}):
        yield basic.AnsibleModule(argument_spec={})


def test_module_runner_output(tmp_path, ansible_module):
    script = make_file(tmp_path / 'qemu-system-x86_64', FAILING_SCRIPT)
    assert module_runner(ansible_module)([script, '--version'], 10) == (
        1, 'some stdout\n', 'qemu-system-x86_64: unable to load libfoo.so\n')


def test_module_runner_timeout(tmp_path, ansible_module):
    marker = tmp_path / 'survived'
    script = make_file(tmp_path / 'qemu-system-x86_64', '#!/bin/sh\n(sleep 2; touch "%s") &\nsleep 30\n' % marker)
    start = time.monotonic()
    with pytest.raises(TimeoutError) as exc:
        module_runner(ansible_module)([script, '--version'], 0.5)
    assert time.monotonic() - start < 5
    assert str(exc.value) == '{0} did not finish within 0.5 seconds'.format(script)
    time.sleep(2.5)
    assert not marker.exists()


def test_module_runner_cannot_start(tmp_path, ansible_module):
    script = make_file(tmp_path / 'qemu-system-x86_64', NO_SHEBANG_SCRIPT)
    with pytest.raises(OSError) as exc:
        module_runner(ansible_module)([script, '--version'], 10)
    assert exc.value.errno == errno.ENOEXEC


# ---------------------------------------------------------------- Fingerprinter options

@pytest.mark.parametrize('timeout', [0, -1, None])
def test_fingerprinter_invalid_timeout(timeout):
    with pytest.raises(FingerprintError) as exc:
        Fingerprinter(timeout=timeout, search_path='')
    assert str(exc.value) == 'timeout must be a positive number of seconds, got {0!r}; the default is 10'.format(timeout)


@pytest.mark.parametrize('binary, message', [
    ('qemu-system-aarch64', "binary 'qemu-system-aarch64' is not an absolute path; set binary to the full path of the emulator, "
                            "or use emulator=aarch64 to search PATH for qemu-system-aarch64"),
    ('bin/qemu-kvm', "binary 'bin/qemu-kvm' is not an absolute path; set binary to the full path of the emulator, "
                     "or use emulator=x86_64 to search PATH for qemu-system-x86_64"),
])
def test_fingerprinter_relative_binary(binary, message):
    with pytest.raises(FingerprintError) as exc:
        Fingerprinter(binary=binary, search_path='')
    assert str(exc.value) == message


def test_fingerprinter_uses_environment_path(tmp_path, monkeypatch):
    make_file(tmp_path / 'qemu-system-x86_64', GOOD_SCRIPT)
    monkeypatch.setenv('PATH', str(tmp_path))
    assert Fingerprinter(kvm_device=None).search_path == str(tmp_path)


# ---------------------------------------------------------------- Fingerprinter results, fake runner

def test_fingerprint_healthy_fake_runner(path_dirs):
    first, second = path_dirs
    runner = FakeRunner((0, VERSION_OUTPUT, ''))
    fingerprinter = Fingerprinter(search_path=os.pathsep.join([str(first), str(second)]), runner=runner,
                                  timeout=7, kvm_checker=fixed_kvm)
    result = fingerprinter.fingerprint()
    binary = str(first / 'qemu-system-x86_64')
    assert runner.calls == [([binary, '--version'], 7)]
    assert result.facts() == {
        'driver_qemu': True,
        'driver_qemu_version': '7.2.22',
        'driver_qemu_binary': binary,
        'driver_qemu_emulators': ['aarch64', 'ppc64', 'x86_64'],
        'driver_qemu_kvm': True,
        'driver_qemu_kvm_description': 'usable',
        'driver_qemu_health': 'healthy',
        'driver_qemu_health_description': 'Healthy',
        'driver_qemu_attributes': {
            'driver.qemu': 'true',
            'driver.qemu.version': '7.2.22',
            'driver.qemu.emulators': 'aarch64,ppc64,x86_64',
        },
    }


def test_fingerprint_emulator_with_prefix(path_dirs):
    first, second = path_dirs
    runner = FakeRunner((0, VERSION_OUTPUT, ''))
    result = Fingerprinter(emulator='qemu-system-aarch64', search_path=str(first), runner=runner, kvm_device=None).fingerprint()
    assert runner.calls == [([str(first / 'qemu-system-aarch64'), '--version'], 10)]
    assert result.binary == str(first / 'qemu-system-aarch64')
    assert result.detected


def test_fingerprint_kvm_not_checked(path_dirs):
    first, second = path_dirs
    result = Fingerprinter(search_path=str(first), runner=FakeRunner((0, VERSION_OUTPUT, '')),
                           kvm_device=None, kvm_checker=no_kvm_check).fingerprint()
    assert (result.kvm, result.kvm_description) == (None, 'not checked')


def test_fingerprint_kvm_device_is_passed(path_dirs):
    first, second = path_dirs
    seen = []

    def checker(device):
        seen.append(device)
        return False, 'why not'

    result = Fingerprinter(search_path=str(first), runner=FakeRunner((0, VERSION_OUTPUT, '')),
                           kvm_device='/somewhere/kvm', kvm_checker=checker).fingerprint()
    assert seen == ['/somewhere/kvm']
    assert (result.kvm, result.kvm_description) == (False, 'why not')
    # KVM does not decide whether QEMU is detected
    assert result.health == 'healthy'


UNDETECTED_FAKE_CASES = [
    (FakeRunner((0, 'hello garbage\n', '')),
     "Failed to parse qemu version from '{binary} --version' output: hello garbage"),
    (FakeRunner((0, '', '')),
     "Failed to parse qemu version from '{binary} --version' output: no output"),
    (FakeRunner((0, '', 'QEMU emulator version 7.2.22\n')),
     "Failed to parse qemu version from '{binary} --version' output: no output"),
    (FakeRunner((1, 'out\n', 'qemu-system-x86_64: error while loading shared libraries: libfoo.so\n')),
     "'{binary} --version' failed with exit code 1: qemu-system-x86_64: error while loading shared libraries: libfoo.so"),
    (FakeRunner((2, 'usage text\n', '')),
     "'{binary} --version' failed with exit code 2: usage text"),
    (FakeRunner((127, '', '')),
     "'{binary} --version' failed with exit code 127: no output"),
    (FakeRunner((-11, '', '')),
     "'{binary} --version' was killed by signal SIGSEGV: no output"),
    (FakeRunner((-250, '', '')),
     "'{binary} --version' was killed by signal 250: no output"),
    (FakeRunner(exception=TimeoutError('hung')),
     "'{binary} --version' timed out after 10 seconds; check the binary by hand or raise timeout"),
    (FakeRunner(exception=OSError(errno.ENOEXEC, 'Exec format error')),
     "could not run '{binary} --version': ENOEXEC (Exec format error)"),
    (FakeRunner(exception=OSError('no errno')),
     "could not run '{binary} --version': no errno"),
]


@pytest.mark.parametrize('runner, description', UNDETECTED_FAKE_CASES)
def test_fingerprint_undetected_fake_runner(tmp_path, runner, description):
    binary = make_file(tmp_path / 'qemu-system-x86_64', GOOD_SCRIPT)
    result = Fingerprinter(search_path=str(tmp_path), runner=runner, kvm_checker=fixed_kvm).fingerprint()
    assert result.facts() == {
        'driver_qemu': False,
        'driver_qemu_version': None,
        'driver_qemu_binary': binary,
        'driver_qemu_emulators': ['x86_64'],
        'driver_qemu_kvm': True,
        'driver_qemu_kvm_description': 'usable',
        'driver_qemu_health': 'undetected',
        'driver_qemu_health_description': description.format(binary=binary),
        'driver_qemu_attributes': {},
    }


def test_fingerprint_long_output_is_cut(tmp_path):
    binary = make_file(tmp_path / 'qemu-system-x86_64', GOOD_SCRIPT)
    runner = FakeRunner((0, 'garbage ' * 100, ''))
    result = Fingerprinter(search_path=str(tmp_path), runner=runner, kvm_device=None).fingerprint()
    assert result.health_description == "Failed to parse qemu version from '{0} --version' output: {1}...".format(
        binary, ('garbage ' * 25)[:200])


# ---------------------------------------------------------------- not found

def test_fingerprint_not_found(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    search_path = os.pathsep.join([str(empty), str(tmp_path / 'nonexistent')])
    runner = FakeRunner()
    result = Fingerprinter(search_path=search_path, runner=runner, kvm_checker=fixed_kvm).fingerprint()
    assert runner.calls == []
    assert result.facts() == {
        'driver_qemu': False,
        'driver_qemu_version': None,
        'driver_qemu_binary': None,
        'driver_qemu_emulators': [],
        'driver_qemu_kvm': True,
        'driver_qemu_kvm_description': 'usable',
        'driver_qemu_health': 'undetected',
        'driver_qemu_health_description': (
            'qemu-system-x86_64 not found on PATH ({0}); install QEMU or set binary to the absolute path of the emulator'.format(search_path)),
        'driver_qemu_attributes': {},
    }


@pytest.mark.parametrize('search_path', ['', os.pathsep])
def test_fingerprint_empty_path(search_path):
    result = Fingerprinter(search_path=search_path, runner=FakeRunner(), kvm_device=None).fingerprint()
    assert result.health_description == (
        'qemu-system-x86_64 not found on PATH (PATH is empty); install QEMU or set binary to the absolute path of the emulator')


def test_fingerprint_not_found_names_other_emulators(path_dirs):
    first, second = path_dirs
    search_path = os.pathsep.join([str(first), str(second)])
    result = Fingerprinter(emulator='s390x', search_path=search_path, runner=FakeRunner(), kvm_device=None).fingerprint()
    assert result.health == 'undetected'
    assert result.emulators == ['aarch64', 'ppc64', 'x86_64']
    assert result.health_description == (
        'qemu-system-s390x not found on PATH ({0}); set emulator to one of the emulators found (aarch64, ppc64, x86_64), '
        'install QEMU for s390x, or set binary to its absolute path'.format(search_path))


def test_fingerprint_found_but_not_executable(path_dirs):
    first, second = path_dirs
    result = Fingerprinter(emulator='riscv64', search_path=str(first), runner=FakeRunner(), kvm_device=None).fingerprint()
    assert result.binary is None
    assert result.health_description == (
        'qemu-system-riscv64 found at {0} but it is not executable; make it executable or set binary to the '
        'absolute path of a working emulator'.format(first / 'qemu-system-riscv64'))


# ---------------------------------------------------------------- explicit binary

def test_fingerprint_binary_outside_path(tmp_path):
    binary = make_file(tmp_path / 'libexec' / 'qemu-kvm', GOOD_SCRIPT)
    runner = FakeRunner((0, 'QEMU emulator version 6.2.0 (qemu-kvm-6.2.0-11.el9)\n', ''))
    result = Fingerprinter(emulator='aarch64', binary=binary, search_path='', runner=runner, kvm_device=None).fingerprint()
    assert runner.calls == [([binary, '--version'], 10)]
    assert (result.health, result.binary, result.version, result.emulators) == ('healthy', binary, '6.2.0', [])
    assert result.attributes() == {'driver.qemu': 'true', 'driver.qemu.version': '6.2.0'}


def test_fingerprint_binary_adds_its_emulator(path_dirs, tmp_path):
    first, second = path_dirs
    binary = make_file(tmp_path / 'opt' / 'qemu-system-s390x', GOOD_SCRIPT)
    runner = FakeRunner((0, VERSION_OUTPUT, ''))
    result = Fingerprinter(binary=binary, search_path=str(first), runner=runner, kvm_device=None).fingerprint()
    assert result.emulators == ['aarch64', 's390x', 'x86_64']
    assert result.attributes()['driver.qemu.emulators'] == 'aarch64,s390x,x86_64'


@pytest.mark.parametrize('name, mode, description', [
    ('missing', None, "binary '{path}' does not exist; install QEMU or correct binary"),
    ('directory', 'dir', "binary '{path}' is not a regular file; set binary to the emulator executable"),
    ('qemu-system-x86_64', 0o644, "binary '{path}' is not executable; make it executable or correct binary"),
])
def test_fingerprint_binary_unusable(tmp_path, name, mode, description):
    path = tmp_path / name
    if mode == 'dir':
        path.mkdir()
    elif mode is not None:
        make_file(path, GOOD_SCRIPT, mode=mode)
    runner = FakeRunner()
    result = Fingerprinter(binary=str(path), search_path='', runner=runner, kvm_device=None).fingerprint()
    assert runner.calls == []
    assert (result.health, result.binary, result.emulators) == ('undetected', None, [])
    assert result.health_description == description.format(path=path)


# ---------------------------------------------------------------- the emulator allowlist (Nomad's emulators_allowlist)

def test_fingerprint_lists_only_allowed_emulators(path_dirs):
    first, second = path_dirs
    runner = FakeRunner((0, VERSION_OUTPUT, ''))
    search_path = os.pathsep.join([str(first), str(second)])
    result = Fingerprinter(search_path=search_path, runner=runner, kvm_device=None,
                           emulators_allowlist=['qemu-system-x86_64', 'ppc64', 's390x']).fingerprint()
    assert runner.calls == [([str(first / 'qemu-system-x86_64'), '--version'], 10)]
    assert result.emulators == ['ppc64', 'x86_64']
    assert result.attributes() == {'driver.qemu': 'true', 'driver.qemu.version': '7.2.22', 'driver.qemu.emulators': 'ppc64,x86_64'}


def test_fingerprint_takes_the_first_allowed_emulator(path_dirs):
    first, second = path_dirs
    runner = FakeRunner((0, VERSION_OUTPUT, ''))
    result = Fingerprinter(search_path=str(first), runner=runner, kvm_device=None,
                           emulators_allowlist=['aarch64', 'x86_64']).fingerprint()
    assert runner.calls == [([str(first / 'qemu-system-aarch64'), '--version'], 10)]
    assert (result.health, result.binary, result.emulators) == ('healthy', str(first / 'qemu-system-aarch64'), ['aarch64', 'x86_64'])


def test_fingerprint_first_allowed_emulator_missing(path_dirs):
    """As Nomad: the first allowed emulator is fingerprinted, even when a later one is installed."""
    first, second = path_dirs
    result = Fingerprinter(search_path=str(first), runner=FakeRunner(), kvm_device=None,
                           emulators_allowlist=['s390x', 'x86_64']).fingerprint()
    assert (result.health, result.binary, result.emulators) == ('undetected', None, ['x86_64'])
    assert result.health_description == (
        'qemu-system-s390x not found on PATH ({0}); set emulator to one of the emulators found (x86_64), '
        'install QEMU for s390x, or set binary to its absolute path'.format(first))


@pytest.mark.parametrize('origin, said', [
    (None, ''),
    ('from the host policy /etc/nomadic-qemu/policy.json', ', from the host policy /etc/nomadic-qemu/policy.json'),
])
def test_fingerprint_refuses_an_emulator_not_allowed(path_dirs, origin, said):
    first, second = path_dirs
    runner = FakeRunner((0, VERSION_OUTPUT, ''))
    result = Fingerprinter(emulator='x86_64', search_path=str(first), runner=runner, kvm_checker=fixed_kvm,
                           emulators_allowlist=['aarch64', 'riscv64'], allowlist_origin=origin).fingerprint()
    assert runner.calls == []
    assert result.facts() == {
        'driver_qemu': False,
        'driver_qemu_version': None,
        'driver_qemu_binary': None,
        'driver_qemu_emulators': ['aarch64'],
        'driver_qemu_kvm': True,
        'driver_qemu_kvm_description': 'usable',
        'driver_qemu_health': 'undetected',
        'driver_qemu_health_description': (
            "emulator 'x86_64' is not in emulators_allowlist (aarch64, riscv64{0}), so qemu_task refuses it; set emulator "
            "to one of those (or leave it unset for the first), or add x86_64 to emulators_allowlist".format(said)),
        'driver_qemu_attributes': {},
    }


def test_fingerprint_empty_allowlist_allows_nothing(path_dirs):
    first, second = path_dirs
    runner = FakeRunner((0, VERSION_OUTPUT, ''))
    result = Fingerprinter(search_path=str(first), runner=runner, kvm_device=None, emulators_allowlist=[],
                           allowlist_origin='from the option emulators_allowlist').fingerprint()
    assert runner.calls == []
    assert (result.health, result.binary, result.emulators, result.attributes()) == ('undetected', None, [], {})
    assert result.health_description == (
        'no emulator is allowed: emulators_allowlist is empty, from the option emulators_allowlist, so qemu_task refuses every '
        'task; add the emulators tasks may use, such as x86_64, to emulators_allowlist')


def test_fingerprint_binary_checked_by_its_name(path_dirs, tmp_path):
    first, second = path_dirs
    binary = make_file(tmp_path / 'opt' / 'qemu-system-s390x', GOOD_SCRIPT)
    result = Fingerprinter(binary=binary, search_path=str(first), runner=FakeRunner(), kvm_device=None,
                           emulators_allowlist=['x86_64']).fingerprint()
    assert (result.health, result.emulators) == ('undetected', ['x86_64'])
    assert result.health_description.startswith("emulator 's390x' is not in emulators_allowlist (x86_64), ")


@pytest.mark.parametrize('emulator, health', [('x86_64', 'healthy'), ('aarch64', 'undetected'), (None, 'healthy')])
def test_fingerprint_binary_without_arch_is_checked_as_emulator(tmp_path, emulator, health):
    binary = make_file(tmp_path / 'libexec' / 'qemu-kvm', GOOD_SCRIPT)
    result = Fingerprinter(emulator=emulator, binary=binary, search_path='', runner=FakeRunner((0, VERSION_OUTPUT, '')),
                           kvm_device=None, emulators_allowlist=['x86_64']).fingerprint()
    assert result.health == health


def write_policy(tmp_path, policy):
    path = tmp_path / 'policy.json'
    path.write_text(json.dumps(policy), encoding='utf-8')
    return str(path)


@pytest.mark.parametrize('policy, option, expected', [
    (None, None, (None, None)),
    ({'image_paths': ['/srv']}, None, (None, None)),
    ({'emulators_allowlist': None}, ['x86_64'], (['x86_64'], 'from the option emulators_allowlist')),
    ({'emulators_allowlist': ['qemu-system-x86_64', 'aarch64']}, None, (['x86_64', 'aarch64'], 'from the host policy {path}')),
    ({'emulators_allowlist': ['x86_64', 'aarch64']}, ['qemu-system-aarch64'], (['aarch64'], 'from the option emulators_allowlist')),
    ({'emulators_allowlist': ['x86_64']}, [], ([], 'from the option emulators_allowlist')),
    ({'emulators_allowlist': []}, None, ([], 'from the host policy {path}')),
])
def test_emulators_allowlist(tmp_path, policy, option, expected):
    path = write_policy(tmp_path, policy) if policy is not None else str(tmp_path / 'none.json')
    allowlist, origin = emulators_allowlist(option, policy_path=path)
    assert (allowlist, origin) == (expected[0], expected[1] and expected[1].format(path=path))


@pytest.mark.parametrize('policy, option, message', [
    ({'emulators_allowlist': ['x86_64']}, ['aarch64'],
     "emulators_allowlist entry 'aarch64' is not in the host policy's emulators_allowlist (x86_64) in {path}; remove it from "
     "emulators_allowlist, or leave emulators_allowlist unset to use the host policy"),
    ({'emulators_allowlist': ['x86_64.v2']}, None,
     "the host policy {path}: emulators_allowlist 'x86_64.v2' is not a valid emulator name; use an architecture such as x86_64 "
     "or aarch64 (letters, digits, '_' and '-'), with or without the qemu-system- prefix"),
    ({'emulators': ['x86_64']}, None,
     "the host policy {path} has the unknown key 'emulators'; use only image_paths, args_allowlist, emulators_allowlist"),
    (None, ['x86_64', 7], 'emulators_allowlist must be a list of strings'),
])
def test_emulators_allowlist_errors(tmp_path, policy, option, message):
    path = write_policy(tmp_path, policy) if policy is not None else str(tmp_path / 'none.json')
    with pytest.raises(FingerprintError) as exc:
        emulators_allowlist(option, policy_path=path)
    assert str(exc.value) == message.format(path=path)


# ---------------------------------------------------------------- Fingerprinter with real processes

REAL_CASES = [
    (GOOD_SCRIPT, 'healthy', 'Healthy'),
    (GARBAGE_SCRIPT, 'undetected', "Failed to parse qemu version from '{binary} --version' output: hello garbage"),
    (FAILING_SCRIPT, 'undetected', "'{binary} --version' failed with exit code 1: qemu-system-x86_64: unable to load libfoo.so"),
    (SILENT_FAILING_SCRIPT, 'undetected', "'{binary} --version' failed with exit code 3: no output"),
    (SEGFAULT_SCRIPT, 'undetected', "'{binary} --version' was killed by signal SIGSEGV: no output"),
    (NO_SHEBANG_SCRIPT, 'undetected', "could not run '{binary} --version': ENOEXEC (Exec format error)"),
    (SLEEPING_SCRIPT, 'undetected', "'{binary} --version' timed out after 0.5 seconds; check the binary by hand or raise timeout"),
]


@pytest.mark.parametrize('script, health, description', REAL_CASES)
def test_fingerprint_real_processes(tmp_path, script, health, description):
    binary = make_file(tmp_path / 'bin' / 'qemu-system-x86_64', script)
    start = time.monotonic()
    result = Fingerprinter(search_path=str(tmp_path / 'bin'), timeout=0.5, kvm_device=None).fingerprint()
    assert time.monotonic() - start < 5
    assert (result.health, result.health_description) == (health, description.format(binary=binary))
    assert result.binary == binary
    assert result.emulators == ['x86_64']


@pytest.mark.parametrize('script, health, description', REAL_CASES)
def test_fingerprint_real_processes_module_runner(tmp_path, ansible_module, script, health, description):
    binary = make_file(tmp_path / 'bin' / 'qemu-system-x86_64', script)
    start = time.monotonic()
    result = Fingerprinter(search_path=str(tmp_path / 'bin'), runner=module_runner(ansible_module),
                           timeout=0.5, kvm_device=None).fingerprint()
    assert time.monotonic() - start < 5
    assert (result.health, result.health_description) == (health, description.format(binary=binary))


# ---------------------------------------------------------------- Fingerprint

def test_fingerprint_attributes_without_emulators():
    result = Fingerprint('healthy', 'Healthy', binary='/x/qemu-kvm', version='6.2.0')
    assert result.attributes() == {'driver.qemu': 'true', 'driver.qemu.version': '6.2.0'}


def test_fingerprint_facts_are_copies():
    result = Fingerprint('healthy', 'Healthy', binary='/x', version='7.2.22', emulators=['x86_64'])
    facts = result.facts()
    facts['driver_qemu_emulators'].append('changed')
    assert result.emulators == ['x86_64']
