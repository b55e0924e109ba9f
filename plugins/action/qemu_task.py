# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs the qemu_task module, writing a mapping given as cloud_init.user_data or vendor_data as its text first.

Ansible's no_log hides each string value of a no_log option wherever it appears in a module's
result. For a user_data mapping that is every value inside it (a package name, a host name...),
which would also hide those words in the rest of the result. Sent as the text of the document, it
is one string, hidden as a whole. The text is the module's own (cloud_init.cloud_config_text), so
a task gives the same seed with or without this plugin.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.cloud_init import as_texts


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    @staticmethod
    def task_args(args):
        """The args of one task, a mapping of cloud_init.user_data or vendor_data written as its text."""
        cloud_init = args.get('cloud_init')
        if isinstance(cloud_init, Mapping):
            args = dict(args, cloud_init=as_texts(dict(cloud_init)))
        return args

    def module_args(self, args):
        """The module's args; raises QemuTaskError."""
        return self.task_args(args)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        try:
            module_args = self.module_args(dict(self._task.args))
        except QemuTaskError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        wrap_async = self._task.async_val and not getattr(self._connection, 'has_native_async', False)
        result = merge_hash(result, self._execute_module(module_args=module_args, task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            # Remove the temporary path made for the module, as the normal action plugin does.
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
