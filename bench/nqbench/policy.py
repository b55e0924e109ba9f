# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host policy the bench lives with: where its images may go, and waiting while someone else changes it."""

from __future__ import annotations

import json
import os
import tempfile
import time

from .harness import BenchError, log
from .settings import POLICY_PATH, POLICY_WAIT


def policy_text(path=POLICY_PATH):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return None


def parse_policy(text):
    """The settings of a host policy file that are in force (set and not empty); {} without a policy."""
    try:
        policy = json.loads(text) if text is not None else {}
    except ValueError:
        raise BenchError('the host policy %s is not valid JSON; fix or remove it' % POLICY_PATH) from None
    return {key: value for key, value in policy.items() if value} if isinstance(policy, dict) else {}


class HostPolicy:
    """The host policy as it was when the bench started."""

    def __init__(self):
        self.text = policy_text()
        self.settings = parse_policy(self.text)

    def changed(self):
        return policy_text() != self.text

    def wait_until_restored(self):
        """Wait until the host policy is as it was when the bench started (a test of someone else may change it for a while)."""
        if not self.changed():
            return
        log('the host policy %s changed since the bench started (someone else is using this machine?); waiting up to %d s for it '
            'to be as it was' % (POLICY_PATH, POLICY_WAIT))
        deadline = time.monotonic() + POLICY_WAIT
        while self.changed():
            if time.monotonic() > deadline:
                raise BenchError('the host policy %s changed during the run and did not come back within %d s; run the bench '
                                 'again when nothing else changes it' % (POLICY_PATH, POLICY_WAIT))
            time.sleep(1.0)

    def interfered(self, exc):
        return self.changed() or 'image_paths' in str(exc) or 'host policy' in str(exc)

    def image_directory(self, rundir):
        """Where the bench's image copies go: (directory, True when it was made outside the run directory, remark or None)."""
        policy = self.settings
        if policy.get('emulators_allowlist') and 'x86_64' not in policy['emulators_allowlist']:
            raise BenchError('the host policy %s does not allow the x86_64 emulator the bench uses' % POLICY_PATH)
        if not policy.get('image_paths'):
            directory = os.path.join(rundir, 'images')
            os.makedirs(directory)
            return directory, False, None
        for allowed in policy['image_paths']:
            if os.path.isdir(allowed) and os.access(allowed, os.W_OK | os.X_OK):
                directory = tempfile.mkdtemp(prefix='nqbench-', dir=allowed)
                os.chmod(directory, 0o755)
                return directory, True, 'the host policy restricts image_paths: the bench put its images in %s' % directory
        raise BenchError('the host policy %s restricts image_paths to %s, and none of them is a directory the bench can write '
                         'its images to; run the bench as root, or on a host without that policy' % (
                             POLICY_PATH, ', '.join(policy['image_paths'])))
