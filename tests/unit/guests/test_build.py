# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of tests/guests/build.py, the test guest builder (no network, no QEMU)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.nomadic.qemu.tests.unit.guests.guest_modules import GUESTS_DIR, load as _load


build = _load('build')
bootsector = _load('bootsector')


def read_newc(data):
    """Parse a newc cpio archive into {name: (mode, data, (rdev major, rdev minor))}, checking the framing."""
    entries = {}
    pos = 0
    while True:
        assert data[pos:pos + 6] == b'070701'
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        filesize, namesize = fields[6], fields[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        assert data[pos + 110 + namesize - 1] == 0
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos:pos + filesize]
        pos += filesize
        pos += -pos % 4
        if name == 'TRAILER!!!':
            assert pos == len(data)
            return entries
        entries[name] = (fields[1], body, (fields[9], fields[10]))


# --- cache --------------------------------------------------------------------


def test_json_then_cached(tmp_path, capsys):
    cache = tmp_path / 'cache'
    assert build.main(['--cache-dir', str(cache), '--json', 'bootsector']) == 0
    paths = json.loads(capsys.readouterr().out)
    assert sorted(paths) == ['bootsector', 'bootsector_ignore_button']
    with open(paths['bootsector'], 'rb') as f:
        assert f.read() == bootsector.image(False)
    with open(paths['bootsector_ignore_button'], 'rb') as f:
        assert f.read() == bootsector.image(True)

    assert build.main(['--cache-dir', str(cache), 'bootsector']) == 0
    captured = capsys.readouterr()
    assert captured.out == 'bootsector: %s (cached)\nbootsector_ignore_button: %s (cached)\n' % (
        paths['bootsector'], paths['bootsector_ignore_button'])
    assert captured.err == ''


def test_cached_guest_is_not_rebuilt(tmp_path, monkeypatch):
    def must_not_build(out, work, cache_dir):
        raise AssertionError('built although cached')

    entry = build.entry_dir(str(tmp_path), 'linux')
    os.makedirs(entry)
    for name in ('linux.img', 'linux-cdrom.iso'):
        with open(os.path.join(entry, name), 'wb') as f:
            f.write(b'image')
    monkeypatch.setitem(build.BUILDERS, 'linux', must_not_build)
    assert build.ensure('linux', str(tmp_path)) == ({'linux': os.path.join(entry, 'linux.img'),
                                                     'linux_cdrom': os.path.join(entry, 'linux-cdrom.iso')}, False)


def test_incomplete_entry_is_rebuilt(tmp_path, monkeypatch):
    def builder(out, work, cache_dir):
        for name in ('linux.img', 'linux-cdrom.iso'):
            with open(os.path.join(out, name), 'wb') as f:
                f.write(b'new')

    entry = build.entry_dir(str(tmp_path), 'linux')
    os.makedirs(entry)
    with open(os.path.join(entry, 'linux.img'), 'wb') as f:
        f.write(b'old')
    monkeypatch.setitem(build.BUILDERS, 'linux', builder)
    paths, built = build.ensure('linux', str(tmp_path))
    assert built
    with open(paths['linux_cdrom'], 'rb') as f:
        assert f.read() == b'new'


def test_every_guest_is_registered():
    assert set(build.GUESTS) == set(build.SOURCES) == set(build.OUTPUTS) == set(build.BUILDERS)
    for guest in build.GUESTS:
        for name in build.SOURCES[guest]:
            assert os.path.isfile(os.path.join(GUESTS_DIR, name)), name
    assert dict(build.OUTPUTS['debian']) == {
        'debian': 'debian.qcow2', 'debian_ssh_key': 'debian-ssh-key', 'debian_ssh_key_pub': 'debian-ssh-key.pub'}
    assert dict(build.OUTPUTS['linux'])['linux_cdrom'] == 'linux-cdrom.iso'
    # Everything under tests/guests/debian/ keys the Debian guest's cache entry.
    config = sorted('debian/' + name for name in os.listdir(os.path.join(GUESTS_DIR, 'debian')))
    assert sorted(name for name in build.SOURCES['debian'] if name.startswith('debian/')) == config


@pytest.mark.parametrize('error', [build.BuildError('no network'), KeyboardInterrupt()])
def test_interrupted_build_leaves_no_image(tmp_path, monkeypatch, error):
    def half_build(out, work, cache_dir):
        with open(os.path.join(out, 'linux.img'), 'wb') as f:
            f.write(b'half an image')
        raise error

    monkeypatch.setitem(build.BUILDERS, 'linux', half_build)
    with pytest.raises(type(error)):
        build.ensure('linux', str(tmp_path))
    assert sorted(os.listdir(str(tmp_path))) == ['.lock']


def test_build_error_is_reported(tmp_path, monkeypatch, capsys):
    def failing(out, work, cache_dir):
        raise build.BuildError('xorriso is missing')

    monkeypatch.setitem(build.BUILDERS, 'linux', failing)
    assert build.main(['--cache-dir', str(tmp_path), '--json', 'linux']) == 1
    captured = capsys.readouterr()
    assert captured.out == ''
    assert captured.err.splitlines()[-1] == 'build.py: error: xorriso is missing'


def test_unusable_cache_dir_is_reported(tmp_path, capsys):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    cache = blocker / 'cache'
    assert build.main(['--cache-dir', str(cache), 'bootsector']) == 1
    assert capsys.readouterr().err == (
        "build.py: error: [Errno 20] Not a directory: '%s'; check that the cache directory %s is writable, "
        "or choose another one with --cache-dir or NOMADIC_QEMU_GUEST_CACHE\n" % (cache, cache))


def test_source_edit_changes_the_key(tmp_path):
    base = tmp_path / 'guests'
    shutil.copytree(GUESTS_DIR, str(base))
    before = {guest: build.source_key(guest, str(base)) for guest in build.GUESTS}
    assert before == {guest: build.source_key(guest) for guest in build.GUESTS}
    with open(str(base / 'linux' / 'init'), 'a', encoding='utf-8') as f:
        f.write('# edited\n')
    after = {guest: build.source_key(guest, str(base)) for guest in build.GUESTS}
    assert after['bootsector'] == before['bootsector']
    assert after['linux'] != before['linux']


@pytest.mark.parametrize('env, expected', [
    ({'NOMADIC_QEMU_GUEST_CACHE': '/srv/guests'}, '/srv/guests'),
    ({'NOMADIC_QEMU_GUEST_CACHE': ''}, '/home/tester/.cache/nomadic-qemu/guests'),
    ({}, '/home/tester/.cache/nomadic-qemu/guests'),
])
def test_cache_dir_default(monkeypatch, env, expected):
    monkeypatch.delenv('NOMADIC_QEMU_GUEST_CACHE', raising=False)
    monkeypatch.setenv('HOME', '/home/tester')
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert build.cache_dir_default() == expected


def test_remove_stale_keeps_the_newest_entries(tmp_path):
    for age, name in enumerate(['linux-d', 'linux-c', 'linux-b', 'linux-a', 'bootsector-x', '.build-linux-y', 'debs']):
        path = tmp_path / name
        path.mkdir()
        os.utime(str(path), (1000000 - age, 1000000 - age))
    build.remove_stale(str(tmp_path), 'linux', 2)
    assert sorted(os.listdir(str(tmp_path))) == ['bootsector-x', 'debs', 'linux-c', 'linux-d']


# --- Linux guest pieces ---------------------------------------------------------


@pytest.mark.parametrize('missing, message', [
    ({'xorriso'}, 'the Linux guest build needs xorriso, which is not on PATH; install with: apt-get install xorriso'),
    ({'apt-get', 'dpkg-deb'}, 'the Linux guest build needs apt-get, dpkg-deb, which are not on PATH; install with: apt-get install apt dpkg'),
])
def test_check_host_tools(missing, message):
    with pytest.raises(build.BuildError) as exc:
        build.check_host_tools(lambda tool: None if tool in missing else '/usr/bin/' + tool)
    assert str(exc.value) == message


def test_check_host_tools_all_present():
    build.check_host_tools(lambda tool: '/usr/bin/' + tool)


def test_parse_control():
    text = 'Package: a\nVersion: 1:2.0-1\nDescription: short\n more\n .\n end\n\nPackage: b\nVersion: 9\n'
    assert build.parse_control(text) == {'Package': 'a', 'Version': '1:2.0-1', 'Description': 'short\nmore\n.\nend'}


@pytest.mark.parametrize('depends, expected', [
    ('linux-image-6.1.0-56-amd64 (= 6.1.192-2)', 'linux-image-6.1.0-56-amd64'),
    ('initramfs-tools, linux-image-6.12.9-amd64 (= 6.12.9-1) | linux-image-6.12.9-amd64-unsigned', 'linux-image-6.12.9-amd64'),
])
def test_kernel_package(depends, expected):
    assert build.kernel_package({'Depends': depends}) == expected


def test_kernel_package_missing():
    with pytest.raises(build.BuildError) as exc:
        build.kernel_package({'Depends': 'firmware-linux'})
    assert str(exc.value) == 'linux-image-amd64 does not depend on a linux-image-* package (Depends: firmware-linux); run apt-get update'


def fake_tool(directory, name, script):
    path = directory / name
    path.write_text('#!/bin/sh\n' + script)
    path.chmod(0o755)


@pytest.fixture
def fake_path(tmp_path, monkeypatch):
    directory = tmp_path / 'bin'
    directory.mkdir()
    monkeypatch.setenv('PATH', '%s:%s' % (directory, os.environ['PATH']))
    return directory


def test_fetch_deb_downloads_once(tmp_path, fake_path):
    fake_tool(fake_path, 'apt-get', 'echo "$@" >> "%s"\ntouch "tool_1%%3a2.0-1_all.deb"\n' % (tmp_path / 'calls'))
    fields = {'Version': '1:2.0-1', 'Filename': 'pool/main/t/tool/tool_2.0-1_all.deb'}
    debs = tmp_path / 'debs'
    work = tmp_path / 'work'
    work.mkdir()
    expected = str(debs / 'tool_2.0-1_all.deb')
    assert build.fetch_deb('tool', fields, str(debs), str(work)) == expected
    assert build.fetch_deb('tool', fields, str(debs), str(work)) == expected
    assert (tmp_path / 'calls').read_text().splitlines()[0].split()[-1] == 'tool=1:2.0-1'
    assert len((tmp_path / 'calls').read_text().splitlines()) == 1


def test_fetch_deb_failure_suggests_apt_get_update(tmp_path, fake_path):
    fake_tool(fake_path, 'apt-get', 'echo "E: Can\'t find a source to download version \'1.0\' of \'tool:amd64\'" >&2\nexit 100\n')
    work = tmp_path / 'work'
    work.mkdir()
    with pytest.raises(build.BuildError) as exc:
        build.fetch_deb('tool', {'Version': '1.0', 'Filename': 'pool/tool_1.0_amd64.deb'}, str(tmp_path / 'debs'), str(work))
    sandbox = '-o APT::Sandbox::User=root ' if os.geteuid() == 0 else ''
    assert str(exc.value) == (
        "downloading the package tool failed (apt-get download %stool=1.0 exited with 100): "
        "E: Can't find a source to download version '1.0' of 'tool:amd64'; "
        "run apt-get update, and check that this machine reaches its Debian package mirror" % sandbox)


def test_package_info_unknown_package(fake_path):
    fake_tool(fake_path, 'apt-cache', 'echo "E: No packages found" >&2\nexit 100\n')
    with pytest.raises(build.BuildError) as exc:
        build.package_info('linux-image-amd64')
    assert str(exc.value) == (
        'looking up the package linux-image-amd64 failed (apt-cache show --no-all-versions linux-image-amd64 exited with 100): '
        'E: No packages found; run apt-get update (the package lists may be missing or stale)')


def test_run_missing_command():
    with pytest.raises(build.BuildError) as exc:
        build.run(['/nonexistent/xorriso'], 'making the ISO image', 'apt-get install xorriso')
    assert str(exc.value).startswith('making the ISO image: cannot run /nonexistent/xorriso: ')
    assert str(exc.value).endswith('; apt-get install xorriso')


@pytest.mark.parametrize('wanted, depends, builtin, expected', [
    (['a'], {'a': []}, set(), ['a']),
    (['virtio_net'], {'virtio_net': ['net_failover', 'virtio'], 'net_failover': ['failover'], 'failover': [], 'virtio': []}, set(),
     ['failover', 'net_failover', 'virtio', 'virtio_net']),
    (['b', 'a'], {'a': ['c'], 'b': ['c'], 'c': []}, set(), ['c', 'b', 'a']),
    (['a', 'evdev'], {'a': ['virtio']}, {'virtio', 'evdev'}, ['a']),
])
def test_module_load_order(wanted, depends, builtin, expected):
    assert build.module_load_order(wanted, depends, builtin) == expected


@pytest.mark.parametrize('wanted, depends, message', [
    (['a'], {'a': ['b']}, 'kernel module b (needed by a) is neither a module file nor built in'),
    (['x'], {}, 'kernel module x is neither a module file nor built in'),
    (['a'], {'a': ['b'], 'b': ['a']}, 'kernel module dependency cycle: a -> b -> a'),
])
def test_module_load_order_errors(wanted, depends, message):
    with pytest.raises(build.BuildError) as exc:
        build.module_load_order(wanted, depends, set())
    assert str(exc.value) == message


@pytest.mark.parametrize('filename, name', [
    ('virtio_net.ko', 'virtio_net'),
    ('kernel/drivers/virtio/virtio-pci.ko.xz', 'virtio_pci'),
])
def test_module_name(filename, name):
    assert build.module_name(filename) == name


needs_as = pytest.mark.skipif(shutil.which('as') is None, reason='GNU as not installed')


def assemble_module(tmp_path, name, modinfo):
    source = tmp_path / (name + '.s')
    source.write_text('.text\nnop\n.section .modinfo,"a"\n' + ''.join('.asciz "%s"\n' % item for item in modinfo))
    path = tmp_path / (name + '.ko')
    subprocess.run(['as', '--64', '-o', str(path), str(source)], check=True)
    return path


@needs_as
@pytest.mark.parametrize('modinfo, expected', [
    (['license=GPL', 'depends=virtio,virtio_ring', 'name=virtio_pci'], {'license': ['GPL'], 'depends': ['virtio,virtio_ring'], 'name': ['virtio_pci']}),
    (['alias=a', 'alias=b', 'depends='], {'alias': ['a', 'b'], 'depends': ['']}),
])
def test_elf_modinfo(tmp_path, modinfo, expected):
    assert build.elf_modinfo(assemble_module(tmp_path, 'm', modinfo).read_bytes()) == expected


def test_elf_modinfo_rejects_other_files():
    with pytest.raises(build.BuildError) as exc:
        build.elf_modinfo(b'\x7fELF\x01\x01' + bytes(58))
    assert str(exc.value) == 'not a 64-bit little-endian ELF file'


@needs_as
def test_resolve_modules(tmp_path):
    modules = tmp_path / 'lib' / 'modules' / '6.1.0-1-amd64'
    drivers = modules / 'kernel' / 'drivers'
    drivers.mkdir(parents=True)
    for name, depends in [('virtio_net', 'net_failover,virtio'), ('net_failover', 'failover'), ('failover', ''), ('evdev', '')]:
        shutil.move(str(assemble_module(tmp_path, name, ['depends=' + depends])), str(drivers / (name + '.ko')))
    (modules / 'modules.builtin').write_text('kernel/drivers/virtio/virtio.ko\n')
    result = build.resolve_modules(str(modules), ('virtio_net', 'evdev'))
    assert [name for name, data in result] == ['failover', 'net_failover', 'virtio_net', 'evdev']
    assert result[0][1] == (drivers / 'failover.ko').read_bytes()


@needs_as
def test_resolve_modules_dashed_dependency(tmp_path):
    # modinfo spells some dependencies with dashes (sd_mod: depends=t10-pi).
    modules = tmp_path / 'lib' / 'modules' / '6.1.0-1-amd64'
    drivers = modules / 'kernel' / 'drivers'
    drivers.mkdir(parents=True)
    shutil.move(str(assemble_module(tmp_path, 'sd_mod', ['depends=t10-pi'])), str(drivers / 'sd_mod.ko'))
    shutil.move(str(assemble_module(tmp_path, 't10_pi', ['depends='])), str(drivers / 't10-pi.ko'))
    assert [name for name, data in build.resolve_modules(str(modules), ('sd_mod',))] == ['t10_pi', 'sd_mod']


def test_cpio_newc_framing():
    entries = [
        ('bin', stat.S_IFDIR | 0o755, b'', None),
        ('bin/sh', stat.S_IFLNK | 0o777, b'busybox', None),
        ('dev/console', stat.S_IFCHR | 0o600, b'', (5, 1)),
        ('odd', stat.S_IFREG | 0o644, b'12345', None),
    ]
    parsed = read_newc(build.cpio_newc(entries))
    assert parsed == {name: (mode, data, rdev or (0, 0)) for name, mode, data, rdev in entries}


@pytest.mark.skipif(shutil.which('cpio') is None, reason='cpio not installed')
def test_cpio_newc_is_read_by_cpio(tmp_path):
    archive = build.cpio_newc([('dir', stat.S_IFDIR | 0o755, b'', None), ('dir/file', stat.S_IFREG | 0o644, b'abc', None)])
    listing = subprocess.run(['cpio', '-it', '--quiet'], input=archive, stdout=subprocess.PIPE, check=True).stdout
    assert listing.decode().split() == ['dir', 'dir/file']


def test_initramfs(tmp_path):
    busybox = tmp_path / 'busybox'
    busybox.write_bytes(b'\x7fELF busybox')
    archive = read_newc(gzip.decompress(build.initramfs(str(busybox), [('virtio', b'v'), ('virtio_net', b'n')])))
    sources = os.path.join(GUESTS_DIR, 'linux')
    with open(os.path.join(sources, 'init'), 'rb') as f:
        init = f.read()
    with open(os.path.join(sources, 'power-button'), 'rb') as f:
        power_button = f.read()
    assert archive['init'] == (stat.S_IFREG | 0o755, init, (0, 0))
    assert archive['etc/acpi/PWRF/00000080'] == (stat.S_IFREG | 0o755, power_button, (0, 0))
    assert archive['bin/busybox'] == (stat.S_IFREG | 0o755, b'\x7fELF busybox', (0, 0))
    assert archive['bin/sh'] == (stat.S_IFLNK | 0o777, b'busybox', (0, 0))
    assert archive['dev/console'] == (stat.S_IFCHR | 0o600, b'', (5, 1))
    assert archive['etc/modules'][1] == b'virtio\nvirtio_net\n'
    assert archive['lib/modules/virtio_net.ko'][1] == b'n'
    assert archive['etc/modules-install'][1] == b''
    assert 'install.img' not in archive
    # Every file's directory comes before it: the kernel does not create parents.
    names = list(archive)
    for index, name in enumerate(names):
        parent = os.path.dirname(name)
        assert not parent or parent in names[:index]


def test_initramfs_installer(tmp_path):
    busybox = tmp_path / 'busybox'
    busybox.write_bytes(b'\x7fELF busybox')
    archive = read_newc(gzip.decompress(build.initramfs(
        str(busybox), [('virtio', b'v'), ('virtio_net', b'n')],
        install_modules=[('virtio', b'v'), ('virtio_blk', b'b')], payload=b'sector')))
    # Modules loaded at every boot are not loaded again by the installer.
    assert archive['etc/modules-install'][1] == b'virtio_blk\n'
    assert archive['lib/modules/virtio_blk.ko'][1] == b'b'
    assert archive['install.img'] == (stat.S_IFREG | 0o644, b'sector', (0, 0))


def test_isolinux_configs_differ_only_by_install():
    def append(name):
        with open(os.path.join(GUESTS_DIR, 'linux', name), encoding='utf-8') as f:
            return [line.split(None, 1)[1].strip() for line in f if line.strip().startswith('APPEND')]

    assert append('isolinux.cfg') == ['console=ttyS0']
    assert append('isolinux-cdrom.cfg') == ['console=ttyS0 nomadic.install=1']
