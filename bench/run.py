#!/usr/bin/env python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks of nomadic.qemu (make bench, make bench-quick): the entry point; see nqbench/cli.py for the usage."""

from __future__ import annotations

import sys

from nqbench.cli import main

if __name__ == '__main__':
    sys.exit(main())
