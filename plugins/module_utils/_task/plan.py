# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""From a task's options and what the host offers to the QEMU command line it should run (a Plan)."""

from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import stat
import sys

from ansible_collections.nomadic.qemu.plugins.module_utils._command import build_argv, sandbox_value
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._image_header import header_chain
from ansible_collections.nomadic.qemu.plugins.module_utils._paths import check_args, check_image_chain, resolve_image
from ansible_collections.nomadic.qemu.plugins.module_utils._policy import check_emulator, effective_policy, load_policy
from ansible_collections.nomadic.qemu.plugins.module_utils._ports import allocate_ports, validate_ports
from ansible_collections.nomadic.qemu.plugins.module_utils._task.media import RESTART_KEYS, plan_media, prepare
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import check_option, stop_timeout
from ansible_collections.nomadic.qemu.plugins.module_utils._task.readiness import check_wait_for
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import default_state_dir
from ansible_collections.nomadic.qemu.plugins.module_utils._task import runtime
from ansible_collections.nomadic.qemu.plugins.module_utils._task.supervise import resolve_supervisor, stop_argv, task_unit_name
from ansible_collections.nomadic.qemu.plugins.module_utils._task.unit import render_unit

# What a running VM must be restarted for beyond its argv and media: the CPUs its unit confines it to.
SUPERVISION_RESTART_KEYS = ('cpu_set',)
# The directories PrivateTmp= replaces with the unit's own.
PRIVATE_TMP_DIRS = ('/tmp', '/var/tmp')
# The interpreter of the unit's ExecStop where it exists (else the module's own).
STOP_PYTHON = '/usr/bin/python3'


class Plan:
    """What a task should run: the argv, the options behind it (config), the accelerator, the ports and its media."""

    __slots__ = ('argv', 'config', 'accelerator', 'ports', 'labels', 'wait_for', 'media', 'prepare', 'supervision')

    def __init__(self, argv, config, accelerator, ports, labels, wait_for, media=None, prepare=None, supervision=None):
        self.argv = argv
        self.config = config
        self.accelerator = accelerator
        self.ports = ports
        self.labels = labels
        self.wait_for = wait_for
        self.media = media
        # Runs the media's steps (qemu-img) just before QEMU starts; returns the files it created.
        self.prepare = prepare or (lambda: [])
        # How the VM is kept: {unit (None: no supervisor), text (the unit file), enabled, logs, run_as}.
        self.supervision = supervision or {'unit': None, 'text': None, 'enabled': False, 'logs': check_option('logs', None),
                                           'run_as': None}

    def needs_restart(self, record):
        """Whether a VM started from ``record`` must be restarted to run this plan: another command line, base or disks."""
        return record.argv != self.argv or any(record.config.get(key) != self.config.get(key)
                                               for key in RESTART_KEYS + SUPERVISION_RESTART_KEYS)


class Planner:
    """Turns qemu_task's params into a Plan.

    Needs only: the params dict, a find_binary(name) callable, a run_command(argv) callable (for
    qemu-img), and optionally kvm_check() -> (usable, why) and a host policy dict, both of which
    tests hand in.
    """

    def __init__(self, params, find_binary=None, run_command=None, kvm_check=None, host_policy=None, policy_loader=None):
        self.params = params
        self.find_binary = find_binary or shutil.which
        self.run_command = run_command
        self.kvm_check = kvm_check
        self.host_policy = host_policy
        # What reads the host policy when none is handed in (qemu_tasks reads it once for all its tasks).
        self.policy_loader = policy_loader or load_policy

    def option(self, name):
        """An option's value as given, or its declared default; checked against its declared bounds."""
        return check_option(name, self.params.get(name))

    def kill_timeout(self, record=None):
        """How long a stop waits: this run's kill_timeout, else the one the task was started with, else the default."""
        return stop_timeout(self.params.get('kill_timeout'), record.config.get('kill_timeout') if record is not None else None)

    def graceful(self, record=None):
        if self.params.get('graceful_shutdown') is not None:
            return bool(self.params['graceful_shutdown'])
        return bool((record.config if record is not None else {}).get('graceful_shutdown', False))

    def _kvm_usable(self):
        if self.kvm_check is not None:
            return self.kvm_check()
        # Imported here: only a task that asks for KVM (the default accelerator is tcg) checks it.
        from ansible_collections.nomadic.qemu.plugins.module_utils._kvm import check_kvm
        return check_kvm()

    def accelerator(self):
        requested = self.option('accelerator')
        if requested == 'tcg':
            return 'tcg'
        usable, why = self._kvm_usable()
        if usable:
            return 'kvm'
        if requested == 'auto':
            return 'tcg'
        raise QemuTaskError(
            "accelerator 'kvm' was requested but KVM is not usable on this host: %s; "
            "use accelerator: auto to fall back to tcg, or make /dev/kvm usable (load the kvm module, "
            "give this user access to /dev/kvm)" % why, option='accelerator')

    def policy(self):
        host = self.host_policy if self.host_policy is not None else self.policy_loader()
        return effective_policy(host, image_paths=self.params.get('image_paths'), args_allowlist=self.params.get('args_allowlist'),
                                emulators_allowlist=self.params.get('emulators_allowlist'))

    def plan(self, task_dir, record, own_ports):
        """The Plan for this run. ``record`` is the task's TaskRecord (or None); ``own_ports`` the host ports its live VM holds."""
        policy = self.policy()
        emulator = self.option('emulator')
        check_emulator(emulator, policy.get('emulators_allowlist'))
        binary_name = 'qemu-system-%s' % emulator
        binary = self.find_binary(binary_name)
        if not binary:
            raise QemuTaskError(
                "emulator '%s': %s was not found on PATH (%s); install QEMU for that architecture "
                "or choose another emulator" % (emulator, binary_name, os.environ.get('PATH', '')), option='emulator')
        image_path = self.params.get('image_path')
        if not image_path:
            raise QemuTaskError('image_path is required when state is %s; give the path of the disk image to run'
                                % self.option('state'), option='image_path')
        # The task directory counts as an allowed image directory (as Nomad's task directory
        # does) only under the default state_dir: state_dir and name are task options, so any
        # other state_dir would let a task name any host directory as its own.
        trusted = _task_dir_trusted(task_dir)
        image_paths = policy.get('image_paths')
        image_format = self.option('image_format')
        image = resolve_image(image_path, task_dir.path, image_paths, task_dir_allowed=trusted)
        drive_interface = self.option('drive_interface')

        def check_file(path, option):
            real = resolve_image(path, task_dir.path, image_paths, task_dir_allowed=trusted, option=option)
            if image_paths is not None:
                self._check_backing_files(real, image_paths, task_dir, trusted, None, option=option)
            return real

        media_options = dict((name, self.option(name)) for name in ('image_media', 'overlay', 'ephemeral', 'overlay_reset', 'disks'))
        media_options['cloud_init'] = self.params.get('cloud_init')
        media = plan_media(media_options, task_dir, record, image, image_format, drive_interface, check_file)
        given_args = list(self.option('args'))
        refs = runtime.references(given_args)
        memory = self.option('memory')
        cpus = self.option('cpus')
        host_address = self.option('host_address')
        port_map, ports = validate_ports(self.option('port_map'), self.option('ports'), host_address, extra_labels=refs.labels)
        runtime.check_port_references(refs, port_map)
        host_ports = self._host_ports(task_dir, record, own_ports, port_map, ports, host_address, refs.labels)
        # The policy checks the args QEMU gets: after the task's own values are put in.
        known = runtime.values(refs, task_dir.path, host_address, memory, cpus, self.option('cpu_set'))
        args = runtime.resolve(given_args, known, host_ports, port_map)
        block_files = check_args(args, policy.get('args_allowlist'), image_paths, task_dir.path, task_dir_allowed=trusted)
        if image_paths is not None:
            self._check_backing_files(image, image_paths, task_dir, trusted, image_format)
            for path in block_files:
                if os.path.isfile(path) and path != image:
                    self._check_backing_files(path, image_paths, task_dir, trusted, None)
        forwards = [{'label': label, 'host_address': host_address, 'host_port': host_ports[label], 'guest_port': port_map[label]}
                    for label in sorted(port_map)]
        accelerator = self.accelerator()
        guest_agent = bool(self.option('guest_agent'))
        labels = self.option('labels')
        wait_for = check_wait_for(self.params.get('wait_for'), port_map, guest_agent)
        supervision = self._supervision()
        argv = build_argv(binary, task_dir.name, media.boot['file'], machine_type=self.option('machine_type'), accelerator=accelerator,
                          memory=memory, cpus=cpus, drive_interface=drive_interface, guest_agent=guest_agent,
                          args=args, forwards=forwards, task_dir=task_dir.path, image_format=media.boot['format'],
                          image_media=media.boot['media'], drives=media.drives, daemonize=supervision['daemonize'],
                          sandbox=supervision['sandbox'], run_as=supervision['run_as'])
        config = {
            'emulator': emulator,
            'binary': binary,
            'image_path': image_path,
            'image': image,
            'image_format': image_format,
            'accelerator': self.option('accelerator'),
            'machine_type': self.option('machine_type'),
            'drive_interface': drive_interface,
            'memory': memory,
            'cpus': cpus,
            'args': given_args,
            'port_map': port_map,
            'ports': dict((label, host_ports[label]) for label in sorted(host_ports)),
            'host_address': host_address,
            'guest_agent': guest_agent,
            'graceful_shutdown': self.graceful(),
            'kill_timeout': self.option('kill_timeout'),
        }
        config.update(media.config)
        config.update((key, supervision[key]) for key in ('supervisor', 'enabled', 'restart', 'logs', 'cpu_set', 'run_as', 'sandbox'))
        config['unit'] = None
        if supervision['supervisor'] == 'systemd':
            config['unit'] = task_unit_name(task_dir, default_state_dir())
            supervision['text'] = self._unit_text(task_dir, argv, config, supervision, media, block_files, accelerator)
        supervision['unit'] = config['unit']
        ports_info = dict((label, {'host': host_ports[label], 'guest': port_map.get(label), 'host_address': host_address})
                          for label in sorted(host_ports))
        steps = media.steps

        def prepare_task():
            runtime.make_subdirs(task_dir.path, refs)
            return prepare(steps, self.find_binary('qemu-img'), self.run_command)
        return Plan(argv, config, accelerator, ports_info, labels, wait_for, media=media, prepare=prepare_task, supervision=supervision)

    def _unit_text(self, task_dir, argv, config, supervision, media, block_files, accelerator):
        """The task's unit: what QEMU may write and open (the files it writes, block devices), around the command line."""
        boot_written = not media.config.get('overlay') and media.boot['media'] == 'disk'
        files = [(media.boot['file'], boot_written)] + [(drive['file'], not drive.get('readonly')) for drive in media.drives]
        files += [(path, True) for path in block_files]
        # An overlay's base, read through it.
        files.append(((media.config.get('base') or {}).get('path'), False))
        writable, devices, uses_tmp = set(), set(), False
        for path, written in files:
            if not path:
                continue
            real = os.path.realpath(path)
            uses_tmp = uses_tmp or any(real == top or real.startswith(top + os.sep) for top in PRIVATE_TMP_DIRS)
            if _is_block_device(real):
                devices.add((real, 'rw' if written else 'r'))
            elif written and not real.startswith(task_dir.path + os.sep):
                writable.add(real)
        uses_tmp = uses_tmp or any(task_dir.path.startswith(top + os.sep) for top in PRIVATE_TMP_DIRS)
        # A fixed interpreter: PATH differs between become methods and schedulers, the unit must not.
        python = STOP_PYTHON if os.path.exists(STOP_PYTHON) else sys.executable
        return render_unit(task_dir.name, task_dir.path, argv, stop_argv(python, config['kill_timeout'], config['graceful_shutdown']),
                           supervision['restart'], config['kill_timeout'], config['memory'], accelerator, cpus=config['cpus'],
                           cpu_set=supervision['cpu_set'], writable=sorted(writable), devices=sorted(devices), private_tmp=not uses_tmp,
                           confine=supervision['sandbox'] is not None)

    def _supervision(self):
        """The supervisor the task gets, and the options that go with it, checked against it."""
        supervisor = resolve_supervisor(self.option('supervisor'), self.find_binary, run_command=self.run_command)
        run_as = self.option('run_as')
        if run_as is not None:
            try:
                pwd.getpwnam(run_as) if not run_as.isdigit() else pwd.getpwuid(int(run_as))
            except KeyError:
                raise QemuTaskError("run_as %r: there is no such user on this host; create it, or give an existing user" % run_as,
                                    option='run_as') from None
        cpu_set = self.option('cpu_set')
        if cpu_set is not None:
            highest = max(int(part.split('-')[-1]) for part in cpu_set.split(','))
            if highest >= (os.cpu_count() or 1):
                raise QemuTaskError('cpu_set %s names CPU %d, but this host has CPUs 0-%d; use CPUs it has'
                                    % (cpu_set, highest, (os.cpu_count() or 1) - 1), option='cpu_set')
        enabled = bool(self.option('enabled'))
        if supervisor == 'none':
            why = ("the supervisor is none (%s)" % ('as requested' if self.option('supervisor') == 'none' else
                                                    'auto found no usable systemd'))
            if cpu_set is not None:
                raise QemuTaskError('cpu_set needs supervisor systemd (its unit confines QEMU to the CPUs), but %s; remove cpu_set '
                                    'or run the task under systemd' % why, option='cpu_set')
            if enabled:
                raise QemuTaskError('enabled: true needs supervisor systemd (its unit starts the VM at boot), but %s; remove enabled '
                                    'or run the task under systemd' % why, option='enabled')
        daemonize = supervisor == 'none'
        return {'supervisor': supervisor, 'daemonize': daemonize, 'run_as': run_as, 'cpu_set': cpu_set, 'enabled': enabled,
                'restart': self.option('restart'), 'logs': self.option('logs'), 'unit': None, 'text': None,
                'sandbox': sandbox_value(daemonize, run_as) if self.option('sandbox') else None}

    @staticmethod
    def _host_ports(task_dir, record, own_ports, port_map, ports, host_address, extra_labels):
        previous = record.host_ports if record is not None and not record.damaged else {}
        reserved = set()
        if any(label not in ports for label in set(port_map) | set(extra_labels)):
            # Only a dynamic port needs to know what the other tasks hold.
            for other in task_dir.other_records():
                reserved.update(other.host_ports.values())
        # Seeded by the task: check mode predicts the port a real run picks (if it is still free then).
        return allocate_ports(port_map, ports, previous=previous, reserved=reserved, own=own_ports,
                              host_address=host_address or None, rng=random.Random(task_dir.path), extra_labels=extra_labels)

    def _check_backing_files(self, image, image_paths, task_dir, trusted, image_format, option='image_path'):
        """A qcow2 (or vmdk...) image inside image_paths must not pull in files from outside through its backing chain.

        The names in the headers are checked first, in Python: qemu-img opens what they name
        (an nbd:// backing file makes it connect), so it only runs on chains already known local.
        """
        check_image_chain(header_chain(image), image_paths, task_dir.path, task_dir_allowed=trusted, option=option)
        qemu_img = self.find_binary('qemu-img')
        if not qemu_img:
            raise QemuTaskError('image_paths is in force, and checking the backing files of %s %s needs qemu-img, '
                                'which was not found on PATH; install it (Debian: qemu-utils)' % (option, image), option='image_paths')
        command = [qemu_img, 'info', '--output=json', '--backing-chain', '-U']
        if image_format:
            command += ['-f', image_format]
        rc, out, err = self.run_command(command + [image])
        try:
            chain = json.loads(out) if rc == 0 else None
        except ValueError:
            chain = None
        if chain is None:
            raise QemuTaskError('%s %s cannot be read by qemu-img (exit status %s): %s; check that it is a disk image'
                                % (option, image, rc, (err or out or '').strip()[:300]), option=option)
        check_image_chain(chain, image_paths, task_dir.path, task_dir_allowed=trusted, option=option)


def _is_block_device(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def _task_dir_trusted(task_dir):
    if os.path.realpath(task_dir.state_dir) != os.path.realpath(default_state_dir()):
        return False
    return not os.path.islink(task_dir.path)
