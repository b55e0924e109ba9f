# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every part of the bench agrees on: where things are, the guest, the timeouts, the stages."""

from __future__ import annotations

import os

# bench/, the collection root, and where results and the plot go.
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, 'results')
DOCS_SVG = os.path.join(ROOT, 'docs', 'images', 'performance.svg')

# The guest: the boot-sector test guest prints this line when it is up.
READY_LINE = b'NOMADIC-GUEST READY'
MEMORY_MB = 128
KILL_TIMEOUT = '10s'
READY_TIMEOUT = 60.0
COMMAND_TIMEOUT = 600

MODULE_UTILS = 'ansible_collections.nomadic.qemu.plugins.module_utils.'
POLICY_PATH = '/etc/nomadic-qemu/policy.json'
POLICY_WAIT = 900

STAGES = ('start', 'noop', 'stop', 'profile', 'scale', 'peer')
# The sample keys (first part) each stage records.
STAGE_SAMPLES = {'start': ('start',), 'noop': ('noop',), 'stop': ('stop',), 'profile': ('payload', 'build'), 'scale': ('scale',),
                 'peer': ('peer',)}

# The peer's downloads (community.libvirt), kept between runs.
PEER_CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'nomadic-qemu', 'bench')
