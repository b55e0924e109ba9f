# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs the qemu_tasks module, writing each task's cloud_init mapping as its text first, as qemu_task's action does.

Without it, every value inside a user_data mapping (a host name, a package name, a port) would
be hidden by no_log wherever it appears in the result of any task of the list.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.nomadic.qemu.plugins.action.qemu_task import ActionModule as QemuTaskAction
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError


class ActionModule(QemuTaskAction):

    def module_args(self, args):
        tasks = args.get('tasks')
        if not isinstance(tasks, list):
            return args
        items = []
        for index, task in enumerate(tasks):
            try:
                items.append(self.task_args(task) if isinstance(task, Mapping) else task)
            except QemuTaskError as exc:
                raise QemuTaskError('tasks[%d]: %s' % (index, exc)) from None
        return dict(args, tasks=items)
