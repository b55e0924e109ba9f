# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Argument specs shared by the modules; documented in plugins/doc_fragments/_task.py."""

from __future__ import annotations


def task_argument_spec():
    """Options naming a task: the same in every module that acts on tasks (see the _task doc fragment)."""
    return dict(
        name=dict(type='str', required=True),
        state_dir=dict(type='path'),
    )
