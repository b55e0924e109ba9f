# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The placement plan: which host runs each allocation of the jobs, and what changes to get there.

``plan_placement`` is a pure function of its input (see inputs.py for the shapes). In order:

1. allocations of jobs not planned only use capacity;
2. each running allocation of a planned job that the jobs no longer want is stopped (a lower count
   stops the highest indexes, whatever runs where: unlike Nomad, lost allocations are not stopped
   first and a running set that meets the count is not kept as it is, see docs/placement.md); of
   copies of one allocation (on two hosts or one) the first on a reachable host by name is kept;
3. each wanted allocation that runs stays on its host (sticky) while the host is reachable, meets its
   constraints, distinct_hosts and distinct_property, and has room for it next to what stayed before
   it (in job, group, index order; one that grows, next to all that runs there): ``ignore`` when its ``spec`` is unchanged, ``update`` (in place)
   when not; otherwise it is rescheduled (``migrate``, with the reason). Unlike Nomad, which does
   not re-check the running allocations of an unchanged job, ``ignore`` ones are checked too;
4. the rest is placed, group after group (by job and group name), index after index: ``create``, or
   ``migrate`` for a rescheduled one, on the feasible host with the best score (scorer.py); ties go to
   the first host by name. What cannot be placed is listed in ``failures`` with Nomad's counts of
   why each host was left out. A rescheduled allocation whose host is reachable keeps its old
   resources there until it is placed elsewhere; if no host takes it, it keeps running as it was
   (``ignore``), as Nomad backs out the stop; on an unreachable host it is stopped.

Unlike Nomad, every feasible host is scored (Nomad scores a random sample of log2(hosts), or
max(count, 100) with spreads or affinities): the result does not depend on chance or on the order of
the input.

Cost: capacity is kept per host as placements go; constraints are checked once per distinct rule and
distinct pair of attribute values; each group builds its heaps once (O(hosts), a copy of a heap shared
by the groups asking for the same when it has no spreads) and each placement costs
O((classes + changed partitions) x log(hosts)), a partition being a combination of the values of
the group's spread attributes (one without spreads) and a class the partitions whose values have
the same counts (scorer.py): a spread over ``${node.unique.name}`` is not O(hosts) per placement.
"""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.eligibility import Eligibility
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.inputs import PlacementError, read_inputs
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.scorer import GroupScorer
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.scoring import ALGORITHMS

ACTIONS = ('create', 'update', 'ignore', 'migrate', 'stop')


class _State:
    """What runs where as the plan goes: capacity in use per host, and the hosts of each job and group."""

    def __init__(self, hosts):
        self.hosts = hosts
        self.used_cpus = [0] * len(hosts)
        self.used_memory = [0] * len(hosts)
        # a counter per host, bumped at each placement: heap entries of an older one are stale
        self.stamps = [0] * len(hosts)
        # the positions of the hosts whose use changed, in order, and the heaps kept on it (scorer.GroupScorer)
        self.changes = []
        self.shared_heaps = {}
        self.job_hosts = {}
        self.group_hosts = {}
        # (job, group or None for the job level, attribute) -> {value: allocations}, kept up to date by add()
        self.property_tables = {}
        self.job_properties = {}

    def fits(self, position, cpus, memory):
        host = self.hosts[position]
        return self.used_cpus[position] + cpus <= host.cpus and self.used_memory[position] + memory <= host.memory

    def exhausted(self, position, cpus, memory):
        """The dimension that has no room for ``cpus`` and ``memory`` on the host (CPU first, as Nomad), or None."""
        host = self.hosts[position]
        if self.used_cpus[position] + cpus > host.cpus:
            return 'cpus'
        if self.used_memory[position] + memory > host.memory:
            return 'memory'
        return None

    def use(self, position, cpus, memory):
        self.used_cpus[position] += cpus
        self.used_memory[position] += memory
        self.stamps[position] += 1
        self.changes.append(position)

    def add(self, alloc, position, use=True):
        """Record that ``alloc`` (a Wanted) runs on the host at ``position``; ``use=False`` when its capacity is counted already."""
        if use:
            self.use(position, alloc.cpus, alloc.memory)
        for table, key in ((self.job_hosts, alloc.job), (self.group_hosts, (alloc.job, alloc.group))):
            hosts = table.setdefault(key, {})
            hosts[position] = hosts.get(position, 0) + 1
        for group, counts, values in self.job_properties.get(alloc.job, ()):
            value = values[position]
            if value is not None and group in (None, alloc.group):
                counts[value] = counts.get(value, 0) + 1

    def distinct_hosts_conflict(self, alloc, position):
        """Whether distinct_hosts keeps ``alloc`` off the host: its job (job level) or group runs there."""
        if alloc.distinct_hosts == 'job':
            return position in self.job_hosts.get(alloc.job, {})
        if alloc.distinct_hosts == 'group':
            return position in self.group_hosts.get((alloc.job, alloc.group), {})
        return False

    def property_counts(self, alloc, name, level, eligibility):
        """Per value of the attribute ``name``, the allocations of the job (level job) or group that run there.

        Counted once, then kept up to date by add(): the dictionary returned changes with the plan.
        """
        group = None if level == 'job' else alloc.group
        counts = self.property_tables.get((alloc.job, group, name))
        if counts is None:
            table = self.job_hosts.get(alloc.job, {}) if group is None else self.group_hosts.get((alloc.job, group), {})
            values = eligibility.property(name)
            counts = self.property_tables[(alloc.job, group, name)] = {}
            for position, number in table.items():
                value = values[position]
                if value is not None:
                    counts[value] = counts.get(value, 0) + number
            self.job_properties.setdefault(alloc.job, []).append((group, counts, values))
        return counts

    def distinct_property_conflict(self, alloc, position, eligibility):
        """The reason distinct_property keeps ``alloc`` off the host, in Nomad's words, or None."""
        for name, allowed, level, attribute in alloc.distinct_properties:
            value = eligibility.property(name)[position]
            if value is None:
                return 'missing property "{0}"'.format(attribute)
            used = self.property_counts(alloc, name, level, eligibility).get(value, 0)
            if used >= allowed:
                return 'distinct_property: {0}={1} used by {2} allocs'.format(attribute, value, used)
        return None


def _entry(alloc, action, host, reason, previous=None, score=None):
    return {'job': alloc.job, 'group': alloc.group, 'index': alloc.index, 'name': alloc.name, 'action': action,
            'host': host, 'previous_host': previous, 'reason': reason, 'score': score}


def _stop_reason(existing, planned_groups):
    group = (existing.job, existing.group)
    if group not in planned_groups:
        return 'job {0!r} has no group {1!r} any more'.format(existing.job, existing.group)
    count = planned_groups[group]
    if isinstance(existing.index, int) and not isinstance(existing.index, bool) and existing.index >= count:
        return 'group {0!r} has count = {1}, so index {2} is no longer wanted'.format(existing.group, count, existing.index)
    return 'the job no longer has an allocation named {0!r}'.format(existing.name)


def _grows(alloc, existing):
    """Whether ``alloc`` asks for more CPUs or memory than the running ``existing`` holds."""
    return alloc.cpus > existing.cpus or alloc.memory > existing.memory


def _why_not_stay(state, eligibility, alloc, existing, position, failed, others=(0, 0)):
    """Why ``alloc``, running on the host at ``position``, cannot stay there; None when it can.

    ``others`` are the CPUs and memory of the host's other running allocations of the planned jobs
    not counted yet (undecided, or rescheduled and running until they move): an allocation that
    grows must have room next to them too, or growing in place could over-commit the host.
    """
    host = state.hosts[position]
    if not host.reachable:
        return 'host {0} is unreachable'.format(host.name)
    if failed[position] is not None:
        return 'host {0} no longer meets constraint {1!r}'.format(host.name, failed[position])
    if state.distinct_hosts_conflict(alloc, position):
        return 'distinct_hosts: host {0} already runs another allocation of the {1}'.format(
            host.name, 'job' if alloc.distinct_hosts == 'job' else 'group')
    conflict = state.distinct_property_conflict(alloc, position, eligibility)
    if conflict:
        return '{0} on host {1}'.format(conflict, host.name)
    grows = _grows(alloc, existing)
    dimension = state.exhausted(position, alloc.cpus + (others[0] if grows else 0), alloc.memory + (others[1] if grows else 0))
    if dimension:
        grown = ' with its new resources' if (alloc.cpus, alloc.memory) != (existing.cpus, existing.memory) else ''
        return 'host {0} has no room for it{1} ({2} exhausted)'.format(host.name, grown, dimension)
    return None


def plan_placement(allocations, hosts, algorithm='binpack', jobs=None):
    """Plan where the wanted ``allocations`` run on ``hosts``; see the module's docstring and inputs.py.

    ``algorithm`` is Nomad's scheduler algorithm: ``binpack`` (fill hosts) or ``spread`` (empty
    hosts first). ``jobs`` lists job IDs the plan is for besides those of ``allocations`` (a job
    with no allocations wanted any more is named here): a running allocation of a planned job that
    is not wanted is stopped, those of other jobs are left alone.

    Returns ``{'algorithm', 'allocations', 'failures', 'hosts'}``:

    - ``allocations``: one entry per wanted or running allocation of the planned jobs, sorted by job,
      group, index and host: ``{'job', 'group', 'index', 'name', 'action', 'host', 'previous_host',
      'reason', 'score'}``, ``action`` one of create, update, ignore, migrate (from ``previous_host``
      to ``host``) and stop (on ``host``); ``score`` is the placing score of create and migrate;
    - ``failures``: one entry per allocation no host can take, ``{'job', 'group', 'index', 'name',
      'reason', 'metrics'}``, ``metrics`` as Nomad's AllocMetric counts them: ``{'hosts_evaluated',
      'hosts_filtered', 'filtered': {reason: hosts}, 'hosts_exhausted', 'exhausted': {dimension: hosts}}``;
      a rescheduled allocation that fails is stopped when its host is unreachable, and otherwise
      keeps running there (``ignore``, the reason saying why it could not move);
    - ``hosts``: per host name ``{'cpus', 'memory', 'capacity': {'cpus', 'memory'}}``, what the plan uses.

    Raises PlacementError (a ValueError) for input it cannot read.
    """
    if algorithm not in ALGORITHMS:
        raise PlacementError('algorithm must be one of {0}, got {1!r}'.format(', '.join(ALGORITHMS), algorithm))
    if jobs is not None and (not isinstance(jobs, (list, tuple)) or not all(isinstance(job, str) for job in jobs)):
        raise PlacementError('jobs must be a list of job IDs (strings), got {0!r}'.format(jobs))
    wanted, hosts = read_inputs(allocations, hosts)
    # the jobs of the wanted allocations are always planned
    planned_jobs = set(alloc.job for alloc in wanted).union(jobs or ())
    planned_groups = {}
    for alloc in wanted:
        planned_groups[(alloc.job, alloc.group)] = alloc.count
    state = _State(hosts)
    eligibility = Eligibility(hosts)
    entries = []

    # 1. and 2.: foreign allocations use capacity; unwanted ones stop; copies stop.
    wanted_by_key = dict((alloc.key, alloc) for alloc in wanted)
    running = {}
    for host in hosts:
        for existing in host.existing:
            if existing.job not in planned_jobs:
                state.use(host.position, existing.cpus, existing.memory)
            elif existing.key not in wanted_by_key:
                entries.append(_entry(existing, 'stop', host.name, _stop_reason(existing, planned_groups)))
            else:
                running.setdefault(existing.key, []).append((existing, host))
    for key, copies in list(running.items()):
        # the first running copy on a reachable host stays (``running`` false: a copy whose VM is not running,
        # as on a host that came back after its allocations were placed elsewhere), else the first on a reachable host
        keep = next((copy for copy in copies if copy[1].reachable and copy[0].item.get('running', True) is not False),
                    next((copy for copy in copies if copy[1].reachable), copies[0]))
        running[key] = keep
        for existing, host in copies:
            # by identity of the copy: a second copy on the same host is stopped too
            if existing is not keep[0]:
                entries.append(_entry(existing, 'stop', host.name,
                                      'another copy of the allocation runs on host {0} and is the one kept'.format(keep[1].name)))

    # 3.: sticky allocations.
    # per host, the old resources of the running allocations to stay or move not counted yet
    others = [[0, 0] for _host in hosts]
    for alloc in wanted:
        found = running.get(alloc.key)
        if found is not None and found[1].reachable:
            others[found[1].position][0] += found[0].cpus
            others[found[1].position][1] += found[0].memory
    # Who stays is decided for the allocations that do not grow first: they need no more room than they
    # hold, and deciding them first leaves the most room to those that grow. In input order, an earlier
    # allocation that grows could be moved for want of room that a later one then frees by shrinking,
    # and a second plan (with the later one shrunk) would decide otherwise.
    # The placements keep the input order (a group's allocations by index): each is kept with its position.
    pending = []

    def grows(pair):
        found = running.get(pair[1].key)
        return found is not None and _grows(pair[1], found[0])

    for order, alloc in sorted(enumerate(wanted), key=grows):
        found = running.get(alloc.key)
        if found is None:
            pending.append((order, (alloc, None, 'new allocation', None)))
            continue
        existing, host = found
        if host.reachable:
            others[host.position][0] -= existing.cpus
            others[host.position][1] -= existing.memory
        failed = eligibility.constraints(alloc.constraints, alloc.name)
        reason = _why_not_stay(state, eligibility, alloc, existing, host.position, failed, others[host.position])
        if reason is None:
            state.add(alloc, host.position)
            changed = [what for what, same in (('spec', existing.spec == alloc.spec),
                                               ('resources', (existing.cpus, existing.memory) == (alloc.cpus, alloc.memory))) if not same]
            if changed:
                entries.append(_entry(alloc, 'update', host.name, '{0} changed; updated in place'.format(' and '.join(changed))))
            else:
                entries.append(_entry(alloc, 'ignore', host.name, 'unchanged'))
        else:
            held = None
            if host.reachable:
                held = (host.position, existing.cpus, existing.memory)
                # it runs until it has moved: an allocation after it that grows must leave it room
                others[host.position][0] += existing.cpus
                others[host.position][1] += existing.memory
            pending.append((order, (alloc, host.name, reason, held)))
    to_place = [item for _order, item in sorted(pending, key=lambda pair: pair[0])]
    # A rescheduled allocation on a reachable host runs there until it has moved (and keeps running if it
    # cannot): its old resources count before anything is placed, and are freed once it is placed elsewhere.
    for _alloc, _previous, _reason, held in to_place:
        if held is not None:
            state.use(*held)

    # 4.: placements, group after group.
    failures = []
    start = 0
    while start < len(to_place):
        end = start
        # a run of allocations of one group that ask for the same: one scorer places them
        shape = to_place[start][0].shape
        while end < len(to_place) and to_place[end][0].shape == shape:
            end += 1
        _place_group(state, eligibility, algorithm, to_place[start:end], entries, failures)
        start = end

    entries.sort(key=lambda entry: (entry['job'], entry['group'], _index_key(entry['index']), entry['host'] or ''))
    return {
        'algorithm': algorithm,
        'allocations': entries,
        'failures': failures,
        'hosts': dict((host.name, {'cpus': state.used_cpus[host.position], 'memory': state.used_memory[host.position],
                                   'capacity': {'cpus': host.cpus, 'memory': host.memory}}) for host in hosts),
    }


def score_hosts(allocation, hosts, algorithm='binpack'):
    """Each host's score for placing ``allocation`` next to what runs on ``hosts``, by host name; None where it cannot go.

    Everything that runs on the hosts stays and counts (capacity, anti-affinity, spreads,
    distinct_*), nothing is stopped or moved: this is the ranking ``plan_placement`` uses for its
    next placement of the allocation's group, as ``nomad job plan -verbose`` shows scores.
    """
    if algorithm not in ALGORITHMS:
        raise PlacementError('algorithm must be one of {0}, got {1!r}'.format(', '.join(ALGORITHMS), algorithm))
    wanted, hosts = read_inputs([allocation], hosts)
    state = _State(hosts)
    for host in hosts:
        for existing in host.existing:
            state.add(existing, host.position)
    scorer = GroupScorer(state, Eligibility(hosts), algorithm, wanted[0])
    return dict((host.name, scorer.score(host.position)) for host in hosts)


def _index_key(index):
    return (0, index, '') if isinstance(index, int) and not isinstance(index, bool) else (1, 0, str(index))


def _place_group(state, eligibility, algorithm, items, entries, failures):
    """Place allocations of one group that ask for the same, in index order.

    Each item is ``(alloc, previous host name, reason, held)``, ``held`` being ``(position, cpus,
    memory)`` of the running allocation it replaces on a reachable host, or None. A held one that no
    host takes keeps running as it was, as Nomad backs out the stop of a destructive update whose
    placement fails (PopUpdate); one on an unreachable host is stopped.
    """
    first = items[0][0]
    scorer = GroupScorer(state, eligibility, algorithm, first)
    metrics = None
    for alloc, previous, reason, held in items:
        chosen = None if metrics is not None else scorer.select()
        if chosen is None:
            # Once one allocation fails, the others (asking for the same) do too: room only frees
            # when an allocation of the group moves away, and none does after a failure.
            if metrics is None:
                metrics = scorer.metrics()
            message = 'no host can take it: ' + describe_metrics(metrics)
            failures.append({'job': alloc.job, 'group': alloc.group, 'index': alloc.index, 'name': alloc.name,
                             'reason': message, 'metrics': metrics})
            if held is not None:
                state.add(alloc, held[0], use=False)
                entries.append(_entry(alloc, 'ignore', previous, '{0}, and {1}; it keeps running as it was'.format(reason, message)))
            elif previous is not None:
                entries.append(_entry(alloc, 'stop', previous, '{0}, and {1}'.format(reason, message)))
            continue
        position, score = chosen
        scorer.place(position)
        if held is not None:
            state.use(held[0], -held[1], -held[2])
            scorer.refresh(held[0])
        name = state.hosts[position].name
        if previous is None:
            entries.append(_entry(alloc, 'create', name, reason, score=score))
        else:
            entries.append(_entry(alloc, 'migrate', name, reason, previous=previous, score=score))


def _plural(number, word):
    return '{0} {1}{2}'.format(number, word, '' if number == 1 else 's')


def describe_metrics(metrics):
    """Nomad's placement failure counts in a line: ``constraint '...' filtered 3 hosts, memory exhausted on 2 hosts``."""
    if not metrics['hosts_evaluated']:
        return 'there are no hosts'
    parts = []
    for reason, number in sorted(metrics['filtered'].items(), key=lambda item: (-item[1], item[0])):
        if reason.startswith('distinct_') or reason.startswith('missing property') or reason == 'unreachable':
            parts.append('{0} filtered {1}'.format(reason, _plural(number, 'host')))
        else:
            parts.append('constraint {0!r} filtered {1}'.format(reason, _plural(number, 'host')))
    for dimension, number in sorted(metrics['exhausted'].items(), key=lambda item: (-item[1], item[0])):
        parts.append('{0} exhausted on {1}'.format(dimension, _plural(number, 'host')))
    return ', '.join(parts)
