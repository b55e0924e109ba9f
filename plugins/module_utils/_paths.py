# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Where images and other files may come from (image_paths), and what args may contain (args_allowlist).

Containment is decided on real paths (symlinks resolved, ``..`` collapsed) with
os.path.commonpath, never by string prefix: ``/tmp/imagesevil/x.img`` is not inside
``/tmp/images``. Nomad compares paths lexically, so a symlink inside an allowed directory
can point anywhere; here it cannot.
"""

from __future__ import annotations

import json
import os
import stat

from ansible_collections.nomadic.qemu.plugins.module_utils._command import (
    KNOWN_OPTIONS,
    check_arg_types,
    check_args_structure,
    parse_opts,
    split_opt_values,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

# With image_paths set, the values of these options are block-layer file names: they must be
# inside the allowed directories, and may only use the protocols of LOCAL_PROTOCOLS.
BLOCK_FILE_OPTIONS = frozenset(('-cdrom', '-hda', '-hdb', '-hdc', '-hdd', '-fda', '-fdb', '-mtdblock', '-sd', '-pflash'))
# ... these take a plain host path (read or written).
FILE_OPTIONS = frozenset(('-kernel', '-initrd', '-dtb', '-bios', '-L', '-mem-path', '-D', '-qtest-log', '-k'))
# ... these take key=value lists (or JSON objects): keys of PATH_KEYS must name allowed paths.
# The value is the option's implied key (the name of a leading bare word), if any.
KEYVAL_OPTIONS = {
    '-drive': None, '-blockdev': None, '-device': 'driver', '-netdev': 'type', '-net': 'type', '-nic': 'type',
    '-chardev': 'backend', '-object': 'qom-type', '-machine': 'type', '-M': 'type', '-fsdev': 'fsdriver',
    '-virtfs': 'fsdriver', '-audiodev': 'driver', '-audio': 'driver', '-tpmdev': 'type', '-spice': None,
    '-trace': 'enable', '-fw_cfg': 'name', '-smbios': None, '-acpitable': None, '-boot': 'order',
    '-option-rom': 'romfile', '-icount': 'shift', '-display': 'type', '-vnc': 'vnc',
}
# ... these take a character device in the legacy syntax (file:PATH, pipe:PATH, unix:PATH, /dev/...).
LEGACY_CHARDEV_OPTIONS = frozenset(('-serial', '-parallel', '-monitor', '-debugcon', '-gdb', '-qtest'))
# ... these are refused: image_paths cannot restrict what they do.
UNCHECKABLE_OPTIONS = {
    '-readconfig': 'which reads a configuration file that can add drives image_paths cannot check',
    '-plugin': 'which loads native code into QEMU, which image_paths cannot restrict',
}
# Keys (the last part of a dotted key) whose value is a host path QEMU reads or writes.
PATH_KEYS = frozenset((
    'file', 'filename', 'path', 'romfile', 'mem-path', 'smb', 'tftp', 'dir', 'logfile', 'splash', 'sock', 'socket',
    'vhostdev', 'sysfsdev', 'hostdevice', 'hidraw', 'evdev', 'rootdir', 'dumpdtb', 'kernel', 'initrd', 'dtb',
    'firmware', 'events', 'cancel-path', 'config', 'rrfile', 'data-file', 'backing', 'dh-cert-file', 'session-file',
    'x509-dir', 'x509-key-file', 'x509-cert-file', 'x509-cacert-file', 'x509-dh-key-file',
))
# Keys whose value is a host path for some options only.
OPTION_PATH_KEYS = {'-spice': frozenset(('addr',))}
# Keys whose value is a program QEMU runs (networking scripts); only 'no' (or empty) is accepted.
EXEC_KEYS = frozenset(('script', 'downscript', 'helper'))
# Block drivers that read local files (formats, filters and the local protocols).
LOCAL_BLOCK_DRIVERS = frozenset((
    'raw', 'qcow2', 'qcow', 'qed', 'vmdk', 'vdi', 'vhdx', 'vpc', 'parallels', 'dmg', 'cloop', 'bochs', 'luks',
    'file', 'host_device', 'host_cdrom', 'throttle', 'copy-on-read', 'preallocate', 'compress', 'null-co', 'null-aio',
))
# Protocol prefixes of block file names that still name a local file (file:/x.img).
LOCAL_PROTOCOLS = frozenset(('file', 'host_device', 'host_cdrom'))
# Device files anyone may name wherever image_paths points (-object rng-random,filename=/dev/urandom).
HARMLESS_PATHS = frozenset(('/dev/null', '/dev/zero', '/dev/random', '/dev/urandom'))


def is_within(path, directory):
    """Whether the real path of ``path`` is ``directory``'s real path or below it.

    Symlinks are resolved and ``..`` collapsed for both (for parts that exist), and the
    comparison uses os.path.commonpath, so ``/tmp/imagesevil`` is not within ``/tmp/images``
    and ``/tmpimage.img`` is not within ``/tmp``. Relative paths are relative to the working
    directory.
    """
    return _contains(os.path.realpath(directory), os.path.realpath(path))


def _contains(root, real):
    try:
        return os.path.commonpath([root, real]) == root
    except ValueError:
        return False


def check_image_paths(image_paths, option='image_paths'):
    """Check an image_paths value: None, or a list of absolute directories. Returns a list (or None)."""
    if image_paths is None:
        return None
    if isinstance(image_paths, (str, bytes)) or not isinstance(image_paths, (list, tuple)):
        raise QemuTaskError('%s must be a list of absolute directories, such as [/var/lib/images]' % option, option=option)
    for entry in image_paths:
        if not isinstance(entry, str) or not os.path.isabs(entry):
            raise QemuTaskError("%s entry '%s' is not an absolute path; use absolute directories in %s" % (option, entry, option),
                                option=option)
    return list(image_paths)


def describe_list(values):
    """``values`` for messages: comma-separated, or 'none' when empty."""
    return ', '.join(values) if values else 'none'


def _roots(image_paths, task_dir):
    """The real paths of the allowed directories: the image_paths entries and the task directory."""
    roots = [os.path.realpath(entry) for entry in image_paths]
    if task_dir:
        roots.append(os.path.realpath(task_dir))
    return roots


def _base(task_dir):
    return task_dir if task_dir else os.getcwd()


def resolve_image(image_path, task_dir, image_paths=None, task_dir_allowed=True, option='image_path'):
    """Return the real path of the image (symlinks resolved, ``..`` collapsed), after checking it.

    - A relative ``image_path`` is relative to ``task_dir`` (as in Nomad), or to the working
      directory when ``task_dir`` is None. ``~`` is not expanded: ``~/x.img`` is the file
      ``x.img`` in a directory named ``~``.
    - With ``image_paths`` (a list of absolute directories; None means unrestricted and an
      empty list allows the task directory only), the real path must be inside the real
      path of an entry or of ``task_dir``. This is checked before existence, so the check
      tells nothing about files outside the allowed directories.
    - The image must exist, be a regular file or a block device, and be readable by this user.
    - With ``task_dir_allowed`` False, ``task_dir`` is only the base of relative paths.
    - ``option`` is the option named in errors (``disks[1].file``...).
    """
    if not isinstance(image_path, str) or not image_path:
        raise QemuTaskError('%s must be set to the image file, such as /var/lib/images/vm.qcow2' % option, option=option)
    image_paths = check_image_paths(image_paths)
    base = _base(task_dir)
    real = os.path.realpath(os.path.join(base, image_path))
    roots = _roots(image_paths, task_dir if task_dir_allowed else None) if image_paths is not None else ()
    if image_paths is not None and not any(_contains(root, real) for root in roots):
        if real != image_path:
            where = "resolves to '%s' which is" % real
        else:
            where = 'is'
        raise QemuTaskError("%s '%s' %s outside the allowed image_paths (%s); add its directory to image_paths or move the image"
                            % (option, image_path, where, describe_list(image_paths)), option=option)
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        if os.path.isabs(image_path):
            raise QemuTaskError("%s '%s' does not exist" % (option, image_path), option=option) from None
        raise QemuTaskError("%s '%s' does not exist in the %s directory (%s)"
                            % (option, image_path, 'task' if task_dir else 'working', base), option=option) from None
    except OSError as exc:
        raise QemuTaskError("%s '%s' cannot be read (%s); fix the permissions of its directories"
                            % (option, image_path, exc.strerror), option=option) from None
    if stat.S_ISDIR(mode):
        raise QemuTaskError("%s '%s' is a directory; set %s to the image file inside it" % (option, image_path, option),
                            option=option)
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        raise QemuTaskError("%s '%s' is not a regular file or block device; set %s to an image file" % (option, image_path, option),
                            option=option)
    if not os.access(real, os.R_OK):
        raise QemuTaskError("%s '%s' is not readable by the user running the task (uid %d); make it readable by that user"
                            % (option, image_path, os.geteuid()), option=option)
    return real


class _ArgsChecker:
    """Checks the host files args refer to against image_paths (see check_args)."""

    def __init__(self, image_paths, task_dir, task_dir_allowed=True):
        self.image_paths = image_paths
        self.base = _base(task_dir)
        self.roots = _roots(image_paths, task_dir if task_dir_allowed else None)
        self.entry = None
        self.block_files = []

    def fail(self, what):
        raise QemuTaskError("args entry '%s' %s" % (self.entry, what), option='args')

    def path(self, path):
        real = os.path.realpath(os.path.join(self.base, path))
        if real in HARMLESS_PATHS or any(_contains(root, real) for root in self.roots):
            return
        where = "which resolves to '%s' which is" % real if real != path else 'which is'
        self.fail("uses '%s', %s outside the allowed image_paths (%s); add its directory to image_paths or move the file"
                  % (path, where, describe_list(self.image_paths)))

    def load_json(self, text):
        def no_duplicates(pairs):
            keys = [key for key, dummy in pairs]
            if len(set(keys)) != len(keys):
                raise ValueError('duplicate key')
            return dict(pairs)

        try:
            value = json.loads(text, object_pairs_hook=no_duplicates)
        except ValueError as exc:
            self.fail('is not valid JSON (%s); write it as strict JSON (double quotes) or as key=value pairs' % exc)
        if not isinstance(value, dict):
            self.fail('is not a JSON object; write it as {"key": "value", ...} or as key=value pairs')
        return value

    def block_filename(self, value):
        if value.startswith('json:'):
            self.pairs(_flatten(self.load_json(value[5:])), block=True)
            return
        end = 0
        while end < len(value) and value[end] not in ':/':
            end += 1
        if end < len(value) and value[end] == ':':
            protocol = value[:end]
            if protocol not in LOCAL_PROTOCOLS:
                self.fail("uses the '%s' protocol, which reads images from outside image_paths; use a local image file instead"
                          % protocol)
            value = value[end + 1:]
        self.path(value)
        self.block_files.append(os.path.realpath(os.path.join(self.base, value)))

    def pairs(self, pairs, block=False, option=None):
        for key, value in pairs:
            if not isinstance(value, str):
                continue
            name = key.rsplit('.', 1)[-1]
            if block and name in ('driver', 'format') and value not in LOCAL_BLOCK_DRIVERS:
                self.fail("uses the block driver '%s', which image_paths cannot restrict; use a local image file with a format"
                          " driver such as raw or qcow2" % value)
            if name in EXEC_KEYS and value not in ('no', ''):
                self.fail("runs the program '%s' (%s=), which image_paths cannot restrict; set %s=no or remove it from args"
                          % (value, name, name))
            if name == 'guestfwd':
                self.guestfwd(value)
            elif name == 'vnc' and value.startswith('unix:'):
                # QEMU removes whatever is at a unix socket path before it listens there
                self.path(value[5:])
            elif option == '-acpitable' and name in ('file', 'data'):
                for part in value.split(':'):
                    self.path(part)
            elif name in PATH_KEYS or name in OPTION_PATH_KEYS.get(option, ()):
                if block:
                    self.block_filename(value)
                else:
                    self.path(value)

    def guestfwd(self, value):
        device = value.split('-', 1)[1] if '-' in value else ''
        if device.startswith('cmd:'):
            self.fail('runs a command (guestfwd=...-cmd:), which image_paths cannot restrict; remove it from args')
        self.legacy_chardev(device)

    def legacy_chardev(self, spec):
        while spec.startswith('mon:'):
            spec = spec[4:]
        for prefix in ('file:', 'pipe:'):
            if spec.startswith(prefix):
                self.path(spec[len(prefix):])
                return
        if spec.startswith('unix:'):
            self.pairs(parse_opts(spec[5:], implied='path'))
        elif spec.startswith('/dev/') or spec.startswith('COM'):
            self.path(spec)

    def keyval(self, option, value):
        if value.startswith('{'):
            pairs = _flatten(self.load_json(value))
        else:
            pairs = parse_opts(value, implied=KEYVAL_OPTIONS[option])
        self.pairs(pairs, block=option in ('-drive', '-blockdev'), option=option)

    def global_(self, value):
        """-global DRIVER.PROP=VALUE (value taken literally) or -global driver=D,property=P,value=V."""
        head, sep, rest = value.partition('=')
        driver, dot, prop = head.partition('.')
        if sep and dot and driver and prop:
            self.pairs([(prop, rest)])
            return
        opts = dict(parse_opts(value))
        if 'property' in opts and 'value' in opts:
            self.pairs([(opts['property'], opts['value'])])

    def set_(self, value):
        """-set GROUP.ID.ARG=VALUE (value taken literally)."""
        head, sep, rest = value.partition('=')
        parts = head.split('.', 2)
        if sep and len(parts) == 3:
            self.pairs([(parts[2], rest)], block=parts[0] == 'drive')

    def incoming(self, value):
        if value.startswith('exec:'):
            self.fail('runs a command, which image_paths cannot restrict; remove it from args')
        for prefix in ('unix:', 'file:'):
            if value.startswith(prefix):
                self.path(value[len(prefix):].split(',', 1)[0])

    def initrd(self, value):
        """-initrd is one file, or for multiboot kernels 'file1 arg=...,file2' (,, escapes a comma)."""
        self.path(value)
        for module in split_opt_values(value):
            self.path(module.split(' ', 1)[0])

    def check(self, args, parsed):
        for option, value, index in parsed:
            if option is None:
                self.entry = value
                self.block_filename(value)
                continue
            self.entry = args[index] if value is None else '%s %s' % (args[index], value)
            if option in UNCHECKABLE_OPTIONS:
                raise QemuTaskError("args contains '%s', %s; remove it from args" % (args[index], UNCHECKABLE_OPTIONS[option]),
                                    option='args')
            if option not in KNOWN_OPTIONS:
                raise QemuTaskError("args contains '%s', which QEMU 7.2 does not know, so it cannot be checked against"
                                    " image_paths; remove it from args" % args[index], option='args')
            self.option(option, value)

    def option(self, option, value):
        if option in BLOCK_FILE_OPTIONS:
            self.block_filename(value)
        elif option == '-initrd':
            self.initrd(value)
        elif option in FILE_OPTIONS:
            self.path(value)
        elif option in KEYVAL_OPTIONS:
            self.keyval(option, value)
        elif option in LEGACY_CHARDEV_OPTIONS:
            self.legacy_chardev(value)
        elif option == '-global':
            self.global_(value)
        elif option == '-set':
            self.set_(value)
        elif option == '-incoming':
            self.incoming(value)


def _flatten(value, prefix=''):
    """A JSON object as dotted ``(key, value)`` pairs, the way QEMU flattens block options."""
    pairs = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        name = '%s%s' % (prefix, key)
        if isinstance(item, (dict, list)):
            pairs.extend(_flatten(item, name + '.'))
        else:
            pairs.append((name, item))
    return pairs


def check_args(args, args_allowlist=None, image_paths=None, task_dir=None, task_dir_allowed=True):
    """Check args against the collection's needs and the policy; raises QemuTaskError.

    Always (see _command.check_args_structure): every element must be a string; args may not
    contain what the collection passes itself or what stops QEMU from running
    (-daemonize, -pidfile, -qmp, -qmp-pretty, -nographic, -h, -help, -version, -audio-help,
    -dump-vmstate), nor ``-set`` on its drive or sockets; args may not end with an option
    that takes a value (QEMU would take the collection's next word). -serial, -monitor,
    -display, -runas, -chroot, -incoming, -no-shutdown... are allowed.

    ``args_allowlist`` (None: no restriction; a list, even empty: only those): every
    element that starts with '-' must be in it, by exact match, as in Nomad. A word QEMU
    reads as a disk image because it follows no option (``['-S', '/x.img']``) counts as
    ``-hda``, which Nomad's check missed.

    ``image_paths`` (None: no restriction; a list of absolute directories, the task
    directory always allowed): every host file args make QEMU read or write must be inside
    (real paths, relative ones against ``task_dir``; they need not exist yet). Against
    CVE-2021-43415 this covers:

    - disk options and bare disk words: -drive (file=, *.filename=, json:{...}, file: and
      the other protocol prefixes), -blockdev (key=value and JSON, nested file.filename=),
      -cdrom, -hda..-hdd, -fda, -fdb, -mtdblock, -sd, -pflash; only local block drivers
      (LOCAL_BLOCK_DRIVERS) and protocols (file:, host_device:, host_cdrom:) are accepted,
      so nbd:, http:, json: with a network driver, fat: and the like are refused;
    - firmware and boot files: -kernel, -initrd, -dtb, -bios, -L, -option-rom, and
      -machine kernel=/initrd=/dtb=/firmware=/dumpdtb=;
    - the PATH_KEYS of key=value options (-device romfile=, -fw_cfg file=, -smbios file=,
      -acpitable file=/data=, -object mem-path=/filename=/dir=, -chardev path=/logfile=,
      -fsdev and -virtfs path=, -netdev smb=/tftp=, -trace file=/events=, ...), JSON forms
      included, plus -global, -set, -mem-path, -D and -qtest-log;
    - character devices in the legacy syntax (-serial, -parallel, -monitor, -debugcon,
      -gdb, -qtest, guestfwd): file:, pipe:, unix:, /dev/...; unix socket paths of -vnc,
      -display vnc= and -spice addr= (QEMU deletes what is at a socket path first); -k;

    and refuses what image_paths cannot restrict: -readconfig, -plugin, -incoming exec:,
    networking scripts (script=/downscript=/helper= other than no), guestfwd ...-cmd:,
    JSON it cannot parse strictly, and options QEMU 7.2 does not know. Anything else a user
    could do with args (pass a host PCI device, open a network socket...) is for
    args_allowlist to restrict: a host that sets image_paths should set it too. What an image
    itself refers to (a qcow2 backing file, vmdk extents) is not in args: see
    check_image_chain(), for which the local block files named in args are returned
    (real paths; an empty list when image_paths is None). With task_dir_allowed False,
    the task directory is only the base of relative paths, not an allowed directory.
    """
    args = check_arg_types(args)
    if args_allowlist is not None:
        if isinstance(args_allowlist, (str, bytes)) or not isinstance(args_allowlist, (list, tuple)) \
                or not all(isinstance(entry, str) for entry in args_allowlist):
            raise QemuTaskError('args_allowlist must be a list of options, such as [-m, -smp]', option='args_allowlist')
        allowed = set(args_allowlist)
        for element in args:
            if element.startswith('-') and element not in allowed:
                raise QemuTaskError("args contains '%s' which is not in args_allowlist (%s); remove it from args or add it to"
                                    " args_allowlist" % (element, describe_list(args_allowlist)), option='args')
    parsed = check_args_structure(args)
    if args_allowlist is not None and '-hda' not in args_allowlist:
        for option, value, dummy in parsed:
            if option is None:
                raise QemuTaskError("args contains '%s', which QEMU reads as a disk image (like -hda), and -hda is not in"
                                    " args_allowlist (%s); remove it from args or add -hda to args_allowlist"
                                    % (value, describe_list(args_allowlist)), option='args')
    image_paths = check_image_paths(image_paths)
    if image_paths is not None:
        checker = _ArgsChecker(image_paths, task_dir, task_dir_allowed)
        checker.check(args, parsed)
        return checker.block_files
    return []


def check_image_chain(chain, image_paths, task_dir=None, task_dir_allowed=True, option='image_path'):
    """Check the files an image refers to itself against image_paths.

    ``chain`` is the parsed output of ``qemu-img info --output=json --backing-chain IMAGE``
    (a list of objects; a single object is accepted too). Every ``filename``,
    ``backing-filename``/``full-backing-filename`` and qcow2 ``data-file`` and vmdk extent
    ``filename`` must be inside image_paths (or the task directory), like the image: a
    qcow2 image in an allowed directory could otherwise name ``/etc/shadow`` as its
    backing file. Relative names are relative to the image that names them. Names with a
    protocol (``nbd:``, ``json:``...; only ``file:`` is local) are refused. Does nothing
    when image_paths is None.
    """
    image_paths = check_image_paths(image_paths)
    if image_paths is None:
        return
    roots = _roots(image_paths, task_dir if task_dir_allowed else None)
    for info in chain if isinstance(chain, list) else [chain]:
        image = info.get('filename', '')
        names = [image, info.get('full-backing-filename') or info.get('backing-filename')]
        data = (info.get('format-specific') or {}).get('data') or {}
        names.append(data.get('data-file'))
        names.extend(extent.get('filename') for extent in data.get('extents') or [])
        for name in names:
            if not isinstance(name, str) or not name:
                continue
            head = name.split('/', 1)[0]
            if ':' in head:
                if not name.startswith('file:'):
                    raise QemuTaskError("%s '%s' refers to '%s', which is not a local file; image_paths allows local image"
                                        " files only" % (option, image, name), option=option)
                name = name[len('file:'):]
            real = os.path.realpath(os.path.join(os.path.dirname(image) or _base(task_dir), name))
            if not any(_contains(root, real) for root in roots):
                raise QemuTaskError("%s '%s' refers to '%s', which is outside the allowed image_paths (%s); rebase the image"
                                    " onto a file inside them or add that directory to image_paths"
                                    % (option, image, name, describe_list(image_paths)), option=option)
