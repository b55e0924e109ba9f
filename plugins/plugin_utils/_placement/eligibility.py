# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Which hosts meet a set of constraints, and which match a set of affinities, computed once per distinct set.

Each rule is checked by plugin_utils/_constraints.py (``check_constraint``), once per distinct pair
of values the hosts have for the attributes it reads, not once per host: a thousand hosts with
three QEMU versions cost three checks. A host is filtered by its first unmet constraint, as
Nomad's ConstraintChecker counts it.
"""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import ConstraintError, check_constraint, describe_constraint
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.inputs import PlacementError


class Eligibility:
    """The caches of one plan: per rule the hosts meeting it, per constraint set the hosts meeting all."""

    def __init__(self, hosts):
        self.hosts = hosts
        self._rules = {}
        self._sets = {}
        self._affinities = {}
        self._properties = {}
        # what the scorers derive from the hosts alone, such as the partitions by spread values (scorer.py)
        self.cache = {}

    def rule(self, rule, owner):
        """A list, per host position, of whether the host meets ``rule``; ``owner`` names the allocation in errors."""
        if rule.key in self._rules:
            return self._rules[rule.key]
        results = {}
        met = []
        for host in self.hosts:
            left = host.attributes.get(rule.left)
            right = host.attributes.get(rule.right) if rule.right else None
            pair = (_hashable(left), _hashable(right))
            if pair not in results:
                attributes = {rule.left: left}
                if rule.right:
                    attributes[rule.right] = right
                try:
                    results[pair] = check_constraint(attributes, rule.attribute, rule.operator, rule.value) is None
                except ConstraintError as exc:
                    raise PlacementError('{0}: {1}'.format(owner, exc)) from None
            met.append(results[pair])
        self._rules[rule.key] = met
        return met

    def constraints(self, rules, owner):
        """Per host position the description of the first constraint of ``rules`` it does not meet, or None."""
        key = tuple(rule.key for rule in rules)
        if key in self._sets:
            return self._sets[key]
        failed = [None] * len(self.hosts)
        for rule in rules:
            met = self.rule(rule, owner)
            text = describe_constraint(rule.attribute, rule.operator, rule.value)
            for position, ok in enumerate(met):
                if not ok and failed[position] is None:
                    failed[position] = text
        self._sets[key] = failed
        return failed

    def affinities(self, rules, owner):
        """Per host position the NodeAffinityIterator score of ``rules`` (see scoring.affinity_score); None without affinities."""
        if not rules:
            return None
        key = tuple((rule.key, rule.weight) for rule in rules)
        if key in self._affinities:
            return self._affinities[key]
        total = float(sum(abs(rule.weight) for rule in rules))
        scores = [0.0] * len(self.hosts)
        for rule in rules:
            if not rule.weight:
                continue
            for position, ok in enumerate(self.rule(rule, owner)):
                if ok:
                    scores[position] += rule.weight
        if total:
            scores = [score / total for score in scores]
        self._affinities[key] = scores
        return scores

    def property(self, name):
        """Per host position the text of the attribute ``name`` (Nomad compares properties as text), None where not set."""
        if name not in self._properties:
            values = []
            for host in self.hosts:
                value = host.attributes.get(name)
                if isinstance(value, bool):
                    value = 'true' if value else 'false'
                values.append(None if value is None else str(value))
            self._properties[name] = values
        return self._properties[name]


def _hashable(value):
    """A hashable form of an attribute's value that keeps its type: 1, True and '1' are three texts to Nomad."""
    if isinstance(value, (list, tuple)):
        return ('list', tuple(_hashable(item) for item in value))
    if isinstance(value, dict):
        return ('dict', tuple(sorted((str(k), _hashable(v)) for k, v in value.items())))
    return (type(value).__name__, value)
