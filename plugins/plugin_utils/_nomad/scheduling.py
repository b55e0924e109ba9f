# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The scheduling blocks of a job that placement applies: affinity, spread and update's max_parallel.

Each is checked as far as no host is needed and returned in the shape the placement planner reads
(plugin_utils/_placement/inputs.py). Constraints, distinct_hosts and distinct_property among them,
are read by constraint.py.
"""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import (
    OPERATORS,
    PLACEMENT_OPERATORS,
    ConstraintError,
    attribute_name,
    check_constraint,
)
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.hcl import bodies, check_keys, hcl_text, labelled, single, strip, to_int
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.interpolate import plain
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.scoring import DEFAULT_WEIGHT

AFFINITY_KEYS = ('attribute', 'operator', 'value', 'weight')
SPREAD_KEYS = ('attribute', 'weight', 'target')
TARGET_KEYS = ('percent',)
# Nomad's update block: max_parallel is applied (the waves of a changed job); the rest waits on
# Nomad's health checks and deployments, which have no counterpart here.
UPDATE_KEYS = ('max_parallel',)
IGNORED_UPDATE_KEYS = dict((key, 'Nomad deployments (health checks, canaries, reverts) are not run; run_job updates in '
                                 'waves of max_parallel, each waiting for its VMs to start')
                           for key in ('health_check', 'min_healthy_time', 'healthy_deadline', 'progress_deadline',
                                       'auto_revert', 'auto_promote', 'canary', 'stagger'))
# Nomad's default (api/jobs.go Canonicalize of the update block); the weights' is the planner's.
DEFAULT_MAX_PARALLEL = 1


def _weight(item, ctx, key, low):
    weight = to_int(plain(item.get('weight', DEFAULT_WEIGHT)))
    if weight is None or not low <= weight <= 100 or weight == 0:
        raise ctx.error('%s.weight is %r; use a whole number from %d to 100%s' % (
            key, item.get('weight'), low, ', not 0' if low < 0 else ''))
    return weight


def affinities(reader, body, ctx):
    """The affinity blocks of a job, group or task body: ``{'attribute', 'operator', 'value', 'weight', 'source'}`` each."""
    found = []
    for index, item in enumerate(bodies(body.get('affinity'), ctx, 'affinity')):
        key = 'affinity[%d]' % index
        check_keys(item, AFFINITY_KEYS, ctx, key, 'an affinity block')
        item = plain(strip(item))
        if item.get('attribute') is None:
            raise ctx.error('%s has no attribute; set attribute, such as attribute = "${meta.rack}"' % key)
        operator = hcl_text(item.get('operator') or '=')
        if operator in PLACEMENT_OPERATORS or operator not in OPERATORS:
            raise ctx.error('%s.operator is %r; an affinity takes one of %s' % (
                key, operator, ', '.join(op for op in OPERATORS if op not in PLACEMENT_OPERATORS)))
        affinity = {'attribute': hcl_text(item['attribute']), 'operator': operator, 'weight': _weight(item, ctx, key, -100)}
        if item.get('value') is not None:
            affinity['value'] = hcl_text(item['value'])
        try:
            attribute_name(affinity['attribute'])
        except ConstraintError as exc:
            raise ctx.error('%s.attribute: %s' % (key, exc)) from None
        try:
            # with no attributes: every check that does not depend on the host (a version or regular expression)
            check_constraint({}, affinity['attribute'], operator, affinity.get('value'))
        except ConstraintError as exc:
            raise ctx.error('%s.value: %s' % (key, exc)) from None
        affinity['source'] = ctx.where()
        found.append(affinity)
    return found


def spreads(reader, body, ctx):
    """The spread blocks of a job or group body: ``{'attribute', 'weight', 'targets': [{'value', 'percent'}], 'source'}`` each."""
    found = []
    for index, item in enumerate(bodies(body.get('spread'), ctx, 'spread')):
        key = 'spread[%d]' % index
        check_keys(item, SPREAD_KEYS, ctx, key, 'a spread block')
        if item.get('attribute') is None:
            raise ctx.error('%s has no attribute; set attribute, such as attribute = "${node.datacenter}"' % key)
        attribute = hcl_text(plain(item['attribute']))
        try:
            attribute_name(attribute)
        except ConstraintError as exc:
            raise ctx.error('%s.attribute: %s' % (key, exc)) from None
        targets = []
        for value, target in labelled(item.get('target'), ctx, '%s.target' % key, 'target "us-east1" { percent = 50 }'):
            check_keys(target, TARGET_KEYS, ctx, '%s.target %r' % (key, value), 'a target block')
            percent = to_int(plain(target.get('percent', 0)))
            if percent is None or not 0 <= percent <= 100:
                raise ctx.error('%s.target %r: percent is %r; use a whole number from 0 to 100' % (key, value, target.get('percent')))
            targets.append({'value': hcl_text(value), 'percent': percent})
        if sum(target['percent'] for target in targets) > 100:
            raise ctx.error('%s: the target percentages add up to more than 100' % key)
        found.append({'attribute': attribute, 'weight': _weight(plain(strip(item)), ctx, key, 1), 'targets': targets,
                      'source': ctx.where()})
    return found


def max_parallel(reader, body, ctx, default=None):
    """The update block's max_parallel of a job or group body; ``default`` (the job's, or None: no update block) without one."""
    update = single(body.get('update'), ctx, 'update')
    if update is None:
        return default
    check_keys(update, UPDATE_KEYS + tuple(IGNORED_UPDATE_KEYS), ctx, 'update', 'an update block')
    for key in sorted(update):
        if key in IGNORED_UPDATE_KEYS:
            reader.ignored.add(ctx, 'update.%s' % key, IGNORED_UPDATE_KEYS[key])
    if 'max_parallel' not in update:
        return default if default is not None else DEFAULT_MAX_PARALLEL
    number = to_int(plain(update['max_parallel']))
    if number is None or number < 0:
        raise ctx.error('update.max_parallel is %r; use a whole number, 0 or more (0: all at once)' % (update['max_parallel'],))
    return number
