# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plot of docs/images/performance.svg, as pure functions of a Results and its report."""

from __future__ import annotations

import math
import re
from xml.sax.saxutils import escape

from .settings import MEMORY_MB


def svg_bars(x, y, width, title, bars, unit_scale, unit):
    """A panel of horizontal bars: bars is [(label, value, kind)], kind 'ours', 'base' or 'gap'."""
    parts = ['<text x="%d" y="%d" class="title">%s</text>' % (x, y + 14, escape(title))]
    top = y + 26
    values = [value for _label, value, kind in bars if kind != 'gap' and value is not None]
    peak = max(values) if values else 1.0
    label_width = 330
    bar_space = width - label_width - 80
    for label, value, kind in bars:
        if kind == 'gap':
            parts.append('<text x="%d" y="%d" class="group">%s</text>' % (x, top + 12, escape(label)))
            top += 18
            continue
        length = 0 if value is None else max(1.0, bar_space * value / peak)
        parts.append('<text x="%d" y="%d" class="label">%s</text>' % (x + 10, top + 11, escape(label)))
        parts.append('<rect x="%d" y="%d" width="%.1f" height="13" class="%s"/>' % (x + label_width, top, length, kind))
        text = '-' if value is None else ('%.0f %s' % (value * unit_scale, unit) if value * unit_scale >= 10 else
                                          '%.1f %s' % (value * unit_scale, unit))
        parts.append('<text x="%.1f" y="%d" class="value">%s</text>' % (x + label_width + length + 4, top + 11, escape(text)))
        top += 17
    return parts, top


def nice_step(raw):
    """The smallest of 1, 2, 2.5 and 5 times a power of ten that is at least raw."""
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def svg_lines(x, y, width, height, title, counts, series):
    """A panel of lines: seconds against the number of VMs; series is [(label, [values], css class)]."""
    parts = ['<text x="%d" y="%d" class="title">%s</text>' % (x, y + 14, escape(title))]
    left, top = x + 50, y + 30
    plot_w, plot_h = width - 230, height - 60
    values = [value for _label, line, _css in series for value in line if value is not None]
    step = nice_step(max(values) / 4 if values else 0.25)
    peak = step * max(1, -(-max(values or [1.0]) // step))
    parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>' % (left, top + plot_h, left + plot_w, top + plot_h))
    parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>' % (left, top, left, top + plot_h))
    span = max(counts) - min(counts) or 1

    def px(count):
        return left + plot_w * (count - min(counts)) / span

    ticks = int(round(peak / step))
    for tick in range(ticks + 1):
        value = step * tick
        ty = top + plot_h - plot_h * tick / ticks
        parts.append('<text x="%d" y="%.1f" class="tick" text-anchor="end">%g s</text>' % (left - 4, ty + 4, round(value, 3)))
    for count in counts:
        parts.append('<text x="%.1f" y="%d" class="tick" text-anchor="middle">%d</text>' % (px(count), top + plot_h + 14, count))
    parts.append('<text x="%d" y="%d" class="tick" text-anchor="middle">VMs</text>' % (left + plot_w / 2, top + plot_h + 28))
    for index, (label, line, css) in enumerate(series):
        points = [(px(count), top + plot_h - plot_h * value / peak) for count, value in zip(counts, line) if value is not None]
        if not points:
            continue
        parts.append('<polyline points="%s" class="line %s"/>' % (' '.join('%.1f,%.1f' % point for point in points), css))
        for point in points:
            parts.append('<circle cx="%.1f" cy="%.1f" r="3" class="dot %s"/>' % (point[0], point[1], css))
        ly = top + 10 + index * 16
        parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" class="line %s"/>' % (left + plot_w + 15, ly - 4, left + plot_w + 35, ly - 4, css))
        parts.append('<text x="%d" y="%d" class="label">%s</text>' % (left + plot_w + 40, ly, escape(label)))
    return parts, y + height


def svg_report(results, report):
    """The whole plot: ad hoc and in-process bars, and the scale lines."""
    med = results.median
    width = 820
    parts = []
    adhoc = [
        ('start', None, 'gap'),
        ('qemu_task (state=running)', med('start.adhoc.qemu_task'), 'ours'),
        ('command running the same QEMU argv', med('start.adhoc.command'), 'base'),
        ('no-op re-run', None, 'gap'),
        ('qemu_task on the running VM', med('noop.adhoc.qemu_task'), 'ours'),
        ('ping', med('noop.adhoc.ping'), 'base'),
        ('graceful stop', None, 'gap'),
        ('qemu_shutdown', med('stop.adhoc.qemu_shutdown'), 'ours'),
        ("ping + the guest's own shutdown", med('stop.adhoc.ping') + med('stop.guest')
         if med('stop.adhoc.ping') is not None and med('stop.guest') is not None else None, 'base'),
    ]
    if med('peer.virt.start') is not None:
        adhoc += [
            ('libvirt peer (same interpreter)', None, 'gap'),
            ('qemu_task start', med('peer.ours.start'), 'ours'),
            ('community.libvirt.virt start', med('peer.virt.start'), 'peer'),
            ('qemu_shutdown, until QEMU exits', med('peer.ours.shutdown_exit'), 'ours'),
            ('community.libvirt.virt shutdown, until QEMU exits', med('peer.virt.shutdown_exit'), 'peer'),
        ]
    panel, bottom = svg_bars(20, 40, width - 20, 'Through Ansible, ad hoc (median, ms)', adhoc, 1000, 'ms')
    parts += panel
    inproc = [
        ('start, until QMP answers', None, 'gap'),
        ('Reconciler.run()', med('start.inproc.runner'), 'ours'),
        ('bare qemu-system-x86_64 -daemonize', med('start.inproc.bare'), 'base'),
        ('no-op', None, 'gap'),
        ('Reconciler.run() on the running VM', med('noop.inproc.runner'), 'ours'),
        ('graceful stop, until QEMU exits', None, 'gap'),
        ('QemuShutdownRunner.run()', med('stop.inproc.runner'), 'ours'),
        ("the guest's own shutdown (by hand)", med('stop.guest'), 'base'),
        ('powerdown, then a once-a-second poll', med('stop.naive_poll'), 'naive'),
    ]
    if med('peer.virsh.start') is not None:
        inproc += [
            ('libvirt peer', None, 'gap'),
            ('virsh start', med('peer.virsh.start'), 'peer'),
            ('virsh shutdown, until QEMU exits', med('peer.virsh.shutdown_exit'), 'peer'),
        ]
    panel, bottom = svg_bars(20, bottom + 16, width - 20, 'Module logic in-process vs bare QEMU (median, ms)', inproc, 1000, 'ms')
    parts += panel
    counts = results.scale_counts
    series = [
        ('start (async)', [med('scale.async.start.%d' % count) for count in counts], 's1'),
        ('no-op (loop)', [med('scale.noop.%d' % count) for count in counts], 's2'),
        ('stop (async)', [med('scale.async.stop.%d' % count) for count in counts], 's3'),
        ('start (loop)', [med('scale.loop.start.%d' % count) for count in counts], 's4'),
        ('stop (loop)', [med('scale.loop.stop.%d' % count) for count in counts], 's5'),
        ('ping (loop): the floor', [med('scale.ping.%d' % count) for count in counts], 's6'),
        ('start (one qemu_tasks call)', [med('scale.batch.start.%d' % count) for count in counts], 's7'),
        ('no-op (one qemu_tasks call)', [med('scale.batch.noop.%d' % count) for count in counts], 's8'),
        ('stop (one qemu_tasks call)', [med('scale.batch.stop.%d' % count) for count in counts], 's9'),
    ]
    series = [item for item in series if any(value is not None for value in item[1])]
    panel, bottom = svg_lines(20, bottom + 16, width - 20, 240, 'Scale: one playbook over N VMs (median seconds)', counts, series)
    parts += panel
    env = report['environment']
    qemu_version = re.search(r'version (\S+)', env['qemu'] or '')
    footer = '%s, %s cores, QEMU %s (TCG), %d MB guests; %s runs; load %s; bench/run.py' % (
        env['date'][:10], env['cpus'], qemu_version.group(1) if qemu_version else '?', MEMORY_MB, report['runs'],
        '/'.join('%.2f' % value for value in report['conditions']['load_before'] or ()))
    parts.append('<text x="20" y="%d" class="tick">%s</text>' % (bottom + 18, escape(footer)))
    height = bottom + 30
    style = ('text{font-family:DejaVu Sans,Arial,sans-serif;fill:#222}.title{font-size:14px;font-weight:bold}'
             '.group{font-size:11px;font-weight:bold;fill:#555}.label{font-size:11px}.value{font-size:10px;fill:#333}'
             '.tick{font-size:10px;fill:#555}.ours{fill:#2a7ab9}.base{fill:#9aa5ad}.peer{fill:#d98c2b}.naive{fill:#c0504d}'
             '.axis{stroke:#888;stroke-width:1}.line{fill:none;stroke-width:2}.dot{stroke:none}'
             '.s1{stroke:#2a7ab9;fill:#2a7ab9}.s2{stroke:#6aa84f;fill:#6aa84f}.s3{stroke:#c0504d;fill:#c0504d}'
             '.s4{stroke:#2a7ab9;fill:#2a7ab9;stroke-dasharray:4 3}.s5{stroke:#c0504d;fill:#c0504d;stroke-dasharray:4 3}'
             '.s6{stroke:#9aa5ad;fill:#9aa5ad;stroke-dasharray:2 2}.s7{stroke:#7b3fa0;fill:#7b3fa0}'
             '.s8{stroke:#e0a800;fill:#e0a800}.s9{stroke:#1b9e9e;fill:#1b9e9e}')
    head = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">\n<style>%s</style>\n'
            '<rect width="100%%" height="100%%" fill="#fff"/>\n'
            '<text x="20" y="24" class="title" style="font-size:16px">nomadic.qemu performance</text>\n'
            '<rect x="%d" y="12" width="10" height="10" class="ours"/><text x="%d" y="21" class="tick">nomadic.qemu</text>\n'
            '<rect x="%d" y="12" width="10" height="10" class="base"/><text x="%d" y="21" class="tick">floor</text>\n'
            '<rect x="%d" y="12" width="10" height="10" class="peer"/><text x="%d" y="21" class="tick">libvirt</text>\n'
            '<rect x="%d" y="12" width="10" height="10" class="naive"/><text x="%d" y="21" class="tick">1 s poll</text>\n') % (
                width, height, width, height, style, 420, 434, 530, 544, 600, 614, 670, 684)
    return head + '\n'.join(parts) + '\n</svg>\n'
