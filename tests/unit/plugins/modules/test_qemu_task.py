# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a no-op of qemu_task imports.

A module runs from its AnsiballZ zip, where every module it imports is compiled from
source on each run: a no-op (a VM already running as asked) should compile only what it
uses. The code that stops a VM, talks QMP or to the guest agent, fingerprints the host or
builds a cloud-init seed is imported where it is used. This runs the module's imports and
a real no-op (the real planner, reconciler and task store; the driver with QEMU stood in
for) in a fresh interpreter, and lists what they imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PREFIX = 'ansible_collections.nomadic.qemu.plugins.module_utils.'
# Collection modules a no-op must not import.
NOT_ON_THE_NO_OP = ('_shutdown', '_qmp', '_qga', '_fingerprint', '_version', '_iso9660', '_task.cloud_init')
# Standard library modules the collection imports only for the options that need them (none of which this task has).
STDLIB_NOT_ON_THE_NO_OP = ('ipaddress', 'email')

SCRIPT = r'''
import json
import sys

import ansible.module_utils.basic

baseline = set(sys.modules)

from ansible_collections.nomadic.qemu.plugins.modules import qemu_task
from ansible_collections.nomadic.qemu.plugins.module_utils._task.driver import QemuDriver
from ansible_collections.nomadic.qemu.plugins.module_utils._task.plan import Planner
from ansible_collections.nomadic.qemu.plugins.module_utils._task.reconcile import Reconciler

at_import = set(sys.modules)


class Process:
    pid = 4242
    start_time = 4242

    @staticmethod
    def is_alive():
        return True


class Driver(QemuDriver):
    """The real driver, with QEMU stood in for: a start starts nothing, the started VM stays up."""

    def start(self, task_dir, argv, supervision=None):
        return Process()

    def observe(self, record, task_dir):
        return Process() if record is not None and record.pid == Process.pid else None


params = json.loads(sys.argv[1])


def run():
    planner = Planner(params, find_binary=lambda name: '/usr/bin/' + name, host_policy={})
    return Reconciler(params, planner, Driver(), warn=lambda msg: None).run()


started = run()
before_no_op = set(sys.modules)
no_op = run()
json.dump({'started': started['changed'], 'no_op': [no_op['changed'], no_op['actions']],
           'imported': sorted(at_import - baseline), 'no_op_imported': sorted(set(sys.modules) - before_no_op)}, sys.stdout)
'''


def run_no_op(tmp_path):
    image = tmp_path / 'disk.img'
    image.write_bytes(b'\0' * 512)
    params = {'name': 'vm1', 'state_dir': str(tmp_path / 'state'), 'image_path': str(image), 'memory': 128}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    result = subprocess.run([sys.executable, '-c', SCRIPT, json.dumps(params)], env=env, cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout.decode())


def test_a_no_op_imports_no_stop_qmp_or_seed_code(tmp_path):
    found = run_no_op(tmp_path)
    assert found['started'] is True
    assert found['no_op'] == [False, []]
    # The module's imports reach the task code (so this looks at the right modules)...
    assert PREFIX + '_task.reconcile' in found['imported']
    imported = set(found['imported']) | set(found['no_op_imported'])
    # ... but neither they nor the no-op itself import what only other paths use.
    assert sorted(name for name in NOT_ON_THE_NO_OP if PREFIX + name in imported) == []
    assert sorted(name for name in imported if name.split('.')[0] in STDLIB_NOT_ON_THE_NO_OP) == []
    # A no-op imports nothing beyond what the module imported up front.
    assert [name for name in found['no_op_imported'] if name.startswith('ansible_collections.')] == []
