# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks of nomadic.qemu: how close to bare QEMU and Ansible's own floor, how far ahead of libvirt.

    make bench          full run; installs libvirt from Debian for the peer comparison
    make bench-quick    under 2 minutes, no libvirt; run in CI so the harness never rots

    .venv/bin/python bench/run.py [--quick] [--runs N] [--scale 1,8,32] [--no-peer] [--no-install]
                                  [--json PATH] [--svg PATH | --no-svg] [--keep]

Run it with the project's virtualenv (it imports the collection's module_utils and runs its
`ansible` and `ansible-playbook`). It prints a table of medians and the ratios against the
baselines measured in the same run, writes every sample as JSON (bench/results/, not
committed) and, for a full run, the plot in docs/images/performance.svg.

Exit status: 0 when every measurement ran (a missed target is reported, not a failure),
1 when the harness broke (a step failed or a VM did not behave), 130 when interrupted.
Every VM the bench starts lives under one fresh directory and is stopped at the end,
also on errors and Ctrl-C; only processes whose command line names that directory (and
the libvirt daemons the bench started itself, by their recorded pid and start time) are ever signalled.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from .harness import BenchError, environment, log, read_file, write_file
from .peer import stage_peer
from .plot import svg_report
from .profile import stage_profile
from .report import comparisons, json_report, markdown, text_report
from .results import Results
from .scale import stage_scale
from .settings import DOCS_SVG, RESULTS_DIR, ROOT, STAGES
from .stages import stage_noop, stage_start, stage_stop
from .workspace import Bench, run_stages

STAGE_FUNCTIONS = {'start': stage_start, 'noop': stage_noop, 'stop': stage_stop, 'profile': stage_profile, 'scale': stage_scale,
                   'peer': stage_peer}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='bench/run.py', description=__doc__.split('\n', 1)[0])
    parser.add_argument('--quick', action='store_true', help='under 2 minutes: 3 runs, 1 and 4 VMs, no libvirt, no plot')
    parser.add_argument('--runs', type=int, help='measured runs per variant (default 7, quick 3)')
    parser.add_argument('--scale', help='comma-separated VM counts (default 1,8,32; quick 1,4)')
    parser.add_argument('--scale-runs', type=int, help='repetitions of each scale step (default 3, quick 1)')
    parser.add_argument('--no-peer', dest='peer', action='store_false', default=None, help='skip the libvirt comparison')
    parser.add_argument('--no-install', dest='install', action='store_false', default=True,
                        help='do not install libvirt from Debian (the peer is skipped when it is missing)')
    parser.add_argument('--json', help='where to write the results (default bench/results/latest.json, quick: quick.json)')
    parser.add_argument('--svg', help='where to write the plot (default %s for a full run; none for quick)' % os.path.relpath(DOCS_SVG, ROOT))
    parser.add_argument('--no-svg', action='store_true', help='do not write the plot')
    parser.add_argument('--markdown', metavar='RESULTS', help='print the tables of docs/performance.md from a results file, and exit')
    parser.add_argument('--plot', metavar='RESULTS', help='draw the plot (--svg, default %s) from a results file, and exit'
                        % os.path.relpath(DOCS_SVG, ROOT))
    parser.add_argument('--only', help='run only these stages (comma-separated: %s)' % ','.join(STAGES))
    parser.add_argument('--keep', action='store_true', help='keep the run directory (VMs are stopped anyway)')
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 3 if args.quick else 7
    if args.runs < 1:
        parser.error('--runs must be 1 or more')
    try:
        args.scale = sorted(set(int(item) for item in (args.scale or ('1,4' if args.quick else '1,8,32')).split(',')))
    except ValueError:
        parser.error('--scale takes VM counts separated by commas, such as 1,8,32')
    if not args.scale or args.scale[0] < 1:
        parser.error('--scale counts must be 1 or more')
    if args.scale_runs is None:
        args.scale_runs = 1 if args.quick else 3
    if args.scale_runs < 1:
        parser.error('--scale-runs must be 1 or more')
    if args.peer is None:
        args.peer = not args.quick
    args.only = [item.strip() for item in args.only.split(',')] if args.only else None
    if args.only and not set(args.only) <= set(STAGES):
        parser.error('--only takes stage names among %s' % ', '.join(STAGES))
    args.json = args.json or os.path.join(RESULTS_DIR, 'quick.json' if args.quick else 'latest.json')
    if args.no_svg:
        args.svg = None
    elif not args.svg and not args.quick:
        args.svg = DOCS_SVG
    return args


def selected_stages(args, skips):
    """The (name, function) of the stages to run, in order; a peer left out is recorded in skips with the reason."""
    names = [name for name in STAGES if name != 'peer']
    if args.peer:
        names.append('peer')
    else:
        skips['peer'] = ('quick mode does not need libvirt (run make bench for the peer comparison)' if args.quick
                         else '--no-peer was given')
    if args.only:
        names = [name for name in names if name in args.only]
    return [(name, STAGE_FUNCTIONS[name]) for name in names]


def _on_signal(signum, _frame):
    raise KeyboardInterrupt('signal %d' % signum)


def write_results(args, report):
    text = json.dumps(report, indent=1, sort_keys=True) + '\n'
    write_file(args.json, text)
    if os.path.dirname(os.path.abspath(args.json)) == RESULTS_DIR:
        # Every run also kept under its date (the directory is not committed).
        write_file(os.path.join(RESULTS_DIR, '%s-%s.json' % (report['mode'], report['environment']['date'].replace(':', ''))), text)
    log('results written to %s (%.0f s in all)' % (os.path.relpath(args.json), report['seconds']))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.markdown:
        print(markdown(json.loads(read_file(args.markdown))), end='')
        return 0
    if args.plot:
        report = json.loads(read_file(args.plot))
        write_file(args.svg or DOCS_SVG, svg_report(Results.from_report(report), report))
        log('plot written to %s' % os.path.relpath(args.svg or DOCS_SVG))
        return 0
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    bench = Bench(args)
    results = bench.results
    started = time.monotonic()
    try:
        bench.setup()
        run_stages(bench, selected_stages(args, results.skips))
    except KeyboardInterrupt:
        log('interrupted; stopping every VM of this run')
        bench.cleanup()
        return 130
    except BenchError as exc:
        log('error: %s' % exc)
        bench.cleanup()
        return 1
    bench.cleanup()
    if results.extra.get('leftover_processes'):
        results.errors.append({'stage': 'cleanup', 'error': '%d process(es) of this run were still running at the end'
                               % results.extra['leftover_processes'], 'traceback': ''})
    rows = comparisons(results)
    report = json_report(results, rows, environment(bench.ansible.ansible, bench.qemu))
    report['seconds'] = round(time.monotonic() - started, 1)
    print(text_report(results, rows, os.cpu_count()))
    sys.stdout.flush()
    write_results(args, report)
    if args.svg:
        write_file(args.svg, svg_report(results, report))
        log('plot written to %s' % os.path.relpath(args.svg))
    return 1 if results.errors else 0
