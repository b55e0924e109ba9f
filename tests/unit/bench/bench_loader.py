# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How the bench's tests reach the bench package (bench/nqbench/), which lives outside the collection's import path."""

from __future__ import annotations

import importlib
import os
import sys

BENCH_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'bench'))


def load(name):
    """A module of the bench package, by its name in bench/nqbench/."""
    if BENCH_DIR not in sys.path:
        sys.path.insert(0, BENCH_DIR)
    return importlib.import_module('nqbench.' + name)
