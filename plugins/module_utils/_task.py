# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Reconcile one QEMU task with its desired state: the logic behind the qemu_task module."""

from __future__ import annotations

import datetime
import json
import os
import random
import shutil

from ansible_collections.nomadic.qemu.plugins.module_utils._command import build_argv
from ansible_collections.nomadic.qemu.plugins.module_utils._duration import parse_duration
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._paths import check_args, check_image_chain, resolve_image
from ansible_collections.nomadic.qemu.plugins.module_utils._policy import (
    check_emulator,
    effective_policy,
    load_policy,
    normalize_emulator,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._ports import allocate_ports, validate_ports
from ansible_collections.nomadic.qemu.plugins.module_utils._process import (
    QemuProcess,
    read_pidfile,
    terminate,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._shutdown import shutdown
from ansible_collections.nomadic.qemu.plugins.module_utils._state import TaskDir, default_state_dir

# Waiting for another run on the same task: beyond its own stop time (kill_timeout).
LOCK_WAIT = 300


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace('+00:00', 'Z')


def _tail(path, limit=2000):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode('utf-8', 'replace').strip()
    except OSError:
        return ''


def _file_version(path):
    """What tells one version of a file from another (inode, size, modification time), or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class QemuTaskRunner:
    """Brings one task to the requested state.

    Needs only: the module's params dict, check_mode, a warn(msg) callable, a
    run_command(argv, cwd=...) -> (rc, stdout, stderr) callable and a find_binary(name)
    callable (AnsibleModule.run_command and get_bin_path fit); kvm_check and host_policy
    can be handed in by tests. Errors are raised as QemuTaskError.
    """

    def __init__(self, params, check_mode=False, warn=None, run_command=None, find_binary=None, kvm_check=None, host_policy=None):
        self.params = params
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)
        self.run_command = run_command
        self.find_binary = find_binary or shutil.which
        self.kvm_check = kvm_check
        self.host_policy = host_policy
        self.recovered = False
        self.actions = []
        self.shutdown_result = None

    # ---- inputs -------------------------------------------------------------------------
    def _param(self, key, default=None):
        value = self.params.get(key)
        return default if value is None else value

    def _task_dir(self):
        return TaskDir.from_params(self.params.get('state_dir'), self.params.get('name'))

    def _kvm_usable(self):
        if self.kvm_check is not None:
            return self.kvm_check()
        # Imported here: the fingerprint code is only needed when KVM is asked for.
        from ansible_collections.nomadic.qemu.plugins.module_utils._fingerprint import check_kvm  # pylint: disable=import-outside-toplevel
        return check_kvm()

    def _accelerator(self):
        requested = self._param('accelerator', 'tcg')
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

    def _policy(self):
        host = self.host_policy if self.host_policy is not None else load_policy()
        return effective_policy(host,
                                image_paths=self.params.get('image_paths'),
                                args_allowlist=self.params.get('args_allowlist'),
                                emulators_allowlist=self.params.get('emulators_allowlist'))

    def desired(self, task_dir, record, own_ports):
        """The effective configuration (argv and the options behind it) the task should run with."""
        policy = self._policy()
        emulator = normalize_emulator(self._param('emulator', 'x86_64'))
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
                                % self._param('state', 'running'), option='image_path')
        # The task directory counts as an allowed image directory (as Nomad's task directory
        # does) only under the default state_dir: state_dir and name are task options, so any
        # other state_dir would let a task name any host directory as its own.
        trusted = self._task_dir_trusted(task_dir)
        image_paths = policy.get('image_paths')
        image = resolve_image(image_path, task_dir.path, image_paths, task_dir_allowed=trusted)
        args = list(self._param('args', []))
        block_files = check_args(args, policy.get('args_allowlist'), image_paths, task_dir.path, task_dir_allowed=trusted)
        if image_paths is not None:
            self._check_backing_files(image, image_paths, task_dir, trusted, self.params.get('image_format'))
            for path in block_files:
                if os.path.isfile(path) and path != image:
                    self._check_backing_files(path, image_paths, task_dir, trusted, None)
        memory = self._param('memory', 300)
        if not 128 <= memory <= 4000000:
            raise QemuTaskError('memory %s MB is out of bounds; use between 128 and 4000000 MB (Nomad\'s limits)' % memory, option='memory')
        cpus = self.params.get('cpus')
        if cpus is not None and cpus < 1:
            raise QemuTaskError('cpus %s is not a CPU count; use 1 or more' % cpus, option='cpus')
        host_address = self._param('host_address', '')
        port_map, ports = validate_ports(self._param('port_map', {}), self._param('ports', {}), host_address)
        previous = {}
        if record and not record.get('damaged'):
            previous = {label: info['host'] for label, info in record.get('ports', {}).items()}
        reserved = set()
        for other in task_dir.other_records():
            for info in (other.get('ports') or {}).values():
                if isinstance(info, dict) and isinstance(info.get('host'), int):
                    reserved.add(info['host'])
        # Seeded by the task: check mode predicts the port a real run picks (if it is still free then).
        host_ports = allocate_ports(port_map, ports, previous=previous, reserved=reserved, own=own_ports,
                                    host_address=host_address or None, rng=random.Random(task_dir.path))
        forwards = [
            {'label': label, 'host_address': host_address, 'host_port': host_ports[label], 'guest_port': port_map[label]}
            for label in sorted(port_map)
        ]
        accelerator = self._accelerator()
        guest_agent = bool(self._param('guest_agent', False))
        argv = build_argv(binary, task_dir.name, image,
                          machine_type=self._param('machine_type', 'pc'), accelerator=accelerator,
                          memory=memory, cpus=cpus, drive_interface=self._param('drive_interface', 'ide'),
                          guest_agent=guest_agent, args=args, forwards=forwards, task_dir=task_dir.path,
                          image_format=self.params.get('image_format'))
        kill_timeout = parse_duration(self._param('kill_timeout', '5s'), option='kill_timeout')
        config = {
            'emulator': emulator,
            'binary': binary,
            'image_path': image_path,
            'image': image,
            'image_format': self.params.get('image_format'),
            'accelerator': self._param('accelerator', 'tcg'),
            'machine_type': self._param('machine_type', 'pc'),
            'drive_interface': self._param('drive_interface', 'ide'),
            'memory': memory,
            'cpus': cpus,
            'args': args,
            'port_map': port_map,
            'ports': {label: host_ports[label] for label in sorted(port_map)},
            'host_address': host_address,
            'guest_agent': guest_agent,
            'graceful_shutdown': bool(self._param('graceful_shutdown', False)),
            'kill_timeout': kill_timeout,
        }
        return {
            'argv': argv,
            'config': config,
            'accelerator': accelerator,
            'ports': {label: {'host': host_ports[label], 'guest': port_map[label], 'host_address': host_address}
                      for label in sorted(port_map)},
        }

    @staticmethod
    def _task_dir_trusted(task_dir):
        if os.path.realpath(task_dir.state_dir) != os.path.realpath(default_state_dir()):
            return False
        return not os.path.islink(task_dir.path)

    def _check_backing_files(self, image, image_paths, task_dir, trusted, image_format):
        """A qcow2 (or vmdk...) image inside image_paths must not pull in files from outside through its backing chain."""
        qemu_img = self.find_binary('qemu-img')
        if not qemu_img:
            raise QemuTaskError('image_paths is in force, and checking the backing files of image_path %s needs qemu-img, '
                                'which was not found on PATH; install it (Debian: qemu-utils)' % image, option='image_paths')
        command = [qemu_img, 'info', '--output=json', '--backing-chain', '-U']
        if image_format:
            command += ['-f', image_format]
        rc, out, err = self.run_command(command + [image])
        try:
            chain = json.loads(out) if rc == 0 else None
        except ValueError:
            chain = None
        if chain is None:
            raise QemuTaskError('image_path %s cannot be read by qemu-img (exit status %s): %s; check that it is a disk image'
                                % (image, rc, (err or out or '').strip()[:300]), option='image_path')
        check_image_chain(chain, image_paths, task_dir.path, task_dir_allowed=trusted)

    # ---- observed state -----------------------------------------------------------------
    @staticmethod
    def running_process(record):
        """Our live QEMU for this record, or None (never a process that merely reuses its pid)."""
        if not record or record.get('damaged') or not record.get('pid'):
            return None
        process = QemuProcess(record['pid'], record.get('start_time'))
        if process.matches(record.get('argv') or []):
            return process
        return None

    # ---- actions ------------------------------------------------------------------------
    def start(self, task_dir, want, was_new):
        task_dir.ensure()
        task_dir.remove_runtime_files()
        argv = want['argv']
        # The console log may still hold what an earlier VM printed: quote it on failure only if this QEMU wrote it.
        console_before = _file_version(task_dir.console_log)
        # -daemonize: the command returns once QEMU is initialised (its ports bound, the
        # pidfile written), with its standard streams already detached.
        try:
            rc, out, err = self.run_command(argv, cwd=task_dir.path)
        except OSError as exc:
            self._cleanup_failed_start(task_dir, was_new)
            raise QemuTaskError('%s could not be run: %s; check the emulator option and the QEMU installation'
                                % (argv[0], exc.strerror), option='emulator')
        message = '\n'.join(part.strip() for part in (err, out) if part and part.strip())
        pid = read_pidfile(task_dir.pidfile)
        process = QemuProcess.observe(pid) if pid else None
        if rc != 0 or process is None or not process.matches(argv):
            if process is not None:
                terminate(process, 1.0)
            # The console is read before the clean-up, which removes the console log of a new task.
            console = ''
            if _file_version(task_dir.console_log) != console_before:
                console = _tail(task_dir.console_log, 600)
            self._cleanup_failed_start(task_dir, was_new)
            if rc != 0:
                why = 'failed to start (exit status %d)' % rc
            else:
                why = 'exited right after starting'
            if '"write" lock' in message:
                message += ('; another process (another task?) has this image open: give each VM its own copy of the image, '
                            'or add -snapshot to the args of every VM that uses it, so that none writes it')
            raise QemuTaskError('%s %s: %s%s' % (
                os.path.basename(argv[0]), why, message or '(no output)',
                ('; guest console: %s' % console) if console else ''))
        if message:
            self.warn('QEMU said on start: %s' % message)
        return process

    @staticmethod
    def _cleanup_failed_start(task_dir, was_new):
        task_dir.remove_runtime_files()
        if was_new:
            task_dir.remove(keep_user_files=True)

    def stop(self, process, record, task_dir):
        """Stop our QEMU: gracefully with graceful_shutdown (ACPI, then force), else by signal. Returns how it ended."""
        config = (record or {}).get('config') or {}
        # How to stop: what the task was started with, unless this run says otherwise.
        kill_timeout = config.get('kill_timeout', 5.0)
        if self.params.get('kill_timeout') is not None:
            kill_timeout = parse_duration(self.params['kill_timeout'], option='kill_timeout')
        graceful = config.get('graceful_shutdown', False)
        if self.params.get('graceful_shutdown') is not None:
            graceful = self.params['graceful_shutdown']
        if graceful:
            result = shutdown(process, task_dir.monitor_socket, kill_timeout, method='acpi')
        else:
            forced = terminate(process, kill_timeout)
            result = {'graceful': False, 'method': forced['method'], 'seconds': round(forced['seconds'], 3),
                      'exit_status': None, 'reason': None, 'notes': [], 'ended': forced['ended']}
        if not result['ended']:
            raise QemuTaskError("task '%s': QEMU (pid %s) did not end even after SIGKILL; check the host (a process in "
                                "uninterruptible sleep cannot be killed)" % (task_dir.name, process.pid))
        result = dict(result)
        result.pop('ended', None)
        self.shutdown_result = result
        return result

    # ---- reconcile ----------------------------------------------------------------------
    def run(self):
        state = self._param('state', 'running')
        task_dir = self._task_dir()
        if self.check_mode or (state in ('absent', 'stopped') and not task_dir.exists()):
            return self._reconcile(state, task_dir)
        lock_wait = LOCK_WAIT
        try:
            lock_wait += parse_duration(self._param('kill_timeout', '5s'), option='kill_timeout')
        except QemuTaskError:
            pass  # reported with the rest of the configuration
        lock = task_dir.lock(lock_wait)
        lock.acquire()
        try:
            return self._reconcile(state, task_dir)
        finally:
            # No task left (removed, never there, or a new task that could not start): no lock file left either.
            lock.release(remove=state == 'absent' or not task_dir.exists())

    def _reconcile(self, state, task_dir):
        record = task_dir.read_record()
        if record and record.get('damaged'):
            self.warn('the state record %s is damaged; treating the task as not running' % task_dir.record_path)
        process = self.running_process(record)
        crashed = bool(record and not record.get('damaged') and record.get('state') == 'running' and process is None)
        before = self._view(record, process)
        if state == 'absent':
            return self._absent(task_dir, record, process, before)
        if state == 'stopped':
            return self._stopped(task_dir, record, process, before, crashed)
        return self._running(task_dir, record, process, before, crashed, restart=(state == 'restarted'))

    @staticmethod
    def _view(record, process):
        if not record or record.get('damaged'):
            return {'state': 'absent'}
        return {
            'state': 'running' if process else 'stopped',
            'argv': record.get('argv'),
            'config': record.get('config'),
        }

    def _result(self, changed, task, before, after):
        result = {'changed': changed, 'task': task, 'diff': {'before': before, 'after': after},
                  'recovered': self.recovered, 'actions': self.actions}
        if self.shutdown_result is not None:
            result['shutdown'] = self.shutdown_result
        return result

    def _task_info(self, task_dir, record, process):
        if not record or record.get('damaged'):
            return {'name': task_dir.name, 'state': 'absent', 'task_dir': task_dir.path}
        config = record.get('config') or {}
        return {
            'name': task_dir.name,
            'state': 'running' if process else 'stopped',
            'pid': process.pid if process else None,
            'argv': record.get('argv'),
            'accelerator': record.get('accelerator'),
            'image': config.get('image'),
            'ports': record.get('ports', {}),
            'monitor_socket': task_dir.monitor_socket,
            'agent_socket': task_dir.agent_socket if config.get('guest_agent') else None,
            'console_log': task_dir.console_log,
            'started_at': record.get('started_at') if process else None,
            'task_dir': task_dir.path,
            'config': config,
        }

    def _running(self, task_dir, record, process, before, crashed, restart):
        own = set()
        if process:
            own = {info['host'] for info in (record.get('ports') or {}).values()}
        want = self.desired(task_dir, record, own)
        same_argv = process is not None and record.get('argv') == want['argv']
        same_config = same_argv and record.get('config') == want['config']
        after = {'state': 'running', 'argv': want['argv'], 'config': want['config']}
        if same_config and not restart:
            return self._result(False, self._task_info(task_dir, record, process), before, after)
        new_record = {
            'name': task_dir.name,
            'state': 'running',
            'argv': want['argv'],
            'config': want['config'],
            'accelerator': want['accelerator'],
            'ports': want['ports'],
            'created_dir': bool(record and not record.get('damaged') and record.get('created_dir')),
        }
        if same_argv and not restart:
            # Only how the VM is to be stopped changed: no restart needed.
            new_record.update(pid=record['pid'], start_time=record.get('start_time'), started_at=record.get('started_at'))
            self.actions.append('updated')
            if not self.check_mode:
                task_dir.write_record(new_record)
            return self._result(True, self._task_info(task_dir, new_record, process), before, after)
        if crashed:
            self.recovered = True
            self.warn("task '%s': its QEMU process (pid %s) was no longer running; starting it again. Last console output: %s"
                      % (task_dir.name, record.get('pid'), _tail(task_dir.console_log, 300) or '(none)'))
        if self.check_mode:
            if process:
                self.actions.append('stopped')
            self.actions.append('started')
            task = self._task_info(task_dir, new_record, None)
            task['state'] = 'running'
            return self._result(True, task, before, after)
        if process:
            self.stop(process, record, task_dir)
            self.actions.append('stopped')
            # Say so now: if the start below fails, the record must not claim a running VM.
            record = task_dir.mark_stopped(record)
        # Whether the collection made the task directory: only then may state=absent remove it whole.
        new_record['created_dir'] = bool(record and not record.get('damaged') and record.get('created_dir')) or not task_dir.exists()
        task_dir.ensure()
        try:
            if want['ports']:
                # Pick and check the ports again under the state directory's port lock, now that
                # the old VM (if any) released its own, so two tasks never race for one port.
                with task_dir.ports_lock(LOCK_WAIT):
                    want = self.desired(task_dir, record, set())
                    new = self._start_and_record(task_dir, want, record, new_record)
            else:
                new = self._start_and_record(task_dir, want, record, new_record)
        except QemuTaskError:
            if not record:
                # A new task that could not start leaves nothing behind (start() cleans up its own failures).
                task_dir.remove(keep_user_files=True)
            raise
        self.actions.append('started')
        after = {'state': 'running', 'argv': want['argv'], 'config': want['config']}
        return self._result(True, self._task_info(task_dir, new_record, new), before, after)

    def _start_and_record(self, task_dir, want, record, new_record):
        new = self.start(task_dir, want, was_new=not record)
        new_record.update(argv=want['argv'], config=want['config'], ports=want['ports'],
                          pid=new.pid, start_time=new.start_time, started_at=_now())
        task_dir.write_record(new_record)
        return new

    def _stopped(self, task_dir, record, process, before, crashed):
        if not record or record.get('damaged'):
            return self._result(False, self._task_info(task_dir, None, None), before, before)
        after = dict(before, state='stopped')
        if process is None:
            if record.get('state') != 'stopped':
                # It died on its own: record what is true, nothing to do for the user.
                if crashed:
                    self.warn("task '%s': its QEMU process (pid %s) had already ended" % (task_dir.name, record.get('pid')))
                if not self.check_mode:
                    task_dir.mark_stopped(record)
            return self._result(False, self._task_info(task_dir, record, None), before, after)
        self.actions.append('stopped')
        if not self.check_mode:
            self.stop(process, record, task_dir)
            record = task_dir.mark_stopped(record)
        return self._result(True, self._task_info(task_dir, record, None), before, after)

    def _absent(self, task_dir, record, process, before):
        after = {'state': 'absent'}
        if not task_dir.exists():
            return self._result(False, self._task_info(task_dir, None, None), before, after)
        is_task = bool(record) and not record.get('damaged')
        if not is_task and not task_dir.own_leftovers():
            # A directory that is not a task's (no record, nothing of ours in it) is never touched.
            self.warn('%s exists but holds no task; left alone' % task_dir.path)
            return self._result(False, self._task_info(task_dir, None, None), before, after)
        if process:
            self.actions.append('stopped')
        self.actions.append('removed')
        if not self.check_mode:
            if process:
                self.stop(process, record, task_dir)
            # A directory the collection created goes whole; one that was there before (say, with
            # images downloaded into it) keeps what is not the collection's.
            task_dir.remove(keep_user_files=not (is_task and record.get('created_dir')))
            if task_dir.exists():
                self.warn('%s holds files that are not the collection\'s (it existed before the task); they were left there'
                          % task_dir.path)
        return self._result(True, {'name': task_dir.name, 'state': 'absent', 'task_dir': task_dir.path}, before, after)
