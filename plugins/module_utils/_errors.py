# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The one exception type the qemu_task building blocks raise."""

from __future__ import annotations


class QemuTaskError(Exception):
    """A user-facing error; ``str(e)`` is the full message.

    ``option`` optionally names the option at fault (for example ``image_path``), so a
    caller can pass it on, for instance in a result key.
    """

    def __init__(self, msg, option=None):
        super().__init__(msg)
        self.msg = msg
        self.option = option

    def __str__(self):
        return self.msg
