# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The peer stage: a libvirt domain of the same guest, started and shut down with virsh and with
community.libvirt.virt, against qemu_task and qemu_shutdown run by the same interpreter."""

from __future__ import annotations

import os
import shutil
import time
from xml.sax.saxutils import escape

from . import processes
from .harness import BenchError, Skip, interleaved, wait_for_line, write_file
from .libvirt import LIBVIRT_URI, SYSTEM_PYTHON, Libvirt
from .settings import KILL_TIMEOUT, MEMORY_MB, READY_LINE, READY_TIMEOUT

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{qemu}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{image}'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
"""
# How long a guest gets to power off after it was asked to.
POWEROFF_TIMEOUT = 30


def domain_xml(name, qemu, image, console, memory=MEMORY_MB):
    return DOMAIN_XML.format(name=name, memory=memory, qemu=escape(qemu), image=escape(image), console=escape(console))


class Peer:
    """The libvirt domain of the bench (defined at set-up, undefined at tear-down) on the Libvirt host."""

    def __init__(self, bench):
        self.bench = bench
        self.host = Libvirt(bench.rundir, bench.args.install)
        self.domain = None
        self.defined = False
        self.virt_ok = None
        self.image = None
        self.console = None

    def virsh(self, *args, **kwargs):
        return self.host.virsh(*args, **kwargs)

    def setup(self):
        bench = self.bench
        self.host.install()
        self.host.fix_kvm_permissions()
        self.host.start_daemons()
        try:
            collection = self.host.fetch_collection()
            self.virt_ok = True
        except Skip as exc:
            collection = None
            self.virt_ok = False
            bench.results.skips['peer.virt'] = str(exc)
        workdir = os.path.join(bench.rundir, 'libvirt')
        os.makedirs(workdir)
        os.chmod(workdir, 0o755)
        self.image = os.path.join(workdir, 'bootsector.img')
        shutil.copy(bench.images['bootsector'], self.image)
        self.console = os.path.join(workdir, 'console.log')
        self.domain = 'nqbench-%s' % os.path.basename(bench.rundir).split('-', 1)[1]
        xml_path = os.path.join(workdir, 'domain.xml')
        write_file(xml_path, domain_xml(self.domain, bench.qemu, self.image, self.console))
        self.virsh('define', xml_path)
        self.defined = True
        _code, version = self.virsh('version', '--daemon')
        bench.results.extra['peer'] = {'collection': collection, 'virsh_version': version, 'domain': self.domain}

    def qemu_process(self):
        pid = processes.read_pidfile('/run/libvirt/qemu/%s.pid' % self.domain)
        return processes.observe(pid) if pid else None

    def domstate(self):
        return self.virsh('domstate', self.domain, check=False)[1]

    def wait_off(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.domstate() == 'shut off':
                return
            time.sleep(0.02)
        raise BenchError('libvirt did not report %s shut off within %d s' % (self.domain, timeout))

    def before_start(self):
        if self.domstate() != 'shut off':
            self.virsh('destroy', self.domain, check=False)
            self.wait_off()
        if os.path.exists(self.console):
            os.unlink(self.console)

    def after_start(self):
        """The domain's QEMU, once its guest is up."""
        process = self.qemu_process()
        if process is None:
            raise BenchError('libvirt reports %s started but its QEMU does not run' % self.domain)
        wait_for_line(self.console, READY_LINE, READY_TIMEOUT)
        return process

    def virsh_cycle(self, record):
        bench = self.bench
        self.before_start()
        started = time.perf_counter()
        self.virsh('start', self.domain)
        start_seconds = time.perf_counter() - started
        process = self.after_start()
        started = time.perf_counter()
        self.virsh('shutdown', self.domain)
        returned = time.perf_counter() - started
        if not process.wait(POWEROFF_TIMEOUT):
            raise BenchError('the libvirt guest did not power off within 30 s')
        exited = time.perf_counter() - started
        self.wait_off()
        off = time.perf_counter() - started
        if record:
            bench.sample('peer.virsh.start', start_seconds)
            bench.sample('peer.virsh.shutdown_returned', returned)
            bench.sample('peer.virsh.shutdown_exit', exited)
            bench.sample('peer.virsh.shutdown_off', off)

    def virt_cycle(self, record):
        bench = self.bench
        self.before_start()
        seconds, result = bench.ansible.adhoc('community.libvirt.virt', {'name': self.domain, 'state': 'running', 'uri': LIBVIRT_URI},
                                              python=SYSTEM_PYTHON)
        start_cpu = bench.ansible.last_cpu
        if not result.get('changed'):
            raise BenchError('community.libvirt.virt did not start the domain: %r' % result)
        process = self.after_start()
        started = time.perf_counter()
        returned, result = bench.ansible.adhoc('community.libvirt.virt', {'name': self.domain, 'state': 'shutdown', 'uri': LIBVIRT_URI},
                                               python=SYSTEM_PYTHON)
        if not process.wait(POWEROFF_TIMEOUT):
            raise BenchError('the libvirt guest did not power off within 30 s of community.libvirt.virt state=shutdown')
        exited = time.perf_counter() - started
        self.wait_off()
        off = time.perf_counter() - started
        if record:
            bench.sample('peer.virt.shutdown_off', off)
            bench.sample('peer.virt.start', seconds)
            bench.sample('peer.virt.start.cpu', start_cpu)
            bench.sample('peer.virt.shutdown_returned', returned)
            bench.sample('peer.virt.shutdown_exit', exited)

    def ours_cycle(self, state_dir):
        bench = self.bench

        def cycle(record):
            bench.tasks.remove('peer', state_dir)
            seconds, result = bench.ansible.adhoc('nomadic.qemu.qemu_task', bench.tasks.args('peer', state_dir), python=SYSTEM_PYTHON)
            start_cpu = bench.ansible.last_cpu
            if not result.get('changed'):
                raise BenchError('qemu_task did not start the VM: %r' % result)
            pid = result['task']['pid']
            wait_for_line(result['task']['console_log'], READY_LINE, READY_TIMEOUT)
            started = time.perf_counter()
            returned, result = bench.ansible.adhoc('nomadic.qemu.qemu_shutdown',
                                                   {'name': 'peer', 'state_dir': state_dir, 'kill_timeout': KILL_TIMEOUT},
                                                   python=SYSTEM_PYTHON)
            if not result.get('graceful') or processes.is_running(pid):
                raise BenchError('qemu_shutdown did not stop the VM gracefully: %r' % result)
            exited = time.perf_counter() - started
            if record:
                bench.sample('peer.ours.start', seconds)
                bench.sample('peer.ours.start.cpu', start_cpu)
                bench.sample('peer.ours.shutdown_returned', returned)
                bench.sample('peer.ours.shutdown_exit', exited)
        return cycle

    def measure(self):
        bench = self.bench
        state_dir = bench.state_dir('peer')
        variants = [self.virsh_cycle, self.ours_cycle(state_dir)] + ([self.virt_cycle] if self.virt_ok else [])
        try:
            interleaved(variants, bench.args.runs)
        finally:
            bench.tasks.remove('peer', state_dir)
        bench.results.extra['peer']['notes'] = self.host.notes

    def teardown(self):
        if self.defined:
            if self.domstate() not in ('shut off', ''):
                self.virsh('destroy', self.domain, check=False, timeout=60)
            self.virsh('undefine', self.domain, check=False, timeout=60)
            self.defined = False
        self.host.stop_daemons()


def stage_peer(bench):
    bench.peer = Peer(bench)
    bench.peer.setup()
    bench.peer.measure()
