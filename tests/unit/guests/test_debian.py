# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of tests/guests/debian.py, the Debian test guest's builder (no network, no root, no QEMU)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.tests.unit.guests.guest_modules import GUESTS_DIR, load as _load


build = _load('build')
debian = _load('debian')

MIB = 1024 * 1024


# --- apt sources --------------------------------------------------------------

DEB822 = '''\
Types: deb
# a comment inside the stanza
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
'''


def test_deb822():
    entries = debian.parse_deb822_sources(DEB822)
    assert entries == [
        {'types': ['deb'], 'uris': ['http://mirror.example/debian'], 'suites': ['bookworm', 'bookworm-updates'], 'components': ['main']},
        {'types': ['deb'], 'uris': ['http://mirror.example/debian-security'], 'suites': ['bookworm-security'], 'components': ['main']},
    ]
    assert debian.pick_mirror(entries) == 'http://mirror.example/debian'


def test_deb822_disabled_and_source_stanzas():
    text = ('Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n'
            'Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n\n'
            'Types: deb deb-src\nURIs: http://on.example/debian\n  http://other.example/debian\nSuites: bookworm\nComponents: main contrib\n')
    entries = debian.parse_deb822_sources(text)
    assert len(entries) == 2
    assert entries[1]['uris'] == ['http://on.example/debian', 'http://other.example/debian']
    assert debian.pick_mirror(entries) == 'http://on.example/debian'


@pytest.mark.parametrize('line, expected', [
    ('deb http://a.example/debian bookworm main', 'http://a.example/debian'),
    ('deb [arch=amd64 signed-by=/k.gpg] http://b.example/debian bookworm main contrib # comment', 'http://b.example/debian'),
    ('deb [ arch=amd64 ] http://c.example/debian bookworm main', 'http://c.example/debian'),
    ('deb-src http://d.example/debian bookworm main', None),
    ('# deb http://e.example/debian bookworm main', None),
    ('deb http://f.example/debian bookworm-security main', None),
    ('deb http://g.example/debian bookworm contrib', None),
    ('deb cdrom:[Debian 12]/ bookworm', None),
])
def test_one_line(line, expected):
    assert debian.pick_mirror(debian.parse_one_line_sources(line + '\n')) == expected


def test_apt_mirror_reads_files_in_order(tmp_path):
    (tmp_path / 'sources.list').write_text('# nothing here\n')
    parts = tmp_path / 'sources.list.d'
    parts.mkdir()
    (parts / 'a.list.disabled').write_text('deb http://disabled.example/debian bookworm main\n')
    (parts / 'debian.sources').write_text(DEB822)
    (parts / 'z.list').write_text('deb http://later.example/debian bookworm main\n')
    patterns = [str(tmp_path / 'sources.list'), str(parts / '*.list'), str(parts / '*.sources')]
    # .list files are read before .sources files, as the patterns say.
    assert debian.apt_mirror(patterns) == 'http://later.example/debian'
    assert debian.apt_mirror(patterns[::2]) == 'http://mirror.example/debian'
    assert debian.apt_mirror(patterns[:1]) is None


# --- disk layout --------------------------------------------------------------


def test_default_layout():
    layout = debian.disk_layout()
    assert layout == {'boot': (1 * MIB, 64 * MIB), 'root': (65 * MIB, 2048 * MIB - 65 * MIB)}
    assert debian.sfdisk_script(layout) == (
        'label: dos\nunit: sectors\n\n'
        'start=2048, size=131072, type=c, bootable\n'
        'start=133120, size=4061184, type=83\n')


def test_layout_aligns_and_fits():
    layout = debian.disk_layout(disk_size=100 * MIB + 12345, boot_size=3 * MIB + 1)
    boot_start, boot_size = layout['boot']
    root_start, root_size = layout['root']
    assert boot_start == MIB and root_start == 5 * MIB
    assert root_start % MIB == 0 and root_size % MIB == 0
    assert root_start + root_size <= 100 * MIB + 12345
    assert boot_start + boot_size <= root_start


def test_layout_too_small():
    with pytest.raises(ValueError):
        debian.disk_layout(disk_size=65 * MIB)


def test_root_uuid_is_stable_and_valid():
    first = debian.root_uuid('0123456789abcdef')
    assert first == debian.root_uuid('0123456789abcdef') != debian.root_uuid('fedcba9876543210')
    assert len(first) == 36 and first[14] == '4'


def test_config_placeholders_are_filled():
    for name in ('fstab', 'syslinux.cfg'):
        with open(os.path.join(GUESTS_DIR, 'debian', name), encoding='utf-8') as f:
            text = f.read()
        assert '@ROOT_UUID@' in text
        assert '@' not in debian.fill(text, {'ROOT_UUID': 'u'})


def test_cloud_config_datasources():
    with open(os.path.join(GUESTS_DIR, 'debian', 'cloud.cfg'), encoding='utf-8') as f:
        assert 'datasource_list: [NoCloud, None]\n' in f.read()


# --- kernel modules -----------------------------------------------------------


def fake_modules(tmp_path, depends, builtin=()):
    """A module tree whose files need not be ELF: select_modules only sees tools' functions."""
    directory = tmp_path / 'lib' / 'modules' / '6.1.0-1-amd64'
    (directory / 'kernel' / 'drivers').mkdir(parents=True)
    for name in depends:
        (directory / 'kernel' / 'drivers' / (name.replace('_', '-') + '.ko')).write_bytes(name.encode())
    (directory / 'modules.builtin').write_text(''.join('kernel/x/%s.ko\n' % name for name in builtin))
    return directory


class FakeTools:
    """build.py's module helpers, with dependencies from a table instead of .modinfo."""

    def __init__(self, depends):
        self.depends = depends
        self.BuildError = build.BuildError
        self.index_modules = build.index_modules

    def resolve_modules(self, modules_dir, wanted):
        files, builtin = build.index_modules(modules_dir)
        return [(name, b'') for name in build.module_load_order(wanted, self.depends, builtin)]


def test_select_and_prune_modules(tmp_path):
    depends = {'virtio_blk': ['virtio'], 'virtio': [], 'sd_mod': ['t10_pi'], 't10_pi': [], 'sound': [], 'opt_a': []}
    directory = fake_modules(tmp_path, depends, builtin=['ext4'])
    tools = FakeTools(depends)
    keep, files = debian.select_modules(tools, str(directory), required=('virtio_blk', 'sd_mod', 'ext4'),
                                        optional=('opt_a', 'opt_missing'))
    assert keep == ['virtio', 'virtio_blk', 't10_pi', 'sd_mod', 'opt_a']
    assert sorted(files) == sorted(depends)

    kept = debian.prune_modules(tools, str(directory), required=('sd_mod',), optional=())
    assert kept == ['sd_mod', 't10_pi']
    assert sorted(os.listdir(str(directory / 'kernel' / 'drivers'))) == ['sd-mod.ko', 't10-pi.ko']


def test_missing_required_module(tmp_path):
    directory = fake_modules(tmp_path, {'virtio': []})
    with pytest.raises(build.BuildError, match='ahci'):
        debian.select_modules(FakeTools({'virtio': []}), str(directory), required=('ahci',), optional=())


def test_required_modules_are_not_optional():
    assert not set(debian.REQUIRED_MODULES) & set(debian.OPTIONAL_MODULES)


# --- host checks --------------------------------------------------------------


def test_check_host_names_packages():
    with pytest.raises(build.BuildError) as exc:
        debian.check_host(build, which=lambda tool: None if tool in ('syslinux', 'mcopy') else '/bin/' + tool,
                          exists=lambda path: True, euid=0)
    assert str(exc.value).endswith('install with: apt-get install mtools syslinux')


def test_check_host_needs_root():
    with pytest.raises(build.BuildError, match='root'):
        debian.check_host(build, which=lambda tool: '/bin/' + tool, exists=lambda path: True, euid=1000)


def test_prune_debs(tmp_path):
    for name in ('libc6_2.36-9_amd64.deb', 'libc6_2.35-1_amd64.deb', 'dbus_1.14%3a1_amd64.deb', 'partial'):
        (tmp_path / name).write_bytes(b'')
    debian.prune_debs(str(tmp_path), {'libc6': '2.36-9', 'dbus': '1.14:1'})
    assert sorted(os.listdir(str(tmp_path))) == ['dbus_1.14%3a1_amd64.deb', 'libc6_2.36-9_amd64.deb', 'partial']
