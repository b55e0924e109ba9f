# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Find QEMU on a host and describe it the way Nomad's qemu driver fingerprint does.

Nothing here needs Ansible. The pieces outside Python are parameters: the PATH to search,
the command runner, the KVM device path and the emulator allowlist, so that tests can drive
every branch. Emulator names follow the one rule of _emulator.py.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading

from ansible_collections.nomadic.qemu.plugins.module_utils._emulator import (
    DEFAULT_EMULATOR,
    EMULATOR_PREFIX,
    is_emulator_name,
    normalize_emulator,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._kvm import DEFAULT_KVM_DEVICE, check_kvm, errno_text
from ansible_collections.nomadic.qemu.plugins.module_utils._paths import describe_list
from ansible_collections.nomadic.qemu.plugins.module_utils._policy import DEFAULT_POLICY_PATH, effective_policy, load_policy
from ansible_collections.nomadic.qemu.plugins.module_utils._version import parse_qemu_version

DEFAULT_TIMEOUT = 10

HEALTH_HEALTHY = 'healthy'
HEALTH_UNDETECTED = 'undetected'
# Nomad's drivers.DriverHealthy
HEALTHY_DESCRIPTION = 'Healthy'
KVM_NOT_CHECKED = 'not checked'

# Nomad's node attribute names
ATTR_DRIVER = 'driver.qemu'
ATTR_VERSION = 'driver.qemu.version'
ATTR_EMULATORS = 'driver.qemu.emulators'

EXCERPT_LENGTH = 200


class FingerprintError(ValueError):
    """An option value that cannot work; the message names the option and the fix."""


def excerpt(text, length=EXCERPT_LENGTH):
    """Collapse whitespace and cut ``text`` so it fits in a one-line description."""
    flat = ' '.join((text or '').split())
    if len(flat) > length:
        flat = flat[:length] + '...'
    return flat


def _emulator_name(emulator, option):
    """``emulator`` by the one rule of _emulator.py; FingerprintError naming ``option`` otherwise."""
    try:
        return normalize_emulator(emulator, option)
    except QemuTaskError as exc:
        raise FingerprintError(str(exc)) from None


def emulator_from_binary(path):
    """Return ``aarch64`` for ``/usr/bin/qemu-system-aarch64``, None for names without the prefix."""
    name = os.path.basename(path)
    if name.startswith(EMULATOR_PREFIX):
        suffix = name[len(EMULATOR_PREFIX):]
        if is_emulator_name(suffix):
            return suffix
    return None


def emulators_allowlist(emulators_allowlist=None, policy_path=DEFAULT_POLICY_PATH):
    """The emulators a task may use on this host: ``(allowlist or None, origin)``.

    The host policy's emulators_allowlist (``policy_path``), narrowed by ``emulators_allowlist``
    (the module option) as qemu_task narrows it; None means any emulator. ``origin`` says
    where the list came from, for messages. Raises FingerprintError when the host policy
    cannot be read or the option would widen it.
    """
    try:
        policy = effective_policy(load_policy(policy_path), emulators_allowlist=emulators_allowlist)
    except QemuTaskError as exc:
        raise FingerprintError(str(exc)) from None
    source = policy['source']['emulators_allowlist']
    if source == 'task':
        origin = 'from the option emulators_allowlist'
    elif source == 'host':
        origin = 'from the host policy {0}'.format(policy_path)
    else:
        origin = None
    return policy['emulators_allowlist'], origin


def _seconds(value):
    return '{0} second{1}'.format(value, '' if value == 1 else 's')


def _path_dirs(search_path):
    # Empty entries mean "current directory" to a shell; a module's working directory is
    # arbitrary, so they are skipped rather than searched.
    return [entry for entry in (search_path or '').split(os.pathsep) if entry]


def _is_executable_file(path):
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK)


def find_on_path(name, search_path):
    """Look ``name`` up on ``search_path`` like a shell does.

    Returns ``(path, None)`` for the first executable regular file, else
    ``(None, path_of_first_non_executable_candidate_or_None)``.
    """
    non_executable = None
    for directory in _path_dirs(search_path):
        candidate = os.path.join(directory, name)
        if _is_executable_file(candidate):
            return candidate, None
        if non_executable is None and os.path.lexists(candidate):
            non_executable = candidate
    return None, non_executable


def list_emulators(search_path):
    """Return the sorted architectures of every ``qemu-system-*`` executable on ``search_path``."""
    found = set()
    for directory in _path_dirs(search_path):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            suffix = emulator_from_binary(name)
            if suffix is not None and _is_executable_file(os.path.join(directory, name)):
                found.add(suffix)
    return sorted(found)


def run_with_timeout(argv, timeout):
    """Run ``argv`` without a shell, return ``(rc, stdout, stderr)`` as text.

    This is the runner for use without Ansible; modules pass ``module_runner(module)``.
    Raises ``TimeoutError`` when the command runs longer than ``timeout`` seconds (the
    whole process group is killed first) and ``OSError`` when it cannot be started.
    """
    # AnsibleModule.run_command has no timeout and needs a module; this runner serves
    # callers that have neither, so it uses subprocess directly.
    with subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            close_fds=True, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.communicate()
            raise TimeoutError('{0} did not finish within {1}'.format(argv[0], _seconds(timeout))) from None
    return proc.returncode, out.decode('utf-8', errors='replace'), err.decode('utf-8', errors='replace')


def _descendants(pid):
    """Return the pids of all descendants of ``pid`` (Linux /proc; empty elsewhere)."""
    try:
        with open('/proc/{0}/task/{0}/children'.format(pid)) as children:
            kids = [int(kid) for kid in children.read().split()]
    except (OSError, ValueError):
        return []
    result = []
    for kid in kids:
        result.append(kid)
        result.extend(_descendants(kid))
    return result


def module_runner(module):
    """Return a runner built on ``module.run_command`` that kills the command after ``timeout``.

    Uses only ``module.run_command``.
    """
    def run(argv, timeout):
        state = {'timed_out': False}
        timers = []

        def kill(proc):
            if proc.poll() is None:
                state['timed_out'] = True
                # run_command starts the command in our own process group, so the group
                # cannot be killed; take the descendants (a wrapper script's children) too.
                descendants = _descendants(proc.pid)
                proc.kill()
                for pid in descendants:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass

        def start_timer(proc):
            timer = threading.Timer(timeout, kill, (proc,))
            timer.daemon = True
            timers.append(timer)
            timer.start()

        try:
            rc, out, err = module.run_command(
                argv, before_communicate_callback=start_timer, handle_exceptions=False,
                expand_user_and_vars=False, errors='replace')
        finally:
            for timer in timers:
                timer.cancel()
        if state['timed_out']:
            raise TimeoutError('{0} did not finish within {1}'.format(argv[0], _seconds(timeout)))
        return rc, out, err

    return run


class Fingerprint:
    """The result of a fingerprint: what Nomad reports plus the KVM check."""

    def __init__(self, health, health_description, binary=None, version=None, emulators=None,
                 kvm=None, kvm_description=None):
        self.health = health
        self.health_description = health_description
        self.binary = binary
        self.version = version
        self.emulators = list(emulators or [])
        self.kvm = kvm
        self.kvm_description = kvm_description

    @property
    def detected(self):
        return self.health == HEALTH_HEALTHY

    def attributes(self):
        """Return Nomad's node attributes with the string values Nomad sets; empty when undetected."""
        if not self.detected:
            return {}
        attributes = {
            ATTR_DRIVER: 'true',
            ATTR_VERSION: self.version,
        }
        if self.emulators:
            attributes[ATTR_EMULATORS] = ','.join(self.emulators)
        return attributes

    def facts(self):
        """Return the ``driver_qemu*`` facts."""
        return {
            'driver_qemu': self.detected,
            'driver_qemu_version': self.version,
            'driver_qemu_binary': self.binary,
            'driver_qemu_emulators': list(self.emulators),
            'driver_qemu_kvm': self.kvm,
            'driver_qemu_kvm_description': self.kvm_description,
            'driver_qemu_health': self.health,
            'driver_qemu_health_description': self.health_description,
            'driver_qemu_attributes': self.attributes(),
        }


class Fingerprinter:
    """Find a QEMU system emulator, read its version and check KVM.

    ``emulator`` names the architecture (``x86_64``, or ``qemu-system-x86_64``) looked up on
    ``search_path``; an explicit ``binary`` (absolute path) takes precedence over it.
    ``emulators_allowlist`` (None: any emulator) is what Nomad's fingerprint honours: only
    the allowed emulators are listed, ``emulator`` defaults to the first allowed one, and
    an emulator that is not allowed (or an empty list) gives the health ``undetected``.
    ``allowlist_origin`` says where the list came from, for those messages.
    ``runner(argv, timeout)`` returns ``(rc, stdout, stderr)``, raises ``TimeoutError``
    on timeout and ``OSError`` when the command cannot start.
    ``kvm_device=None`` skips the KVM check.

    Raises ``FingerprintError`` for option values that cannot work; a missing or broken
    QEMU is never an error, it gives the health ``undetected`` with the reason.
    """

    def __init__(self, emulator=None, binary=None, search_path=None, runner=None,
                 timeout=DEFAULT_TIMEOUT, kvm_device=DEFAULT_KVM_DEVICE, kvm_checker=check_kvm,
                 emulators_allowlist=None, allowlist_origin=None):
        self.allowlist = None if emulators_allowlist is None else [
            _emulator_name(item, 'emulators_allowlist') for item in emulators_allowlist]
        self.allowlist_origin = allowlist_origin
        if emulator is None:
            # Nomad takes the version from the first allowed emulator.
            emulator = self.allowlist[0] if self.allowlist else DEFAULT_EMULATOR
        self.emulator = _emulator_name(emulator, 'emulator')
        if binary is not None and not os.path.isabs(binary):
            raise FingerprintError(
                'binary {0!r} is not an absolute path; set binary to the full path of the emulator, '
                'or use emulator={1} to search PATH for {2}{1}'.format(
                    binary, emulator_from_binary(binary) or DEFAULT_EMULATOR, EMULATOR_PREFIX))
        self.binary = binary
        if timeout is None or timeout <= 0:
            raise FingerprintError(
                'timeout must be a positive number of seconds, got {0!r}; the default is {1}'.format(timeout, DEFAULT_TIMEOUT))
        self.timeout = timeout
        self.search_path = os.environ.get('PATH', os.defpath) if search_path is None else search_path
        self.runner = runner or run_with_timeout
        self.kvm_device = kvm_device
        self.kvm_checker = kvm_checker

    @property
    def binary_name(self):
        return EMULATOR_PREFIX + self.emulator

    @property
    def fingerprinted_emulator(self):
        """The emulator whose version is read: that of ``binary`` when it is named qemu-system-<arch>, else ``emulator``."""
        if self.binary is not None:
            return emulator_from_binary(self.binary) or self.emulator
        return self.emulator

    def emulators(self):
        """The emulators on ``search_path`` (and ``binary``'s own) that the allowlist allows, sorted."""
        found = set(list_emulators(self.search_path))
        if self.binary is not None:
            own = emulator_from_binary(self.binary)
            if own is not None and _is_executable_file(self.binary):
                found.add(own)
        if self.allowlist is not None:
            found &= set(self.allowlist)
        return sorted(found)

    def refusal(self):
        """Why the allowlist refuses the emulator to fingerprint, or None when it allows it."""
        if self.allowlist is None:
            return None
        origin = ', ' + self.allowlist_origin if self.allowlist_origin else ''
        if not self.allowlist:
            return ('no emulator is allowed: emulators_allowlist is empty{0}, so qemu_task refuses every task; '
                    'add the emulators tasks may use, such as x86_64, to emulators_allowlist'.format(origin))
        name = self.fingerprinted_emulator
        if name in self.allowlist:
            return None
        return ("emulator '{0}' is not in emulators_allowlist ({1}{2}), so qemu_task refuses it; set emulator to one of "
                "those (or leave it unset for the first), or add {0} to emulators_allowlist".format(
                    name, describe_list(self.allowlist), origin))

    def locate(self, emulators):
        """Return ``(binary, None)`` or ``(None, why_not)``."""
        if self.binary is not None:
            return self._check_binary(self.binary)
        found, non_executable = find_on_path(self.binary_name, self.search_path)
        if found is not None:
            return found, None
        if non_executable is not None:
            return None, (
                '{0} found at {1} but it is not executable; make it executable or set binary to the '
                'absolute path of a working emulator'.format(self.binary_name, non_executable))
        where = self.search_path if _path_dirs(self.search_path) else 'PATH is empty'
        others = ', '.join(emulators)
        if others:
            return None, (
                '{0} not found on PATH ({1}); set emulator to one of the emulators found ({2}), '
                'install QEMU for {3}, or set binary to its absolute path'.format(self.binary_name, where, others, self.emulator))
        return None, (
            '{0} not found on PATH ({1}); install QEMU or set binary to the absolute path of the emulator'.format(
                self.binary_name, where))

    @staticmethod
    def _check_binary(path):
        if not os.path.exists(path):
            return None, "binary '{0}' does not exist; install QEMU or correct binary".format(path)
        if not os.path.isfile(path):
            return None, "binary '{0}' is not a regular file; set binary to the emulator executable".format(path)
        if not os.access(path, os.X_OK):
            return None, "binary '{0}' is not executable; make it executable or correct binary".format(path)
        return path, None

    def read_version(self, binary):
        """Return ``(version, None)`` or ``(None, why_not)`` from ``<binary> --version``."""
        command = "'{0} --version'".format(binary)
        try:
            rc, out, err = self.runner([binary, '--version'], self.timeout)
        except TimeoutError:
            return None, '{0} timed out after {1}; check the binary by hand or raise timeout'.format(command, _seconds(self.timeout))
        except OSError as exc:
            return None, 'could not run {0}: {1}'.format(command, errno_text(exc))
        output = excerpt(err) or excerpt(out) or 'no output'
        if rc < 0:
            try:
                signame = signal.Signals(-rc).name
            except ValueError:
                signame = str(-rc)
            return None, '{0} was killed by signal {1}: {2}'.format(command, signame, output)
        if rc != 0:
            return None, '{0} failed with exit code {1}: {2}'.format(command, rc, output)
        version = parse_qemu_version(out)
        if version is None:
            # Nomad says "Failed to parse qemu version from <output>"
            return None, 'Failed to parse qemu version from {0} output: {1}'.format(command, excerpt(out) or 'no output')
        return version, None

    def fingerprint(self):
        """Return a ``Fingerprint``; never raises for a missing or broken QEMU."""
        emulators = self.emulators()
        if self.kvm_device is None:
            kvm, kvm_description = None, KVM_NOT_CHECKED
        else:
            kvm, kvm_description = self.kvm_checker(self.kvm_device)
        binary, version, why_not = None, None, self.refusal()
        if why_not is None:
            binary, why_not = self.locate(emulators)
        if binary is not None:
            version, why_not = self.read_version(binary)
        if version is None:
            return Fingerprint(HEALTH_UNDETECTED, why_not, binary=binary, emulators=emulators,
                               kvm=kvm, kvm_description=kvm_description)
        return Fingerprint(HEALTH_HEALTHY, HEALTHY_DESCRIPTION, binary=binary, version=version,
                           emulators=emulators, kvm=kvm, kvm_description=kvm_description)
