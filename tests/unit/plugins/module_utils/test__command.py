# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._command import (
    AGENT_SOCKET,
    CONSOLE_LOG,
    KNOWN_OPTIONS,
    MONITOR_SOCKET,
    NO_VALUE_OPTIONS,
    PIDFILE,
    SANDBOX_DAEMONIZED,
    VALUE_OPTIONS,
    build_argv,
    check_args_structure,
    escape_opt_value,
    normalize_option,
    parse_opts,
    sandbox_value,
    split_args,
    split_opt_values,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

BIN = 'qemu-system-x86_64'
IMG = '/var/lib/images/vm.qcow2'
TASK = '/srv/tasks/web'
HEAD = [BIN, '-machine', 'type=pc,accel=tcg', '-name', 'web', '-m', '300M']
DRIVE = ['-drive', 'file=/var/lib/images/vm.qcow2,if=ide,id=image0']
DETACHED = ['-display', 'none', '-chardev', 'file,id=console0,path=/srv/tasks/web/console.log,append=on', '-serial', 'chardev:console0',
            '-monitor', 'none', '-qmp', 'unix:qmp.sock,server=on,wait=off']
AGENT = ['-chardev', 'socket,path=qga.sock,server=on,wait=off,id=qga0', '-device', 'virtio-serial',
         '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0']
TAIL = ['-daemonize', '-pidfile', '/srv/tasks/web/qemu.pid']
WEB = {'label': 'web', 'host_address': '127.0.0.1', 'host_port': 8080, 'guest_port': 80}
SSH = {'label': 'ssh', 'host_address': '', 'host_port': 2222, 'guest_port': 22}
DNS = {'label': 'dns', 'host_address': None, 'host_port': 5353, 'guest_port': 53}


def test_file_names():
    assert (MONITOR_SOCKET, AGENT_SOCKET, PIDFILE, CONSOLE_LOG) == ('qmp.sock', 'qga.sock', 'qemu.pid', 'console.log')


@pytest.mark.parametrize('kwargs, expected', [
    pytest.param({}, HEAD + DRIVE + DETACHED + TAIL, id='defaults'),
    pytest.param({'task_dir': None}, HEAD + DRIVE + [
        '-display', 'none', '-chardev', 'file,id=console0,path=console.log,append=on', '-serial', 'chardev:console0', '-monitor', 'none',
        '-qmp', 'unix:qmp.sock,server=on,wait=off', '-daemonize', '-pidfile', 'qemu.pid'], id='no task dir'),
    pytest.param({'accelerator': 'kvm', 'cpus': 2, 'memory': 1024, 'machine_type': 'q35', 'drive_interface': 'virtio'}, [
        BIN, '-machine', 'type=q35,accel=kvm', '-name', 'web', '-m', '1024M', '-smp', '2',
        '-drive', 'file=/var/lib/images/vm.qcow2,if=virtio,id=image0'] + DETACHED + ['-enable-kvm'] + TAIL, id='kvm cpus'),
    pytest.param({'cpus': 1}, HEAD + ['-smp', '1'] + DRIVE + DETACHED + TAIL, id='tcg cpus'),
    pytest.param({'guest_agent': True}, HEAD + DRIVE + DETACHED + AGENT + TAIL, id='guest agent'),
    pytest.param({'args': ['-nodefaults', '-vga', 'std']}, HEAD + DRIVE + DETACHED + ['-nodefaults', '-vga', 'std'] + TAIL, id='args'),
    pytest.param({'forwards': [WEB, SSH, DNS]}, HEAD + DRIVE + DETACHED + [
        '-netdev', 'user,id=user.0'
        ',hostfwd=udp::5353-:53,hostfwd=tcp::5353-:53'
        ',hostfwd=udp::2222-:22,hostfwd=tcp::2222-:22'
        ',hostfwd=udp:127.0.0.1:8080-:80,hostfwd=tcp:127.0.0.1:8080-:80',
        '-device', 'virtio-net,netdev=user.0'] + TAIL, id='ports sorted by label'),
    pytest.param({'forwards': [WEB], 'guest_agent': True, 'accelerator': 'kvm', 'args': ['-nodefaults']},
                 HEAD[:2] + ['type=pc,accel=kvm'] + HEAD[3:] + DRIVE + DETACHED + AGENT + ['-nodefaults'] + [
                     '-netdev', 'user,id=user.0,hostfwd=udp:127.0.0.1:8080-:80,hostfwd=tcp:127.0.0.1:8080-:80',
                     '-device', 'virtio-net,netdev=user.0', '-enable-kvm'] + TAIL, id='everything, in Nomad order'),
    pytest.param({'image_format': 'raw'}, HEAD + ['-drive', 'file=/var/lib/images/vm.qcow2,if=ide,id=image0,format=raw'] + DETACHED + TAIL,
                 id='image format'),
    pytest.param({'name': 'a,b', 'image': '/img/x,y.img'},
                 HEAD[:4] + ['a,,b'] + HEAD[5:] + ['-drive', 'file=/img/x,,y.img,if=ide,id=image0'] + DETACHED + TAIL, id='commas escaped'),
    pytest.param({'image': 'a:b.img'}, HEAD + ['-drive', 'file=./a:b.img,if=ide,id=image0'] + DETACHED + TAIL,
                 id='relative name that looks like a protocol'),
    pytest.param({'task_dir': '/t/a,b'}, HEAD + DRIVE + [
        '-display', 'none', '-chardev', 'file,id=console0,path=/t/a,,b/console.log,append=on', '-serial', 'chardev:console0',
        '-monitor', 'none', '-qmp', 'unix:qmp.sock,server=on,wait=off',
        '-daemonize', '-pidfile', '/t/a,b/qemu.pid'], id='task dir with a comma: escaped in the chardev, literal in -pidfile'),
    pytest.param({'daemonize': False}, HEAD + DRIVE + DETACHED + ['-pidfile', '/srv/tasks/web/qemu.pid'], id='foreground'),
    pytest.param({'sandbox': SANDBOX_DAEMONIZED, 'run_as': 'qemu'}, HEAD + DRIVE + DETACHED + [
        '-sandbox', 'on,obsolete=deny,resourcecontrol=deny', '-runas', 'qemu'] + TAIL, id='sandbox and run_as'),
])
def test_build_argv(kwargs, expected):
    options = {'binary': BIN, 'name': 'web', 'image': IMG, 'task_dir': TASK}
    options.update(kwargs)
    assert build_argv(**options) == expected


def test_sandbox_is_the_strictest_each_mode_allows():
    assert sandbox_value(daemonize=True) == sandbox_value(daemonize=True, run_as='qemu') == SANDBOX_DAEMONIZED
    assert sandbox_value(daemonize=False) == 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny'
    # -runas needs setuid(): everything but elevateprivileges.
    assert sandbox_value(daemonize=False, run_as='qemu') == 'on,obsolete=deny,spawn=deny,resourcecontrol=deny'


@pytest.mark.parametrize('kwargs, option', [
    ({'sandbox': SANDBOX_DAEMONIZED, 'args': ['-sandbox', 'off']}, 'sandbox'),
    ({'run_as': 'qemu', 'args': ['-runas', 'nobody']}, 'run_as'),
])
def test_args_may_not_set_what_the_options_set(kwargs, option):
    with pytest.raises(QemuTaskError) as error:
        build_argv(BIN, 'web', IMG, task_dir=TASK, **kwargs)
    assert error.value.option == option and 'args contains -%s' % ('sandbox' if option == 'sandbox' else 'runas') in str(error.value)


def test_build_argv_sockets_stay_relative_for_long_task_dirs():
    task_dir = '/srv/' + 'x' * 200
    argv = build_argv(BIN, 'web', IMG, guest_agent=True, task_dir=task_dir)
    assert 'unix:qmp.sock,server=on,wait=off' in argv
    assert 'socket,path=qga.sock,server=on,wait=off,id=qga0' in argv
    assert argv[-1] == task_dir + '/qemu.pid'


@pytest.mark.parametrize('kwargs, message, option', [
    ({'cpus': 2, 'args': ['-smp', '4']},
     'cpus and args both set the number of CPUs (args contains -smp); remove -smp from args or unset cpus', 'cpus'),
    ({'cpus': 2, 'args': ['--smp', '4']},
     'cpus and args both set the number of CPUs (args contains -smp); remove -smp from args or unset cpus', 'cpus'),
    ({'accelerator': 'auto'}, "accelerator 'auto' is not valid here; use tcg or kvm", 'accelerator'),
    ({'memory': 0}, 'memory 0 is not valid; use a whole number of 1 or more, such as 512', 'memory'),
    ({'memory': '512'}, "memory '512' is not valid; use a whole number of 1 or more, such as 512", 'memory'),
    ({'memory': True}, 'memory True is not valid; use a whole number of 1 or more, such as 512', 'memory'),
    ({'cpus': 0}, 'cpus 0 is not valid; use a whole number of 1 or more, such as 2', 'cpus'),
    ({'machine_type': 'pc,accel=kvm'}, "machine_type 'pc,accel=kvm' is not valid; use a name such as pc or q35", 'machine_type'),
    ({'machine_type': ''}, "machine_type '' is not valid; use a name such as pc or q35", 'machine_type'),
    ({'drive_interface': 'nvme'},
     "drive_interface 'nvme' is not valid; use one of ide, scsi, sd, mtd, floppy, pflash, virtio, none", 'drive_interface'),
    ({'image_format': 'raw,file=/x'}, "image_format 'raw,file=/x' is not valid; use a name such as raw or qcow2", 'image_format'),
    ({'image': ''}, 'image_path must be a non-empty string', 'image_path'),
    ({'name': None}, 'name must be a non-empty string', 'name'),
    ({'binary': ''}, 'emulator binary must be a non-empty string', 'emulator'),
    ({'args': ['-daemonize']},
     "args contains '-daemonize', which the collection passes itself (it always starts QEMU in the background); remove it from args",
     'args'),
    ({'args': ['-m']}, "args ends with '-m', which takes a value; add its value after it in args", 'args'),
    ({'forwards': [dict(WEB, host_address='::1')]},
     "host_address '::1' is an IPv6 address, but QEMU user networking forwards IPv4 only; use an IPv4 address such as 127.0.0.1,"
     " or leave it empty for all addresses", 'host_address'),
    ({'forwards': [dict(WEB, host_port=0)]}, "forward 'web' has host port 0; use a port between 1 and 65535", 'port_map'),
    ({'forwards': [dict(WEB, guest_port='80')]}, "forward 'web' has guest port '80'; use a port between 1 and 65535", 'port_map'),
    ({'forwards': ['web']}, "forwards must be mappings with label, host_address, host_port and guest_port, not 'web'", 'port_map'),
])
def test_build_argv_errors(kwargs, message, option):
    options = {'binary': BIN, 'name': 'web', 'image': IMG, 'task_dir': TASK}
    options.update(kwargs)
    with pytest.raises(QemuTaskError) as exc:
        build_argv(**options)
    assert str(exc.value) == message
    assert exc.value.option == option


@pytest.mark.parametrize('text, implied, pairs', [
    ('file=/a.img,if=none', None, [('file', '/a.img'), ('if', 'none')]),
    ('file=/a,,b.img,if=none', None, [('file', '/a,b.img'), ('if', 'none')]),
    ('file=/a,,,,b', None, [('file', '/a,,b')]),
    ('file=/a,,', None, [('file', '/a,')]),
    ('x,,file=/etc/shadow', None, [('x', 'on'), ('', 'on'), ('file', '/etc/shadow')]),
    ('readonly,nosnapshot', None, [('readonly', 'on'), ('snapshot', 'off')]),
    ('user,id=n0', 'type', [('type', 'user'), ('id', 'n0')]),
    ('user,,x,id=n0', 'type', [('type', 'user,x'), ('id', 'n0')]),
    ('user,id=n0', None, [('user', 'on'), ('id', 'n0')]),
    ('a=1=2', None, [('a', '1=2')]),
    ('', None, []),
    (',', None, [('', 'on')]),
    ('file=', None, [('file', '')]),
])
def test_parse_opts(text, implied, pairs):
    assert parse_opts(text, implied) == pairs


@pytest.mark.parametrize('text, values', [
    ('a', ['a']), ('a,b', ['a', 'b']), ('a,,b,c', ['a,b', 'c']), ('/m1 x=1,/m2', ['/m1 x=1', '/m2']), ('', ['']), ('a,', ['a', '']),
])
def test_split_opt_values(text, values):
    assert split_opt_values(text) == values


@pytest.mark.parametrize('value, escaped', [('a,b', 'a,,b'), ('plain', 'plain'), (',,', ',,,,')])
def test_escape_opt_value(value, escaped):
    assert escape_opt_value(value) == escaped
    assert parse_opts('k=' + escaped) == [('k', value)]


@pytest.mark.parametrize('word, option', [
    ('-drive', '-drive'), ('--drive', '-drive'), ('---drive', '--drive'), ('disk.img', None), ('', None), ('-', '-'),
])
def test_normalize_option(word, option):
    assert normalize_option(word) == option


@pytest.mark.parametrize('args, parsed', [
    ([], []),
    (['-S', '-m', '512'], [('-S', None, 0), ('-m', '512', 1)]),
    (['--drive', 'file=x'], [('-drive', 'file=x', 0)]),
    (['-S', '/etc/shadow'], [('-S', None, 0), (None, '/etc/shadow', 1)]),
    (['/x.img', '-nodefaults'], [(None, '/x.img', 0), ('-nodefaults', None, 1)]),
    (['-name', '-drive', 'file=/x'], [('-name', '-drive', 0), (None, 'file=/x', 2)]),
    (['-future-option', 'value'], [('-future-option', 'value', 0)]),
])
def test_split_args(args, parsed):
    assert split_args(args) == parsed


@pytest.mark.parametrize('args, message', [
    (['-nodefaults', '-m'], "args ends with '-m', which takes a value; add its value after it in args"),
    (['--drive'], "args ends with '--drive', which takes a value; add its value after it in args"),
    (['-future'], "args contains '-future', an option QEMU 7.2 does not know; check its spelling (qemu-system-x86_64 -help"
                  " lists the options), or remove it from args"),
])
def test_split_args_trailing_value(args, message):
    with pytest.raises(QemuTaskError) as exc:
        split_args(args)
    assert str(exc.value) == message


def test_option_tables():
    assert not NO_VALUE_OPTIONS & VALUE_OPTIONS
    assert len(KNOWN_OPTIONS) == 122  # QEMU 7.2 has 122 entries in qemu_options[]
    assert {'-enable-kvm', '-S', '-nodefaults', '-snapshot'} <= NO_VALUE_OPTIONS
    assert {'-drive', '-blockdev', '-smp', '-name'} <= VALUE_OPTIONS


MANAGED = 'which the collection passes itself (%s); remove it from args'
EXITS = 'which makes QEMU print something and exit instead of running the VM; remove it from args'


@pytest.mark.parametrize('args, message', [
    (['-daemonize'], "args contains '-daemonize', " + MANAGED % 'it always starts QEMU in the background'),
    (['--daemonize'], "args contains '--daemonize', " + MANAGED % 'it always starts QEMU in the background'),
    (['-pidfile', '/tmp/x.pid'], "args contains '-pidfile', " + MANAGED % 'its pidfile is qemu.pid in the task directory'),
    (['-qmp', 'tcp::4444,server'], "args contains '-qmp', " + MANAGED % 'its QMP socket is qmp.sock in the task directory'),
    (['-qmp-pretty', 'stdio'], "args contains '-qmp-pretty', " + MANAGED % 'its QMP socket is qmp.sock in the task directory'),
    (['-nographic'], "args contains '-nographic', which QEMU cannot combine with -daemonize; remove it from args (the VM runs without"
                     " a display and its serial console is written to console.log in the task directory)"),
    (['-version'], "args contains '-version', " + EXITS),
    (['-h'], "args contains '-h', " + EXITS),
    (['-dump-vmstate', '/tmp/x.json'], "args contains '-dump-vmstate', " + EXITS),
    (['-set', 'drive.image0.file=/etc/shadow'], "args contains '-set drive.image0.file=/etc/shadow', which changes the image drive"
                                                " that the collection manages; remove it from args (set image_path instead)"),
    (['-set', 'chardev.compat_monitor0.path=/tmp/q'], "args contains '-set chardev.compat_monitor0.path=/tmp/q', which changes the"
                                                      " QMP socket that the collection manages; remove it from args"),
    (['-set', 'chardev.qga0.path=/tmp/q'], "args contains '-set chardev.qga0.path=/tmp/q', which changes the guest agent socket"
                                           " that the collection manages; remove it from args"),
    (['-m', 512], "args contains 512 (int), which is not a string; quote it in args"),
    ('-m 512', 'args must be a list of strings, such as ["-nodefaults"]'),
    ({'-m': 512}, 'args must be a list of strings, such as ["-nodefaults"]'),
])
def test_check_args_structure_refuses(args, message):
    with pytest.raises(QemuTaskError) as exc:
        check_args_structure(args)
    assert str(exc.value) == message
    assert exc.value.option == 'args'


@pytest.mark.parametrize('args', [
    None, [], ['-serial', 'file:/tmp/second.log'], ['-monitor', 'unix:hmp.sock,server=on,wait=off'],
    ['-display', 'vnc=:1'], ['-runas', 'nobody'], ['-chroot', '/var/empty'], ['-no-shutdown'], ['-incoming', 'defer'],
    ['-name', '-daemonize'],  # the value of -name, not an option
    ['-set', 'drive.disk1.cache=none'],
])
def test_check_args_structure_allows(args):
    check_args_structure(args)
