# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""How a task is shown to users: the ``task`` of qemu_task's result and the entries of qemu_task_info."""

from __future__ import annotations

import os

from ansible_collections.nomadic.qemu.plugins.module_utils._command import OVERLAY_FILE, disk_file


def task_view(task_dir, record, process, state=None):
    """The task as users see it. ``state`` overrides the derived one (running or stopped)."""
    if record is None or record.damaged:
        return {'name': task_dir.name, 'state': 'absent', 'task_dir': task_dir.path}
    config = record.config
    return {
        'name': task_dir.name,
        'state': state or ('running' if process else 'stopped'),
        'pid': process.pid if process else None,
        'argv': record.argv,
        'accelerator': record.accelerator,
        'image': config.get('image'),
        'overlay': os.path.join(task_dir.path, OVERLAY_FILE) if config.get('overlay') else None,
        'disks': [disk_view(task_dir, disk) for disk in config.get('disks') or []],
        'ports': record.ports,
        'monitor_socket': task_dir.monitor_socket,
        'agent_socket': task_dir.agent_socket if config.get('guest_agent') else None,
        'console_log': task_dir.console_log,
        'started_at': record.started_at if process else None,
        'task_dir': task_dir.path,
        'config': config,
        'labels': record.labels,
        'recoveries': record.recoveries,
        'supervisor': config.get('supervisor', 'none'),
        'unit': config.get('unit'),
        'sandbox': config.get('sandbox'),
    }


def disk_view(task_dir, disk):
    """A disk of the task as users see it: where its file is, and what it is."""
    path = disk.get('file') or os.path.join(task_dir.path, disk_file(disk.get('name'), disk.get('format')))
    return {'name': disk.get('name'), 'path': path, 'format': disk.get('format'), 'size': disk.get('size'),
            'interface': disk.get('interface'), 'serial': disk.get('serial'), 'readonly': disk.get('readonly'),
            'created': not disk.get('file')}


def diff_view(record, process):
    """The part of a task a diff compares: its state, argv, config and labels."""
    if record is None or record.damaged:
        return {'state': 'absent'}
    return {'state': 'running' if process else 'stopped', 'argv': record.argv, 'config': record.config, 'labels': record.labels}


def plan_view(plan):
    """The diff side of a task that is to run a Plan."""
    return {'state': 'running', 'argv': plan.argv, 'config': plan.config, 'labels': plan.labels}
