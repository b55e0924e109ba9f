# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: nomad_job_plan
short_description: Place a Nomad job's allocations on the hosts of a play, as Nomad's scheduler does
version_added: 0.2.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Takes a job read by P(nomadic.qemu.nomad_job#lookup) and the hosts of a play (their attributes, capacity, reserve and
    the tasks C(nomadic.qemu.qemu_task_info) found there), and returns where each allocation (a group's count index) runs,
    that is the task instances every host runs, in which wave, and the tasks it stops.
  - The count is job-wide. Hosts are filtered by the job's constraints (and by a usable QEMU), C(distinct_hosts) and
    C(distinct_property), and by their free memory and CPUs; the feasible ones are scored as Nomad scores them
    (binpack or spread, anti-affinity, C(affinity) weights, C(spread) targets). A running allocation stays where it is
    while its host is reachable, eligible and has room; the others are created, or moved, on the best host.
  - An allocation whose task changed (its options or artifacts, hashed into the label C(nomad_spec)) is updated in place,
    in waves of the group's C(update.max_parallel); without an update block, all at once.
  - The playbook C(nomadic.qemu.run_job) runs it once over the hosts of its play. See C(docs/placement.md) and
    C(docs/coming-from-nomad.md) in the collection.
positional: hosts, unreachable, algorithm
options:
  _input:
    description: A job, one element of the result of P(nomadic.qemu.nomad_job#lookup).
    type: dict
    required: true
  hosts:
    description:
      - The reachable hosts, each a dictionary with C(name), C(attributes) (Nomad attribute names without C(attr.), as
        P(nomadic.qemu.nomad_attributes#filter) gives them), C(capacity) and C(reserved) (each a dictionary with C(memory) in
        MB and C(cpus); what the plan may use is the difference) and C(tasks) (the RV(nomadic.qemu.qemu_task_info#module:tasks)
        of the host; the job's tasks are its running allocations, the others only use capacity).
    type: list
    elements: dict
    required: true
  unreachable:
    description:
      - The names of the hosts that could not be reached. What runs there is not known, so their allocations are placed
        again; once such a host is back, a copy that does not run there any more is stopped.
    type: list
    elements: str
    default: []
  algorithm:
    description: Nomad's scheduler algorithm, V(binpack) (fill the fullest hosts first) or V(spread) (the emptiest first).
    type: str
    default: binpack
    choices: [binpack, spread]
seealso:
  - plugin: nomadic.qemu.nomad_job
    plugin_type: lookup
  - plugin: nomadic.qemu.nomad_attributes
    plugin_type: filter
  - module: nomadic.qemu.qemu_task_info
"""

EXAMPLES = r"""
---
- name: Plan the job once, over the facts of every host of the play
  ansible.builtin.set_fact:
    web_plan: >-
      {{ web_job | nomadic.qemu.nomad_job_plan(ansible_play_hosts | map('extract', hostvars, 'web_host') | list,
                                               ansible_play_hosts_all | difference(ansible_play_hosts)) }}
  run_once: true

- name: Show the plan, as nomad job plan does
  ansible.builtin.debug:
    msg: "{{ web_plan.text }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The plan, and what each host does.
  type: dict
  contains:
    plan:
      description:
        - The placement plan, per allocation its C(action) (V(create), V(update), V(ignore), V(migrate), V(stop)), C(host),
          C(previous_host) and C(reason), with the C(failures) and each host's use; see C(docs/placement.md).
      type: dict
    text:
      description: The plan as C(nomad job plan) prints it, with the scheduler dry-run.
      type: str
    failed:
      description: Whether some allocation cannot be placed.
      type: bool
    message:
      description: Why, per group and per host, when RV(_value.failed); empty otherwise.
      type: str
      sample: >-
        job 'web' does not fit the hosts, so nothing was started, changed or stopped: group 'g': 1 of 7 allocations cannot be
        placed (web.g[6]): no host can take it: memory exhausted on 2 hosts; per host: h1: memory exhausted (88 of 600 MB
        free, 256 MB needed); ...
    waves:
      description: The number of waves of the update.
      type: int
    hosts:
      description:
        - Per host name, C(run) (the task instances of RV(nomadic.qemu.nomad_job#lookup:_raw[].tasks) it runs, their labels with
          C(nomad_spec), each with C(wave), C(action) and C(reason)) and C(stop) (the job's tasks there it stops, each C(name)
          and C(reason)).
      type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.fleet import FleetError, plan_job
from ansible_collections.nomadic.qemu.plugins.plugin_utils._placement.inputs import PlacementError


def nomad_job_plan(job, hosts, unreachable=None, algorithm='binpack'):
    """Where the allocations of ``job`` run on ``hosts``; see DOCUMENTATION."""
    if not isinstance(job, dict) or not isinstance(job.get('groups'), list) or not isinstance(job.get('tasks'), list):
        raise AnsibleFilterError('nomad_job_plan needs a job read by the nomadic.qemu.nomad_job lookup or filter as input')
    if not isinstance(hosts, list):
        raise AnsibleFilterError('nomad_job_plan needs hosts as a list of dictionaries (name, attributes, capacity, reserved, tasks), '
                                 'not %s' % type(hosts).__name__)
    if unreachable is None:
        unreachable = []
    if not isinstance(unreachable, list) or not all(isinstance(name, str) for name in unreachable):
        raise AnsibleFilterError('nomad_job_plan needs unreachable as a list of host names, not %r' % (unreachable,))
    try:
        return plan_job(job, hosts, unreachable, algorithm)
    except (FleetError, PlacementError) as exc:
        raise AnsibleFilterError('nomad_job_plan: %s' % to_native(str(exc))) from None


class FilterModule:
    """The nomad_job_plan filter."""

    def filters(self):
        return {
            'nomad_job_plan': nomad_job_plan,
        }
