# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Every option of a task, declared once: type, default, choices, bounds and Nomad key.

The modules' argument specs, the reconciler's defaults and the job-file reader's
validation all come from OPTIONS. The prose lives in the modules' documentation; a unit
test (tests/unit/plugins/module_utils/_task/test_options.py) checks that the documented
type, default, choices and bounds are the ones declared here.
"""

from __future__ import annotations

import re

from ansible_collections.nomadic.qemu.plugins.module_utils._duration import format_duration, parse_duration
from ansible_collections.nomadic.qemu.plugins.module_utils._emulator import DEFAULT_EMULATOR, normalize_emulator
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._size import parse_size, whole_number
from ansible_collections.nomadic.qemu.plugins.module_utils._task.console import DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_FILES, check_logs
from ansible_collections.nomadic.qemu.plugins.module_utils._task.unit import DEFAULT_RESTART, RESTART_MODES, check_cpu_set, check_restart, check_run_as

STATES = ('running', 'stopped', 'restarted', 'present', 'absent')
ACCELERATORS = ('tcg', 'kvm', 'auto')
DRIVE_INTERFACES = ('ide', 'scsi', 'sd', 'mtd', 'floppy', 'pflash', 'virtio', 'none')
SHUTDOWN_METHODS = ('acpi', 'agent')
IMAGE_MEDIA = ('disk', 'cdrom')
DISK_FORMATS = ('qcow2', 'raw')
DISK_CACHE_MODES = ('none', 'writeback', 'writethrough', 'directsync', 'unsafe')
# A disk's name: its file (disk-<name>.<format>) and drive id (disk-<name>) in the task directory.
DISK_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$')
# What virtio-blk and IDE keep of a serial number: 20 bytes.
DISK_SERIAL_RE = re.compile(r'^[A-Za-z0-9_.-]{1,20}$')
# Nomad's bounds for resources.memory (MB).
MEMORY_BOUNDS = (128, 4000000)
# The longest a stop may wait for a guest before forcing it: every wait stays bounded.
MAX_KILL_TIMEOUT = 3600.0
DEFAULT_KILL_TIMEOUT = 5.0
# The longest wait_for may wait for a guest to become ready.
MAX_WAIT_TIMEOUT = 3600.0
# Who keeps the VM running: nobody between runs (none), a systemd unit (systemd), or systemd where it can (auto).
SUPERVISORS = ('none', 'systemd', 'auto')
IMAGE_STATES = ('present', 'absent', 'pruned')
IMAGE_DECOMPRESS = ('auto', 'none')
IMAGE_FORMATS = ('qcow2', 'raw')
# The longest qemu_image waits for a server to connect or send more data.
MAX_DOWNLOAD_TIMEOUT = 3600.0
# max_age may be as long as ten years (Go durations have no unit above h).
MAX_IMAGE_AGE = 87600 * 3600.0


class Option:
    """One option. ``default`` is the effective default; ``spec_default`` False keeps it out of the
    argument spec, for options whose absence means "what the task was started with"."""

    __slots__ = ('name', 'type', 'elements', 'default', 'spec_default', 'choices', 'bounds', 'unit', 'nomad', 'required',
                 'no_log', 'suboptions')

    def __init__(self, name, type, elements=None, default=None, spec_default=True, choices=None, bounds=None, unit='',
                 nomad=None, required=False, no_log=None, suboptions=None):
        self.name = name
        self.type = type
        self.elements = elements
        self.default = default
        self.spec_default = spec_default
        self.choices = choices
        self.bounds = bounds
        self.unit = unit
        self.nomad = nomad
        self.required = required
        self.no_log = no_log
        self.suboptions = suboptions

    def spec(self):
        """The AnsibleModule argument spec entry."""
        spec = {'type': self.type}
        if self.elements:
            spec['elements'] = self.elements
        if self.spec_default and self.default is not None:
            spec['default'] = _copy(self.default)
        if self.choices:
            spec['choices'] = list(self.choices)
        if self.required:
            spec['required'] = True
        if self.no_log is not None:
            spec['no_log'] = self.no_log
        if self.suboptions:
            spec['options'] = dict((name, option.spec()) for name, option in self.suboptions.items())
        return spec

    def check(self, value):
        """``value`` (None: the default) checked against the choices and bounds; raises QemuTaskError naming the option."""
        if value is None:
            value = _copy(self.default)
            if value is None:
                return None
        if self.choices and value not in self.choices:
            raise QemuTaskError("%s %r is not valid; use one of %s" % (self.name, value, ', '.join(self.choices)), option=self.name)
        checker = _CHECKS.get(self.name)
        return checker(self, value) if checker else value


def _copy(value):
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value


def _whole_number(option, value):
    number = whole_number(value)
    if number is None:
        raise QemuTaskError('%s %r is not a whole number; use one such as %d' % (option.name, value, option.default or option.bounds[0]),
                            option=option.name)
    return number


def _check_memory(option, value):
    value = _whole_number(option, value)
    low, high = option.bounds
    if not low <= value <= high:
        raise QemuTaskError("memory %s MB is out of bounds; use between %d and %d MB (Nomad's limits)" % (value, low, high), option='memory')
    return value


def _check_cpus(option, value):
    value = _whole_number(option, value)
    if value < option.bounds[0]:
        raise QemuTaskError('cpus %s is not a CPU count; use %d or more' % (value, option.bounds[0]), option='cpus')
    return value


def _check_duration(option, value):
    seconds = parse_duration(value, option=option.name)
    high = option.bounds[1]
    if seconds > high:
        limit = format_duration(high)
        raise QemuTaskError("%s %r is longer than the maximum of %s; use %s or less" % (option.name, value, limit, limit), option=option.name)
    return seconds


def _check_emulator(option, value):
    return normalize_emulator(value, option.name)


def check_label_map(value, name, example='{job: web}'):
    """Labels (or a selector of them, qemu_tasks' ``selector``): non-empty strings to strings; ``name`` is the option."""
    if not isinstance(value, dict):
        raise QemuTaskError('%s must be a mapping of strings to strings, such as %s' % (name, example), option=name)
    for key, item in value.items():
        if not isinstance(key, str) or not key or not isinstance(item, str):
            raise QemuTaskError('%s has %r: %r; labels map non-empty strings to strings, such as %s' % (name, key, item, example),
                                option=name)
    return dict(value)


def _check_labels(option, value):
    return check_label_map(value, 'labels')


def _check_disks(option, value):
    """The disks list, each entry normalized: size in bytes, defaults filled in, names unique."""
    if not isinstance(value, list):
        raise QemuTaskError('disks must be a list of disks, such as [{name: data, size: 10G}]', option='disks')
    disks = []
    seen = set()
    for index, entry in enumerate(value):
        where = 'disks[%d]' % index
        if not isinstance(entry, dict):
            raise QemuTaskError('%s is %r, not a disk; give a mapping such as {name: data, size: 10G}' % (where, entry), option='disks')
        unknown = sorted(set(entry) - set(option.suboptions))
        if unknown:
            raise QemuTaskError('%s has the unknown key(s) %s; a disk takes %s' % (where, ', '.join(unknown), ', '.join(option.suboptions)),
                                option='disks')
        disk = {}
        for key, sub in option.suboptions.items():
            item = entry.get(key)
            if item is None:
                item = _copy(sub.default)
            elif sub.choices and item not in sub.choices:
                raise QemuTaskError('%s.%s %r is not valid; use one of %s' % (where, key, item, ', '.join(sub.choices)), option='disks')
            disk[key] = item
        name = disk['name']
        if not isinstance(name, str) or not DISK_NAME_RE.fullmatch(name):
            raise QemuTaskError("%s.name %r is not a disk name; use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or "
                                "digit" % (where, name), option='disks')
        where = 'disks[%s]' % name
        if name in seen:
            raise QemuTaskError('%s is given twice; give each disk a name of its own' % where, option='disks')
        seen.add(name)
        if disk['file'] is not None:
            if disk['size'] is not None:
                raise QemuTaskError('%s has both file and size; a file disk is used as it is: remove size, or remove file to have '
                                    'the disk created in the task directory' % where, option='disks')
            if not isinstance(disk['file'], str) or not disk['file']:
                raise QemuTaskError('%s.file must be the path of an existing disk image' % where, option='disks')
            if entry.get('format') is None:
                disk['format'] = None  # a file's format is read from its header
        elif disk['size'] is None:
            raise QemuTaskError('%s has no size; give the size to create it with, such as 10G (or file, an existing image)' % where,
                                option='disks')
        else:
            disk['size'] = parse_size(disk['size'], '%s.size' % where)
        if disk['serial'] is not None and not (isinstance(disk['serial'], str) and DISK_SERIAL_RE.fullmatch(disk['serial'])):
            raise QemuTaskError("%s.serial %r is not valid; use 1 to 20 letters, digits, '.', '_' or '-'" % (where, disk['serial']),
                                option='disks')
        if disk['serial'] is not None and disk['interface'] not in ('virtio', 'ide'):
            raise QemuTaskError('%s.serial needs interface virtio or ide (QEMU sets serial numbers on those disks only); remove serial '
                                'or change the interface' % where, option='disks')
        for key in ('readonly', 'discard'):
            if not isinstance(disk[key], bool):
                raise QemuTaskError('%s.%s must be true or false' % (where, key), option='disks')
        disks.append(disk)
    return disks


_CHECKS = {
    'restart': lambda option, value: check_restart(value),
    'logs': lambda option, value: check_logs(value),
    'cpu_set': lambda option, value: check_cpu_set(value),
    'run_as': lambda option, value: check_run_as(value),
    'memory': _check_memory,
    'cpus': _check_cpus,
    'kill_timeout': _check_duration,
    'timeout': _check_duration,
    'max_age': _check_duration,
    'emulator': _check_emulator,
    'labels': _check_labels,
    'disks': _check_disks,
}


def _table(*options):
    return dict((option.name, option) for option in options)


# Options that name a task: every module acting on tasks has them.
TASK_NAME_OPTIONS = _table(
    Option('name', 'str', required=True),
    Option('state_dir', 'path'),
)

# The host policy a task may narrow (Nomad's plugin options), shared by the action group with state_dir.
POLICY_OPTIONS = _table(
    Option('image_paths', 'list', elements='path'),
    Option('args_allowlist', 'list', elements='str'),
    Option('emulators_allowlist', 'list', elements='str'),
)

# Options every module of the action group accepts, so that module_defaults for the group work for all of them.
GROUP_OPTIONS = dict(state_dir=TASK_NAME_OPTIONS['state_dir'], **POLICY_OPTIONS)

# wait_for's suboptions (see readiness.py).
WAIT_FOR_OPTIONS = _table(
    Option('console', 'str'),
    Option('port', 'str'),
    Option('agent', 'bool', default=False),
    Option('timeout', 'raw', default='5m', bounds=(0, MAX_WAIT_TIMEOUT)),
)

# A disk of the disks option.
DISK_OPTIONS = _table(
    Option('name', 'str', required=True),
    Option('size', 'raw'),
    Option('format', 'str', default='qcow2', spec_default=False, choices=DISK_FORMATS),
    Option('interface', 'str', default='virtio', choices=DRIVE_INTERFACES),
    Option('serial', 'str'),
    Option('readonly', 'bool', default=False),
    Option('cache', 'str', choices=DISK_CACHE_MODES),
    Option('discard', 'bool', default=False),
    Option('file', 'path'),
)

# The cloud_init option: a NoCloud seed (see cloud_init.py). user_data and vendor_data can hold secrets.
CLOUD_INIT_OPTIONS = _table(
    Option('user_data', 'raw', no_log=True),
    Option('meta_data', 'dict'),
    Option('network_config', 'raw'),
    Option('vendor_data', 'raw', no_log=True),
    Option('ssh_authorized_keys', 'list', elements='str', default=[], no_log=False),
)

# Nomad's restart block (see unit.py), applied by systemd when the task is supervised.
RESTART_OPTIONS = _table(
    Option('attempts', 'int', default=DEFAULT_RESTART['attempts']),
    Option('interval', 'raw', default=format_duration(DEFAULT_RESTART['interval'])),
    Option('delay', 'raw', default=format_duration(DEFAULT_RESTART['delay'])),
    Option('mode', 'str', default=DEFAULT_RESTART['mode'], choices=RESTART_MODES),
)

# Nomad's logs block (see console.py): max_file_size in MB as Nomad's, or a size with its unit.
LOGS_OPTIONS = _table(
    Option('max_files', 'int', default=DEFAULT_MAX_FILES),
    Option('max_file_size', 'raw', default=DEFAULT_MAX_FILE_SIZE // (1 << 20)),
)

# qemu_task's own options. ``nomad`` is where the qemu driver's job file sets the option.
TASK_OPTIONS = _table(
    Option('state', 'str', default='running', choices=STATES),
    Option('image_path', 'path', nomad='config.image_path'),
    Option('image_format', 'str'),
    Option('image_media', 'str', choices=IMAGE_MEDIA),
    Option('overlay', 'bool', default=False),
    Option('ephemeral', 'bool', default=False),
    Option('overlay_reset', 'bool', default=False),
    Option('disks', 'list', elements='dict', default=[], suboptions=DISK_OPTIONS),
    Option('cloud_init', 'dict', suboptions=CLOUD_INIT_OPTIONS),
    Option('accelerator', 'str', default='tcg', choices=ACCELERATORS, nomad='config.accelerator'),
    Option('graceful_shutdown', 'bool', default=False, spec_default=False, nomad='config.graceful_shutdown'),
    Option('guest_agent', 'bool', default=False, nomad='config.guest_agent'),
    Option('args', 'list', elements='str', default=[], nomad='config.args'),
    Option('port_map', 'dict', default={}, nomad='config.port_map'),
    Option('ports', 'dict', default={}, nomad='group.network.port'),
    Option('host_address', 'str', default=''),
    Option('emulator', 'str', default=DEFAULT_EMULATOR, nomad='config.emulator'),
    Option('machine_type', 'str', default='pc', nomad='config.machine_type'),
    Option('drive_interface', 'str', default='ide', choices=DRIVE_INTERFACES, nomad='config.drive_interface'),
    Option('memory', 'int', default=300, bounds=MEMORY_BOUNDS, unit='MB', nomad='resources.memory'),
    Option('cpus', 'int', bounds=(1, None), nomad='resources.cores'),
    Option('kill_timeout', 'raw', default=DEFAULT_KILL_TIMEOUT, spec_default=False, bounds=(0, MAX_KILL_TIMEOUT), nomad='kill_timeout'),
    Option('labels', 'dict', default={}),
    Option('wait_for', 'dict', suboptions=WAIT_FOR_OPTIONS),
    Option('supervisor', 'str', default='auto', choices=SUPERVISORS),
    Option('enabled', 'bool', default=False),
    Option('restart', 'dict', default={}, spec_default=False, suboptions=RESTART_OPTIONS, nomad='restart'),
    Option('logs', 'dict', default={}, spec_default=False, suboptions=LOGS_OPTIONS, nomad='logs'),
    Option('cpu_set', 'raw'),
    Option('run_as', 'str', nomad='user'),
    Option('sandbox', 'bool', default=True),
)

# A task needs an image to run.
TASK_REQUIRED_IF = [('state', 'running', ['image_path']), ('state', 'restarted', ['image_path'])]

# An item of qemu_tasks' tasks: a task of qemu_tasks' state_dir, with qemu_task's options.
TASK_ITEM_OPTIONS = dict(name=TASK_NAME_OPTIONS['name'], **TASK_OPTIONS)

# qemu_tasks' own options (with GROUP_OPTIONS); bounds and defaults of max_parallel are batch.py's.
BATCH_OPTIONS = _table(
    Option('tasks', 'list', elements='dict', required=True, suboptions=TASK_ITEM_OPTIONS),
    Option('max_parallel', 'int', default=8, bounds=(1, 256)),
    Option('fail_fast', 'bool', default=False),
    Option('prune', 'bool', default=False),
    Option('selector', 'dict', default={}),
)

# qemu_shutdown's own options.
SHUTDOWN_OPTIONS = _table(
    Option('monitor_socket', 'path'),
    Option('agent_socket', 'path'),
    Option('method', 'str', default='acpi', choices=SHUTDOWN_METHODS),
    TASK_OPTIONS['kill_timeout'],
)

# qemu_image's own options (with GROUP_OPTIONS). ``timeout`` is checked as a duration, as wait_for.timeout is.
IMAGE_OPTIONS = _table(
    Option('state', 'str', default='present', choices=IMAGE_STATES),
    Option('src', 'str'),
    Option('checksum', 'str'),
    Option('decompress', 'str', default='auto', choices=IMAGE_DECOMPRESS),
    Option('format', 'str', choices=IMAGE_FORMATS),
    Option('size', 'str'),
    Option('cache_dir', 'path'),
    Option('force', 'bool', default=False),
    Option('max_age', 'raw', bounds=(0, MAX_IMAGE_AGE)),
    Option('timeout', 'raw', default='1m', bounds=(0, MAX_DOWNLOAD_TIMEOUT)),
    Option('validate_certs', 'bool', default=True),
    Option('headers', 'dict', default={}),
    Option('url_username', 'str'),
    Option('url_password', 'str', no_log=True),
)

# The qemu driver's config keys (Nomad), and the qemu_task option each one sets.
NOMAD_CONFIG_KEYS = dict((option.nomad.split('.', 1)[1], option.name) for option in TASK_OPTIONS.values()
                         if option.nomad and option.nomad.startswith('config.'))


def argument_spec(*tables, **overrides):
    """An AnsibleModule argument spec from option tables; ``overrides`` change single entries (name={'required': False})."""
    spec = {}
    for table in tables:
        for name, option in table.items():
            spec[name] = option.spec()
    for name, changes in overrides.items():
        spec[name].update(changes)
    return spec


def stop_timeout(given, recorded=None):
    """How long a stop waits: the kill_timeout given for this run, else the task's recorded one, else the default."""
    if given is not None:
        return check_option('kill_timeout', given)
    return TASK_OPTIONS['kill_timeout'].default if recorded is None else recorded


def check_option(name, value):
    """One qemu_task option checked (None: its default); the job-file reader and the reconciler share this."""
    return TASK_OPTIONS[name].check(value)
