# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build (or find in the cache) the disk images of the collection's test guests.

    python3 tests/guests/build.py [--cache-dir DIR] [--json] [bootsector|linux|debian|all]

Guests:
  bootsector  a one-sector guest (bootsector.S); two 1 MiB raw images, one that
              powers off on the ACPI power button and one that ignores it.
  linux       a Debian kernel with a busybox initramfs in an isohybrid ISO,
              used as a raw disk; serves a page on port 80 (see linux/init).
              Also linux-cdrom.iso, the same without the isohybrid MBR (boots
              only as a CD-ROM) and with nomadic.install=1: it copies the
              boot-sector guest onto the first empty disk and powers off.
  debian      a Debian 12 system (systemd, sshd, cloud-init, qemu-guest-agent)
              on a partitioned qcow2 disk, root login with the key pair it
              makes (see debian.py); needs root and debootstrap.

Images are cached in DIR (default: $NOMADIC_QEMU_GUEST_CACHE, else
~/.cache/nomadic-qemu/guests) under a key derived from the builder's own
source files, so editing them rebuilds and a warm run costs a few
milliseconds.  The Linux guest's parts come from Debian packages fetched with
`apt-get download` and unpacked with `dpkg-deb -x`; the packages are kept in
DIR/debs, so once cached no network is needed.

Standard library only; runs with Python 3.9 or later.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import gzip
import hashlib
import importlib.util
import json
import lzma
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE_ENV = 'NOMADIC_QEMU_GUEST_CACHE'
DEFAULT_CACHE = os.path.join('~', '.cache', 'nomadic-qemu', 'guests')

GUESTS = ('bootsector', 'linux', 'debian')

# Source files (relative to this directory) whose content keys each guest's cache entry.
SOURCES = {
    'bootsector': ('build.py', 'bootsector.py', 'bootsector.S'),
    'linux': ('build.py', 'bootsector.py', 'linux/init', 'linux/power-button', 'linux/isolinux.cfg',
              'linux/isolinux-cdrom.cfg'),
    'debian': ('build.py', 'debian.py', 'debian/cloud.cfg', 'debian/fstab', 'debian/syslinux.cfg',
               'debian/nomadic-ready.service', 'debian/dhcp.network', 'debian/wait-online.conf',
               'debian/sshd.conf', 'debian/ssh-hostkey.conf'),
}

# Output name (the JSON key) -> file name, per guest.
OUTPUTS = {
    'bootsector': (('bootsector', 'bootsector.img'), ('bootsector_ignore_button', 'bootsector-ignore-button.img')),
    'linux': (('linux', 'linux.img'), ('linux_cdrom', 'linux-cdrom.iso')),
    'debian': (('debian', 'debian.qcow2'), ('debian_ssh_key', 'debian-ssh-key'), ('debian_ssh_key_pub', 'debian-ssh-key.pub')),
}

# Cache entries kept per guest (the newest used ones); older ones are removed after a build.
KEEP_ENTRIES = 3

KERNEL_METAPACKAGE = 'linux-image-amd64'
LINUX_PACKAGES = ('busybox-static', 'isolinux', 'syslinux-common')

# Kernel modules of the Linux guest, loaded in dependency order by linux/init.
# virtio_net and virtio_pci: the NIC QEMU gets (-device virtio-net); e1000 as
# the other common NIC model; button and evdev: the ACPI power button as an
# input device for acpid; qemu_fw_cfg: /sys/firmware/qemu_fw_cfg (the name).
LINUX_MODULES = ('virtio_pci', 'virtio_net', 'e1000', 'evdev', 'button', 'qemu_fw_cfg')
# Loaded only by the installer (nomadic.install=1, linux-cdrom.iso): the disks
# it may install to, virtio, IDE (pc) and AHCI (q35).
LINUX_INSTALL_MODULES = ('virtio_pci', 'virtio_blk', 'ata_piix', 'ahci', 'sd_mod')

# Packages the Linux guest build needs on the build machine.
HOST_TOOLS = (
    ('apt-get', 'apt'),
    ('apt-cache', 'apt'),
    ('dpkg-deb', 'dpkg'),
    ('xorriso', 'xorriso'),
)


class BuildError(Exception):
    """A build failed; the message says why and what to do about it."""


def log(message):
    """Progress goes to stderr, so stdout stays clean for --json."""
    print('build.py: %s' % message, file=sys.stderr)
    sys.stderr.flush()


def cache_dir_default():
    """The cache directory when --cache-dir is not given."""
    return os.environ.get(CACHE_ENV) or os.path.expanduser(DEFAULT_CACHE)


def source_key(guest, base=HERE):
    """Hash of the files the guest is built from (names and contents)."""
    digest = hashlib.sha256()
    for name in SOURCES[guest]:
        with open(os.path.join(base, name), 'rb') as f:
            content = f.read()
        digest.update(b'%s\0%d\0' % (name.encode(), len(content)))
        digest.update(content)
    return digest.hexdigest()[:16]


def entry_dir(cache_dir, guest, base=HERE):
    """The cache directory holding one build of guest from the current sources."""
    return os.path.join(cache_dir, '%s-%s' % (guest, source_key(guest, base)))


def output_paths(directory, guest):
    """Map of output name to image path inside a cache entry."""
    return dict((name, os.path.join(directory, filename)) for name, filename in OUTPUTS[guest])


def is_complete(directory, guest):
    """True when the cache entry holds every image of guest."""
    return all(os.path.isfile(path) for path in output_paths(directory, guest).values())


@contextlib.contextmanager
def cache_lock(cache_dir):
    """Serialize builds sharing a cache directory (warm lookups need no lock)."""
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, '.lock'), 'a', encoding='utf-8') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            log('waiting for another build using %s' % cache_dir)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_stale(cache_dir, guest, keep):
    """Remove leftovers of interrupted builds, and all but the newest cache entries of guest."""
    entries = []
    for name in os.listdir(cache_dir):
        path = os.path.join(cache_dir, name)
        if name.startswith('.build-'):
            shutil.rmtree(path, ignore_errors=True)
        elif name.startswith(guest + '-') and os.path.isdir(path):
            entries.append((os.stat(path).st_mtime, path))
    for dummy, path in sorted(entries, reverse=True)[keep:]:
        shutil.rmtree(path, ignore_errors=True)


def ensure(guest, cache_dir, base=HERE):
    """Return (output paths, built) for guest, building it into the cache when needed."""
    directory = entry_dir(cache_dir, guest, base)
    if is_complete(directory, guest):
        with contextlib.suppress(OSError):
            os.utime(directory)  # marks the entry as recently used (see remove_stale)
        return output_paths(directory, guest), False
    with cache_lock(cache_dir):
        if is_complete(directory, guest):
            return output_paths(directory, guest), False
        remove_stale(cache_dir, guest, KEEP_ENTRIES)
        work = tempfile.mkdtemp(prefix='.build-%s-' % guest, dir=cache_dir)
        try:
            staged = os.path.join(work, 'out')
            os.mkdir(staged)
            start = time.monotonic()
            log('building the %s guest in %s' % (guest, cache_dir))
            BUILDERS[guest](staged, work, cache_dir)
            os.chmod(staged, 0o755)
            if os.path.isdir(directory):
                shutil.rmtree(directory)
            # A directory rename is atomic: the entry appears complete or not at all.
            os.rename(staged, directory)
            log('built the %s guest in %.1f s' % (guest, time.monotonic() - start))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        remove_stale(cache_dir, guest, KEEP_ENTRIES)
    return output_paths(directory, guest), True


def load_guest_module(name):
    """Import a guest's module (bootsector.py, debian.py) from this directory."""
    spec = importlib.util.spec_from_file_location('nomadic_qemu_test_%s' % name, os.path.join(HERE, '%s.py' % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_bootsector():
    """Import bootsector.py from this directory."""
    return load_guest_module('bootsector')


def build_bootsector(out, work, cache_dir):
    """Write the two boot-sector images into out."""
    del work, cache_dir  # nothing to download or unpack
    bootsector = load_bootsector()
    paths = output_paths(out, 'bootsector')
    bootsector.write_image(paths['bootsector'], ignore_button=False)
    bootsector.write_image(paths['bootsector_ignore_button'], ignore_button=True)


# ---------------------------------------------------------------------------
# Linux guest


def run(argv, what, hint, cwd=None):
    """Run a command, raising BuildError with its output and a hint when it fails."""
    try:
        result = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    except OSError as exc:
        raise BuildError('%s: cannot run %s: %s; %s' % (what, argv[0], exc, hint)) from exc
    if result.returncode != 0:
        output = (result.stderr or result.stdout).decode('utf-8', 'replace').strip()
        raise BuildError('%s failed (%s exited with %d): %s; %s' % (what, ' '.join(argv), result.returncode, output, hint))
    return result.stdout.decode('utf-8', 'replace')


def check_host_tools(which=shutil.which):
    """Fail early, naming the package to install, when a tool is missing."""
    missing = [(tool, package) for tool, package in HOST_TOOLS if which(tool) is None]
    if missing:
        packages = sorted(set(package for dummy, package in missing))
        raise BuildError('the Linux guest build needs %s, which %s not on PATH; install with: apt-get install %s' % (
            ', '.join(tool for tool, dummy in missing), 'is' if len(missing) == 1 else 'are', ' '.join(packages)))


def parse_control(text):
    """Parse the first stanza of Debian control data (apt-cache show output)."""
    fields = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        if line[0] in ' \t' and key:
            fields[key] += '\n' + line.strip()
            continue
        key, dummy, value = line.partition(':')
        key = key.strip()
        fields[key] = value.strip()
    return fields


def package_info(package):
    """Candidate version, architecture, file name and dependencies of a package, from the local apt lists."""
    hint = 'run apt-get update (the package lists may be missing or stale)'
    fields = parse_control(run(['apt-cache', 'show', '--no-all-versions', package], 'looking up the package %s' % package, hint))
    for field in ('Version', 'Filename'):
        if not fields.get(field):
            raise BuildError('apt-cache show %s gave no %s field; %s' % (package, field, hint))
    return fields


def kernel_package(metapackage_fields):
    """The kernel image package a metapackage like linux-image-amd64 depends on."""
    for dependency in metapackage_fields.get('Depends', '').split(','):
        name = dependency.split('|')[0].split('(')[0].strip()
        if name.startswith('linux-image-'):
            return name
    raise BuildError('%s does not depend on a linux-image-* package (Depends: %s); run apt-get update' % (
        KERNEL_METAPACKAGE, metapackage_fields.get('Depends', '')))


def fetch_deb(package, fields, debs_dir, work):
    """Return the path of the package's .deb in debs_dir, downloading it with apt-get download if needed."""
    filename = os.path.basename(fields['Filename'])
    path = os.path.join(debs_dir, filename)
    if os.path.isfile(path):
        return path
    download = tempfile.mkdtemp(prefix='download-', dir=work)
    argv = ['apt-get', 'download']
    if os.geteuid() == 0:
        # Root downloading into a directory the _apt user cannot enter: say so, quietly.
        argv += ['-o', 'APT::Sandbox::User=root']
    argv.append('%s=%s' % (package, fields['Version']))
    log('downloading %s %s' % (package, fields['Version']))
    run(argv, 'downloading the package %s' % package,
        'run apt-get update, and check that this machine reaches its Debian package mirror', cwd=download)
    debs = [name for name in os.listdir(download) if name.endswith('.deb')]
    if len(debs) != 1:
        raise BuildError('apt-get download %s=%s left %r instead of one .deb file; run apt-get update and retry' % (
            package, fields['Version'], debs))
    os.makedirs(debs_dir, exist_ok=True)
    os.replace(os.path.join(download, debs[0]), path)
    return path


def elf_modinfo(data):
    """Parse the .modinfo section of a kernel module (64-bit little-endian ELF) into {key: [values]}."""
    if data[:4] != b'\x7fELF' or data[4:6] != b'\x02\x01':
        raise BuildError('not a 64-bit little-endian ELF file')
    shoff = struct.unpack_from('<Q', data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3a)

    def section(index):
        name, dummy, dummy, dummy, offset, size = struct.unpack_from('<IIQQQQ', data, shoff + index * shentsize)
        return name, offset, size

    dummy, strtab, dummy = section(shstrndx)
    info = {}
    for index in range(shnum):
        name, offset, size = section(index)
        end = data.index(b'\0', strtab + name)
        if data[strtab + name:end] != b'.modinfo':
            continue
        for item in data[offset:offset + size].split(b'\0'):
            key, sep, value = item.decode('utf-8', 'replace').partition('=')
            if sep:
                info.setdefault(key, []).append(value)
    return info


def module_name(filename):
    """Module name of a file name: virtio-pci.ko.xz -> virtio_pci."""
    return os.path.basename(filename).split('.ko', 1)[0].replace('-', '_')


def read_module(path):
    """Content of a module file, decompressed."""
    with open(path, 'rb') as f:
        data = f.read()
    if path.endswith('.ko'):
        return data
    if path.endswith('.ko.xz'):
        return lzma.decompress(data)
    if path.endswith('.ko.gz'):
        return gzip.decompress(data)
    raise BuildError('kernel module %s is compressed in a format the builder cannot read; '
                     'extend read_module() in tests/guests/build.py' % path)


def index_modules(modules_dir):
    """Map module name -> file for all modules of a kernel, and the set of built-in module names."""
    files = {}
    for root, dummy, names in os.walk(os.path.join(modules_dir, 'kernel')):
        for name in names:
            if '.ko' in name:
                files[module_name(name)] = os.path.join(root, name)
    builtin = set()
    builtin_list = os.path.join(modules_dir, 'modules.builtin')
    if os.path.isfile(builtin_list):
        with open(builtin_list, encoding='utf-8') as f:
            builtin = set(module_name(line.strip()) for line in f if line.strip())
    return files, builtin


def module_load_order(wanted, depends, builtin):
    """Modules to load, dependencies first: a depth-first walk of depends (name -> [names])."""
    order = []
    visiting = set()

    def visit(name, chain):
        if name in builtin or name in order:
            return
        if name in visiting:
            raise BuildError('kernel module dependency cycle: %s' % ' -> '.join(chain + [name]))
        if name not in depends:
            raise BuildError('kernel module %s%s is neither a module file nor built in' % (
                name, ' (needed by %s)' % chain[-1] if chain else ''))
        visiting.add(name)
        for dependency in depends[name]:
            visit(dependency, chain + [name])
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name, [])
    return order


def resolve_modules(modules_dir, wanted=LINUX_MODULES):
    """Return [(name, module bytes)] for the wanted modules and their dependencies, in load order."""
    files, builtin = index_modules(modules_dir)
    contents = {}
    depends = {}
    pending = [name for name in wanted if name not in builtin]
    while pending:
        name = pending.pop()
        if name in depends or name not in files:
            continue
        contents[name] = read_module(files[name])
        try:
            info = elf_modinfo(contents[name])
        except BuildError as exc:
            raise BuildError('cannot read kernel module %s: %s' % (files[name], exc)) from exc
        # depends may spell a name with dashes (t10-pi): normalize as module_name() does.
        depends[name] = [dep.replace('-', '_') for dep in ','.join(info.get('depends', [])).split(',') if dep]
        pending.extend(depends[name])
    return [(name, contents[name]) for name in module_load_order(wanted, depends, builtin)]


def cpio_newc(entries):
    """An initramfs archive ("newc" cpio) from (path, mode, data, rdev) tuples; rdev is (major, minor) or None."""
    out = bytearray()

    def add(name, mode, data, rdev, ino):
        encoded = name.encode() + b'\0'
        major, minor = rdev or (0, 0)
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(encoded), 0)
        out.extend(b'070701' + b''.join(b'%08x' % field for field in fields) + encoded)
        out.extend(b'\0' * (-len(out) % 4))
        out.extend(data)
        out.extend(b'\0' * (-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate(entries, 1):
        add(name, mode, data, rdev, ino)
    add('TRAILER!!!', 0, b'', None, 0)
    return bytes(out)


def find_one(root, candidates, what, package):
    """The first existing path among candidates (relative to root)."""
    for candidate in candidates:
        path = os.path.join(root, candidate)
        if os.path.exists(path):
            return path
    raise BuildError('%s not found in the unpacked package %s (looked for %s)' % (what, package, ', '.join(candidates)))


def read_file(path):
    """Bytes of a file."""
    with open(path, 'rb') as f:
        return f.read()


def initramfs(busybox, modules, sources=os.path.join(HERE, 'linux'), install_modules=(), payload=None):
    """The gzipped initramfs of the Linux guest: busybox, our init, the acpid action and the modules.

    install_modules (loaded by the installer only, after modules) and payload
    (the image the installer writes, /install.img) serve nomadic.install=1.
    """
    directory = stat.S_IFDIR | 0o755
    executable = stat.S_IFREG | 0o755
    regular = stat.S_IFREG | 0o644
    entries = [(name, directory, b'', None) for name in (
        'bin', 'dev', 'etc', 'etc/acpi', 'etc/acpi/PWRF', 'lib', 'lib/modules', 'proc', 'sys', 'tmp',
        'var', 'var/log', 'var/run', 'www')]
    entries += [
        ('dev/console', stat.S_IFCHR | 0o600, b'', (5, 1)),
        ('bin/busybox', executable, read_file(busybox), None),
        ('bin/sh', stat.S_IFLNK | 0o777, b'busybox', None),
        ('init', executable, read_file(os.path.join(sources, 'init')), None),
        ('etc/acpi/PWRF/00000080', executable, read_file(os.path.join(sources, 'power-button')), None),
        ('etc/modules', regular, ''.join('%s\n' % name for name, dummy in modules).encode(), None),
    ]
    entries += [('lib/modules/%s.ko' % name, regular, data, None) for name, data in modules]
    loaded = set(name for name, dummy in modules)
    extra = [(name, data) for name, data in install_modules if name not in loaded]
    entries.append(('etc/modules-install', regular, ''.join('%s\n' % name for name, dummy in extra).encode(), None))
    entries += [('lib/modules/%s.ko' % name, regular, data, None) for name, data in extra]
    if payload is not None:
        entries.append(('install.img', regular, payload, None))
    return gzip.compress(cpio_newc(entries), compresslevel=6, mtime=0)


def build_linux(out, work, cache_dir):
    """Build linux.img into out: kernel and initramfs on an isohybrid ISO booted by isolinux."""
    check_host_tools()
    debs_dir = os.path.join(cache_dir, 'debs')
    kernel = kernel_package(package_info(KERNEL_METAPACKAGE))
    root = os.path.join(work, 'root')
    versions = {}
    debs = []
    for package in (kernel,) + LINUX_PACKAGES:
        fields = package_info(package)
        versions[package] = fields['Version']
        deb = fetch_deb(package, fields, debs_dir, work)
        debs.append(deb)
        run(['dpkg-deb', '-x', deb, root], 'unpacking %s' % deb, 'remove it from %s and run the build again' % debs_dir)

    vmlinuz = sorted(name for name in os.listdir(os.path.join(root, 'boot')) if name.startswith('vmlinuz-'))
    if not vmlinuz:
        raise BuildError('no /boot/vmlinuz-* in the unpacked package %s' % kernel)
    release = vmlinuz[-1][len('vmlinuz-'):]
    modules_dir = find_one(root, ('lib/modules/' + release, 'usr/lib/modules/' + release), 'the kernel modules', kernel)
    modules = resolve_modules(modules_dir)
    install_modules = resolve_modules(modules_dir, LINUX_INSTALL_MODULES)
    busybox = find_one(root, ('bin/busybox', 'usr/bin/busybox'), 'busybox', 'busybox-static')
    isolinux_dir = os.path.join('usr', 'lib', 'ISOLINUX')
    isohdpfx = os.path.join(work, 'isohdpfx.bin')
    shutil.copy(find_one(root, (os.path.join(isolinux_dir, 'isohdpfx.bin'),), 'isohdpfx.bin', 'isolinux'), isohdpfx)

    stage = os.path.join(work, 'iso')
    os.makedirs(os.path.join(stage, 'isolinux'))
    os.makedirs(os.path.join(stage, 'boot'))
    shutil.copy(find_one(root, (os.path.join(isolinux_dir, 'isolinux.bin'),), 'isolinux.bin', 'isolinux'),
                os.path.join(stage, 'isolinux', 'isolinux.bin'))
    shutil.copy(find_one(root, ('usr/lib/syslinux/modules/bios/ldlinux.c32',), 'ldlinux.c32', 'syslinux-common'),
                os.path.join(stage, 'isolinux', 'ldlinux.c32'))
    shutil.copy(os.path.join(root, 'boot', vmlinuz[-1]), os.path.join(stage, 'boot', 'vmlinuz'))
    with open(os.path.join(stage, 'boot', 'initrd.gz'), 'wb') as f:
        f.write(initramfs(busybox, modules, install_modules=install_modules, payload=load_bootsector().image()))
    shutil.rmtree(root)

    paths = output_paths(out, 'linux')
    # linux.img: isohybrid, boots as a disk too.  linux-cdrom.iso: El Torito
    # only, so it boots only as a CD-ROM, and its boot entry installs.
    for name, hybrid, config in (('linux', True, 'isolinux.cfg'), ('linux_cdrom', False, 'isolinux-cdrom.cfg')):
        shutil.copy(os.path.join(HERE, 'linux', config), os.path.join(stage, 'isolinux', 'isolinux.cfg'))
        run(['xorriso', '-as', 'mkisofs', '-quiet', '-r', '-V', 'NOMADIC_LINUX', '-o', paths[name]]
            + (['-isohybrid-mbr', isohdpfx] if hybrid else [])
            + ['-c', 'isolinux/boot.cat', '-b', 'isolinux/isolinux.bin',
               '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', stage],
            'making the ISO image %s' % os.path.basename(paths[name]), 'check that xorriso works (apt-get install xorriso)')
        os.chmod(paths[name], 0o644)
    with open(os.path.join(out, 'linux.json'), 'w', encoding='utf-8') as f:
        json.dump({'kernel': release, 'packages': versions, 'modules': [name for name, dummy in modules],
                   'install_modules': [name for name, dummy in install_modules]}, f, indent=2, sort_keys=True)
        f.write('\n')

    # Keep only the packages of this build: an old kernel package is 70 MB.
    keep = set(os.path.basename(deb) for deb in debs)
    for name in os.listdir(debs_dir):
        if name.endswith('.deb') and name not in keep:
            os.unlink(os.path.join(debs_dir, name))


# ---------------------------------------------------------------------------
# Debian guest


def build_debian(out, work, cache_dir):
    """Build the Debian guest into out (see debian.py, which uses this module's helpers)."""
    # This module may run as __main__: hand debian.py this very module, so that
    # the BuildError it raises is the one main() catches.
    load_guest_module('debian').build(out, work, cache_dir, sys.modules[__name__], source_key('debian'))


BUILDERS = {
    'bootsector': build_bootsector,
    'linux': build_linux,
    'debian': build_debian,
}


def main(argv=None):
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog='build.py', description='Build or find in the cache the disk images of the nomadic.qemu test guests.')
    parser.add_argument('--cache-dir', help='cache directory (default: $%s, else %s)' % (CACHE_ENV, DEFAULT_CACHE))
    parser.add_argument('--json', action='store_true', help='print the image paths as one JSON object')
    parser.add_argument('guest', nargs='*', default=['all'], choices=GUESTS + ('all',),
                        help='the guests to build (default: all)')
    args = parser.parse_args(argv)

    cache_dir = os.path.abspath(args.cache_dir or cache_dir_default())
    guests = GUESTS if 'all' in args.guest else tuple(guest for guest in GUESTS if guest in args.guest)
    result = {}
    try:
        for guest in guests:
            paths, built = ensure(guest, cache_dir)
            result.update(paths)
            if not args.json:
                for name, path in sorted(paths.items()):
                    print('%s: %s%s' % (name, path, '' if built else ' (cached)'))
    except BuildError as exc:
        print('build.py: error: %s' % exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print('build.py: error: %s; check that the cache directory %s is writable, or choose another one '
              'with --cache-dir or %s' % (exc, cache_dir, CACHE_ENV), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
