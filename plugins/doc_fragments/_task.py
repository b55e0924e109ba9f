# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

from __future__ import annotations


class ModuleDocFragment:

    # Options naming a task; declared in plugins/module_utils/_task/options.py TASK_NAME_OPTIONS.
    DOCUMENTATION = r"""
options:
  name:
    description:
      - The task's name, unique per host and O(state_dir). It names the task's directory
        under O(state_dir) and is passed to QEMU as C(-name).
      - 1 to 64 letters, digits, V(.), V(_) or V(-), starting with a letter or digit.
    type: str
    required: true
  state_dir:
    description:
      - Directory holding one sub-directory per task (its state record, pidfile, QMP socket,
        console log, and images downloaded there).
      - Defaults to C(/var/lib/nomadic-qemu) when running as root, otherwise to
        C($XDG_STATE_HOME/nomadic-qemu) (C(~/.local/state/nomadic-qemu)).
      - Any length works, also beyond the 108-byte limit of unix socket paths.
    type: path
"""
