# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print ansible-inventory --list output (read on stdin) without the marks of values that are not templates.

ansible-inventory shows such a value as {"__ansible_unsafe": value}; the tests compare the values.
"""

from __future__ import annotations

import json
import sys


def plain(data):
    if isinstance(data, dict):
        if list(data) == ['__ansible_unsafe']:
            return data['__ansible_unsafe']
        return dict((key, plain(value)) for key, value in data.items())
    if isinstance(data, list):
        return [plain(value) for value in data]
    return data


json.dump(plain(json.load(sys.stdin)), sys.stdout)
