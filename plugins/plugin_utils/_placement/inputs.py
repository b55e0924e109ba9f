# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The planner's input, checked and turned into the objects it works on: wanted allocations and hosts.

An allocation is one instance of a task group (Nomad's allocation): ``job``, ``group``, ``index``,
and optionally ``name`` (default ``job.group[index]``), ``count`` (the group's count; default the
number of allocations of the group given), ``resources`` (``{'memory': MB, 'cpus': N}``),
``constraints``, ``affinities``, ``spreads`` and ``spec`` (anything comparable: an existing
allocation with another ``spec`` is updated in place).

A host: ``name``, ``attributes`` (Nomad attribute names without ``attr.``, as
_attributes.node_attributes gives them), optionally ``datacenter``, ``node_class`` and ``meta``
(added as ``node.datacenter``, ``node.class`` and ``meta.KEY``; ``node.unique.name`` defaults to the
host's name), ``capacity`` (required) and ``reserved`` (``{'memory': MB, 'cpus': N}``), ``reachable``
(true or false, default true) and ``allocations``: what runs there, each ``job``, ``group``, ``index``,
``resources`` and ``spec`` (an ``index`` may be a string of decimal digits, as qemu_task labels carry it;
the allocations of jobs not planned are kept and only use capacity).
"""

from __future__ import annotations

import math

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import (
    PLACEMENT_OPERATORS,
    SHORTHAND_OPERATORS,
    ConstraintError,
    attribute_name,
)
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.scoring import DEFAULT_WEIGHT

LEVELS = ('job', 'group', 'task')


class PlacementError(ValueError):
    """Input the planner cannot work with; the message says which item and what to write instead."""


def _describe(value):
    return 'nothing (null)' if value is None else '{0!r} ({1})'.format(value, type(value).__name__)


def _number(value, what, default=0):
    if value is None:
        return default
    # NaN: no comparison would ever refuse it
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise PlacementError('{0} must be a number, 0 or more, got {1}'.format(what, _describe(value)))
    return value


def _resources(value, what):
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise PlacementError("{0} must be a dictionary such as {{'memory': 1024, 'cpus': 2}}, got {1}".format(what, _describe(value)))
    return _number(value.get('cpus'), what + '.cpus'), _number(value.get('memory'), what + '.memory')


def _freeze(value):
    """A hashable form of a JSON-like value, for the caches keyed by constraint sets."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    # with its type: 1, 1.0 and True are equal keys, but not the same rule
    return (type(value).__name__, value)


class Rule:
    """One constraint or affinity: ``attribute operator value``, with the names of the attributes it reads."""

    __slots__ = ('attribute', 'operator', 'value', 'left', 'right', 'weight', 'key')

    def __init__(self, attribute, operator, value, weight=None):
        self.attribute = attribute
        self.operator = operator
        self.value = value
        self.weight = weight
        self.left = attribute_name(attribute)
        self.right = attribute_name(value) if isinstance(value, str) and value.strip().startswith('${') else None
        self.key = (attribute, operator, _freeze(value))


def _rule(item, what, affinity=False):
    if not isinstance(item, dict):
        raise PlacementError('{0} must be a dictionary with attribute, operator and value, got {1}'.format(what, _describe(item)))
    shorthand = [key for key in SHORTHAND_OPERATORS if key in item]
    operator = item.get('operator') or '='
    value = item.get('value')
    if shorthand:
        operator, value = shorthand[0], item[shorthand[0]]
    weight = None
    if affinity:
        weight = item.get('weight', DEFAULT_WEIGHT)
        if isinstance(weight, bool) or not isinstance(weight, int) or not -100 <= weight <= 100:
            raise PlacementError('{0}.weight must be a whole number from -100 to 100, got {1}'.format(what, _describe(weight)))
        if weight == 0:
            # as Nomad's Affinity.Validate
            raise PlacementError('{0}.weight cannot be zero'.format(what))
    try:
        return Rule(item.get('attribute'), operator, value, weight)
    except ConstraintError as exc:
        raise PlacementError('{0}: {1}'.format(what, exc)) from None


class Spread:
    """One spread block: the attribute, its weight and the targets (value, percent); no targets is an even spread."""

    __slots__ = ('attribute', 'name', 'weight', 'targets', 'key')

    def __init__(self, item, what):
        if not isinstance(item, dict) or 'attribute' not in item:
            raise PlacementError('{0} must be a dictionary with attribute, weight and targets, got {1}'.format(what, _describe(item)))
        self.attribute = item['attribute']
        try:
            self.name = attribute_name(self.attribute)
        except ConstraintError as exc:
            raise PlacementError('{0}: {1}'.format(what, exc)) from None
        self.weight = item.get('weight', DEFAULT_WEIGHT)
        if isinstance(self.weight, bool) or not isinstance(self.weight, int) or not 0 < self.weight <= 100:
            raise PlacementError('{0}.weight must be a whole number from 1 to 100, got {1}'.format(what, _describe(self.weight)))
        targets = []
        for number, target in enumerate(item.get('targets') or []):
            if not isinstance(target, dict) or 'value' not in target:
                raise PlacementError('{0}.targets[{1}] must be a dictionary with value and percent, got {2}'.format(
                    what, number, _describe(target)))
            percent = _number(target.get('percent'), '{0}.targets[{1}].percent'.format(what, number))
            targets.append((str(target['value']), percent))
        if sum(percent for _value, percent in targets) > 100:
            raise PlacementError('{0}: the target percentages add up to more than 100'.format(what))
        self.targets = tuple(targets)
        self.key = (self.name, self.weight, self.targets)


class Wanted:
    """One allocation the jobs want, with its rules sorted out: host constraints, distinct ones, affinities, spreads."""

    __slots__ = ('job', 'group', 'index', 'name', 'count', 'cpus', 'memory', 'spec', 'constraints', 'distinct_hosts',
                 'distinct_properties', 'affinities', 'spreads', 'item')

    def __init__(self, item, number, rules=None):
        what = 'allocations[{0}]'.format(number)
        if not isinstance(item, dict):
            raise PlacementError('{0} must be a dictionary with job, group and index, got {1}'.format(what, _describe(item)))
        for key in ('job', 'group'):
            if not isinstance(item.get(key), str) or not item[key]:
                raise PlacementError('{0}.{1} must be a non-empty string, got {2}'.format(what, key, _describe(item.get(key))))
        index = item.get('index')
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise PlacementError('{0}.index must be a whole number, 0 or more, got {1}'.format(what, _describe(index)))
        self.item = item
        self.job, self.group, self.index = item['job'], item['group'], index
        self.name = item.get('name') or '{0}.{1}[{2}]'.format(self.job, self.group, index)
        self.count = item.get('count')
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int) or self.count <= index):
            raise PlacementError('{0}.count must be a whole number above the index {1}, got {2}'.format(what, index, _describe(self.count)))
        self.cpus, self.memory = _resources(item.get('resources'), what + '.resources')
        self.spec = item.get('spec')
        # The allocations of a group mostly carry equal lists of rules: they are read once. Keyed by
        # value (a frozen form), as decoded JSON gives each allocation lists of its own; the lists
        # an allocation shares with the one before it are not frozen again.
        lists = (item.get('constraints'), item.get('affinities'), item.get('spreads'))
        key = None
        if rules is not None:
            last = rules.get('last')
            if last is not None and all(a is b for a, b in zip(last[0], lists)):
                key = last[1]
            else:
                key = _freeze(lists)
                rules['last'] = (lists, key)
            if key in rules:
                (self.constraints, self.distinct_properties, self.distinct_hosts, self.affinities, self.spreads) = rules[key]
                return
        self.constraints = []
        # (attribute name, allowed count, level, attribute) of each distinct_property; distinct_hosts as the level or None.
        self.distinct_properties = []
        self.distinct_hosts = None
        for position, constraint in enumerate(lists[0] or []):
            where = '{0}.constraints[{1}]'.format(what, position)
            if isinstance(constraint, dict) and (constraint.get('operator') in PLACEMENT_OPERATORS
                                                 or any(key in constraint for key in PLACEMENT_OPERATORS)):
                self._distinct(constraint, where)
            else:
                self.constraints.append(_rule(constraint, where))
        self.affinities = [_rule(affinity, '{0}.affinities[{1}]'.format(what, position), affinity=True)
                           for position, affinity in enumerate(lists[1] or [])]
        self.spreads = [Spread(spread, '{0}.spreads[{1}]'.format(what, position)) for position, spread in enumerate(lists[2] or [])]
        if rules is not None:
            rules[key] = (self.constraints, self.distinct_properties, self.distinct_hosts, self.affinities, self.spreads)

    def _distinct(self, constraint, where):
        operator = constraint.get('operator') or next(key for key in PLACEMENT_OPERATORS if key in constraint)
        level = constraint.get('level') or 'group'
        if level not in LEVELS:
            raise PlacementError('{0}.level must be one of {1}, got {2}'.format(where, ', '.join(LEVELS), _describe(level)))
        # A task's distinct constraint binds its group, the smallest unit placed.
        level = 'job' if level == 'job' else 'group'
        value = constraint.get('value', constraint.get(operator) if operator in constraint else None)
        if operator == 'distinct_hosts':
            # Nomad: no value is true, and a value that is not a boolean too.
            text = str(value).strip().lower() if value is not None else ''
            if text not in ('false', '0', 'f'):
                self.distinct_hosts = 'job' if 'job' in (level, self.distinct_hosts) else 'group'
            return
        attribute = constraint.get('attribute')
        try:
            name = attribute_name(attribute)
        except ConstraintError as exc:
            raise PlacementError('{0}: {1}'.format(where, exc)) from None
        if value in (None, ''):
            allowed = 1
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            allowed = value
        elif isinstance(value, str) and value.strip().isdecimal():
            allowed = int(value)
        else:
            raise PlacementError('{0}: distinct_property takes a whole number of allocations allowed per value, got {1}'.format(
                where, _describe(value)))
        self.distinct_properties.append((name, allowed, level, attribute))

    @property
    def key(self):
        """(job, group, index): what an existing allocation is matched by."""
        return self.job, self.group, self.index

    @property
    def shape(self):
        """The job, the group and all the allocation asks for: allocations of one shape are placed by one scorer."""
        return (self.job, self.group, self.count, self.cpus, self.memory, self.distinct_hosts, tuple(self.distinct_properties),
                tuple(rule.key for rule in self.constraints), tuple((rule.key, rule.weight) for rule in self.affinities),
                tuple(spread.key for spread in self.spreads))


class Existing:
    """An allocation that runs on a host."""

    __slots__ = ('job', 'group', 'index', 'name', 'cpus', 'memory', 'spec', 'host', 'item')

    def __init__(self, item, host, what):
        if not isinstance(item, dict):
            raise PlacementError('{0} must be a dictionary with job, group and index, got {1}'.format(what, _describe(item)))
        self.item = item
        self.job, self.group, self.index = item.get('job'), item.get('group'), item.get('index')
        for key in ('job', 'group'):
            # None: a VM of no job (running_allocations), which only uses capacity
            if item.get(key) is not None and not isinstance(item[key], str):
                raise PlacementError('{0}.{1} must be a string, got {2}'.format(what, key, _describe(item[key])))
        if isinstance(self.index, str) and self.index.isdecimal():
            # as qemu_task labels carry it (nomad_alloc_index)
            self.index = int(self.index)
        self.name = item.get('name') or '{0}.{1}[{2}]'.format(self.job, self.group, self.index)
        self.cpus, self.memory = _resources(item.get('resources'), what + '.resources')
        self.spec = item.get('spec')
        self.host = host

    @property
    def key(self):
        """(job, group, index), as Wanted.key."""
        return self.job, self.group, self.index


class Host:
    """A host: its attributes, what it offers (capacity less reserve), whether it is reachable, what runs there."""

    __slots__ = ('name', 'attributes', 'cpus', 'memory', 'reachable', 'existing', 'position')

    def __init__(self, item, number):
        what = 'hosts[{0}]'.format(number)
        if not isinstance(item, dict) or not isinstance(item.get('name'), str) or not item['name']:
            raise PlacementError('{0} must be a dictionary with a non-empty name, got {1}'.format(what, _describe(item)))
        self.name = item['name']
        attributes = item.get('attributes') or {}
        if not isinstance(attributes, dict):
            raise PlacementError('{0}.attributes must be a dictionary, got {1}'.format(what, _describe(attributes)))
        self.attributes = {'node.unique.name': self.name}
        if item.get('datacenter') is not None:
            self.attributes['node.datacenter'] = item['datacenter']
        if item.get('node_class') is not None:
            self.attributes['node.class'] = item['node_class']
        meta = item.get('meta') or {}
        if not isinstance(meta, dict):
            raise PlacementError('{0}.meta must be a dictionary, got {1}'.format(what, _describe(meta)))
        self.attributes.update(('meta.' + str(key), value) for key, value in meta.items())
        self.attributes.update(attributes)
        if item.get('capacity') is None:
            # 0 would quietly make the host useless
            raise PlacementError("{0}.capacity must be given, such as {{'memory': 65536, 'cpus': 16}}".format(what))
        cpus, memory = _resources(item.get('capacity'), what + '.capacity')
        reserved_cpus, reserved_memory = _resources(item.get('reserved'), what + '.reserved')
        self.cpus, self.memory = max(cpus - reserved_cpus, 0), max(memory - reserved_memory, 0)
        self.reachable = item.get('reachable', True)
        if not isinstance(self.reachable, bool):
            # a string such as 'false' would otherwise count as reachable
            raise PlacementError('{0}.reachable must be true or false, got {1}'.format(what, _describe(self.reachable)))
        self.existing = [Existing(existing, self.name, '{0}.allocations[{1}]'.format(what, position))
                         for position, existing in enumerate(item.get('allocations') or [])]
        self.position = None


def read_inputs(allocations, hosts):
    """Check the input; return (wanted allocations sorted by job, group, index, hosts sorted by name).

    Raises PlacementError for input of the wrong shape, for two hosts of the same name and for
    two allocations with the same job, group and index.
    """
    if not isinstance(allocations, (list, tuple)):
        raise PlacementError('allocations must be a list of dictionaries, got {0}'.format(_describe(allocations)))
    if not isinstance(hosts, (list, tuple)):
        raise PlacementError('hosts must be a list of dictionaries, got {0}'.format(_describe(hosts)))
    rules = {}
    wanted = [Wanted(item, number, rules) for number, item in enumerate(allocations)]
    seen = {}
    for alloc in wanted:
        if alloc.key in seen:
            raise PlacementError('allocations {0} and {1} are both index {2} of group {3!r} of job {4!r}'.format(
                seen[alloc.key], alloc.name, alloc.index, alloc.group, alloc.job))
        seen[alloc.key] = alloc.name
    wanted.sort(key=lambda alloc: alloc.key)
    counts = {}
    for alloc in wanted:
        counts[(alloc.job, alloc.group)] = counts.get((alloc.job, alloc.group), 0) + 1
    given = {}
    for alloc in wanted:
        if alloc.count is None:
            alloc.count = counts[(alloc.job, alloc.group)]
        group = (alloc.job, alloc.group)
        if given.setdefault(group, alloc.count) != alloc.count:
            raise PlacementError('the allocations of group {0!r} of job {1!r} give two counts, {2} and {3}; give one'.format(
                alloc.group, alloc.job, given[group], alloc.count))
    read = [Host(item, number) for number, item in enumerate(hosts)]
    read.sort(key=lambda host: host.name)
    for position, host in enumerate(read):
        if position and read[position - 1].name == host.name:
            raise PlacementError('two hosts are named {0!r}; host names must be unique'.format(host.name))
        host.position = position
    return wanted, read
