# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one run measured: the samples by key, the facts around them, what was skipped and what broke."""

from __future__ import annotations

import statistics


class Results:
    """The record the stages write and the report reads.

    samples: key -> [seconds] (a key ending in .cpu holds the CPU time of the run recorded
    under the key without it); extra: facts of the run (profile, memory, peer, conditions);
    skips: part -> why; errors: [{stage, error, traceback}]; warnings: what the collection
    warned about; remarks: what the bench did differently from usual, and why.
    """

    def __init__(self, mode, runs, scale_counts):
        self.mode = mode
        self.runs = runs
        self.scale_counts = list(scale_counts)
        self.samples = {}
        self.extra = {}
        self.skips = {}
        self.errors = []
        self.warnings = []
        self.remarks = []

    @classmethod
    def from_report(cls, report):
        """The samples and counts of a results file (enough to draw the plot again)."""
        results = cls(report['mode'], report['runs'], report['scale_counts'])
        results.samples = {key: list(value['samples']) for key, value in report['measurements'].items() if value}
        return results

    def sample(self, key, seconds):
        self.samples.setdefault(key, []).append(seconds)

    def median(self, key):
        values = self.samples.get(key)
        return statistics.median(values) if values else None

    def forget_stage(self, prefixes):
        """Drop the samples whose key starts with one of prefixes (its first part): a stage is run again."""
        for key in [key for key in self.samples if key.split('.', 1)[0] in prefixes]:
            del self.samples[key]
