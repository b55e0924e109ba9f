# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The logic behind qemu_task_info: list the tasks of a state directory as they are. Reads only."""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.module_utils._task.readiness import tail
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import (
    TaskDir,
    check_state_dir,
    check_trusted_dir,
    labels_match,
    task_records,
    validate_name,
)
from ansible_collections.nomadic.qemu.plugins.module_utils._task.view import task_view

DEFAULT_CONSOLE_LINES = 20
# A tail never holds more than this many bytes of the console, whatever console_lines says.
CONSOLE_TAIL_BYTES = 65536


def task_state(record, process, unit=None):
    """running, stopped, crashed (its record says running, but its QEMU is gone) or, under systemd, failed
    (its unit gave up: restart attempts exhausted) or restarting (systemd waits out the restart delay)."""
    if process is not None:
        return 'running'
    if unit is not None and unit.get('active_state') == 'failed':
        return 'failed'
    if unit is not None and unit.get('restarting'):
        return 'restarting'
    return 'crashed' if record.state == 'running' else 'stopped'


def console_tail(path, lines):
    if lines <= 0:
        return []
    text = tail(path, CONSOLE_TAIL_BYTES)
    return text.splitlines()[-lines:] if text else []


def list_tasks(state_dir, observe, name=None, labels=None, console_lines=DEFAULT_CONSOLE_LINES, warn=None, unit_status=None):
    """The tasks of state_dir (one by ``name``, or those whose labels include ``labels``), sorted by name.

    ``observe(record, task_dir)`` returns the task's live process or None (QemuDriver.observe);
    ``unit_status(unit)`` what systemd knows of a supervised task's unit (QemuDriver.unit_status).
    Damaged records are skipped with a warning.
    """
    warn = warn or (lambda msg: None)
    state_dir = check_state_dir(state_dir)
    check_trusted_dir(state_dir, 'state_dir')
    if name is not None:
        task_dir = TaskDir(state_dir, validate_name(name))
        record = task_dir.read()
        found = [] if record is None else [(name, record)]
    else:
        found = task_records(state_dir)
    tasks = []
    for task_name, record in found:
        task_dir = TaskDir(state_dir, task_name)
        check_trusted_dir(task_dir.path, 'the task directory')  # state_dir was checked above
        if record.damaged:
            warn('the state record %s is damaged; task %s is not listed' % (task_dir.record_path, task_name))
            continue
        if labels and not labels_match(record.labels, labels):
            continue
        process = observe(record, task_dir)
        unit = unit_status(record.config.get('unit')) if unit_status is not None and record.config.get('unit') else None
        task = task_view(task_dir, record, process, state=task_state(record, process, unit))
        if unit is not None:
            task['unit_status'] = unit
        task['console_tail'] = console_tail(task_dir.console_log, console_lines)
        tasks.append(task)
    return tasks
