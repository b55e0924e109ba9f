# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the bench's command line (bench/nqbench/cli.py): defaults, where results go, which stages run."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.tests.unit.bench.bench_loader import BENCH_DIR, load as _load


cli = _load('cli')
RESULTS_DIR = os.path.join(BENCH_DIR, 'results')
DOCS_SVG = os.path.join(os.path.dirname(BENCH_DIR), 'docs', 'images', 'performance.svg')


@pytest.mark.parametrize('argv, expected', [
    ([], {'quick': False, 'runs': 7, 'scale': [1, 8, 32], 'scale_runs': 3, 'peer': True, 'install': True, 'only': None,
          'json': os.path.join(RESULTS_DIR, 'latest.json'), 'svg': DOCS_SVG}),
    (['--quick'], {'quick': True, 'runs': 3, 'scale': [1, 4], 'scale_runs': 1, 'peer': False, 'install': True, 'only': None,
                   'json': os.path.join(RESULTS_DIR, 'quick.json'), 'svg': None}),
    (['--quick', '--runs', '1', '--scale', '4,1,4', '--only', 'start, noop'],
     {'runs': 1, 'scale': [1, 4], 'only': ['start', 'noop'], 'json': os.path.join(RESULTS_DIR, 'quick.json')}),
    (['--no-peer', '--no-install', '--no-svg', '--json', '/tmp/r.json'],
     {'peer': False, 'install': False, 'svg': None, 'json': '/tmp/r.json'}),
    (['--svg', '/tmp/p.svg', '--scale-runs', '2'], {'svg': '/tmp/p.svg', 'scale_runs': 2}),
])
def test_parse_args(argv, expected):
    args = cli.parse_args(argv)
    for key, value in expected.items():
        assert getattr(args, key) == value, key


@pytest.mark.parametrize('argv, message', [
    (['--runs', '0'], '--runs must be 1 or more'),
    (['--scale', 'one'], '--scale takes VM counts separated by commas, such as 1,8,32'),
    (['--scale', '0,4'], '--scale counts must be 1 or more'),
    (['--scale-runs', '0'], '--scale-runs must be 1 or more'),
    (['--only', 'start,boot'], '--only takes stage names among start, noop, stop, profile, scale, peer'),
])
def test_parse_args_refuses(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == 'bench/run.py: error: %s' % message


@pytest.mark.parametrize('argv, names, skip', [
    ([], ['start', 'noop', 'stop', 'profile', 'scale', 'peer'], None),
    (['--quick'], ['start', 'noop', 'stop', 'profile', 'scale'],
     'quick mode does not need libvirt (run make bench for the peer comparison)'),
    (['--no-peer'], ['start', 'noop', 'stop', 'profile', 'scale'], '--no-peer was given'),
    (['--only', 'scale,start'], ['start', 'scale'], None),
    (['--quick', '--only', 'peer,stop'], ['stop'], 'quick mode does not need libvirt (run make bench for the peer comparison)'),
])
def test_selected_stages(argv, names, skip):
    skips = {}
    stages = cli.selected_stages(cli.parse_args(argv), skips)
    assert [name for name, _function in stages] == names
    assert all(function is cli.STAGE_FUNCTIONS[name] for name, function in stages)
    assert skips == ({'peer': skip} if skip else {})
