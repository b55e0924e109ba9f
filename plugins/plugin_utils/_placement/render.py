# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A placement plan as text, laid out as ``nomad job plan`` prints its diff and its scheduler dry-run."""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.planner import ACTIONS

_MARKS = {'create': '+', 'update': '~', 'ignore': ' ', 'migrate': '+/-', 'stop': '-'}
_WORDS = {'create': 'create', 'update': 'in-place update', 'ignore': 'ignore', 'migrate': 'migrate', 'stop': 'stop'}
_DIMENSIONS = {'cpus': 'cpu'}


def _plural(number, word):
    return '{0} {1}{2}'.format(number, word, '' if number == 1 else 's')


def _line(entry):
    if entry['action'] == 'migrate':
        where = '{0} -> {1}'.format(entry['previous_host'], entry['host'])
    else:
        where = entry['host']
    return '  {0} {1} on {2}: {3} ({4})'.format(_MARKS[entry['action']], entry['name'], where, _WORDS[entry['action']], entry['reason'])


def render_plan(plan, verbose=False):
    """The text of ``plan`` (plan_placement's result): per job and group the counts of each action and,
    but for unchanged allocations unless ``verbose``, one line per allocation (one kept as it was because it could
    not move has a line); then the scheduler
    dry-run, with Nomad's placement failure counts per group."""
    lines = []
    jobs = {}
    for entry in plan['allocations']:
        jobs.setdefault(entry['job'], {}).setdefault(entry['group'], []).append(entry)
    failed = {}
    for failure in plan['failures']:
        failed.setdefault((failure['job'], failure['group']), []).append(failure)
    for job, _group in failed:
        jobs.setdefault(job, {}).setdefault(_group, [])
    for job in sorted(jobs):
        groups = jobs[job]
        changed = any(entry['action'] != 'ignore' for entries in groups.values() for entry in entries)
        lines.append('{0} Job: "{1}"'.format('+/-' if changed else '', job).strip())
        for group in sorted(groups):
            entries = groups[group]
            counts = dict((action, 0) for action in ACTIONS)
            for entry in entries:
                counts[entry['action']] += 1
            summary = ', '.join('{0} {1}'.format(counts[action], _WORDS[action]) for action in ACTIONS if counts[action])
            mark = '+/-' if any(entry['action'] != 'ignore' for entry in entries) or (job, group) in failed else ''
            lines.append('{0} Task Group: "{1}" ({2})'.format(mark, group, summary or 'nothing to place').strip())
            for entry in entries:
                # an allocation kept as it was for want of a host to move to is shown with the reason
                if verbose or entry['action'] != 'ignore' or entry['reason'] != 'unchanged':
                    lines.append(_line(entry))
        lines.append('')
    lines.append('Scheduler dry-run:')
    if not plan['failures']:
        lines.append('- All tasks successfully allocated.')
    else:
        lines.append('- WARNING: Failed to place all allocations.')
        for (job, group), failures in sorted(failed.items()):
            lines.append('  Task Group "{0}" of job "{1}" (failed to place {2}):'.format(group, job, _plural(len(failures), 'allocation')))
            metrics = failures[0]['metrics']
            for reason, number in sorted(metrics['filtered'].items(), key=lambda item: (-item[1], item[0])):
                # Nomad lists distinct_hosts and distinct_property as constraints too
                if reason.startswith('missing property') or reason == 'unreachable':
                    lines.append('    * {0}: {1} excluded by filter'.format(reason, _plural(number, 'host')))
                else:
                    lines.append('    * Constraint "{0}": {1} excluded by filter'.format(reason, _plural(number, 'host')))
            if metrics['hosts_exhausted']:
                lines.append('    * Resources exhausted on {0}'.format(_plural(metrics['hosts_exhausted'], 'host')))
            for dimension, number in sorted(metrics['exhausted'].items()):
                # Nomad's dimension names: cpu, memory
                lines.append('    * Dimension "{0}" exhausted on {1}'.format(_DIMENSIONS.get(dimension, dimension), _plural(number, 'host')))
            if not metrics['hosts_evaluated']:
                lines.append('    * No hosts were eligible for evaluation')
    return '\n'.join(lines) + '\n'
