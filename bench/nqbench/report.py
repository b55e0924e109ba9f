# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report, as pure functions of a Results: statistics, every comparison of ours against the
baseline measured in the same run (medians), verdicts against the targets, the JSON, the text
table and the Markdown tables of docs/performance.md."""

from __future__ import annotations

import statistics

from .settings import MEMORY_MB

# Targets from the issue: start within 10% of the floor, no-op within 10% of ping,
# graceful stop within 50 ms of the guest's own shutdown time.
TARGET_START_RATIO = 1.10
TARGET_NOOP_RATIO = 1.10
TARGET_STOP_EXTRA = 0.050
# Fleet speed: a single no-op within 5% of ping; one qemu_tasks call over 32 VMs against one VM ad hoc.
TARGET_SINGLE_NOOP_RATIO = 1.05
TARGET_BATCH_START_RATIO = 2.0
TARGET_BATCH_NOOP_RATIO = 1.15
TARGET_BATCH_STOP_RATIO = 2.0

SCALE_KEYS = ('scale.async.start', 'scale.loop.start', 'scale.batch.start', 'scale.noop', 'scale.batch.noop', 'scale.ping',
              'scale.async.stop', 'scale.loop.stop', 'scale.batch.stop', 'scale.inproc.start', 'scale.inproc.noop', 'scale.inproc.stop')
GROWTH_KEYS = SCALE_KEYS
CONDITION_KEYS = ('load_before', 'load_after', 'other_qemu_before', 'other_qemu_after', 'stage_seconds', 'leftover_processes')


def summarize(samples):
    """n, median, min, max and the samples (rounded to microseconds) of one key; None without samples."""
    if not samples:
        return None
    return {
        'n': len(samples),
        'median': statistics.median(samples),
        'min': min(samples),
        'max': max(samples),
        'samples': [round(value, 6) for value in samples],
    }


def fmt_seconds(value):
    if value is None:
        return '-'
    if abs(value) < 1.0:
        return '%.1f ms' % (value * 1000.0)
    return '%.2f s' % value


def verdict(target, limit, ratio, difference):
    """Whether a comparison met its target: 'ratio' (ours / baseline <= limit), 'difference' (ours - baseline <= limit
    seconds); None when it has no target."""
    if target == 'ratio':
        return ratio <= limit
    if target == 'difference':
        return difference <= limit
    return None


def comparison(group, label, ours, baseline, target=None, limit=None, note='', ours_key=None, baseline_key=None, cpu=None):
    """One row of the summary: ours against a baseline (seconds), with its verdict; cpu is (ours, baseline) CPU seconds."""
    row = {'group': group, 'label': label, 'ours': ours, 'baseline': baseline, 'ratio': ours / baseline,
           'difference': ours - baseline, 'target': target, 'limit': limit, 'note': note,
           'ours_key': ours_key, 'baseline_key': baseline_key}
    if cpu:
        row['ours_cpu'], row['baseline_cpu'] = cpu
        row['cpu_ratio'] = row['ours_cpu'] / row['baseline_cpu']
    met = verdict(target, limit, row['ratio'], row['difference'])
    if met is not None:
        row['met'] = met
        if target == 'ratio' and 'cpu_ratio' in row:
            row['met_cpu'] = verdict(target, limit, row['cpu_ratio'], None)
    return row


def comparisons(results):
    """The rows of the summary, each ours against the baseline measured in the same run (medians)."""
    med = results.median
    rows = []

    def add(group, label, ours, base, target=None, limit=None, note='', cpu=None):
        ours_value, base_value = med(ours) if isinstance(ours, str) else ours, med(base) if isinstance(base, str) else base
        if ours_value is None or base_value is None:
            return
        cpu_values = None
        if cpu and med(ours + '.cpu') is not None and med(base + '.cpu') is not None:
            cpu_values = (med(ours + '.cpu'), med(base + '.cpu'))
        rows.append(comparison(group, label, ours_value, base_value, target, limit, note, ours if isinstance(ours, str) else None,
                               base if isinstance(base, str) else None, cpu_values))

    add('start', 'ad hoc: qemu_task vs command running the same argv', 'start.adhoc.qemu_task', 'start.adhoc.command',
        'ratio', TARGET_START_RATIO, cpu=True)
    add('start', 'in-process: the Reconciler vs bare -daemonize (until QMP answers)', 'start.inproc.runner', 'start.inproc.bare',
        'ratio', TARGET_START_RATIO)
    add('start', 'ad hoc: qemu_task vs ping', 'start.adhoc.qemu_task', 'start.adhoc.ping', cpu=True)
    add('no-op', 'ad hoc: qemu_task on the running VM vs ping', 'noop.adhoc.qemu_task', 'noop.adhoc.ping',
        'ratio', TARGET_SINGLE_NOOP_RATIO, cpu=True)
    add('no-op', 'its parts: AnsiballZ payload run alone, qemu_task vs ping', 'payload.qemu_task', 'payload.ping', cpu=True)
    add('no-op', 'its parts: controller builds the payload, qemu_task vs ping', 'build.qemu_task', 'build.ping')
    add('stop', "in-process: QemuShutdownRunner vs the guest's own shutdown", 'stop.inproc.runner', 'stop.guest',
        'difference', TARGET_STOP_EXTRA)
    add('stop', 'in-process: QemuShutdownRunner vs powerdown + once-a-second poll', 'stop.inproc.runner', 'stop.naive_poll')
    ping, guest = med('stop.adhoc.ping'), med('stop.guest')
    add('stop', "ad hoc: qemu_shutdown vs ping + the guest's own shutdown", 'stop.adhoc.qemu_shutdown',
        ping + guest if ping is not None and guest is not None else None)
    counts = results.scale_counts
    first = counts[0]
    for count in counts:
        add('scale', 'no-op over %d VM%s vs ping over as many loop items' % (count, 's' if count > 1 else ''), 'scale.noop.%d' % count,
            'scale.ping.%d' % count, 'ratio', TARGET_NOOP_RATIO, cpu=True)
    for count in counts:
        last = count == counts[-1]
        vms = '%d VM%s' % (count, 's' if count > 1 else '')
        add('scale', 'batch start of %s (one qemu_tasks call) vs a single ad hoc start' % vms, 'scale.batch.start.%d' % count,
            'start.adhoc.qemu_task', 'ratio' if last else None, TARGET_BATCH_START_RATIO if last else None)
        add('scale', 'batch no-op over %s vs one ping' % vms, 'scale.batch.noop.%d' % count, 'noop.adhoc.ping',
            'ratio' if last else None, TARGET_BATCH_NOOP_RATIO if last else None)
        add('scale', 'batch graceful stop of %s vs a single ad hoc stop' % vms, 'scale.batch.stop.%d' % count,
            'stop.adhoc.qemu_shutdown', 'ratio' if last else None, TARGET_BATCH_STOP_RATIO if last else None)
    for count in counts[1:]:
        for phase, key in (('start', 'scale.async.start'), ('start', 'scale.loop.start'), ('no-op', 'scale.noop'),
                           ('stop', 'scale.async.stop'), ('stop', 'scale.loop.stop')):
            add('scale', '%s of %d VMs vs %d (one playbook, %s)' % (phase, count, first, 'async' if 'async' in key else 'loop'),
                '%s.%d' % (key, count), '%s.%d' % (key, first), note='linear: %gx' % (count / first))
    add('peer', 'ad hoc start: qemu_task vs community.libvirt.virt', 'peer.ours.start', 'peer.virt.start', cpu=True)
    add('peer', 'ad hoc graceful stop, until QEMU exits: qemu_shutdown vs virt', 'peer.ours.shutdown_exit', 'peer.virt.shutdown_exit')
    add('peer', 'start: the Reconciler (in-process) vs virsh start', 'start.inproc.runner', 'peer.virsh.start')
    add('peer', 'graceful stop: QemuShutdownRunner vs virsh shutdown (until exit)', 'stop.inproc.runner', 'peer.virsh.shutdown_exit')
    return rows


def scale_table(results):
    """One row per VM count: the median of every scale key (and its CPU time), and the memory and idle CPU per VM."""
    rows = []
    for count in results.scale_counts:
        row = {'count': count}
        for key in SCALE_KEYS:
            row[key] = results.median('%s.%d' % (key, count))
            row[key + '.cpu'] = results.median('%s.%d.cpu' % (key, count))
        memory = results.extra.get('memory', {}).get(str(count))
        if memory:
            row.update(memory)
        rows.append(row)
    return rows


def growth(results, key, suffix=''):
    """Seconds per extra VM between the first and second count, and between the second and last (suffix '.cpu': CPU time)."""
    counts = results.scale_counts
    values = [results.median('%s.%d%s' % (key, count, suffix)) for count in counts]
    if len(counts) < 3 or None in values:
        return None
    first = (values[1] - values[0]) / (counts[1] - counts[0])
    last = (values[-1] - values[1]) / (counts[-1] - counts[1])
    return {'per_vm_first': first, 'per_vm_last': last, 'linear_or_better': last <= first * 1.25 + 0.001}


def json_report(results, rows, environment):
    """The results file: every sample, the comparisons and the conditions they were measured in."""
    return {
        'mode': results.mode,
        'runs': results.runs,
        'scale_counts': results.scale_counts,
        'environment': environment,
        'conditions': {key: results.extra.get(key) for key in CONDITION_KEYS},
        'targets': {'start_ratio': TARGET_START_RATIO, 'noop_ratio': TARGET_NOOP_RATIO, 'stop_extra_seconds': TARGET_STOP_EXTRA,
                    'single_noop_ratio': TARGET_SINGLE_NOOP_RATIO, 'batch_start_ratio': TARGET_BATCH_START_RATIO,
                    'batch_noop_ratio': TARGET_BATCH_NOOP_RATIO, 'batch_stop_ratio': TARGET_BATCH_STOP_RATIO},
        'comparisons': rows,
        'scale': scale_table(results),
        'growth': {key: growth(results, key) for key in GROWTH_KEYS},
        'growth_cpu': {key: growth(results, key, '.cpu') for key in GROWTH_KEYS if not key.startswith('scale.inproc.')},
        'measurements': {key: summarize(values) for key, values in sorted(results.samples.items())},
        'profile': results.extra.get('profile'),
        'peer': results.extra.get('peer'),
        'skipped': results.skips,
        'errors': results.errors,
        'warnings': sorted(set(results.warnings)),
        'remarks': results.remarks,
    }


def target_text(row, missed, cpu_label):
    """The target column: '<= 1.10x: met', '<= +50.0 ms: MISSED', or the row's note in parentheses."""
    if row['target'] == 'ratio':
        text = '<= %.2fx: %s' % (row['limit'], 'met' if row['met'] else missed)
        if 'met_cpu' in row:
            text += ' (%s: %s)' % (cpu_label, 'met' if row['met_cpu'] else missed)
        return text
    if row['target'] == 'difference':
        return '<= +%s: %s' % (fmt_seconds(row['limit']), 'met' if row['met'] else missed)
    return ''


def signed_seconds(value):
    return ('+' if value >= 0 else '-') + fmt_seconds(abs(value))


def scale_cells(row):
    """The cells of a scale row after its count: the medians, RSS and PSS per VM, idle CPU per VM."""
    cells = [fmt_seconds(row.get(key)) for key in SCALE_KEYS]
    cells += ['%.1f MiB' % (row[key] / 1048576.0) if row.get(key) else '-' for key in ('rss_median', 'pss_median')]
    cells.append('%.1f%%' % (row['idle_cpu_median'] * 100) if row.get('idle_cpu_median') is not None else '-')
    return cells


def text_report(results, rows, cpus):
    """The table printed at the end of a run."""
    out = ['']
    out.append('nomadic.qemu bench (%s, %d runs, medians; TCG, %d MB guests)' % (results.mode, results.runs, MEMORY_MB))
    out.append('%-6s %-66s %10s %10s %7s %10s %7s  %s' % ('group', 'comparison', 'ours', 'baseline', 'ratio', 'diff', 'CPU', 'target'))
    for row in rows:
        target = target_text(row, 'MISSED', 'on CPU time') or ('(%s)' % row['note'] if row['note'] else '')
        out.append('%-6s %-66s %10s %10s %6.2fx %10s %7s  %s' % (
            row['group'], row['label'][:66], fmt_seconds(row['ours']), fmt_seconds(row['baseline']), row['ratio'],
            signed_seconds(row['difference']), '%.2fx' % row['cpu_ratio'] if 'cpu_ratio' in row else '', target))
    out.append('')
    out.append('scale (medians, seconds; playbooks include ansible-playbook start-up; in-process = the module side alone)')
    header = ['VMs', 'start async', 'start loop', 'start batch', 'no-op loop', 'no-op batch', 'ping loop', 'stop async', 'stop loop',
              'stop batch', 'inproc start', 'inproc no-op', 'inproc stop', 'RSS/VM', 'PSS/VM', 'idle CPU/VM']
    out.append(' '.join('%11s' % item for item in header))
    for row in scale_table(results):
        out.append(' '.join('%11s' % cell for cell in [str(row['count'])] + scale_cells(row)))
    for key in GROWTH_KEYS:
        for suffix, what in (('', 'wall'), ('.cpu', 'CPU')):
            grow = growth(results, key, suffix)
            if grow:
                out.append('  %-13s %-4s %9s per extra VM up to %d, %9s per extra VM beyond: %s' % (
                    key[6:], what, fmt_seconds(grow['per_vm_first']), results.scale_counts[1], fmt_seconds(grow['per_vm_last']),
                    'linear or better' if grow['linear_or_better'] else 'WORSE than linear'))
    profile = results.extra.get('profile')
    if profile:
        out.append('')
        imports = profile['payload_import']
        build = profile['ansiballz_build']
        out.append('where the time goes (fastest of several runs):')
        out.append('  imports of the AnsiballZ payload (from its zip, compiled): qemu_task %s, command %s, ping %s; of which the '
                   'collection\'s own files %s and other modules ping does not import %s' % (
                       fmt_seconds(imports['qemu_task']['total_us'] / 1e6), fmt_seconds(imports['command']['total_us'] / 1e6),
                       fmt_seconds(imports['ping']['total_us'] / 1e6), fmt_seconds(imports['qemu_task']['collection_us'] / 1e6),
                       fmt_seconds(imports['qemu_task']['extra_us'] / 1e6)))
        out.append('  AnsiballZ build on the controller: %s' % ', '.join(
            '%s %s (%d KiB)' % (name.rsplit('.', 1)[-1], fmt_seconds(info['min_ms'] / 1000.0), info['bytes'] // 1024)
            for name, info in build.items()))
    out.append('')
    for name, why in sorted(results.skips.items()):
        out.append('skipped %s: %s' % (name, why))
    for note in (results.extra.get('peer') or {}).get('notes', []):
        out.append('peer: %s' % note)
    for remark in results.remarks:
        out.append('note: %s' % remark)
    out.append('machine: %d cores, load %s before, %s after; other QEMU processes running: %d before, %d after' % (
        cpus or 0, '/'.join('%.2f' % value for value in results.extra['load_before']),
        '/'.join('%.2f' % value for value in results.extra['load_after']), results.extra['other_qemu_before'],
        results.extra['other_qemu_after']))
    for error in results.errors:
        out.append('ERROR in stage %s: %s' % (error['stage'], error['error']))
    return '\n'.join(out)


def markdown(report):
    """The tables of docs/performance.md, from a results file."""
    out = ['| | comparison | ours | baseline | ratio | difference | CPU ratio | target |', '|---|---|---:|---:|---:|---:|---:|---|']
    for row in report['comparisons']:
        out.append('| %s | %s | %s | %s | %.2fx | %s | %s | %s |' % (
            row['group'], row['label'], fmt_seconds(row['ours']), fmt_seconds(row['baseline']), row['ratio'],
            signed_seconds(row['difference']), '%.2fx' % row['cpu_ratio'] if 'cpu_ratio' in row else '',
            target_text(row, '**missed**', 'CPU')))
    out += ['', '| VMs | start, async | start, loop | start, batch | no-op, loop | no-op, batch | ping, loop | stop, async | stop, loop | '
                'stop, batch | in-process start | in-process no-op | in-process stop | RSS per VM | PSS per VM | idle CPU per VM |',
            '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for row in report['scale']:
        out.append('| %d | %s |' % (row['count'], ' | '.join(scale_cells(row))))
    return '\n'.join(out) + '\n'
