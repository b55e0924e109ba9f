# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The playbooks the guides show are the files the integration tests run, word for word."""

from __future__ import annotations

import os
import re

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
# Guide -> example files it shows in full.
SHOWN = {
    'docs/cloud-images.md': ['docs/examples/cloud-image.yml'],
    'README.md': ['docs/examples/cloud-image.yml'],
}
_BLOCK_RE = re.compile(r'^```yaml\n(.*?)^```$', re.MULTILINE | re.DOTALL)


def read(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        return f.read()


@pytest.mark.parametrize('guide, example', [(guide, example) for guide, examples in SHOWN.items() for example in examples])
def test_guide_shows_the_tested_file(guide, example):
    blocks = _BLOCK_RE.findall(read(guide))
    assert read(example) in blocks, '%s must show %s exactly as it is (copy the file into its yaml block)' % (guide, example)
