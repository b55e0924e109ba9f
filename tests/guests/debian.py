# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Debian test guest: a Debian 12 system from Debian packages, as a cloud image is.

debootstrap installs systemd, openssh-server, python3, cloud-init (NoCloud,
then None), qemu-guest-agent and Debian's kernel into a directory with
chroot; the builder prunes it (documentation, locales, most kernel modules,
timers that slow a boot), makes the initramfs in the chroot and then the disk
without mounting anything: an ext4 root file system made with mke2fs -d, a
FAT boot partition with syslinux and the kernel (syslinux and mtools work on
the image file), an MBR partition table written by sfdisk onto the disk image
file, syslinux's MBR code, and finally a qcow2 image.

Root logs in by SSH with a key pair made for each build (debian_ssh_key).
The guest prints "NOMADIC-GUEST READY debian" on the serial console once sshd
is up.

build.py imports this file and calls build(); the helpers shared with the
other guests (run, log, BuildError, module resolution) come from build.py,
passed in as the `tools` argument, because build.py runs as a script.

Standard library only; runs with Python 3.9 or later.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, 'debian')

RELEASE = 'bookworm'
READY_LINE = 'NOMADIC-GUEST READY debian'

# Packages on top of debootstrap's minbase variant (which has only the required ones).
# debootstrap does not resolve virtual packages: python3-cffi-backend provides
# the python3-cffi-backend-api-* that python3-cryptography (cloud-init) needs.
# The kernel is Debian's generic one, not linux-image-cloud-amd64: the cloud
# kernel has no AHCI (q35's CD-ROM and disks) and no e1000/e1000e, and the
# modules the guest does not need are removed anyway. sudo: cloud-init gives the
# image's default user (debian) passwordless sudo, as on Debian's cloud images.
PACKAGES = (
    'systemd', 'systemd-sysv', 'udev', 'dbus', 'linux-image-amd64', 'initramfs-tools',
    'openssh-server', 'python3', 'cloud-init', 'python3-cffi-backend', 'cloud-guest-utils', 'qemu-guest-agent',
    'e2fsprogs', 'iproute2', 'sudo',
)

# Kernel modules kept in the guest (with their dependencies); all others are removed.
# Disks: virtio_blk, virtio_scsi, IDE (ata_piix) and AHCI (q35) with sd_mod;
# file systems: ext4 (root, data disks), iso9660 and vfat (cloud-init seeds
# labelled cidata arrive as a CD-ROM or a FAT disk); NICs: virtio_net, e1000,
# e1000e (q35's default); the ACPI power button (button, evdev) for
# systemd-logind; virtio_console for the guest agent's port; qemu_fw_cfg.
REQUIRED_MODULES = (
    'virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net', 'virtio_console', 'virtio_rng',
    'ata_piix', 'ahci', 'sd_mod', 'sr_mod', 'cdrom',
    'ext4', 'isofs', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8', 'nls_iso8859_1',
    'e1000', 'e1000e', 'button', 'evdev', 'qemu_fw_cfg',
)
# Kept when the kernel has them: ext4's checksum (a soft dependency), modules
# systemd loads early, and the loop device.
OPTIONAL_MODULES = ('crc32c_generic', 'crc32c_intel', 'autofs4', 'loop', 'ata_generic', 'pata_acpi', 'sg')

# Units masked in the guest: timers and jobs a short-lived test VM never needs.
MASKED_UNITS = (
    'apt-daily.timer', 'apt-daily-upgrade.timer', 'apt-daily.service', 'apt-daily-upgrade.service',
    'e2scrub_all.timer', 'e2scrub_all.service', 'e2scrub_reap.service', 'man-db.timer', 'man-db.service',
    'fstrim.timer', 'dpkg-db-backup.timer', 'systemd-tmpfiles-clean.timer',
    # binfmt_misc is not among the kept modules: its mount would only fail.
    'systemd-binfmt.service', 'proc-sys-fs-binfmt_misc.automount', 'proc-sys-fs-binfmt_misc.mount',
)

# Removed from the root file system before it is made.
PRUNED = (
    'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian',
    'usr/share/linda', 'usr/share/bug', 'var/cache/apt', 'var/lib/apt/lists', 'var/cache/debconf/*-old',
    'var/log/*.log', 'var/log/apt', 'var/cache/man', 'usr/lib/firmware', 'lib/firmware',
)

# Disk layout, in bytes: partitions aligned to 1 MiB; a FAT boot partition with
# syslinux, the kernel and the initramfs; the ext4 root file system fills the rest.
MIB = 1024 * 1024
DISK_SIZE = 2048 * MIB
BOOT_SIZE = 64 * MIB
ALIGN = MIB
SECTOR = 512
MIN_FREE = 512 * MIB

# Tools the Debian guest build runs, and the packages that have them.
HOST_TOOLS = (
    ('debootstrap', 'debootstrap'),
    ('chroot', 'coreutils'),
    ('dd', 'coreutils'),
    ('mke2fs', 'e2fsprogs'),
    ('mkfs.vfat', 'dosfstools'),
    ('mcopy', 'mtools'),
    ('syslinux', 'syslinux'),
    ('sfdisk', 'fdisk'),
    ('qemu-img', 'qemu-utils'),
    ('ssh-keygen', 'openssh-client'),
    ('dpkg-query', 'dpkg'),
)
# Files from packages, not commands: (path, package).
HOST_FILES = (
    ('/usr/lib/syslinux/mbr/mbr.bin', 'syslinux-common'),
)

APT_SOURCES = ('/etc/apt/sources.list', '/etc/apt/sources.list.d/*.list', '/etc/apt/sources.list.d/*.sources')


# ---------------------------------------------------------------------------
# apt sources: where this machine's apt gets Debian packages from


def parse_one_line_sources(text):
    """Entries of a one-line sources.list: [{'types', 'uris', 'suites', 'components'}]."""
    entries = []
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        words = line.split()
        kind = words.pop(0)
        if words and words[0].startswith('['):
            while words and not words[0].endswith(']'):
                words.pop(0)
            if words:
                words.pop(0)
        if kind not in ('deb', 'deb-src') or len(words) < 2:
            continue
        entries.append({'types': [kind], 'uris': [words[0]], 'suites': [words[1]], 'components': words[2:]})
    return entries


def parse_deb822_sources(text):
    """Entries of a deb822 .sources file, skipping stanzas with Enabled: no."""
    entries = []
    for stanza in ('\n'.join(line for line in text.splitlines() if not line.lstrip().startswith('#'))).split('\n\n'):
        fields = {}
        key = None
        for line in stanza.splitlines():
            if not line.strip():
                continue
            if line[0] in ' \t' and key:
                fields[key] += ' ' + line.strip()
                continue
            key, dummy, value = line.partition(':')
            key = key.strip().lower()
            fields[key] = value.strip()
        if not fields or fields.get('enabled', 'yes').lower() in ('no', 'false', '0'):
            continue
        entries.append(dict((name, fields.get(name, '').split()) for name in ('types', 'uris', 'suites', 'components')))
    return entries


def pick_mirror(entries, release=RELEASE):
    """The first URI serving binary packages of release's main component."""
    for entry in entries:
        if 'deb' in entry['types'] and release in entry['suites'] and 'main' in entry['components'] and entry['uris']:
            return entry['uris'][0]
    return None


def apt_mirror(patterns=APT_SOURCES, release=RELEASE):
    """The Debian mirror this machine's apt uses for release, from its sources files."""
    entries = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding='utf-8', errors='replace') as f:
                text = f.read()
            entries += parse_deb822_sources(text) if path.endswith('.sources') else parse_one_line_sources(text)
    return pick_mirror(entries, release)


# ---------------------------------------------------------------------------
# disk layout


def align_up(value, alignment=ALIGN):
    """value rounded up to a multiple of alignment."""
    return -(-value // alignment) * alignment


def disk_layout(disk_size=DISK_SIZE, boot_size=BOOT_SIZE, align=ALIGN):
    """Byte offsets and sizes of the boot and root partitions: {'boot': (start, size), 'root': (start, size)}."""
    boot_start = align
    root_start = align_up(boot_start + boot_size, align)
    root_size = (disk_size - root_start) // align * align
    if root_size <= 0:
        raise ValueError('a %d byte disk has no room for a root partition after a %d byte boot partition' % (disk_size, boot_size))
    return {'boot': (boot_start, boot_size), 'root': (root_start, root_size)}


def sfdisk_script(layout, sector=SECTOR):
    """Input for sfdisk: a DOS partition table, the FAT boot partition active, then the Linux root."""
    boot_start, boot_size = layout['boot']
    root_start, root_size = layout['root']
    return ('label: dos\nunit: sectors\n\n'
            'start=%d, size=%d, type=c, bootable\n'
            'start=%d, size=%d, type=83\n') % (
        boot_start // sector, boot_size // sector, root_start // sector, root_size // sector)


def root_uuid(key):
    """The root file system's UUID, derived from the cache key so a build is reproducible."""
    return str(uuid.UUID(bytes=hashlib.sha256(b'nomadic-qemu debian root ' + key.encode()).digest()[:16], version=4))


def fill(text, values):
    """Replace @NAME@ placeholders of a config file."""
    for name, value in values.items():
        text = text.replace('@%s@' % name, value)
    return text


# ---------------------------------------------------------------------------
# kernel modules


def select_modules(tools, modules_dir, required=REQUIRED_MODULES, optional=OPTIONAL_MODULES):
    """Names of the module files to keep: the wanted modules and their dependencies."""
    files, builtin = tools.index_modules(modules_dir)
    wanted = list(required) + [name for name in optional if name in files or name in builtin]
    return [name for name, dummy in tools.resolve_modules(modules_dir, wanted)], files


def prune_modules(tools, modules_dir, required=REQUIRED_MODULES, optional=OPTIONAL_MODULES):
    """Remove every module file not selected; return the kept names."""
    keep, files = select_modules(tools, modules_dir, required, optional)
    for name, path in files.items():
        if name not in keep:
            os.unlink(path)
    for directory, dummy, dummy in os.walk(os.path.join(modules_dir, 'kernel'), topdown=False):
        if not os.listdir(directory):
            os.rmdir(directory)
    return sorted(keep)


# ---------------------------------------------------------------------------
# the build


def check_host(tools, which=shutil.which, exists=os.path.exists, euid=None):
    """Fail early, naming what to install, when a tool is missing or we are not root."""
    missing = sorted(set([package for tool, package in HOST_TOOLS if which(tool) is None]
                         + [package for path, package in HOST_FILES if not exists(path)]))
    if missing:
        raise tools.BuildError('the Debian guest build needs tools from %s; install with: apt-get install %s' % (
            ', '.join(missing), ' '.join(missing)))
    if (os.geteuid() if euid is None else euid) != 0:
        raise tools.BuildError('the Debian guest build must run as root (debootstrap installs packages with chroot)')


def chroot(tools, root, argv, what):
    """Run a command inside the root directory being built."""
    env_argv = ['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'DEBIAN_FRONTEND=noninteractive']
    return tools.run(['chroot', root] + env_argv + argv, what, 'see the message above')


def install_config(root, name, target, mode=0o644, values=None):
    """Copy a file from tests/guests/debian/ into the root, filling placeholders."""
    with open(os.path.join(CONFIG, name), encoding='utf-8') as f:
        text = f.read()
    path = os.path.join(root, target.lstrip('/'))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(fill(text, values or {}))
    os.chmod(path, mode)


def symlink(root, target, link):
    """Create (or replace) a symlink inside the root."""
    path = os.path.join(root, link.lstrip('/'))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


def remove(root, pattern):
    """Remove what a glob pattern (relative to root) matches."""
    for path in glob.glob(os.path.join(root, pattern)):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def debootstrap(tools, root, mirror, debs_dir):
    """Install the base system and PACKAGES into root (packages kept in debs_dir)."""
    os.makedirs(debs_dir, exist_ok=True)
    tools.log('installing Debian %s from %s (debootstrap, about 2-4 minutes)' % (RELEASE, mirror))
    # INITRD=No: the kernel's hook skips the initramfs; it is made once, after pruning.
    tools.run(['env', 'INITRD=No', 'debootstrap', '--variant=minbase', '--include=' + ','.join(PACKAGES),
               '--cache-dir=' + debs_dir, RELEASE, root, mirror],
              'installing Debian with debootstrap',
              'check that this machine reaches its Debian mirror (%s, from its apt sources)' % mirror)


def configure(tools, root, key, public_key):
    """Configure the installed system: boot, network, ssh, cloud-init, readiness line."""
    values = {'ROOT_UUID': root_uuid(key)}
    install_config(root, 'fstab', '/etc/fstab', values=values)
    install_config(root, 'cloud.cfg', '/etc/cloud/cloud.cfg.d/90-nomadic.cfg')
    install_config(root, 'dhcp.network', '/etc/systemd/network/99-nomadic-dhcp.network')
    install_config(root, 'wait-online.conf', '/etc/systemd/system/systemd-networkd-wait-online.service.d/nomadic.conf')
    install_config(root, 'sshd.conf', '/etc/ssh/sshd_config.d/nomadic.conf')
    install_config(root, 'ssh-hostkey.conf', '/etc/systemd/system/ssh.service.d/nomadic.conf')
    install_config(root, 'nomadic-ready.service', '/etc/systemd/system/nomadic-ready.service')
    with open(os.path.join(root, 'etc', 'hostname'), 'w', encoding='utf-8') as f:
        f.write('debian\n')
    with open(os.path.join(root, 'etc', 'hosts'), 'w', encoding='utf-8') as f:
        f.write('127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n')
    ssh_dir = os.path.join(root, 'root', '.ssh')
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    with open(os.path.join(ssh_dir, 'authorized_keys'), 'w', encoding='utf-8') as f:
        f.write(public_key)
    os.chmod(os.path.join(ssh_dir, 'authorized_keys'), 0o600)

    wants = '/etc/systemd/system/multi-user.target.wants/'
    symlink(root, '/etc/systemd/system/nomadic-ready.service', wants + 'nomadic-ready.service')
    symlink(root, '/lib/systemd/system/systemd-networkd.service', wants + 'systemd-networkd.service')
    symlink(root, '/lib/systemd/system/systemd-networkd.socket', '/etc/systemd/system/sockets.target.wants/systemd-networkd.socket')
    symlink(root, '/lib/systemd/system/systemd-networkd-wait-online.service',
            '/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service')
    for unit in MASKED_UNITS:
        symlink(root, '/dev/null', '/etc/systemd/system/' + unit)
        remove(root, 'etc/systemd/system/*.wants/' + unit)

    # Per-instance state: made on each VM's first boot, never shared by copies of the image.
    remove(root, 'etc/ssh/ssh_host_*')
    with open(os.path.join(root, 'etc', 'machine-id'), 'w', encoding='utf-8'):
        pass
    remove(root, 'var/lib/dbus/machine-id')
    remove(root, 'etc/resolv.conf')
    remove(root, 'var/lib/cloud')


def make_initramfs(tools, root):
    """Prune the kernel modules, then make the initramfs from what is left; return (release, modules)."""
    modules_root = os.path.join(root, 'lib', 'modules')
    releases = sorted(os.listdir(modules_root))
    if len(releases) != 1:
        raise tools.BuildError('expected one kernel in %s, found %r' % (modules_root, releases))
    release = releases[0]
    kept = prune_modules(tools, os.path.join(modules_root, release))
    chroot(tools, root, ['depmod', '-a', release], 'indexing the kernel modules')
    with open(os.path.join(root, 'etc', 'initramfs-tools', 'conf.d', 'nomadic'), 'w', encoding='utf-8') as f:
        f.write('# The modules left in the image are the ones the guest needs.\nMODULES=most\n')
    tools.log('making the initramfs of %s' % release)
    chroot(tools, root, ['update-initramfs', '-c', '-k', release], 'making the initramfs')
    return release, kept


def package_versions(tools, root):
    """{package: version} of everything installed in root."""
    output = tools.run(['dpkg-query', '--admindir=' + os.path.join(root, 'var', 'lib', 'dpkg'), '-W',
                        '-f=${Package}\t${Version}\t${db:Status-Abbrev}\n'],
                       'listing the installed packages', 'check the debootstrap output')
    versions = {}
    for line in output.splitlines():
        name, version, status = (line.split('\t') + ['', ''])[:3]
        if status.startswith('ii'):
            versions[name] = version
    return versions


def prune(root):
    """Remove what a test VM never reads."""
    for pattern in PRUNED:
        remove(root, pattern)
    for name in ('var/cache/apt', 'var/lib/apt/lists/partial', 'var/log/apt'):
        os.makedirs(os.path.join(root, name), exist_ok=True)


def tree_size(root):
    """Bytes used by the files under root (hard links counted once)."""
    seen = set()
    total = 0
    for directory, dirs, names in os.walk(root):
        for name in dirs + names:
            st = os.lstat(os.path.join(directory, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += align_up(st.st_size, 4096)
    return total


def make_boot_fs(tools, path, size, files):
    """A FAT image with syslinux installed and the given files copied in ({name: path})."""
    tools.run(['mkfs.vfat', '-C', '-n', 'BOOT', path, str(size // 1024)], 'making the FAT boot file system', 'apt-get install dosfstools')
    tools.run(['syslinux', '--install', path], 'installing syslinux on the boot file system', 'apt-get install syslinux')
    for name, source in sorted(files.items()):
        tools.run(['mcopy', '-o', '-i', path, source, '::/' + name], 'copying %s to the boot file system' % name, 'apt-get install mtools')


def make_disk(tools, path, layout, boot_image, root_image):
    """The raw disk: partition table, syslinux's MBR code, both partitions copied in."""
    with open(path, 'wb') as f:
        f.truncate(DISK_SIZE)
    script = sfdisk_script(layout)
    tools.run(['sh', '-c', 'printf "%s" "$1" | sfdisk --quiet --no-reread --no-tell-kernel "$2"', 'sfdisk', script, path],
              'writing the partition table', 'apt-get install fdisk')
    tools.run(['dd', 'if=' + HOST_FILES[0][0], 'of=' + path, 'bs=440', 'count=1', 'conv=notrunc', 'status=none'],
              'writing the MBR boot code', 'apt-get install syslinux-common')
    for image, (start, dummy) in ((boot_image, layout['boot']), (root_image, layout['root'])):
        tools.run(['dd', 'if=' + image, 'of=' + path, 'bs=1M', 'seek=%d' % (start // MIB), 'conv=notrunc,sparse', 'status=none'],
                  'copying a partition into the disk image', 'check the free space of the cache directory')


def prune_debs(debs_dir, versions):
    """Keep in debs_dir only the .debs of installed package versions (an old kernel is large)."""
    keep = set('%s_%s_' % (name, version.replace(':', '%3a')) for name, version in versions.items())
    for name in os.listdir(debs_dir):
        if name.endswith('.deb') and not any(name.startswith(prefix) for prefix in keep):
            os.unlink(os.path.join(debs_dir, name))


def build(out, work, cache_dir, tools, key):
    """Build debian.qcow2, its SSH key pair and debian.json into out."""
    check_host(tools)
    mirror = apt_mirror()
    if not mirror:
        raise tools.BuildError('no Debian %s mirror with the main component in this machine\'s apt sources (%s); '
                               'add one, e.g. to /etc/apt/sources.list.d/debian.sources' % (RELEASE, ', '.join(APT_SOURCES)))
    debs_dir = os.path.join(cache_dir, 'debs', 'debian')
    paths = tools.output_paths(out, 'debian')
    tools.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'nomadic-qemu-test-debian', '-f', paths['debian_ssh_key']],
              'making the SSH key pair', 'apt-get install openssh-client')
    os.chmod(paths['debian_ssh_key'], 0o600)
    with open(paths['debian_ssh_key_pub'], encoding='utf-8') as f:
        public_key = f.read()

    root = os.path.join(work, 'root')
    debootstrap(tools, root, mirror, debs_dir)
    configure(tools, root, key, public_key)
    release, modules = make_initramfs(tools, root)
    versions = package_versions(tools, root)
    prune(root)

    stage = os.path.join(work, 'boot')
    os.mkdir(stage)
    syslinux_cfg = os.path.join(stage, 'syslinux.cfg')
    install_config(stage, 'syslinux.cfg', 'syslinux.cfg', values={'ROOT_UUID': root_uuid(key)})
    boot_files = {'syslinux.cfg': syslinux_cfg}
    for name, source in (('vmlinuz', 'vmlinuz-' + release), ('initrd.img', 'initrd.img-' + release)):
        boot_files[name] = os.path.join(stage, name)
        shutil.move(os.path.join(root, 'boot', source), boot_files[name])
    remove(root, 'boot/*')

    layout = disk_layout()
    used = tree_size(root)
    if used + MIN_FREE > layout['root'][1]:
        raise tools.BuildError('the root file system needs %d MiB plus %d MiB free, more than its partition (%d MiB); '
                               'raise DISK_SIZE in tests/guests/debian.py' % (used // MIB, MIN_FREE // MIB, layout['root'][1] // MIB))
    boot_image = os.path.join(work, 'boot.fat')
    make_boot_fs(tools, boot_image, layout['boot'][1], boot_files)
    root_image = os.path.join(work, 'root.ext4')
    tools.log('making the root file system (%d MiB used)' % (used // MIB))
    tools.run(['mke2fs', '-q', '-F', '-t', 'ext4', '-L', 'debian-root', '-U', root_uuid(key), '-d', root,
               root_image, '%dk' % (layout['root'][1] // 1024)],
              'making the root file system', 'check the free space of the cache directory')
    shutil.rmtree(root)
    raw = os.path.join(work, 'disk.raw')
    make_disk(tools, raw, layout, boot_image, root_image)
    os.unlink(root_image)
    tools.run(['qemu-img', 'convert', '-O', 'qcow2', raw, paths['debian']], 'converting the disk to qcow2', 'apt-get install qemu-utils')
    os.chmod(paths['debian'], 0o644)
    with open(os.path.join(out, 'debian.json'), 'w', encoding='utf-8') as f:
        json.dump({'release': RELEASE, 'kernel': release, 'root_uuid': root_uuid(key), 'packages': versions,
                   'modules': modules, 'disk_size': DISK_SIZE, 'root_used': used,
                   'partitions': dict((name, {'start': start, 'size': size}) for name, (start, size) in layout.items())},
                  f, indent=2, sort_keys=True)
        f.write('\n')
    prune_debs(debs_dir, versions)
