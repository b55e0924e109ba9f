# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The QEMU command line of a task, and how QEMU reads one. Pure functions: no I/O."""

from __future__ import annotations

import os
import re

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._ports import PORT_RANGE, check_port, normalize_host_address
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import DRIVE_INTERFACES, TASK_OPTIONS

# File names inside the task directory. QEMU is started with the task directory as its
# working directory and the sockets are given relative to it: a unix socket path is limited
# to 108 bytes, a relative one stays short however deep the task directory is.
MONITOR_SOCKET = 'qmp.sock'
AGENT_SOCKET = 'qga.sock'
PIDFILE = 'qemu.pid'
CONSOLE_LOG = 'console.log'
# The per-task copy-on-write overlay over a base image (overlay, ephemeral).
OVERLAY_FILE = 'overlay.qcow2'
# The cloud-init NoCloud seed (cloud_init), attached as a CD-ROM.
SEED_FILE = 'seed.iso'
SEED_DRIVE_ID = 'cidata'
DISK_FILE_PREFIX = 'disk-'

DRIVE_ID = 'image0'
CONSOLE_CHARDEV_ID = 'console0'
AGENT_CHARDEV_ID = 'qga0'
NETDEV_ID = 'user.0'
# QEMU names the character device behind the first -qmp option compat_monitor0.
MONITOR_CHARDEV_ID = 'compat_monitor0'

# The accelerators a command line can name (qemu_task's auto is resolved to one of them first).
ACCELERATORS = ('tcg', 'kvm')

# QEMU 7.2's option table (read from its qemu_options[]): the options that take no value.
NO_VALUE_OPTIONS = frozenset((
    '-h', '-help', '-version', '-mem-prealloc', '-audio-help', '-snapshot', '-usb', '-nographic', '-portrait',
    '-full-screen', '-win2k-hack', '-no-fd-bootchk', '-no-acpi', '-no-hpet', '-singlestep', '-preconfig', '-S',
    '-s', '-enable-kvm', '-xen-attach', '-xen-domid-restrict', '-no-reboot', '-no-shutdown', '-daemonize',
    '-only-migratable', '-nodefaults', '-semihosting', '-old-param', '-no-user-config', '-async-teardown',
    '-enable-sync-profile',
))
# ... and the options that take one (the next word, whatever it looks like).
VALUE_OPTIONS = frozenset((
    '-machine', '-M', '-cpu', '-accel', '-smp', '-numa', '-add-fd', '-set', '-global', '-boot', '-m', '-mem-path',
    '-k', '-audio', '-audiodev', '-device', '-name', '-uuid', '-fda', '-fdb', '-hda', '-hdb', '-hdc', '-hdd',
    '-cdrom', '-blockdev', '-drive', '-mtdblock', '-sd', '-fsdev', '-virtfs', '-iscsi', '-usbdevice', '-display',
    '-spice', '-rotate', '-vga', '-g', '-vnc', '-acpitable', '-smbios', '-netdev', '-nic', '-net', '-chardev',
    '-tpmdev', '-bios', '-pflash', '-kernel', '-append', '-initrd', '-dtb', '-compat', '-fw_cfg', '-serial',
    '-parallel', '-monitor', '-qmp', '-qmp-pretty', '-mon', '-debugcon', '-pidfile', '-overcommit', '-gdb', '-d',
    '-D', '-dfilter', '-seed', '-L', '-xen-domid', '-action', '-loadvm', '-option-rom', '-rtc', '-icount',
    '-watchdog-action', '-echr', '-incoming', '-chroot', '-runas', '-prom-env', '-semihosting-config', '-sandbox',
    '-readconfig', '-trace', '-plugin', '-qtest', '-qtest-log', '-msg', '-dump-vmstate', '-object',
))
KNOWN_OPTIONS = NO_VALUE_OPTIONS | VALUE_OPTIONS

# Options args may not contain, whatever the policy: they would take the process out of the
# collection's hands or keep it from starting. Everything else (-serial, -monitor, -display,
# -runas, -chroot, -incoming, -no-shutdown, ...) is the user's business.
_MANAGED = "which the collection passes itself (%s); remove it from args"
_EXITS = "which makes QEMU print something and exit instead of running the VM; remove it from args"
REFUSED_OPTIONS = {
    '-daemonize': _MANAGED % 'it always starts QEMU in the background',
    '-pidfile': _MANAGED % ('its pidfile is %s in the task directory' % PIDFILE),
    '-qmp': _MANAGED % ('its QMP socket is %s in the task directory' % MONITOR_SOCKET),
    '-qmp-pretty': _MANAGED % ('its QMP socket is %s in the task directory' % MONITOR_SOCKET),
    '-nographic': ('which QEMU cannot combine with -daemonize; remove it from args (the VM runs without a display'
                   ' and its serial console is written to %s in the task directory)' % CONSOLE_LOG),
    '-h': _EXITS,
    '-help': _EXITS,
    '-version': _EXITS,
    '-audio-help': _EXITS,
    '-dump-vmstate': _EXITS,
}
# -set GROUP.ID.KEY=VALUE targets that belong to the collection.
_MANAGED_SET_TARGETS = {
    ('drive', DRIVE_ID): ('the image drive', ' (set image_path instead)'),
    ('drive', SEED_DRIVE_ID): ('the cloud-init seed', ' (set cloud_init instead)'),
    ('chardev', MONITOR_CHARDEV_ID): ('the QMP socket', ''),
    ('chardev', CONSOLE_CHARDEV_ID): ('the console log', ''),
    ('chardev', AGENT_CHARDEV_ID): ('the guest agent socket', ''),
}


# QEMU's seccomp filter (-sandbox), measured on QEMU 7.2: a QEMU that forks itself away (-daemonize)
# exits 1 under elevateprivileges=deny and is killed by SIGSYS under spawn=deny; in the foreground (under
# systemd) all four deny sets work, except that -runas needs setuid (elevateprivileges).
SANDBOX_DAEMONIZED = 'on,obsolete=deny,resourcecontrol=deny'
SANDBOX_FOREGROUND = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny'
SANDBOX_FOREGROUND_RUN_AS = 'on,obsolete=deny,spawn=deny,resourcecontrol=deny'


def sandbox_value(daemonize, run_as=None):
    """The strictest -sandbox value QEMU runs with when it is (or is not) started with -daemonize, with or without -runas."""
    if daemonize:
        return SANDBOX_DAEMONIZED
    return SANDBOX_FOREGROUND_RUN_AS if run_as else SANDBOX_FOREGROUND


def disk_file(name, fmt):
    """The file name of a disk the collection creates in the task directory."""
    return '%s%s.%s' % (DISK_FILE_PREFIX, name, fmt)


_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
_FORMAT_RE = re.compile(r'^[a-z0-9][a-z0-9_-]*$')


def normalize_option(word):
    """The canonical spelling of an option word (``--drive`` -> ``-drive``), or None if ``word`` is no option.

    QEMU drops one extra leading dash, so ``--drive`` is ``-drive``; ``---drive`` is not.
    """
    if not isinstance(word, str) or not word.startswith('-'):
        return None
    if word.startswith('--'):
        return word[1:]
    return word


def split_args(args):
    """Read ``args`` the way QEMU 7.2 reads its command line.

    Returns a list of ``(option, value, index)``: ``option`` is the canonical option
    (``-drive``), ``value`` its value or None, ``index`` the position of the option word in
    ``args``. A word that is neither an option nor an option's value is a disk image for
    QEMU (like ``-hda``); it comes back as ``(None, word, index)``.

    An option that takes a value takes the next word, even one starting with ``-``, as QEMU
    does. Options QEMU 7.2 does not know are assumed to take a value, as most do. args may not
    end with an option that takes (or may take) a value: QEMU would read the collection's next
    word as that value.
    """
    result = []
    index = 0
    while index < len(args):
        word = args[index]
        option = normalize_option(word)
        if option is None:
            result.append((None, word, index))
            index += 1
        elif option in NO_VALUE_OPTIONS:
            result.append((option, None, index))
            index += 1
        elif index + 1 < len(args):
            result.append((option, args[index + 1], index))
            index += 2
        elif option in VALUE_OPTIONS:
            raise QemuTaskError("args ends with '%s', which takes a value; add its value after it in args" % word, option='args')
        else:
            raise QemuTaskError(
                "args contains '%s', an option QEMU 7.2 does not know; check its spelling (qemu-system-x86_64 -help lists"
                " the options), or remove it from args" % word, option='args')
    return result


def _strcspn(text, start, chars):
    end = start
    while end < len(text) and text[end] not in chars:
        end += 1
    return end


def _opt_value(text, start):
    """QEMU's get_opt_value(): read up to a single comma; ``,,`` is an escaped comma."""
    parts = []
    pos = start
    while True:
        comma = text.find(',', pos)
        if comma < 0:
            parts.append(text[pos:])
            return ''.join(parts), len(text)
        if text[comma + 1:comma + 2] == ',':
            parts.append(text[pos:comma + 1])
            pos = comma + 2
            continue
        parts.append(text[pos:comma])
        return ''.join(parts), comma


def parse_opts(text, implied=None):
    """Split a ``key=value,...`` option value as QEMU's QemuOpts parser does; returns ``[(key, value), ...]``.

    ``,,`` stands for a comma inside a value. A bare word is a flag (``foo`` -> ``('foo',
    'on')``, ``nofoo`` -> ``('foo', 'off')``), except the first one when the option has an
    implied key (``-netdev user`` -> ``('type', 'user')`` with ``implied='type'``). A flag
    ends at the first comma without unescaping, exactly like QEMU, so ``x,,file=/y`` is
    the flags ``x`` and ``''`` followed by ``file=/y``. QEMU's stricter keyval parser (-blockdev,
    -object, ...) reads every string it accepts the same way, except that an implied value ends
    at the first comma: this function then returns a longer implied value instead of an error.
    """
    pairs = []
    pos = 0
    first = True
    while pos < len(text):
        end = _strcspn(text, pos, '=,')
        if end >= len(text) or text[end] != '=':
            if first and implied:
                value, pos = _opt_value(text, pos)
                pairs.append((implied, value))
            else:
                name = text[pos:end]
                pos = end
                if name.startswith('no'):
                    pairs.append((name[2:], 'off'))
                else:
                    pairs.append((name, 'on'))
        else:
            name = text[pos:end]
            value, pos = _opt_value(text, end + 1)
            pairs.append((name, value))
        first = False
        if pos < len(text) and text[pos] == ',':
            pos += 1
    return pairs


def split_opt_values(text):
    """Split ``text`` at single commas, ``,,`` standing for a comma (QEMU's get_opt_value() in a loop, as for -initrd lists)."""
    values = []
    pos = 0
    while True:
        value, pos = _opt_value(text, pos)
        values.append(value)
        if pos >= len(text):
            return values
        pos += 1


def escape_opt_value(value):
    """Escape a value for a QEMU ``key=value,...`` option: commas are doubled."""
    return value.replace(',', ',,')


def _check_set(value):
    """Refuse ``-set`` on the objects the collection manages."""
    target = value.split('=', 1)[0].split('.')
    if len(target) >= 3 and target[0] == 'drive' and target[1].startswith(DISK_FILE_PREFIX):
        raise QemuTaskError("args contains '-set %s', which changes the disk %s that the collection manages; remove it from args"
                            " (set the disk's options in disks instead)" % (value, target[1][len(DISK_FILE_PREFIX):]), option='args')
    if len(target) >= 3 and (target[0], target[1]) in _MANAGED_SET_TARGETS:
        what, hint = _MANAGED_SET_TARGETS[(target[0], target[1])]
        raise QemuTaskError("args contains '-set %s', which changes %s that the collection manages; remove it from args%s"
                            % (value, what, hint), option='args')


def check_arg_types(args):
    """args must be None or a list of strings; returns it as a list."""
    if args is None:
        return []
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise QemuTaskError('args must be a list of strings, such as ["-nodefaults"]', option='args')
    for element in args:
        if not isinstance(element, str):
            raise QemuTaskError('args contains %r (%s), which is not a string; quote it in args' % (element, type(element).__name__),
                                option='args')
    return list(args)


def check_args_structure(args):
    """Check what args must satisfy whatever the policy; returns split_args(args).

    Every element must be a string; the options of REFUSED_OPTIONS are refused (the
    collection passes -daemonize, -pidfile and -qmp itself, -nographic cannot be combined with
    -daemonize, -h/-version/... make QEMU exit); ``-set`` may not change the image drive or
    the collection's sockets; args may not end with an option that takes a value.
    """
    args = check_arg_types(args)
    parsed = split_args(args)
    for option, value, index in parsed:
        if option in REFUSED_OPTIONS:
            raise QemuTaskError("args contains '%s', %s" % (args[index], REFUSED_OPTIONS[option]), option='args')
        if option == '-set':
            _check_set(value)
    return parsed


def _block_filename(path):
    """A local path as a block-layer file name: keep a relative ``a:b`` from being read as protocol ``a``."""
    head = path[:_strcspn(path, 0, ':/')]
    if not os.path.isabs(path) and len(head) < len(path) and path[len(head)] == ':':
        return './' + path
    return path


def _check_word(value, option, pattern, example):
    if not isinstance(value, str) or not pattern.match(value):
        raise QemuTaskError("%s %r is not valid; use a name such as %s" % (option, value, example), option=option)


def _check_count(value, option, example):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise QemuTaskError('%s %r is not valid; use a whole number of 1 or more, such as %s' % (option, value, example), option=option)


def _hostfwd(forward):
    if not isinstance(forward, dict):
        raise QemuTaskError('forwards must be mappings with label, host_address, host_port and guest_port, not %r' % (forward,),
                            option='port_map')
    label = forward.get('label')
    for key in ('host_port', 'guest_port'):
        port = forward.get(key)
        what = "forward '%s' has %s" % (label, key.replace('_', ' '))
        if not isinstance(port, int):
            # Already-resolved ports only: a string here is a caller's mistake, reported the same way.
            raise QemuTaskError('%s %r; use a port between %d and %d' % ((what, port) + PORT_RANGE), option='port_map')
        check_port(port, what, option='port_map')
    address = normalize_host_address(forward.get('host_address'))
    spec = '%s:%d-:%d' % (address, forward['host_port'], forward['guest_port'])
    return ',hostfwd=udp:%s,hostfwd=tcp:%s' % (spec, spec)


# QEMU 7.2 sets a serial number on the device, not the drive: the device of each interface that has one.
SERIAL_DEVICES = {'virtio': 'virtio-blk-pci', 'ide': 'ide-hd'}


def _disk_args(disk):
    """The -drive (and, for a serial number, -device) options of a data disk."""
    serial = disk.get('serial')
    interface = 'none' if serial else disk['interface']
    spec = 'file=%s,if=%s,id=%s,format=%s' % (escape_opt_value(_block_filename(disk['file'])), interface, disk['id'], disk['format'])
    if disk.get('readonly'):
        spec += ',readonly=on'
    if disk.get('cache'):
        spec += ',cache=%s' % disk['cache']
    if disk.get('discard'):
        spec += ',discard=unmap'
    if disk.get('media') == 'cdrom':
        spec += ',media=cdrom'
    if not serial:
        return ['-drive', spec]
    if disk['interface'] not in SERIAL_DEVICES:
        raise QemuTaskError('disk %s has a serial number, which QEMU sets only on %s disks; remove serial or change the interface'
                            % (disk['id'], ' and '.join(sorted(SERIAL_DEVICES))), option='disks')
    return ['-drive', spec, '-device', '%s,drive=%s,serial=%s' % (SERIAL_DEVICES[disk['interface']], disk['id'], serial)]


def build_argv(binary, name, image, machine_type=TASK_OPTIONS['machine_type'].default, accelerator=TASK_OPTIONS['accelerator'].default,
               memory=TASK_OPTIONS['memory'].default, cpus=None, drive_interface=TASK_OPTIONS['drive_interface'].default,
               guest_agent=False, args=(), forwards=(), task_dir=None, image_format=None, image_media='disk', drives=(),
               daemonize=True, sandbox=None, run_as=None):
    """The QEMU command line for a task, in Nomad's order, adapted to a VM that runs detached.

    ::

        <binary> -machine type=<machine_type>,accel=<accelerator> -name <name> -m <memory>M [-smp <cpus>]
          -drive file=<image>,if=<drive_interface>,id=image0[,format=<image_format>][,media=cdrom]
          [-drive file=<file>,if=<interface>,id=disk-<name>,format=<format>[,readonly=on][,cache=..][,discard=unmap]]...
            (with a serial number: if=none, and -device virtio-blk-pci|ide-hd,drive=disk-<name>,serial=<serial>)
          -display none -chardev file,id=console0,path=<task_dir>/console.log,append=on -serial chardev:console0
          -monitor none -qmp unix:qmp.sock,server=on,wait=off
          [-chardev socket,path=qga.sock,server=on,wait=off,id=qga0
           -device virtio-serial -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0]   # guest_agent
          <args...>
          [-netdev user,id=user.0,hostfwd=udp:<addr>:<H>-:<G>,hostfwd=tcp:<addr>:<H>-:<G>,...
           -device virtio-net,netdev=user.0]                                                         # forwards
          [-enable-kvm]                                                                              # accelerator kvm
          [-sandbox <sandbox>] [-runas <run_as>] [-daemonize] -pidfile <task_dir>/qemu.pid

    QEMU must be started with the task directory as its working directory: the sockets are
    relative to it (so a long task directory never hits the 108-byte unix socket limit),
    and so is everything relative in args. The pidfile and console log are absolute when
    ``task_dir`` is given.

    ``accelerator`` is already resolved (``tcg`` or ``kvm``). ``cpus`` always becomes
    ``-smp`` (Nomad only does so with kvm); giving both ``cpus`` and ``-smp`` in args is an
    error. ``forwards`` is a sequence of ``{label, host_address, host_port, guest_port}``
    (host_address '' or None: all IPv4 addresses), written sorted by label; each label forwards
    udp and tcp like Nomad.

    ``image_format`` None leaves format detection to QEMU, like Nomad: Ubuntu and Debian cloud
    images are qcow2 files named ``.img``, so a suffix says nothing. QEMU 7.2 runs a raw
    image without ``format=`` but warns ("probing guessed raw") and refuses guest writes to
    its first sector; pass ``image_format='raw'`` to avoid that.

    Values inside ``key=value`` options have their commas doubled. args are checked with
    check_args_structure() (policy checks are _paths.check_args()).

    ``image_media`` 'cdrom' attaches the image as a CD-ROM (read-only). ``drives`` are the data
    disks, dicts with id, file, format, interface, serial, readonly, cache and discard, in the
    guest's order.

    ``daemonize`` False keeps QEMU in the foreground (a supervisor such as systemd is its
    parent). ``sandbox`` is a -sandbox value (see sandbox_value()), ``run_as`` the user QEMU
    drops to once it has opened its files (-runas); args may not set what these set.

    The console log is appended to, never truncated: the file of an earlier run is rotated
    away by the caller (console.py).
    """
    for what, option, value in (('emulator binary', 'emulator', binary), ('name', 'name', name), ('image_path', 'image_path', image)):
        if not isinstance(value, str) or not value:
            raise QemuTaskError('%s must be a non-empty string' % what, option=option)
    _check_word(machine_type, 'machine_type', _NAME_RE, 'pc or q35')
    if accelerator not in ACCELERATORS:
        raise QemuTaskError('accelerator %r is not valid here; use tcg or kvm' % (accelerator,), option='accelerator')
    _check_count(memory, 'memory', '512')
    if cpus is not None:
        _check_count(cpus, 'cpus', '2')
    if drive_interface not in DRIVE_INTERFACES:
        raise QemuTaskError('drive_interface %r is not valid; use one of %s' % (drive_interface, ', '.join(DRIVE_INTERFACES)),
                            option='drive_interface')
    if image_format is not None:
        _check_word(image_format, 'image_format', _FORMAT_RE, 'raw or qcow2')
    args = list(args or ())
    parsed = check_args_structure(args)
    if cpus is not None and any(entry[0] == '-smp' for entry in parsed):
        raise QemuTaskError('cpus and args both set the number of CPUs (args contains -smp); remove -smp from args or unset cpus',
                            option='cpus')
    if sandbox is not None and any(entry[0] == '-sandbox' for entry in parsed):
        raise QemuTaskError('sandbox and args both set the seccomp sandbox (args contains -sandbox); remove -sandbox from args, '
                            'or set sandbox: false to use your own', option='sandbox')
    if run_as is not None and any(entry[0] == '-runas' for entry in parsed):
        raise QemuTaskError('run_as and args both set the user QEMU runs as (args contains -runas); remove -runas from args',
                            option='run_as')

    def in_task_dir(filename):
        return os.path.join(task_dir, filename) if task_dir else filename

    drive = 'file=%s,if=%s,id=%s' % (escape_opt_value(_block_filename(image)), drive_interface, DRIVE_ID)
    if image_format is not None:
        drive += ',format=%s' % image_format
    if image_media == 'cdrom':
        drive += ',media=cdrom'
    elif image_media != 'disk':
        raise QemuTaskError('image_media %r is not valid; use disk or cdrom' % (image_media,), option='image_media')
    argv = [
        binary,
        '-machine', 'type=%s,accel=%s' % (machine_type, accelerator),
        '-name', escape_opt_value(name),
        '-m', '%dM' % memory,
    ]
    if cpus is not None:
        argv += ['-smp', str(cpus)]
    argv += [
        '-drive', drive,
    ]
    for extra in drives:
        argv += _disk_args(extra)
    argv += [
        '-display', 'none',
        '-chardev', 'file,id=%s,path=%s,append=on' % (CONSOLE_CHARDEV_ID, escape_opt_value(in_task_dir(CONSOLE_LOG))),
        '-serial', 'chardev:%s' % CONSOLE_CHARDEV_ID,
        '-monitor', 'none',
        '-qmp', 'unix:%s,server=on,wait=off' % MONITOR_SOCKET,
    ]
    if guest_agent:
        argv += [
            '-chardev', 'socket,path=%s,server=on,wait=off,id=%s' % (AGENT_SOCKET, AGENT_CHARDEV_ID),
            '-device', 'virtio-serial',
            '-device', 'virtserialport,chardev=%s,name=org.qemu.guest_agent.0' % AGENT_CHARDEV_ID,
        ]
    argv += args
    forwards = sorted(forwards or (), key=lambda forward: str(forward.get('label', '')) if isinstance(forward, dict) else '')
    if forwards:
        argv += [
            '-netdev', 'user,id=%s%s' % (NETDEV_ID, ''.join(_hostfwd(forward) for forward in forwards)),
            '-device', 'virtio-net,netdev=%s' % NETDEV_ID,
        ]
    if accelerator == 'kvm':
        argv.append('-enable-kvm')
    if sandbox is not None:
        argv += ['-sandbox', sandbox]
    if run_as is not None:
        argv += ['-runas', run_as]
    if daemonize:
        argv.append('-daemonize')
    argv += ['-pidfile', in_task_dir(PIDFILE)]
    return argv
