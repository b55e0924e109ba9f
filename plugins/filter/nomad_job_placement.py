# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: nomad_job_placement
short_description: Which tasks of a Nomad job a host runs, from the job's constraints
version_added: 0.1.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Takes a job read by P(nomadic.qemu.nomad_job#lookup) and a host's Nomad attributes, and returns the tasks the
    host runs and the groups it does not run, with the unmet constraints as reasons.
  - As in Nomad, a group runs on a host when the constraints of the job, of the group and of each of its qemu tasks
    are met; then all its tasks run there.
  - Constraints are checked as P(nomadic.qemu.constraint_met#test) checks them. A constraint that cannot be
    evaluated (an unknown operator, a malformed version constraint) is an error naming the job file and where the
    constraint is.
positional: attributes, running
options:
  _input:
    description: A job, one element of the result of P(nomadic.qemu.nomad_job#lookup).
    type: dict
    required: true
  attributes:
    description:
      - The host's attributes, Nomad attribute names without C(attr.) to values, such as
        RV(nomadic.qemu.qemu_fingerprint#module:ansible_facts.driver_qemu_attributes), combined with others
        (C(kernel.name), C(node.unique.name), C(meta.rack)) as the constraints need.
    type: dict
    required: true
  running:
    description:
      - The tasks already on the host, each a dictionary with C(name) and C(labels), as the module
        C(nomadic.qemu.qemu_task_info) returns them per task (its other keys, such as C(state) and C(task_dir), are kept). A task belongs to the job
        when its C(labels.nomad_job) is the job's ID; C(labels.nomad_group), C(labels.nomad_task) and
        C(labels.nomad_alloc_index) say which task instance it was. These are the C(labels) of
        RV(nomadic.qemu.nomad_job#lookup:_raw[].tasks[].options), for the C(labels) option of M(nomadic.qemu.qemu_task).
        Tasks without these labels are not the job's and are left alone.
      - A dictionary without C(labels) is read as a mark the playbook C(nomadic.qemu.run_job) wrote into the task
        directories of earlier versions (C(.nomadic-job.json)), with C(job), C(name), C(group), C(task) and C(index).
      - Those of this job that the host does not run now are returned in RV(_value.stale), as Nomad stops the
        allocations a job no longer wants (a group or task removed, a lower C(count), constraints no longer met).
    type: list
    elements: dict
    default: []
seealso:
  - plugin: nomadic.qemu.nomad_job
    plugin_type: lookup
  - plugin: nomadic.qemu.constraint_met
    plugin_type: test
  - module: nomadic.qemu.qemu_fingerprint
"""

EXAMPLES = r"""
---
- name: Fingerprint QEMU
  nomadic.qemu.qemu_fingerprint:

- name: Decide what this host runs
  ansible.builtin.set_fact:
    web_placement: >-
      {{ lookup('nomadic.qemu.nomad_job', 'jobs/web.nomad.hcl')
         | nomadic.qemu.nomad_job_placement(ansible_facts.driver_qemu_attributes | combine({'kernel.name': 'linux'})) }}

- name: Say why groups do not run here
  ansible.builtin.debug:
    msg: "group {{ item.group }} does not run here: {{ item.reasons | join('; ') }}"
  loop: "{{ web_placement.unplaced }}"
"""

RETURN = r"""
_value:
  description: What the host runs.
  type: dict
  contains:
    tasks:
      description: The tasks the host runs, items of RV(nomadic.qemu.nomad_job#lookup:_raw[].tasks).
      type: list
      elements: dict
    unplaced:
      description: The groups the host does not run.
      type: list
      elements: dict
      contains:
        group:
          description: The group name.
          type: str
          sample: frontend
        tasks:
          description: The names of the group's qemu task instances.
          type: list
          elements: str
          sample: [web-frontend-vm-0]
        reasons:
          description: The unmet constraints, each prefixed with where it comes from.
          type: list
          elements: str
          sample:
            - "job 'web': constraint '${attr.driver.qemu.version} version >= 9.0' is not met: driver.qemu.version is '7.2.22'"
    stale:
      description:
        - The items of O(running) that belong to this job but that the host does not run now, as given, with C(reason) and
          C(message) added; stop and remove them.
      type: list
      elements: dict
      sample:
        - name: web-front-vm-2
          state: running
          labels: {nomad_job: web, nomad_group: front, nomad_task: vm, nomad_alloc_index: '2'}
          reason: group 'front' now has count = 2, so index 2 is no longer run
          message: "web-front-vm-2: stopped and removed: group 'front' now has count = 2, so index 2 is no longer run"
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import check_constraints
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.placement import place_job
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError


def nomad_job_placement(job, attributes, running=None):
    """The tasks of ``job`` a host with ``attributes`` runs, the groups it does not, and the job's ``running`` tasks to stop."""
    if not isinstance(job, dict) or not isinstance(job.get('groups'), list) or not isinstance(job.get('tasks'), list):
        raise AnsibleFilterError('nomad_job_placement needs a job read by the nomadic.qemu.nomad_job lookup or filter as input')
    if not isinstance(attributes, dict):
        raise AnsibleFilterError('nomad_job_placement needs the host attributes as a dictionary, such as '
                                 'ansible_facts.driver_qemu_attributes, not %s' % type(attributes).__name__)
    if running is not None and not isinstance(running, list):
        raise AnsibleFilterError('nomad_job_placement needs running as a list of dictionaries with name and labels, not %s'
                                 % type(running).__name__)
    try:
        return place_job(job, attributes, check_constraints, running)
    except JobFileError as exc:
        raise AnsibleFilterError(to_native(str(exc))) from None


class FilterModule:
    """The nomad_job_placement filter."""

    def filters(self):
        return {
            'nomad_job_placement': nomad_job_placement,
        }
