# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the bench's report (bench/nqbench/report.py): statistics, comparisons, verdicts, JSON, text, Markdown."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nomadic.qemu.tests.unit.bench.bench_loader import load as _load


report = _load('report')
results_module = _load('results')

ENVIRONMENT = {'date': '2026-12-01T20:00:00+00:00', 'commit': 'abc1234', 'cpus': 2, 'kernel': '6.1.0', 'python': '3.13.0',
               'ansible_core': 'ansible [core 2.21.0]', 'qemu': 'QEMU emulator version 7.2.0', 'accelerator': 'tcg', 'memory_mb': 128}


def make_results(samples, counts=(1, 4), mode='quick', runs=3, extra=None):
    results = results_module.Results(mode, runs, counts)
    results.samples = {key: list(values) for key, values in samples.items()}
    results.extra = dict(extra or {})
    return results


@pytest.mark.parametrize('samples, expected', [
    ([], None),
    ([0.5], {'n': 1, 'median': 0.5, 'min': 0.5, 'max': 0.5, 'samples': [0.5]}),
    ([0.3, 0.1, 0.2], {'n': 3, 'median': 0.2, 'min': 0.1, 'max': 0.3, 'samples': [0.3, 0.1, 0.2]}),
    ([1.0, 2.0, 4.0, 3.0], {'n': 4, 'median': 2.5, 'min': 1.0, 'max': 4.0, 'samples': [1.0, 2.0, 4.0, 3.0]}),
    ([0.12345678, 0.1234564], {'n': 2, 'median': 0.12345659, 'min': 0.1234564, 'max': 0.12345678, 'samples': [0.123457, 0.123456]}),
])
def test_summarize(samples, expected):
    summary = report.summarize(samples)
    if expected is None:
        assert summary is None
        return
    assert sorted(summary) == ['max', 'median', 'min', 'n', 'samples']
    assert summary['n'] == expected['n']
    assert summary['median'] == pytest.approx(expected['median'])
    assert (summary['min'], summary['max'], summary['samples']) == (expected['min'], expected['max'], expected['samples'])


@pytest.mark.parametrize('value, text', [
    (None, '-'),
    (0.0, '0.0 ms'),
    (0.0154, '15.4 ms'),
    (0.9994, '999.4 ms'),
    (-0.25, '-250.0 ms'),
    (1.0, '1.00 s'),
    (12.345, '12.35 s'),
    (-3.5, '-3.50 s'),
])
def test_fmt_seconds(value, text):
    assert report.fmt_seconds(value) == text


@pytest.mark.parametrize('target, limit, ratio, difference, met', [
    ('ratio', 1.10, 1.05, 0.01, True),
    ('ratio', 1.10, 1.10, 0.01, True),
    ('ratio', 1.10, 1.11, -5.0, False),
    ('difference', 0.050, 9.0, 0.049, True),
    ('difference', 0.050, 0.5, 0.050, True),
    ('difference', 0.050, 1.0, 0.051, False),
    ('difference', 0.050, 1.0, -0.2, True),
    (None, None, 3.0, 1.0, None),
])
def test_verdict(target, limit, ratio, difference, met):
    assert report.verdict(target, limit, ratio, difference) is met


@pytest.mark.parametrize('ours, baseline, target, limit, cpu, expected', [
    (1.1, 1.0, 'ratio', 1.10, None, {'ratio': 1.1, 'difference': 0.1, 'met': True}),
    (1.2, 1.0, 'ratio', 1.10, None, {'ratio': 1.2, 'difference': 0.2, 'met': False}),
    (1.2, 1.0, 'ratio', 1.10, (0.5, 0.5), {'ratio': 1.2, 'difference': 0.2, 'met': False, 'ours_cpu': 0.5, 'baseline_cpu': 0.5,
                                           'cpu_ratio': 1.0, 'met_cpu': True}),
    (1.0, 1.0, 'ratio', 1.10, (0.6, 0.5), {'ratio': 1.0, 'difference': 0.0, 'met': True, 'ours_cpu': 0.6, 'baseline_cpu': 0.5,
                                           'cpu_ratio': 1.2, 'met_cpu': False}),
    (0.060, 0.015, 'difference', 0.050, None, {'ratio': 4.0, 'difference': 0.045, 'met': True}),
    (0.070, 0.015, 'difference', 0.050, None, {'ratio': 70 / 15, 'difference': 0.055, 'met': False}),
    # A difference target has no CPU verdict, and a row without a target no verdict at all.
    (0.070, 0.015, 'difference', 0.050, (0.2, 0.1), {'ratio': 70 / 15, 'difference': 0.055, 'met': False, 'ours_cpu': 0.2,
                                                     'baseline_cpu': 0.1, 'cpu_ratio': 2.0}),
    (2.0, 4.0, None, None, (1.0, 2.0), {'ratio': 0.5, 'difference': -2.0, 'ours_cpu': 1.0, 'baseline_cpu': 2.0, 'cpu_ratio': 0.5}),
])
def test_comparison(ours, baseline, target, limit, cpu, expected):
    row = report.comparison('g', 'label', ours, baseline, target, limit, 'a note', 'ours.key', 'base.key', cpu)
    fixed = {'group': 'g', 'label': 'label', 'ours': ours, 'baseline': baseline, 'target': target, 'limit': limit, 'note': 'a note',
             'ours_key': 'ours.key', 'baseline_key': 'base.key'}
    assert sorted(row) == sorted(list(fixed) + list(expected))
    for key, value in fixed.items():
        assert row[key] == value
    for key, value in expected.items():
        assert row[key] == (value if isinstance(value, bool) else pytest.approx(value)), key


def rows_by_label(rows):
    return {row['label']: row for row in rows}


def test_comparisons_against_baselines_of_the_same_run():
    results = make_results({
        'start.adhoc.qemu_task': [1.0, 1.2, 1.1], 'start.adhoc.qemu_task.cpu': [0.8, 0.9, 0.7],
        'start.adhoc.command': [1.0, 1.0, 1.0], 'start.adhoc.command.cpu': [0.8, 0.8, 0.8],
        'start.adhoc.ping': [0.9, 0.9, 0.9],  # no CPU samples: the row has no CPU ratio
        'stop.inproc.runner': [0.080, 0.060, 0.070], 'stop.guest': [0.015, 0.015, 0.015],
        'stop.adhoc.qemu_shutdown': [1.2], 'stop.adhoc.ping': [1.0],
    })
    rows = report.comparisons(results)
    assert [row['label'] for row in rows] == [
        'ad hoc: qemu_task vs command running the same argv',
        'ad hoc: qemu_task vs ping',
        "in-process: QemuShutdownRunner vs the guest's own shutdown",
        "ad hoc: qemu_shutdown vs ping + the guest's own shutdown",
    ]
    by_label = rows_by_label(rows)
    start = by_label['ad hoc: qemu_task vs command running the same argv']
    assert (start['group'], start['ours'], start['baseline'], start['target'], start['limit']) == ('start', 1.1, 1.0, 'ratio', 1.10)
    assert start['ratio'] == pytest.approx(1.1)
    assert start['met'] is True
    assert start['cpu_ratio'] == pytest.approx(0.8 / 0.8)
    assert start['met_cpu'] is True
    ping = by_label['ad hoc: qemu_task vs ping']
    assert 'cpu_ratio' not in ping and 'met' not in ping and ping['target'] is None
    stop = by_label["in-process: QemuShutdownRunner vs the guest's own shutdown"]
    assert stop['difference'] == pytest.approx(0.055)
    assert stop['met'] is False
    # A baseline made of two medians has no key.
    summed = by_label["ad hoc: qemu_shutdown vs ping + the guest's own shutdown"]
    assert (summed['ours_key'], summed['baseline_key']) == ('stop.adhoc.qemu_shutdown', None)
    assert summed['baseline'] == pytest.approx(1.015)


def test_comparisons_of_scale_steps_against_the_first_count():
    samples = {}
    for count in (1, 8, 32):
        samples['scale.noop.%d' % count] = [1.0 + 0.1 * count]
        samples['scale.ping.%d' % count] = [1.0 + 0.05 * count]
        samples['scale.async.start.%d' % count] = [2.0 * count]
    rows = report.comparisons(make_results(samples, counts=(1, 8, 32)))
    assert [row['label'] for row in rows] == [
        'no-op over 1 VM vs ping over as many loop items',
        'no-op over 8 VMs vs ping over as many loop items',
        'no-op over 32 VMs vs ping over as many loop items',
        'start of 8 VMs vs 1 (one playbook, async)',
        'no-op of 8 VMs vs 1 (one playbook, loop)',
        'start of 32 VMs vs 1 (one playbook, async)',
        'no-op of 32 VMs vs 1 (one playbook, loop)',
    ]
    by_label = rows_by_label(rows)
    assert by_label['no-op over 1 VM vs ping over as many loop items']['met'] is True
    assert by_label['no-op over 32 VMs vs ping over as many loop items']['met'] is False
    step = by_label['start of 32 VMs vs 1 (one playbook, async)']
    assert (step['ratio'], step['note'], step['target']) == (32.0, 'linear: 32x', None)


@pytest.mark.parametrize('counts, medians, expected', [
    # Fewer than three counts: no growth to speak of.
    ((1, 4), [1.0, 2.0], None),
    ((1, 8, 32), [1.0, 1.7, 4.1], {'per_vm_first': 0.1, 'per_vm_last': 0.1, 'linear_or_better': True}),
    ((1, 8, 32), [1.0, 1.7, 5.0], {'per_vm_first': 0.1, 'per_vm_last': 0.1375, 'linear_or_better': False}),
    ((1, 8, 32), [1.0, 1.7, 4.7], {'per_vm_first': 0.1, 'per_vm_last': 0.125, 'linear_or_better': True}),
    ((1, 8, 32), [1.0, 1.7, 1.7], {'per_vm_first': 0.1, 'per_vm_last': 0.0, 'linear_or_better': True}),
    ((1, 8, 32), [1.0, None, 4.1], None),
])
def test_growth(counts, medians, expected):
    samples = {'scale.noop.%d' % count: [value] for count, value in zip(counts, medians) if value is not None}
    grow = report.growth(make_results(samples, counts=counts), 'scale.noop')
    if expected is None:
        assert grow is None
        return
    assert sorted(grow) == ['linear_or_better', 'per_vm_first', 'per_vm_last']
    assert grow['per_vm_first'] == pytest.approx(expected['per_vm_first'])
    assert grow['per_vm_last'] == pytest.approx(expected['per_vm_last'])
    assert grow['linear_or_better'] is expected['linear_or_better']


def test_growth_of_cpu_time():
    samples = {'scale.noop.1.cpu': [0.5], 'scale.noop.8.cpu': [1.2], 'scale.noop.32.cpu': [3.6], 'scale.noop.1': [9.0]}
    results = make_results(samples, counts=(1, 8, 32))
    assert report.growth(results, 'scale.noop') is None
    grow = report.growth(results, 'scale.noop', '.cpu')
    assert (grow['per_vm_first'], grow['per_vm_last']) == (pytest.approx(0.1), pytest.approx(0.1))


def test_scale_table():
    memory = {'rss_median': 20971520, 'pss_median': 10485760, 'pss_total': 41943040, 'idle_cpu_median': 0.02, 'idle_cpu_total': 0.08}
    results = make_results({'scale.async.start.4': [2.0, 3.0], 'scale.async.start.4.cpu': [1.0], 'scale.noop.1': [1.5]},
                           counts=(1, 4), extra={'memory': {'4': memory}})
    rows = report.scale_table(results)
    assert [row['count'] for row in rows] == [1, 4]
    keys = ['count'] + [key + suffix for key in report.SCALE_KEYS for suffix in ('', '.cpu')]
    assert sorted(rows[0]) == sorted(keys)
    assert sorted(rows[1]) == sorted(keys + list(memory))
    assert (rows[0]['scale.noop'], rows[0]['scale.async.start']) == (1.5, None)
    assert (rows[1]['scale.async.start'], rows[1]['scale.async.start.cpu'], rows[1]['pss_total']) == (2.5, 1.0, 41943040)
    assert report.scale_cells(rows[1])[12:] == ['20.0 MiB', '10.0 MiB', '2.0%']
    assert report.scale_cells(rows[0])[12:] == ['-', '-', '-']


# The keys of the results file (bench/results/quick.json, latest.json), as the bench has always written them
# (the CLI adds 'seconds'); docs/performance.md and --markdown/--plot read them.
REPORT_KEYS = ['comparisons', 'conditions', 'environment', 'errors', 'growth', 'growth_cpu', 'measurements', 'mode', 'peer', 'profile',
               'remarks', 'runs', 'scale', 'scale_counts', 'skipped', 'targets', 'warnings']
ROW_KEYS = ['baseline', 'baseline_key', 'difference', 'group', 'label', 'limit', 'note', 'ours', 'ours_key', 'ratio', 'target']


def test_json_report_shape():
    results = make_results({'start.adhoc.qemu_task': [1.1], 'start.adhoc.command': [1.0], 'noop.inproc.runner': [0.01, 0.03]},
                           extra={'load_before': (0.5, 0.4, 0.3), 'stage_seconds': {'start': 12.5}, 'leftover_processes': 0,
                                  'profile': {'payload_bytes': {'ping': 100}}})
    results.skips['peer'] = 'quick mode does not need libvirt (run make bench for the peer comparison)'
    results.errors.append({'stage': 'scale', 'error': 'broke', 'traceback': ''})
    results.warnings.extend(['b warning', 'a warning', 'b warning'])
    results.remarks.append('a remark')
    rows = report.comparisons(results)
    data = json.loads(json.dumps(report.json_report(results, rows, ENVIRONMENT)))
    assert sorted(data) == REPORT_KEYS
    assert (data['mode'], data['runs'], data['scale_counts']) == ('quick', 3, [1, 4])
    assert data['environment'] == ENVIRONMENT
    assert data['conditions'] == {'load_before': [0.5, 0.4, 0.3], 'load_after': None, 'other_qemu_before': None, 'other_qemu_after': None,
                                  'stage_seconds': {'start': 12.5}, 'leftover_processes': 0}
    assert data['targets'] == {'start_ratio': 1.10, 'noop_ratio': 1.10, 'stop_extra_seconds': 0.050, 'single_noop_ratio': 1.05,
                               'batch_start_ratio': 2.0, 'batch_noop_ratio': 1.15, 'batch_stop_ratio': 2.0}
    assert [sorted(row) for row in data['comparisons']] == [sorted(ROW_KEYS + ['met'])]
    assert [row['count'] for row in data['scale']] == [1, 4]
    assert sorted(data['growth']) == sorted(report.SCALE_KEYS)
    assert sorted(data['growth_cpu']) == ['scale.async.start', 'scale.async.stop', 'scale.batch.noop', 'scale.batch.start',
                                          'scale.batch.stop', 'scale.loop.start', 'scale.loop.stop', 'scale.noop', 'scale.ping']
    assert data['measurements'] == {
        'noop.inproc.runner': {'n': 2, 'median': 0.02, 'min': 0.01, 'max': 0.03, 'samples': [0.01, 0.03]},
        'start.adhoc.command': {'n': 1, 'median': 1.0, 'min': 1.0, 'max': 1.0, 'samples': [1.0]},
        'start.adhoc.qemu_task': {'n': 1, 'median': 1.1, 'min': 1.1, 'max': 1.1, 'samples': [1.1]},
    }
    assert (data['profile'], data['peer']) == ({'payload_bytes': {'ping': 100}}, None)
    assert data['skipped'] == {'peer': 'quick mode does not need libvirt (run make bench for the peer comparison)'}
    assert data['errors'] == [{'stage': 'scale', 'error': 'broke', 'traceback': ''}]
    assert (data['warnings'], data['remarks']) == (['a warning', 'b warning'], ['a remark'])


def test_results_from_report_draw_the_same_samples():
    results = make_results({'stop.guest': [0.015, 0.016], 'stop.guest.cpu': [0.001]}, counts=(1, 8, 32), mode='full', runs=7)
    data = json.loads(json.dumps(report.json_report(results, report.comparisons(results), ENVIRONMENT)))
    again = results_module.Results.from_report(data)
    assert (again.mode, again.runs, again.scale_counts) == ('full', 7, [1, 8, 32])
    assert again.samples == results.samples


@pytest.mark.parametrize('row, missed, cpu_label, text', [
    ({'target': 'ratio', 'limit': 1.1, 'met': True, 'note': ''}, 'MISSED', 'on CPU time', '<= 1.10x: met'),
    ({'target': 'ratio', 'limit': 1.1, 'met': False, 'met_cpu': True, 'note': ''}, 'MISSED', 'on CPU time',
     '<= 1.10x: MISSED (on CPU time: met)'),
    ({'target': 'ratio', 'limit': 1.1, 'met': True, 'met_cpu': False, 'note': ''}, '**missed**', 'CPU', '<= 1.10x: met (CPU: **missed**)'),
    ({'target': 'difference', 'limit': 0.05, 'met': False, 'note': ''}, 'MISSED', 'on CPU time', '<= +50.0 ms: MISSED'),
    ({'target': None, 'limit': None, 'note': 'linear: 8x'}, 'MISSED', 'on CPU time', ''),
])
def test_target_text(row, missed, cpu_label, text):
    assert report.target_text(row, missed, cpu_label) == text


def test_markdown_tables():
    results = make_results({'stop.inproc.runner': [0.070], 'stop.guest': [0.015], 'scale.noop.1': [1.25]},
                           extra={'memory': {'1': {'rss_median': 31457280, 'pss_median': 15728640, 'idle_cpu_median': 0.005}}})
    data = report.json_report(results, report.comparisons(results), ENVIRONMENT)
    lines = report.markdown(data).splitlines()
    assert lines[0] == '| | comparison | ours | baseline | ratio | difference | CPU ratio | target |'
    assert lines[2] == "| stop | in-process: QemuShutdownRunner vs the guest's own shutdown | 70.0 ms | 15.0 ms | 4.67x | +55.0 ms |  | " \
                       "<= +50.0 ms: **missed** |"
    assert lines[3] == ''
    assert lines[6] == '| 1 | - | - | - | 1.25 s | - | - | - | - | - | - | - | - | 30.0 MiB | 15.0 MiB | 0.5% |'
    assert lines[7] == '| 4 |' + ' - |' * 15
    assert len(lines) == 8


def test_text_report():
    results = make_results({'noop.adhoc.qemu_task': [1.5], 'noop.adhoc.ping': [1.0], 'noop.adhoc.qemu_task.cpu': [1.0],
                            'noop.adhoc.ping.cpu': [1.0]},
                           extra={'load_before': (1.0, 0.5, 0.25), 'load_after': (2.0, 1.0, 0.5), 'other_qemu_before': 3,
                                  'other_qemu_after': 0})
    results.skips['peer'] = '--no-peer was given'
    results.remarks.append('stage scale was run again')
    results.errors.append({'stage': 'stop', 'error': 'the guest did not power off', 'traceback': ''})
    text = report.text_report(results, report.comparisons(results), 2)
    lines = text.splitlines()
    assert lines[1] == 'nomadic.qemu bench (quick, 3 runs, medians; TCG, 128 MB guests)'
    assert [line for line in lines if line.startswith('no-op ')] == [
        'no-op  ad hoc: qemu_task on the running VM vs ping' + ' ' * 23 + '     1.50 s     1.00 s   1.50x  +500.0 ms   1.00x  '
        '<= 1.05x: MISSED (on CPU time: met)']
    assert lines[-4:] == [
        'skipped peer: --no-peer was given',
        'note: stage scale was run again',
        'machine: 2 cores, load 1.00/0.50/0.25 before, 2.00/1.00/0.50 after; other QEMU processes running: 3 before, 0 after',
        'ERROR in stage stop: the guest did not power off',
    ]
