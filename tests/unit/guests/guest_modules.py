# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The guest builder's files (tests/guests/*.py), loaded as modules: they are scripts, not a package."""

from __future__ import annotations

import importlib.util
import os

GUESTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'guests')


def load(name):
    """tests/guests/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location('nomadic_qemu_test_guests_%s' % name, os.path.join(GUESTS_DIR, '%s.py' % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
