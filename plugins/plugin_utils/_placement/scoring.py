# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Nomad's scoring formulas, one pure function each, as its scheduler computes them.

- ``binpack_fit`` and ``spread_fit``: ``ScoreFitBinPack`` and ``ScoreFitSpread`` (nomad/structs/funcs.go),
  from the free share of each dimension after the placement; Nomad's dimensions are CPU shares
  (MHz) and memory, here they are vCPUs and memory;
- ``anti_affinity_penalty``: ``JobAntiAffinityIterator`` (scheduler/feasible/rank.go);
- ``affinity_score``: ``NodeAffinityIterator``, the weights of the matched affinities over the sum
  of the absolute weights;
- ``target_spread_boost`` and ``even_spread_boost``: ``SpreadIterator`` (scheduler/feasible/spread.go);
- ``final_score``: ``ScoreNormalizationIterator``, the mean of the scores a host was given.
"""

from __future__ import annotations

BINPACK_MAX_FIT_SCORE = 18.0
ALGORITHMS = ('binpack', 'spread')
# Nomad's jobspec default for an affinity's and a spread's weight.
DEFAULT_WEIGHT = 50
# Nomad's name for the spread target that stands for every value not listed.
IMPLICIT_TARGET = '*'


def free_shares(capacity_cpus, capacity_memory, used_cpus, used_memory):
    """Nomad's computeFreePercentage: the free share of CPU and memory once ``used`` is allocated.

    ``capacity`` is what the host offers once its reserve is taken off. A dimension the host
    offers none of counts as full.
    """
    free_cpu = 1.0 - (float(used_cpus) / capacity_cpus) if capacity_cpus > 0 else 0.0
    free_memory = 1.0 - (float(used_memory) / capacity_memory) if capacity_memory > 0 else 0.0
    return free_cpu, free_memory


def _bound(score):
    return min(max(score, 0.0), BINPACK_MAX_FIT_SCORE)


def binpack_fit(capacity_cpus, capacity_memory, used_cpus, used_memory):
    """ScoreFitBinPack: 0 on an empty host, 18 on a full one (``20 - (10^freeCpu + 10^freeMem)``, bounded)."""
    free_cpu, free_memory = free_shares(capacity_cpus, capacity_memory, used_cpus, used_memory)
    return _bound(20.0 - (10.0 ** free_cpu + 10.0 ** free_memory))


def spread_fit(capacity_cpus, capacity_memory, used_cpus, used_memory):
    """ScoreFitSpread: 18 on an empty host, 0 on a full one (``10^freeCpu + 10^freeMem - 2``, bounded)."""
    free_cpu, free_memory = free_shares(capacity_cpus, capacity_memory, used_cpus, used_memory)
    return _bound(10.0 ** free_cpu + 10.0 ** free_memory - 2.0)


def fit_score(algorithm, capacity_cpus, capacity_memory, used_cpus, used_memory):
    """The BinPackIterator's score of a host: the fit of ``algorithm`` over 18, between 0 and 1."""
    fit = binpack_fit if algorithm == 'binpack' else spread_fit
    return fit(capacity_cpus, capacity_memory, used_cpus, used_memory) / BINPACK_MAX_FIT_SCORE


def anti_affinity_penalty(collisions, desired_count):
    """JobAntiAffinityIterator: ``-(collisions + 1) / count`` for a host already running ``collisions``
    allocations of the same job and group; None (no score) when it runs none."""
    if collisions <= 0:
        return None
    return -float(collisions + 1) / max(desired_count, 1)


def affinity_score(weights, matched):
    """NodeAffinityIterator: the sum of the weights of the matched affinities over the sum of all absolute weights.

    ``weights`` lists the affinities' weights, ``matched`` whether the host matches each.
    None (no score) when there are no affinities.
    """
    total = sum(abs(weight) for weight in weights)
    if not weights or total == 0:
        return None
    return sum(weight for weight, match in zip(weights, matched) if match) / float(total)


def desired_counts(targets, count):
    """computeSpreadInfo: the wanted number of allocations per target value for ``count`` allocations.

    ``targets`` is a list of ``(value, percent)``. When the percentages given sum to less than
    the count, the rest goes to the implicit target ``*``. Empty for a spread without targets.
    """
    desired = {}
    total = 0.0
    for value, percent in targets:
        wanted = (float(percent) / 100.0) * count
        desired[value] = wanted
        total += wanted
    if 0 < total < count:
        desired[IMPLICIT_TARGET] = count - total
    return desired


def targeted_value(value, target_values):
    """propertySet.targetedPropertyValue: a value not among the targets counts as ``*``."""
    if not target_values or value in target_values:
        return value
    return IMPLICIT_TARGET


def target_spread_boost(desired, used, weight, sum_weights):
    """SpreadIterator with targets: ``(desired - (used + 1)) / desired``, times the spread's share of the weights.

    ``used`` is the number of allocations of the group already on the value; the ``+ 1`` counts
    the placement being scored.
    """
    return ((desired - float(used + 1)) / desired) * (float(weight) / sum_weights)


def even_spread_boost(used_counts, value):
    """evenSpreadScoreBoost: the boost of a host whose attribute is ``value`` for a spread without targets.

    ``used_counts`` maps each value in use to its number of allocations of the group. Nothing
    placed yet gives 0; a value below the least used gets a boost, one above it a penalty, and
    an even distribution the maximum penalty, -1.
    """
    # Nomad's loop skips values counted 0 (cleared by stops) when it looks for the least used
    # one, unless it meets them last; here they are left out, which is what it does mostly.
    counts = [count for count in used_counts.values() if count > 0]
    if not counts:
        return 0.0
    return even_spread_boost_of(used_counts.get(value, 0), min(counts), max(counts))


def even_spread_boost_of(current, min_count, max_count):
    """even_spread_boost from the value's count and the least and most used counts (above 0) of the group."""
    if current != min_count:
        return float(min_count - current) / min_count
    if min_count == max_count:
        return -1.0
    return float(max_count - min_count) / min_count


def final_score(scores):
    """ScoreNormalizationIterator: the mean of the scores given (the fit always is one)."""
    return sum(scores) / len(scores)
