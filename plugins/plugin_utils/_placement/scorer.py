# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The feasible host with the best score for the next allocation of a group, kept up to date as the group is placed.

A host's score is Nomad's (scoring.py): the mean of the fit (binpack or spread), the job
anti-affinity penalty when the group already runs there, the affinity score when the group has
affinities, and the spread score when it has spreads and the score is not 0.

Only the spread score depends on other hosts, and it is the same for all hosts with the same values
of the spread attributes: the hosts are partitioned by those values, and each partition keeps two
heaps of the part of the score that is the host's own (hosts without and with allocations of the
group, whose means are over one score fewer or more). The spread score of a partition only depends
on the counts of its values (and the desired ones): partitions with the same are in one class, and
each class keeps two heaps of the tops of its partitions' heaps. A select scores each class once
(the least and most used counts computed once), so a placement costs O(classes + changed
partitions x log(hosts)), and a spread over a per-host attribute (``${node.unique.name}``) does not
cost O(hosts) per placement. Without spreads, the heap of the hosts
without the group is shared by the groups that ask for the same (see _build_shared). A heap entry carries the host's stamp (see
planner._State) and is dropped when it is stale, when the host has no room left, or when distinct_hosts
or distinct_property keep the group off it: while a group is placed, hosts only fill up, but for the
host an allocation moves away from, which is pushed again (``refresh``).
"""

from __future__ import annotations

import heapq

from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.scoring import (
    BINPACK_MAX_FIT_SCORE,
    anti_affinity_penalty,
    binpack_fit,
    desired_counts,
    even_spread_boost_of,
    fit_score,
    spread_fit,
    target_spread_boost,
    targeted_value,
)


class _SpreadSet:
    """One spread block of the group: each host's (targeted) value, the wanted counts and the counts so far."""

    __slots__ = ('values', 'desired', 'weight', 'counts', 'explicit')

    def __init__(self, spread, count, eligibility, group_hosts):
        key = ('spread values', spread.name, tuple(sorted(set(value for value, _percent in spread.targets))))
        if key not in eligibility.cache:
            target_values = set(key[2])
            eligibility.cache[key] = [None if value is None else targeted_value(value, target_values) for value in eligibility.property(spread.name)]
        self.values = eligibility.cache[key]
        self.desired = desired_counts(spread.targets, count)
        self.weight = spread.weight
        self.counts = {}
        for position, number in group_hosts.items():
            value = self.values[position]
            if value is not None:
                self.counts[value] = self.counts.get(value, 0) + number
        self.explicit = [(value, desired) for value, desired in sorted(self.desired.items()) if desired > 0]


class _PropertySet:
    """One distinct_property of the group: each host's value, the allowed count and the counts so far."""

    __slots__ = ('values', 'allowed', 'counts', 'level', 'attribute')

    def __init__(self, name, allowed, level, attribute, counts, eligibility):
        self.values = eligibility.property(name)
        self.allowed = allowed
        self.level = level
        self.attribute = attribute
        # shared with the plan's state, which counts every placement of the job
        self.counts = counts


class GroupScorer:
    """Select hosts for the allocations of one group, one at a time (``select``, then ``place``)."""

    def __init__(self, state, eligibility, algorithm, alloc):
        self.state = state
        self.alloc = alloc
        self.algorithm = algorithm
        self.failed = eligibility.constraints(alloc.constraints, alloc.name)
        self.affinity = eligibility.affinities(alloc.affinities, alloc.name)
        self.base = 2 if self.affinity is not None else 1
        self.group_hosts = state.group_hosts.setdefault((alloc.job, alloc.group), {})
        self.job_hosts = state.job_hosts.setdefault(alloc.job, {})
        self.spreads = [_SpreadSet(spread, alloc.count, eligibility, self.group_hosts) for spread in alloc.spreads]
        self.sum_weights = float(sum(spread.weight for spread in self.spreads)) or 1.0
        self.properties = [_PropertySet(name, allowed, level, attribute, state.property_counts(alloc, name, level, eligibility), eligibility)
                           for name, allowed, level, attribute in alloc.distinct_properties]
        self.partition_of = {}
        self.partitions = []
        self.heaps = []
        # with spreads: each partition's class (see _class), the classes' heaps of partition tops,
        # and per spread the partitions of each value
        self.class_of = []
        self.class_heaps = {}
        self.members = []
        if self.spreads:
            self._build_partitions(eligibility)
            self._build_classes()
        else:
            self._build_shared()

    def _build_partitions(self, eligibility):
        """Build the heaps of each partition of the hosts by the values of the spread attributes."""
        state, alloc = self.state, self.alloc
        key = ('partitions', tuple(spread.key for spread in alloc.spreads))
        if key not in eligibility.cache:
            numbers, partition_of = {}, []
            for position in range(len(state.hosts)):
                values = tuple(spread.values[position] for spread in self.spreads)
                partition_of.append(numbers.setdefault(values, len(numbers)))
            eligibility.cache[key] = (sorted(numbers, key=numbers.get), partition_of)
        self.partitions, partition_of = eligibility.cache[key]
        self.partition_of = partition_of
        self.heaps = [([], []) for _key in self.partitions]
        # The loop below is _eligible, _feasible and _entry written out: it runs once per host and group.
        cpus, memory, failed, affinity, group_hosts = alloc.cpus, alloc.memory, self.failed, self.affinity, self.group_hosts
        used_cpus, used_memory, stamps = state.used_cpus, state.used_memory, state.stamps
        fit = binpack_fit if self.algorithm == 'binpack' else spread_fit
        checks = bool(alloc.distinct_hosts or self.properties)
        heaps = self.heaps
        for host in state.hosts:
            position = host.position
            if failed[position] is not None or not host.reachable:
                continue
            after_cpus, after_memory = used_cpus[position] + cpus, used_memory[position] + memory
            if after_cpus > host.cpus or after_memory > host.memory or (checks and not self._feasible(position)):
                continue
            # in _own's order (fit, anti-affinity, affinity), so that both give the same floats
            own = fit(host.cpus, host.memory, after_cpus, after_memory) / BINPACK_MAX_FIT_SCORE
            collided = group_hosts.get(position, 0)
            if collided:
                own += anti_affinity_penalty(collided, alloc.count)
            if affinity is not None:
                own += affinity[position]
            heaps[partition_of[position]][1 if collided else 0].append((-own, host.name, position, stamps[position]))
        for clean, collided in heaps:
            heapq.heapify(clean)
            heapq.heapify(collided)

    def _build_classes(self):
        self.members = [{} for _spread in self.spreads]
        for number, key in enumerate(self.partitions):
            for members, value in zip(self.members, key):
                members.setdefault(value, []).append(number)
            self.class_of.append(None)
            self._reclass(number)

    def _class(self, key):
        """What the spread score of the partition of spread values ``key`` depends on, per spread."""
        parts = []
        for spread, value in zip(self.spreads, key):
            if value is None:
                parts.append((0,))
            elif not spread.desired:
                parts.append((1, spread.counts.get(value, 0)))
            else:
                desired = spread.desired.get(value)
                if desired is None:
                    parts.append((2,))
                elif desired == 0:
                    parts.append((3,))
                else:
                    parts.append((4, desired, spread.counts.get(value, 0)))
        return tuple(parts)

    def _reclass(self, number):
        """Put the partition in its class now and offer the tops of its heaps there."""
        if not self.heaps[number][0] and not self.heaps[number][1]:
            return
        self.class_of[number] = key = self._class(self.partitions[number])
        heaps = self.class_heaps.get(key)
        if heaps is None:
            heaps = self.class_heaps[key] = ([], [])
        for collided in (0, 1):
            top = self._top(self.heaps[number][collided], not collided)
            if top is not None:
                heapq.heappush(heaps[collided], top + (number,))

    def _class_top(self, key, collided):
        """The best valid partition top in the class's heap: the partition is still in the class and that is still its top."""
        heap = self.class_heaps[key][collided]
        while heap:
            entry = heap[0]
            number = entry[4]
            if self.class_of[number] == key:
                top = self._top(self.heaps[number][collided], not collided)
                if top is not None and top[2:4] == entry[2:4]:
                    return entry
                heapq.heappop(heap)
                if top is not None:
                    heapq.heappush(heap, top + (number,))
                continue
            heapq.heappop(heap)
        return None

    def _build_shared(self):
        """Build the heaps of a group without spreads, the clean one from the plan's heap for what it asks.

        The heap of the hosts without the group (fit and affinity) is the same for every group
        asking for the same resources under the same constraints and affinities: the plan keeps
        one per such shape, with how far into its log of changed hosts it is. A group takes a copy
        and adds the hosts changed since; entries of hosts running the group are skipped (_top).
        """
        state, alloc = self.state, self.alloc
        key = (self.algorithm, alloc.cpus, alloc.memory, tuple(rule.key for rule in alloc.constraints),
               tuple((rule.key, rule.weight) for rule in alloc.affinities))
        cached = state.shared_heaps.get(key)
        if cached is not None and len(cached[0]) <= 2 * cached[2] + 64:
            clean, eligible = list(cached[0]), cached[2]
            for position in sorted(set(state.changes[cached[1]:])):
                if self._eligible(position) and state.fits(position, alloc.cpus, alloc.memory):
                    heapq.heappush(clean, self._entry(position, clean=True))
        else:
            clean, eligible = [], 0
            for host in state.hosts:
                position = host.position
                if self._eligible(position):
                    eligible += 1
                    if state.fits(position, alloc.cpus, alloc.memory):
                        clean.append(self._entry(position, clean=True))
            heapq.heapify(clean)
        state.shared_heaps[key] = (list(clean), len(state.changes), eligible)
        collided = [self._entry(position) for position in sorted(self.group_hosts)
                    if self._eligible(position) and self._feasible(position)]
        heapq.heapify(collided)
        self.partitions.append(())
        self.heaps.append((clean, collided))

    def _eligible(self, position):
        """Whether the host can ever take the group: reachable and meeting its constraints."""
        return self.state.hosts[position].reachable and self.failed[position] is None

    def _feasible(self, position):
        """Whether the host can take the next allocation: room, distinct_hosts and distinct_property."""
        alloc = self.alloc
        if not self.state.fits(position, alloc.cpus, alloc.memory):
            return False
        if alloc.distinct_hosts and self.state.distinct_hosts_conflict(alloc, position):
            return False
        for pset in self.properties:
            value = pset.values[position]
            if value is None or pset.counts.get(value, 0) >= pset.allowed:
                return False
        return True

    def _own(self, position, clean=False):
        """The host's own part of the score: fit, anti-affinity (unless ``clean``) and affinity, summed."""
        state, alloc = self.state, self.alloc
        host = state.hosts[position]
        score = fit_score(self.algorithm, host.cpus, host.memory, state.used_cpus[position] + alloc.cpus,
                          state.used_memory[position] + alloc.memory)
        penalty = None if clean else anti_affinity_penalty(self.group_hosts.get(position, 0), alloc.count)
        if penalty is not None:
            score += penalty
        if self.affinity is not None:
            score += self.affinity[position]
        return score

    def _entry(self, position, clean=False):
        return (-self._own(position, clean), self.state.hosts[position].name, position, self.state.stamps[position])

    def _top(self, heap, clean):
        """The best valid entry of ``heap``, dropping those that are not (in the ``clean`` heap, those of hosts running the group)."""
        stamps, group_hosts = self.state.stamps, self.group_hosts
        while heap:
            entry = heap[0]
            if entry[3] == stamps[entry[2]] and not (clean and entry[2] in group_hosts) and self._feasible(entry[2]):
                return entry
            heapq.heappop(heap)
        return None

    def _used_range(self):
        """Per spread, the least and most used counts above 0 (None when none is), for the even spread boost."""
        ranges = []
        for spread in self.spreads:
            counts = [count for count in spread.counts.values() if count > 0] if not spread.desired else None
            ranges.append((min(counts), max(counts)) if counts else None)
        return ranges

    def _spread_score(self, key, ranges=None, lowest=None):
        """The SpreadIterator's total for hosts whose spread values are ``key``; ``ranges`` as _used_range gives them."""
        return self._class_score(self._class(key), self._used_range() if ranges is None else ranges, lowest)

    def _class_score(self, key, ranges, lowest=None):
        """The SpreadIterator's total for the hosts of a class (see _class)."""
        total = 0.0
        for spread, part, used in zip(self.spreads, key, ranges):
            kind = part[0]
            if kind in (0, 2):
                # Nomad: the attribute is missing on the host, or its value has no target
                total -= 1.0
            elif kind == 1:
                total += 0.0 if used is None else even_spread_boost_of(part[1], used[0], used[1])
            elif kind == 3:
                if lowest is None:
                    lowest = self._lowest_boost()
                total += lowest
            else:
                total += target_spread_boost(part[1], part[2], spread.weight, self.sum_weights)
        return total

    def _lowest_boost(self):
        """The boost of a target wanting 0 allocations: the lowest boost of any target now, and at most -1.

        Nomad keeps the lowest boost it has computed so far, which depends on the order it scored hosts in.
        """
        lowest = -1.0
        for spread in self.spreads:
            for value, desired in spread.explicit:
                lowest = min(lowest, target_spread_boost(desired, spread.counts.get(value, 0), spread.weight, self.sum_weights))
        return lowest

    def select(self):
        """``(host position, score)`` of the best host for the next allocation, or None when none can take it."""
        if self.spreads:
            return self._select_by_class()
        best = None
        for number, key in enumerate(self.partitions):
            if not self.heaps[number][0] and not self.heaps[number][1]:
                continue
            spread = self._spread_score(key) if self.spreads else 0.0
            entries = [self._top(heap, not collided) for collided, heap in enumerate(self.heaps[number])]
            best = self._better(best, spread, entries)
        if best is None:
            return None
        return best[2], -best[0]

    def _select_by_class(self):
        best = None
        ranges = self._used_range()
        lowest = self._lowest_boost()
        for key in list(self.class_heaps):
            entries = [self._class_top(key, collided) for collided in (0, 1)]
            if entries == [None, None]:
                del self.class_heaps[key]
                continue
            spread = self._class_score(key, ranges, lowest)
            best = self._better(best, spread, entries)
        if best is None:
            return None
        return best[2], -best[0]

    def _better(self, best, spread, entries):
        """``best`` or a better candidate among the tops of a partition's two heaps (without, with collisions)."""
        extra = 1 if spread != 0.0 else 0
        for collided, entry in enumerate(entries):
            if entry is None:
                continue
            score = (spread - entry[0]) / (self.base + collided + extra)
            candidate = (-score, entry[1], entry[2])
            if best is None or candidate < best:
                best = candidate
        return best

    def score(self, position):
        """The host's score for the next allocation now, or None when it cannot take it."""
        if not self._eligible(position) or not self._feasible(position):
            return None
        key = tuple(spread.values[position] for spread in self.spreads)
        spread = self._spread_score(key) if self.spreads else 0.0
        collided = 1 if position in self.group_hosts else 0
        return (self._own(position) + spread) / (self.base + collided + (1 if spread != 0.0 else 0))

    def place(self, position):
        """Record the next allocation on the host at ``position`` and update what scores it changes."""
        state, alloc = self.state, self.alloc
        state.add(alloc, position)
        for spread in self.spreads:
            value = spread.values[position]
            if value is not None:
                spread.counts[value] = spread.counts.get(value, 0) + 1
        if self._feasible(position):
            heapq.heappush(self.heaps[self.partition_of[position] if self.spreads else 0][1], self._entry(position))
        if self.spreads:
            self._changed(self.partition_of[position])

    def _changed(self, number):
        """The partition's heaps and counts changed: it and those sharing a value with it may change class."""
        affected = set()
        for members, value in zip(self.members, self.partitions[number]):
            affected.update(members[value])
        for other in sorted(affected):
            if other == number or self.class_of[other] != self._class(self.partitions[other]):
                self._reclass(other)

    def refresh(self, position):
        """Push the host at ``position`` again after room was freed on it (an allocation moved away)."""
        if self._eligible(position) and self._feasible(position):
            collided = position in self.group_hosts
            heap = self.heaps[self.partition_of[position] if self.spreads else 0][1 if collided else 0]
            heapq.heappush(heap, self._entry(position, clean=not collided))
            if self.spreads:
                self._reclass(self.partition_of[position])

    def metrics(self):
        """Why no host can take the next allocation, counted per reason as Nomad's AllocMetric does."""
        state, alloc = self.state, self.alloc
        filtered, exhausted = {}, {}
        for host in state.hosts:
            position = host.position
            reason = None
            if not host.reachable:
                reason = 'unreachable'
            elif self.failed[position] is not None:
                reason = self.failed[position]
            elif alloc.distinct_hosts and state.distinct_hosts_conflict(alloc, position):
                reason = 'distinct_hosts'
            else:
                for pset in self.properties:
                    value = pset.values[position]
                    if value is None:
                        reason = 'missing property "{0}"'.format(pset.attribute)
                    elif pset.counts.get(value, 0) >= pset.allowed:
                        reason = 'distinct_property: {0}={1} used by {2} allocs'.format(pset.attribute, value, pset.counts[value])
                    if reason:
                        break
            if reason is not None:
                filtered[reason] = filtered.get(reason, 0) + 1
                continue
            dimension = state.exhausted(position, alloc.cpus, alloc.memory)
            if dimension is not None:
                exhausted[dimension] = exhausted.get(dimension, 0) + 1
        return {'hosts_evaluated': len(state.hosts), 'hosts_filtered': sum(filtered.values()), 'filtered': filtered,
                'hosts_exhausted': sum(exhausted.values()), 'exhausted': exhausted}
