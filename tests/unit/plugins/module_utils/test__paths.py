# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils import _paths
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._paths import check_args, check_image_chain, is_within, resolve_image


@pytest.fixture
def tree(tmp_path):
    """images/ (allowed), imagesevil/ and evil/ (not allowed), task/ (the task directory)."""
    images = tmp_path / 'images'
    (images / 'sub').mkdir(parents=True)
    (images / 'vm.qcow2').write_bytes(b'QFI\xfb')
    (images / 'sub' / 'disk.img').write_bytes(b'\0' * 512)
    (images / 'dir.img').mkdir()
    os.mkfifo(str(images / 'fifo.img'))
    evil = tmp_path / 'evil'
    evil.mkdir()
    (evil / 'secret.img').write_bytes(b'secret')
    (images / 'link_out.img').symlink_to(evil / 'secret.img')
    (images / 'link_in.img').symlink_to(images / 'sub' / 'disk.img')
    (images / 'dangling.img').symlink_to(tmp_path / 'gone.img')
    (tmp_path / 'imagesevil').mkdir()
    (tmp_path / 'imagesevil' / 'x.img').write_bytes(b'x')
    (tmp_path / 'tmp').mkdir()
    (tmp_path / 'tmpimage.img').write_bytes(b'x')
    (tmp_path / 'alias').symlink_to(images)
    task = tmp_path / 'task'
    (task / 'local').mkdir(parents=True)
    (task / 'local' / 'rel.img').write_bytes(b'rel')
    (task / 'local' / 'to_images.img').symlink_to(images / 'vm.qcow2')
    (task / 'local' / 'to_evil.img').symlink_to(evil / 'secret.img')
    return {'root': str(tmp_path), 'I': str(images), 'E': str(evil), 'T': str(task)}


def fill(value, tree):
    """Replace {root}, {I}, {E} and {T} in strings, lists and dicts (JSON braces stay as they are)."""
    if isinstance(value, str):
        for key, path in tree.items():
            value = value.replace('{%s}' % key, path)
        return value
    if isinstance(value, (list, tuple)):
        return [fill(item, tree) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, tree) for key, item in value.items()}
    return value


OUTSIDE = "image_path '{given}' is outside the allowed image_paths ({dirs}); add its directory to image_paths or move the image"
RESOLVES = ("image_path '{given}' resolves to '{real}' which is outside the allowed image_paths ({dirs}); add its directory to"
            " image_paths or move the image")


@pytest.mark.parametrize('image, image_paths, expected', [
    ('{I}/vm.qcow2', None, '{I}/vm.qcow2'),
    ('{I}/vm.qcow2', ['{I}'], '{I}/vm.qcow2'),
    ('{I}/vm.qcow2', ['{I}/'], '{I}/vm.qcow2'),
    ('{I}/sub/disk.img', ['{I}'], '{I}/sub/disk.img'),
    ('{I}/sub/../vm.qcow2', ['{I}'], '{I}/vm.qcow2'),
    ('{I}/link_in.img', ['{I}'], '{I}/sub/disk.img'),
    ('{I}/vm.qcow2', ['{root}/alias'], '{I}/vm.qcow2'),
    ('{root}/alias/vm.qcow2', ['{I}'], '{I}/vm.qcow2'),
    ('local/rel.img', None, '{T}/local/rel.img'),
    ('local/rel.img', ['{I}'], '{T}/local/rel.img'),
    ('local/rel.img', [], '{T}/local/rel.img'),
    ('./local/../local/rel.img', ['{I}'], '{T}/local/rel.img'),
    ('local/to_images.img', ['{I}'], '{I}/vm.qcow2'),
    ('{E}/secret.img', ['{I}', '{E}'], '{E}/secret.img'),
    ('~/x.img', None, None),  # ~ is not expanded: a missing file in the task directory
])
def test_resolve_image(tree, image, image_paths, expected):
    if expected is None:
        with pytest.raises(QemuTaskError) as exc:
            resolve_image(image, tree['T'], fill(image_paths, tree))
        assert str(exc.value) == "image_path '~/x.img' does not exist in the task directory (%s)" % tree['T']
        return
    assert resolve_image(fill(image, tree), tree['T'], fill(image_paths, tree)) == fill(expected, tree)


@pytest.mark.parametrize('image, image_paths, message', [
    pytest.param('{I}/link_out.img', ['{I}'], RESOLVES.format(given='{I}/link_out.img', real='{E}/secret.img', dirs='{I}'),
                 id='symlink escape'),
    pytest.param('{I}/../evil/secret.img', ['{I}'], RESOLVES.format(given='{I}/../evil/secret.img', real='{E}/secret.img', dirs='{I}'),
                 id='dot-dot escape'),
    pytest.param('{root}/imagesevil/x.img', ['{I}'], OUTSIDE.format(given='{root}/imagesevil/x.img', dirs='{I}'),
                 id='prefix trick /images vs /imagesevil'),
    pytest.param('{root}/tmpimage.img', ['{root}/tmp'], OUTSIDE.format(given='{root}/tmpimage.img', dirs='{root}/tmp'),
                 id='prefix trick /tmp vs /tmpimage.img'),
    pytest.param('{E}/secret.img', ['{I}', '{root}/tmp'], OUTSIDE.format(given='{E}/secret.img', dirs='{I}, {root}/tmp'),
                 id='several dirs'),
    pytest.param('{I}/vm.qcow2', [], OUTSIDE.format(given='{I}/vm.qcow2', dirs='none'), id='empty list allows the task dir only'),
    pytest.param('local/to_evil.img', ['{I}'], RESOLVES.format(given='local/to_evil.img', real='{E}/secret.img', dirs='{I}'),
                 id='relative symlink escape'),
    pytest.param('../evil/secret.img', ['{I}'], RESOLVES.format(given='../evil/secret.img', real='{E}/secret.img', dirs='{I}'),
                 id='relative dot-dot escape'),
    pytest.param('{E}/missing.img', ['{I}'], OUTSIDE.format(given='{E}/missing.img', dirs='{I}'),
                 id='outside is reported before existence'),
    pytest.param('/nonexistent/x.img', None, "image_path '/nonexistent/x.img' does not exist", id='missing'),
    pytest.param('missing.img', None, "image_path 'missing.img' does not exist in the task directory ({T})", id='missing relative'),
    pytest.param('{I}/dangling.img', ['{I}'], RESOLVES.format(given='{I}/dangling.img', real='{root}/gone.img', dirs='{I}'),
                 id='dangling symlink out'),
    pytest.param('{I}/dangling.img', None, "image_path '{I}/dangling.img' does not exist", id='dangling symlink'),
    pytest.param('{I}/dir.img', ['{I}'], "image_path '{I}/dir.img' is a directory; set image_path to the image file inside it",
                 id='directory'),
    pytest.param('{I}/fifo.img', ['{I}'],
                 "image_path '{I}/fifo.img' is not a regular file or block device; set image_path to an image file", id='fifo'),
    pytest.param('', None, 'image_path must be set to the image file, such as /var/lib/images/vm.qcow2', id='empty'),
    pytest.param(None, None, 'image_path must be set to the image file, such as /var/lib/images/vm.qcow2', id='none'),
])
def test_resolve_image_errors(tree, image, image_paths, message):
    with pytest.raises(QemuTaskError) as exc:
        resolve_image(fill(image, tree), tree['T'], fill(image_paths, tree))
    assert str(exc.value) == fill(message, tree)
    assert exc.value.option == 'image_path'


@pytest.mark.parametrize('image_paths, message', [
    (['images'], "image_paths entry 'images' is not an absolute path; use absolute directories in image_paths"),
    (['/ok', '~/images'], "image_paths entry '~/images' is not an absolute path; use absolute directories in image_paths"),
    ([3], "image_paths entry '3' is not an absolute path; use absolute directories in image_paths"),
    ('/var/lib/images', 'image_paths must be a list of absolute directories, such as [/var/lib/images]'),
])
def test_resolve_image_bad_image_paths(tree, image_paths, message):
    with pytest.raises(QemuTaskError) as exc:
        resolve_image('local/rel.img', tree['T'], image_paths)
    assert str(exc.value) == message
    assert exc.value.option == 'image_paths'


def test_resolve_image_without_task_dir_uses_working_directory(tree, monkeypatch):
    monkeypatch.chdir(tree['T'])
    assert resolve_image('local/rel.img', None) == os.path.join(tree['T'], 'local', 'rel.img')
    with pytest.raises(QemuTaskError) as exc:
        resolve_image('nope.img', None)
    assert str(exc.value) == "image_path 'nope.img' does not exist in the working directory (%s)" % tree['T']


@pytest.mark.skipif(os.geteuid() == 0, reason='root reads any file')
def test_resolve_image_unreadable(tree):
    path = os.path.join(tree['I'], 'locked.img')
    with open(path, 'wb') as handle:
        handle.write(b'x')
    os.chmod(path, 0)
    with pytest.raises(QemuTaskError) as exc:
        resolve_image(path, tree['T'], [tree['I']])
    assert str(exc.value) == ("image_path '%s' is not readable by the user running the task (uid %d); make it readable by that user"
                              % (path, os.geteuid()))


def test_resolve_image_unreadable_as_reported_by_the_system(tree, monkeypatch):
    # As root every file is readable; let the system say no for this one.
    path = os.path.join(tree['I'], 'vm.qcow2')
    monkeypatch.setattr(_paths.os, 'access', lambda candidate, mode: not (candidate == path and mode == os.R_OK))
    with pytest.raises(QemuTaskError) as exc:
        resolve_image(path, tree['T'], [tree['I']])
    assert str(exc.value) == ("image_path '%s' is not readable by the user running the task (uid %d); make it readable by that user"
                              % (path, os.geteuid()))


@pytest.mark.skipif(os.geteuid() == 0, reason='root can search any directory')
def test_resolve_image_unsearchable_directory(tree):
    locked = os.path.join(tree['I'], 'locked')
    os.mkdir(locked)
    os.chmod(locked, 0)
    try:
        with pytest.raises(QemuTaskError) as exc:
            resolve_image(os.path.join(locked, 'x.img'), tree['T'], [tree['I']])
        assert str(exc.value) == ("image_path '%s/x.img' cannot be read (Permission denied); fix the permissions of its directories"
                                  % locked)
    finally:
        os.chmod(locked, 0o700)


@pytest.mark.parametrize('path, directory, expected', [
    ('{I}/vm.qcow2', '{I}', True),
    ('{I}', '{I}', True),
    ('{I}/sub/disk.img', '{I}', True),
    ('{I}/vm.qcow2', '{I}/', True),
    ('{root}/imagesevil/x.img', '{I}', False),
    ('{root}/tmpimage.img', '{root}/tmp', False),
    ('{I}/../evil/secret.img', '{I}', False),
    ('{I}/link_out.img', '{I}', False),
    ('{I}/link_in.img', '{I}/sub', True),
    ('{root}/alias/vm.qcow2', '{I}', True),
    ('{I}/vm.qcow2', '{root}/alias', True),
    ('{E}/secret.img', '/', True),
    ('{I}/not-yet.img', '{I}', True),
    ('{I}', '{I}/sub', False),
])
def test_is_within(tree, path, directory, expected):
    assert is_within(fill(path, tree), fill(directory, tree)) is expected


def test_is_within_relative_paths(tree, monkeypatch):
    monkeypatch.chdir(tree['T'])
    assert is_within('local/rel.img', tree['T'])
    assert is_within('local/rel.img', 'local')
    assert not is_within('../evil/secret.img', '.')


# --- args_allowlist ----------------------------------------------------------------------------

NOT_ALLOWED = "args contains '{0}' which is not in args_allowlist ({1}); remove it from args or add it to args_allowlist"


@pytest.mark.parametrize('args, allowlist, message', [
    (['-m', '512', '-foo'], ['-m', '-smp'], NOT_ALLOWED.format('-foo', '-m, -smp')),
    (['--m', '512'], ['-m', '-smp'], NOT_ALLOWED.format('--m', '-m, -smp')),
    (['-m', '512'], [], NOT_ALLOWED.format('-m', 'none')),
    (['-drive', 'file=/etc/shadow'], ['-m'], NOT_ALLOWED.format('-drive', '-m')),
    (['-name', '-drive'], ['-name'], NOT_ALLOWED.format('-drive', '-name')),  # every word starting with '-', as in Nomad
    (['-S', '/etc/shadow'], ['-S'], "args contains '/etc/shadow', which QEMU reads as a disk image (like -hda), and -hda is not in"
                                    " args_allowlist (-S); remove it from args or add -hda to args_allowlist"),
    (['disk.img'], [], "args contains 'disk.img', which QEMU reads as a disk image (like -hda), and -hda is not in args_allowlist"
                       " (none); remove it from args or add -hda to args_allowlist"),
])
def test_check_args_allowlist_refuses(args, allowlist, message):
    with pytest.raises(QemuTaskError) as exc:
        check_args(args, args_allowlist=allowlist)
    assert str(exc.value) == message
    assert exc.value.option == 'args'


@pytest.mark.parametrize('args, allowlist', [
    (['-m', '512', '-smp', '2'], ['-m', '-smp']),
    (['-m', '512'], None),
    ([], []),
    (['-append', 'console=ttyS0 root=/dev/vda'], ['-append']),  # values are not checked
    (['-S', 'disk.img'], ['-S', '-hda']),
])
def test_check_args_allowlist_allows(args, allowlist):
    check_args(args, args_allowlist=allowlist)


@pytest.mark.parametrize('allowlist', ['-m', [1], {'-m': True}])
def test_check_args_allowlist_type(allowlist):
    with pytest.raises(QemuTaskError) as exc:
        check_args(['-m', '1'], args_allowlist=allowlist)
    assert str(exc.value) == 'args_allowlist must be a list of options, such as [-m, -smp]'
    assert exc.value.option == 'args_allowlist'


def test_check_args_structure_applies(tree):
    with pytest.raises(QemuTaskError) as exc:
        check_args(['-pidfile', '/tmp/x'], image_paths=[tree['I']], task_dir=tree['T'])
    assert str(exc.value) == ("args contains '-pidfile', which the collection passes itself (its pidfile is qemu.pid in the task"
                              " directory); remove it from args")


# --- image_paths against args (CVE-2021-43415 and friends) ---------------------------------------

JSON_HINT = 'write it as strict JSON (double quotes) or as key=value pairs'


def uses(option, value, path='/etc/shadow', real=None):
    entry = ('%s %s' % (option, value)) if option else value
    where = "which resolves to '%s' which is" % real if real else 'which is'
    return ("args entry '%s' uses '%s', %s outside the allowed image_paths ({I}); add its directory to image_paths or move the file"
            % (entry, path, where))


def protocol(entry, name):
    return "args entry '%s' uses the '%s' protocol, which reads images from outside image_paths; use a local image file instead" % (entry, name)


def driver(entry, name):
    return ("args entry '%s' uses the block driver '%s', which image_paths cannot restrict; use a local image file with a format driver"
            " such as raw or qcow2" % (entry, name))


BYPASSES = [
    # -drive, in all its spellings
    (['-drive', 'file=/etc/shadow'], uses('-drive', 'file=/etc/shadow')),
    (['--drive', 'file=/etc/shadow,if=virtio'], uses('--drive', 'file=/etc/shadow,if=virtio')),
    (['-drive', 'if=none,x,,file=/etc/shadow'], uses('-drive', 'if=none,x,,file=/etc/shadow')),
    (['-drive', 'file=file:/etc/shadow'], uses('-drive', 'file=file:/etc/shadow')),
    (['-drive', 'file=host_device:/dev/sda'], uses('-drive', 'file=host_device:/dev/sda', '/dev/sda')),
    (['-drive', 'file={I}/ok.img,file.filename=/etc/shadow'], uses('-drive', 'file={I}/ok.img,file.filename=/etc/shadow')),
    (['-drive', 'file.driver=file,file.filename=/etc/shadow'], uses('-drive', 'file.driver=file,file.filename=/etc/shadow')),
    (['-drive', 'filename=/etc/shadow'], uses('-drive', 'filename=/etc/shadow')),
    (['-drive', 'file=nbd://evil:10809/x'], protocol('-drive file=nbd://evil:10809/x', 'nbd')),
    (['-drive', 'file=http://evil/x.img'], protocol('-drive file=http://evil/x.img', 'http')),
    (['-drive', 'file=fat:rw:/etc'], protocol('-drive file=fat:rw:/etc', 'fat')),
    (['-drive', 'file=nbd:evil:10809'], protocol('-drive file=nbd:evil:10809', 'nbd')),
    (['-drive', 'file=json:{"driver":"file",,"filename":"/etc/shadow"}'],
     uses('-drive', 'file=json:{"driver":"file",,"filename":"/etc/shadow"}')),
    (['-drive', 'file=json:{"driver":"file","filename":"/etc/shadow"}'],
     "args entry '-drive file=json:{\"driver\":\"file\",\"filename\":\"/etc/shadow\"}' is not valid JSON (Expecting ',' delimiter:"
     " line 1 column 17 (char 16)); " + JSON_HINT),
    (['-drive', 'file=json:{"driver":"nbd",,"server":{"type":"inet",,"host":"evil",,"port":"10809"}}'],
     driver('-drive file=json:{"driver":"nbd",,"server":{"type":"inet",,"host":"evil",,"port":"10809"}}', 'nbd')),
    (['-drive', 'driver=nbd,host=evil,port=10809'], driver('-drive driver=nbd,host=evil,port=10809', 'nbd')),
    (['-drive', 'file={I}/ok.img,format=vvfat'], driver('-drive file={I}/ok.img,format=vvfat', 'vvfat')),
    (['-drive', 'file.driver=ssh,file.host=evil'], driver('-drive file.driver=ssh,file.host=evil', 'ssh')),
    # -blockdev, key=value and JSON
    (['-blockdev', 'driver=file,node-name=f,filename=/etc/shadow'], uses('-blockdev', 'driver=file,node-name=f,filename=/etc/shadow')),
    (['-blockdev', 'driver=qcow2,node-name=q,file.driver=file,file.filename=/etc/shadow'],
     uses('-blockdev', 'driver=qcow2,node-name=q,file.driver=file,file.filename=/etc/shadow')),
    (['-blockdev', '{"driver":"qcow2","node-name":"q","file":{"driver":"file","filename":"/etc/shadow"}}'],
     uses('-blockdev', '{"driver":"qcow2","node-name":"q","file":{"driver":"file","filename":"/etc/shadow"}}')),
    (['-blockdev', '{"driver":"quorum","node-name":"q","children":[{"driver":"file","filename":"/etc/shadow"}]}'],
     driver('-blockdev {"driver":"quorum","node-name":"q","children":[{"driver":"file","filename":"/etc/shadow"}]}', 'quorum')),
    (['-blockdev', "{'driver':'file','filename':'/etc/shadow'}"],
     "args entry '-blockdev {'driver':'file','filename':'/etc/shadow'}' is not valid JSON (Expecting property name enclosed in double"
     " quotes: line 1 column 2 (char 1)); " + JSON_HINT),
    (['-blockdev', '{"driver":"file","filename":"{I}/ok.img","filename":"/etc/shadow"}'],
     "args entry '-blockdev {\"driver\":\"file\",\"filename\":\"{I}/ok.img\",\"filename\":\"/etc/shadow\"}' is not valid JSON"
     " (duplicate key); " + JSON_HINT),
    (['-drive', 'file=json:["/etc/shadow"]'],
     "args entry '-drive file=json:[\"/etc/shadow\"]' is not a JSON object; write it as {\"key\": \"value\", ...} or as key=value pairs"),
    (['-blockdev', 'driver=nbd,node-name=n,server.type=inet,server.host=evil,server.port=10809'],
     driver('-blockdev driver=nbd,node-name=n,server.type=inet,server.host=evil,server.port=10809', 'nbd')),
    (['-blockdev', 'driver=vvfat,node-name=v,dir=/etc'], driver('-blockdev driver=vvfat,node-name=v,dir=/etc', 'vvfat')),
    (['-blockdev', 'driver=file,node-name=f,filename=/dev/fdset/1'],
     uses('-blockdev', 'driver=file,node-name=f,filename=/dev/fdset/1', '/dev/fdset/1')),
    # the other disk options and bare disk words
    (['-cdrom', '/etc/shadow'], uses('-cdrom', '/etc/shadow')),
    (['-hda', '/etc/shadow'], uses('-hda', '/etc/shadow')),
    (['-hdd', 'file:/etc/shadow'], uses('-hdd', 'file:/etc/shadow')),
    (['-fda', '/etc/shadow'], uses('-fda', '/etc/shadow')),
    (['-fdb', '/etc/shadow'], uses('-fdb', '/etc/shadow')),
    (['-mtdblock', '/etc/shadow'], uses('-mtdblock', '/etc/shadow')),
    (['-sd', '/etc/shadow'], uses('-sd', '/etc/shadow')),
    (['-pflash', '/etc/shadow'], uses('-pflash', '/etc/shadow')),
    (['-hdb', 'nbd://evil/x'], protocol('-hdb nbd://evil/x', 'nbd')),
    (['-S', '/etc/shadow'], uses(None, '/etc/shadow')),
    (['/etc/shadow'], uses(None, '/etc/shadow')),
    (['-name', 'vm', 'nbd://evil/x'], protocol('nbd://evil/x', 'nbd')),
    # firmware and boot files
    (['-kernel', '/etc/shadow'], uses('-kernel', '/etc/shadow')),
    (['-initrd', '/etc/shadow'], uses('-initrd', '/etc/shadow')),
    (['-initrd', '{I}/mod1 arg=1,/etc/shadow'], uses('-initrd', '{I}/mod1 arg=1,/etc/shadow')),
    (['-initrd', '{I}/mod1 a=1,,2,/etc/shadow b'], uses('-initrd', '{I}/mod1 a=1,,2,/etc/shadow b')),
    (['-dtb', '/etc/shadow'], uses('-dtb', '/etc/shadow')),
    (['-bios', '/etc/shadow'], uses('-bios', '/etc/shadow')),
    (['-L', '/etc'], uses('-L', '/etc', '/etc')),
    (['-option-rom', '/etc/shadow'], uses('-option-rom', '/etc/shadow')),
    (['-option-rom', 'romfile=/etc/shadow,bootindex=1'], uses('-option-rom', 'romfile=/etc/shadow,bootindex=1')),
    (['-machine', 'pc,kernel=/etc/shadow'], uses('-machine', 'pc,kernel=/etc/shadow')),
    (['-M', 'pc,dumpdtb=/etc/x.dtb'], uses('-M', 'pc,dumpdtb=/etc/x.dtb', '/etc/x.dtb')),
    # devices, objects and tables that read host files
    (['-device', 'loader,file=/etc/shadow'], uses('-device', 'loader,file=/etc/shadow')),
    (['-device', 'virtio-net-pci,romfile=/etc/shadow'], uses('-device', 'virtio-net-pci,romfile=/etc/shadow')),
    (['-device', '{"driver":"loader","file":"/etc/shadow"}'], uses('-device', '{"driver":"loader","file":"/etc/shadow"}')),
    (['-device', 'usb-mtp,rootdir=/etc'], uses('-device', 'usb-mtp,rootdir=/etc', '/etc')),
    (['-fw_cfg', 'name=opt/x,file=/etc/shadow'], uses('-fw_cfg', 'name=opt/x,file=/etc/shadow')),
    (['-fw_cfg', 'opt/x,file=/etc/shadow'], uses('-fw_cfg', 'opt/x,file=/etc/shadow')),
    (['-smbios', 'file=/etc/shadow'], uses('-smbios', 'file=/etc/shadow')),
    (['-acpitable', 'file={I}/a.dat:/etc/shadow'], uses('-acpitable', 'file={I}/a.dat:/etc/shadow')),
    (['-acpitable', 'sig=X,data=/etc/shadow'], uses('-acpitable', 'sig=X,data=/etc/shadow')),
    (['-boot', 'menu=on,splash=/etc/shadow'], uses('-boot', 'menu=on,splash=/etc/shadow')),
    (['-object', 'memory-backend-file,id=m,size=1M,mem-path=/etc/shadow'],
     uses('-object', 'memory-backend-file,id=m,size=1M,mem-path=/etc/shadow')),
    (['-object', 'secret,id=s,file=/etc/shadow'], uses('-object', 'secret,id=s,file=/etc/shadow')),
    (['-object', 'rng-random,id=r,filename=/etc/shadow'], uses('-object', 'rng-random,id=r,filename=/etc/shadow')),
    (['-object', '{"qom-type":"secret","id":"s","file":"/etc/shadow"}'],
     uses('-object', '{"qom-type":"secret","id":"s","file":"/etc/shadow"}')),
    (['-mem-path', '/etc/shadow'], uses('-mem-path', '/etc/shadow')),
    (['-global', 'virtio-net-pci.romfile=/etc/shadow'], uses('-global', 'virtio-net-pci.romfile=/etc/shadow')),
    (['-global', 'driver=virtio-net-pci,property=romfile,value=/etc/shadow'],
     uses('-global', 'driver=virtio-net-pci,property=romfile,value=/etc/shadow')),
    (['-set', 'drive.disk1.file=/etc/shadow'], uses('-set', 'drive.disk1.file=/etc/shadow')),
    (['-set', 'drive.disk1.file=nbd://evil/x'], protocol('-set drive.disk1.file=nbd://evil/x', 'nbd')),
    (['-set', 'device.d0.romfile=/etc/shadow'], uses('-set', 'device.d0.romfile=/etc/shadow')),
    (['-trace', 'events=/etc/shadow'], uses('-trace', 'events=/etc/shadow')),
    (['-D', '/etc/cron.d/evil'], uses('-D', '/etc/cron.d/evil', '/etc/cron.d/evil')),
    # host directories shared with the guest
    (['-virtfs', 'local,path=/etc,mount_tag=h,security_model=none'],
     uses('-virtfs', 'local,path=/etc,mount_tag=h,security_model=none', '/etc')),
    (['-fsdev', 'local,id=f,path=/etc,security_model=none'], uses('-fsdev', 'local,id=f,path=/etc,security_model=none', '/etc')),
    (['-netdev', 'user,id=n,smb=/etc'], uses('-netdev', 'user,id=n,smb=/etc', '/etc')),
    (['-net', 'user,tftp=/etc'], uses('-net', 'user,tftp=/etc', '/etc')),
    # character devices and sockets
    (['-chardev', 'file,id=c,path=/etc/cron.d/evil'], uses('-chardev', 'file,id=c,path=/etc/cron.d/evil', '/etc/cron.d/evil')),
    (['-chardev', 'socket,id=c,path=/etc/evil.sock'], uses('-chardev', 'socket,id=c,path=/etc/evil.sock', '/etc/evil.sock')),
    (['-chardev', 'null,id=c,logfile=/etc/evil.log'], uses('-chardev', 'null,id=c,logfile=/etc/evil.log', '/etc/evil.log')),
    (['-serial', 'file:/etc/cron.d/evil'], uses('-serial', 'file:/etc/cron.d/evil', '/etc/cron.d/evil')),
    (['-serial', 'unix:/etc/evil.sock,server=off'], uses('-serial', 'unix:/etc/evil.sock,server=off', '/etc/evil.sock')),
    (['-parallel', 'pipe:/etc/evil'], uses('-parallel', 'pipe:/etc/evil', '/etc/evil')),
    (['-monitor', 'mon:unix:/etc/evil.sock'], uses('-monitor', 'mon:unix:/etc/evil.sock', '/etc/evil.sock')),
    (['-serial', '/dev/ttyS0'], uses('-serial', '/dev/ttyS0', '/dev/ttyS0')),
    (['-netdev', 'user,id=n,guestfwd=tcp:10.0.2.100:80-unix:/etc/evil.sock'],
     uses('-netdev', 'user,id=n,guestfwd=tcp:10.0.2.100:80-unix:/etc/evil.sock', '/etc/evil.sock')),
    (['-incoming', 'unix:/etc/evil.sock'], uses('-incoming', 'unix:/etc/evil.sock', '/etc/evil.sock')),
    (['-vnc', 'unix:/etc/passwd'], uses('-vnc', 'unix:/etc/passwd', '/etc/passwd')),
    (['-display', 'vnc=unix:/etc/passwd'], uses('-display', 'vnc=unix:/etc/passwd', '/etc/passwd')),
    (['-spice', 'unix=on,addr=/etc/passwd,disable-ticketing=on'],
     uses('-spice', 'unix=on,addr=/etc/passwd,disable-ticketing=on', '/etc/passwd')),
    (['-k', '/etc/shadow'], uses('-k', '/etc/shadow')),
    # what runs programs or loads code
    (['-netdev', 'tap,id=t,script=/tmp/evil.sh'],
     "args entry '-netdev tap,id=t,script=/tmp/evil.sh' runs the program '/tmp/evil.sh' (script=), which image_paths cannot restrict;"
     " set script=no or remove it from args"),
    (['-netdev', 'tap,id=t,script=no,downscript={I}/down.sh'],
     "args entry '-netdev tap,id=t,script=no,downscript={I}/down.sh' runs the program '{I}/down.sh' (downscript=), which image_paths"
     " cannot restrict; set downscript=no or remove it from args"),
    (['-netdev', 'bridge,id=b,helper=/tmp/helper'],
     "args entry '-netdev bridge,id=b,helper=/tmp/helper' runs the program '/tmp/helper' (helper=), which image_paths cannot restrict;"
     " set helper=no or remove it from args"),
    (['-netdev', 'user,id=n,guestfwd=tcp:10.0.2.100:80-cmd:/bin/sh'],
     "args entry '-netdev user,id=n,guestfwd=tcp:10.0.2.100:80-cmd:/bin/sh' runs a command (guestfwd=...-cmd:), which image_paths"
     " cannot restrict; remove it from args"),
    (['-incoming', 'exec:cat /etc/shadow'],
     "args entry '-incoming exec:cat /etc/shadow' runs a command, which image_paths cannot restrict; remove it from args"),
    (['-plugin', 'file={I}/libevil.so'],
     "args contains '-plugin', which loads native code into QEMU, which image_paths cannot restrict; remove it from args"),
    (['-readconfig', '{I}/vm.cfg'],
     "args contains '-readconfig', which reads a configuration file that can add drives image_paths cannot check; remove it from args"),
    (['-run-with', 'user=nobody'],
     "args contains '-run-with', which QEMU 7.2 does not know, so it cannot be checked against image_paths; remove it from args"),
]


@pytest.mark.parametrize('args, message', BYPASSES)
def test_check_args_image_paths_refuses(tree, args, message):
    args = fill(args, tree)
    with pytest.raises(QemuTaskError) as exc:
        check_args(args, image_paths=[tree['I']], task_dir=tree['T'])
    assert str(exc.value) == fill(message, tree)
    assert exc.value.option == 'args'
    # without image_paths, args only face the structural checks
    check_args(args)


@pytest.mark.parametrize('args, message', [
    (['-drive', 'file={I}/link_out.img'], uses('-drive', 'file={I}/link_out.img', '{I}/link_out.img', '{E}/secret.img')),
    (['-hda', '{I}/../evil/secret.img'], uses('-hda', '{I}/../evil/secret.img', '{I}/../evil/secret.img', '{E}/secret.img')),
    (['-hda', '../evil/secret.img'], uses('-hda', '../evil/secret.img', '../evil/secret.img', '{E}/secret.img')),
    (['-cdrom', 'local/to_evil.img'], uses('-cdrom', 'local/to_evil.img', 'local/to_evil.img', '{E}/secret.img')),
    (['-drive', 'file={root}/imagesevil/x.img'], uses('-drive', 'file={root}/imagesevil/x.img', '{root}/imagesevil/x.img')),
    (['-blockdev', '{"driver":"file","node-name":"f","filename":"{I}/link_out.img"}'],
     uses('-blockdev', '{"driver":"file","node-name":"f","filename":"{I}/link_out.img"}', '{I}/link_out.img', '{E}/secret.img')),
])
def test_check_args_image_paths_real_paths(tree, args, message):
    with pytest.raises(QemuTaskError) as exc:
        check_args(fill(args, tree), image_paths=[tree['I']], task_dir=tree['T'])
    assert str(exc.value) == fill(message, tree)


@pytest.mark.parametrize('args', [
    ['-drive', 'file={I}/vm.qcow2,if=virtio,format=qcow2'],
    ['--drive', 'file=file:{I}/vm.qcow2,if=none,id=d1'],
    ['-drive', 'file={I}/vm.qcow2,file.locking=off,cache=none'],
    ['-drive', 'file=json:{"driver":"qcow2",,"file":{"driver":"file",,"filename":"{I}/vm.qcow2"}}'],
    ['-blockdev', 'driver=qcow2,node-name=q,file.driver=file,file.filename={I}/vm.qcow2'],
    ['-blockdev', '{"driver":"qcow2","node-name":"q","file":{"driver":"file","filename":"{I}/vm.qcow2"}}'],
    ['-blockdev', 'driver=file,node-name=f0,filename={I}/vm.qcow2', '-blockdev', 'driver=qcow2,node-name=q0,file=f0'],
    ['-drive', 'file={root}/alias/vm.qcow2'],
    ['-drive', 'file={I}/link_in.img'],
    ['-cdrom', 'local/seed.iso'],
    ['-hda', '{I}/sub/disk.img', '-hdb', 'local/rel.img'],
    ['-S', 'local/rel.img'],
    ['-cdrom', 'local/to_images.img'],
    ['-nodefaults', '-m', '512', '-smp', '2', '-vga', 'std', '-device', 'e1000,netdev=n0', '-netdev', 'user,id=n0,hostfwd=tcp::2222-:22'],
    ['-object', 'rng-random,id=r,filename=/dev/urandom', '-device', 'virtio-rng-pci,rng=r'],
    ['-netdev', 'tap,id=t,ifname=tap0,script=no,downscript=no'],
    ['-serial', 'tcp::4555,server=on,wait=off', '-serial', 'file:serial2.log', '-parallel', 'none', '-monitor', 'unix:hmp.sock,server=on'],
    ['-chardev', 'socket,id=c0,path=extra.sock,server=on,wait=off', '-device', 'virtconsole,chardev=c0'],
    ['-bios', 'bios-256k.bin', '-kernel', '{I}/vmlinuz', '-append', 'root=/dev/sda file=/etc/shadow init=/bin/sh'],
    ['-set', 'drive.disk1.cache=none', '-global', 'isa-fdc.driveA=', '-incoming', 'defer'],
    ['-device', 'virtio-blk-pci,drive=d1', '-drive', 'if=none,id=d1,file={I}/vm.qcow2'],
    ['-display', 'vnc=:1', '-usb', '-device', 'usb-tablet'],
    ['-vnc', '127.0.0.1:1,password=off', '-vnc', 'unix:vnc.sock', '-spice', 'port=5930,addr=127.0.0.1,disable-ticketing=on', '-k', 'de'],
    ['-initrd', '{I}/mod1 a=1,,2,local/rel.img b', '-kernel', '{I}/mboot.elf'],
    ['-name', '{braces}', '-smp', '2,sockets=1', '-m', 'size=512M', '-rtc', 'base=utc', '-accel', 'tcg,thread=single'],
    # -name takes '-drive' as its value; QEMU then opens the relative file 'file=/etc/shadow' in the task directory
    ['-name', '-drive', 'file=/etc/shadow'],
])
def test_check_args_image_paths_allows(tree, args):
    check_args(fill(args, tree), args_allowlist=None, image_paths=[tree['I']], task_dir=tree['T'])


def test_check_args_empty_image_paths_allows_the_task_dir_only(tree):
    check_args(['-cdrom', 'local/rel.img'], image_paths=[], task_dir=tree['T'])
    with pytest.raises(QemuTaskError) as exc:
        check_args(['-cdrom', tree['I'] + '/vm.qcow2'], image_paths=[], task_dir=tree['T'])
    assert str(exc.value) == ("args entry '-cdrom {I}/vm.qcow2' uses '{I}/vm.qcow2', which is outside the allowed image_paths (none);"
                              " add its directory to image_paths or move the file").replace('{I}', tree['I'])


def test_check_args_both_policies(tree):
    check_args(['-m', '512', '-hda', 'local/rel.img'], args_allowlist=['-m', '-hda'], image_paths=[tree['I']], task_dir=tree['T'])
    with pytest.raises(QemuTaskError) as exc:
        check_args(['-m', '512', '-hda', '/etc/shadow'], args_allowlist=['-m', '-hda'], image_paths=[tree['I']], task_dir=tree['T'])
    assert str(exc.value) == ("args entry '-hda /etc/shadow' uses '/etc/shadow', which is outside the allowed image_paths ({I}); add"
                              " its directory to image_paths or move the file").replace('{I}', tree['I'])


def test_check_args_bad_image_paths(tree):
    with pytest.raises(QemuTaskError) as exc:
        check_args(['-m', '1'], image_paths=['relative'], task_dir=tree['T'])
    assert str(exc.value) == "image_paths entry 'relative' is not an absolute path; use absolute directories in image_paths"


# --- what an image refers to -----------------------------------------------------------------

CHAIN_MESSAGE = ("image_path '{image}' refers to '{name}', which is outside the allowed image_paths ({{I}}); rebase the image onto a"
                 " file inside them or add that directory to image_paths")  # .format() leaves {I} for fill()


@pytest.mark.parametrize('chain, message', [
    ([{'filename': '{I}/vm.qcow2', 'full-backing-filename': '/etc/shadow', 'backing-filename': '/etc/shadow'}, {'filename': '/etc/shadow'}],
     CHAIN_MESSAGE.format(image='{I}/vm.qcow2', name='/etc/shadow')),
    ([{'filename': '{I}/vm.qcow2', 'backing-filename': '../evil/secret.img'}],
     CHAIN_MESSAGE.format(image='{I}/vm.qcow2', name='../evil/secret.img')),
    ({'filename': '{I}/vm.qcow2', 'format-specific': {'type': 'qcow2', 'data': {'data-file': '/etc/shadow'}}},
     CHAIN_MESSAGE.format(image='{I}/vm.qcow2', name='/etc/shadow')),
    ({'filename': '{I}/vm.vmdk', 'format-specific': {'type': 'vmdk', 'data': {'extents': [{'filename': '{E}/secret.img'}]}}},
     CHAIN_MESSAGE.format(image='{I}/vm.vmdk', name='{E}/secret.img')),
    ([{'filename': '{I}/link_out.img'}], CHAIN_MESSAGE.format(image='{I}/link_out.img', name='{I}/link_out.img')),
])
def test_check_image_chain_refuses(tree, chain, message):
    chain = fill(chain, tree)
    with pytest.raises(QemuTaskError) as exc:
        check_image_chain(chain, [tree['I']], tree['T'])
    assert str(exc.value) == fill(message, tree)
    check_image_chain(chain, None)


def test_check_image_chain_allows(tree):
    check_image_chain([
        {'filename': tree['I'] + '/vm.qcow2', 'backing-filename': 'sub/disk.img', 'full-backing-filename': tree['I'] + '/sub/disk.img',
         'format-specific': {'type': 'qcow2', 'data': {'compat': '1.1'}}},
        {'filename': tree['I'] + '/sub/disk.img', 'format': 'raw'},
    ], [tree['I']], tree['T'])
    check_image_chain([{'filename': tree['T'] + '/local/rel.img'}], [], tree['T'])


def test_task_dir_not_allowed_is_only_a_base(tmp_path):
    task_dir = tmp_path / 'task'
    task_dir.mkdir()
    (task_dir / 'disk.img').write_bytes(b'\0' * 512)
    allowed = tmp_path / 'images'
    allowed.mkdir()
    assert resolve_image('disk.img', str(task_dir), [str(allowed)]) == str(task_dir / 'disk.img')
    with pytest.raises(QemuTaskError) as exc:
        resolve_image('disk.img', str(task_dir), [str(allowed)], task_dir_allowed=False)
    assert str(exc.value) == ("image_path 'disk.img' resolves to '%s' which is outside the allowed image_paths (%s); "
                              "add its directory to image_paths or move the image" % (task_dir / 'disk.img', allowed))


def test_check_args_returns_the_block_files(tmp_path):
    allowed = tmp_path / 'images'
    allowed.mkdir()
    args = ['-drive', 'file=%s/a.qcow2,if=virtio' % allowed, '-cdrom', str(allowed / 'b.iso')]
    assert check_args(args, image_paths=[str(allowed)]) == [str(allowed / 'a.qcow2'), str(allowed / 'b.iso')]
    assert check_args(args) == []


@pytest.mark.parametrize('backing', ['nbd://host/export', 'json:{"driver": "file", "filename": "/etc/shadow"}', 'ssh:host'])
def test_image_chain_refuses_protocols(tmp_path, backing):
    image = str(tmp_path / 'x.qcow2')
    with pytest.raises(QemuTaskError) as exc:
        check_image_chain([{'filename': image, 'backing-filename': backing}], [str(tmp_path)])
    assert str(exc.value) == ("image_path '%s' refers to '%s', which is not a local file; image_paths allows local image files only"
                              % (image, backing))


def test_image_chain_accepts_file_prefix(tmp_path):
    image = str(tmp_path / 'x.qcow2')
    check_image_chain([{'filename': image, 'backing-filename': 'file:' + str(tmp_path / 'base.img')}], [str(tmp_path)])
