#!/usr/bin/python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: qemu_tasks
short_description: Run many QEMU virtual machines of one host in one call
version_added: 0.2.0
description:
  - Brings every task of O(tasks) to its O(tasks[].state) in one module call, as a loop of
    M(nomadic.qemu.qemu_task) would, item by item, but without a module round trip per task; starts and
    stops run in parallel, at most O(max_parallel) at once.
  - Each task goes through the same code as M(nomadic.qemu.qemu_task), with the same checks, host policy,
    idempotence, recovery of crashed VMs, ports, media, supervision and results.
  - One task that fails does not stop the others (unless O(fail_fast)); the module then fails, saying
    which tasks failed and why, and still returns every task's result in RV(tasks).
  - With O(prune), the tasks of O(state_dir) whose labels include O(selector) and that O(tasks) does not
    name are removed, as M(nomadic.qemu.qemu_task) with O(nomadic.qemu.qemu_task#module:state=absent) removes
    them, so that the host runs exactly the listed set.
author:
  - nomadic.qemu contributors (@nomadic)
extends_documentation_fragment:
  - nomadic.qemu._attributes
  - nomadic.qemu._attributes.actiongroup_qemu
  - nomadic.qemu._group
  - nomadic.qemu._task_items
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - One diff per task that changes (and per pruned task), headed by its name, as M(nomadic.qemu.qemu_task) gives it.
  idempotent:
    support: partial
    details:
      - A task with O(tasks[].state=restarted) restarts on every run, by definition; the other states are idempotent.
options:
  state_dir:
    description:
      - The state directory of every task of O(tasks), and the one O(prune) looks in, as
        O(nomadic.qemu.qemu_task#module:state_dir).
      - Defaults to C(/var/lib/nomadic-qemu) when running as root, otherwise to
        C($XDG_STATE_HOME/nomadic-qemu) (C(~/.local/state/nomadic-qemu)).
    type: path
  max_parallel:
    description:
      - How many tasks are reconciled at once, from 1 (one after the other, in the order of O(tasks)) to 256.
      - Pruned tasks are removed first, then the tasks of O(tasks) are brought to their state.
    type: int
    default: 8
  fail_fast:
    description:
      - When a task fails, start no further task; those not started yet are reported with RV(tasks[].skipped).
        Tasks already under way finish.
      - When false, every task is run, whatever the others do.
    type: bool
    default: false
  prune:
    description:
      - Remove the tasks of O(state_dir) whose labels include all of O(selector) and that O(tasks) does not name
        (stopping their VMs first, as O(nomadic.qemu.qemu_task#module:state=absent) does).
      - Needs a non-empty O(selector), and every task of O(tasks) that is not V(absent) must carry the
        selector's labels, so that a later run with a shorter list can prune it.
      - A task whose state record is damaged is left alone, with a warning, since its labels cannot be read.
    type: bool
    default: false
  selector:
    description:
      - "The labels that mark the tasks O(prune) may remove, such as C({nomad_job: web})."
    type: dict
    default: {}
notes:
  - With O(max_parallel) above 1, several tasks are reconciled at once. Dynamic and static host ports are still kept apart
    (each start picks and checks its ports under the state directory's port lock), so the QEMU starts of tasks with
    O(tasks[].port_map) (and the preparation of their disks and overlays) run one after the other; everything else
    (reading records, checking processes and images, stops, tasks without ports) runs in parallel. Each task also keeps
    its own lock, so a task of the same name in another play waits.
  - A call interrupted while it runs (Ctrl-C, SIGTERM) starts no further task; the tasks under way finish and record
    what they did, so no VM is left running unrecorded.
  - The host policy is read once per call, when the first task needs it.
seealso:
  - module: nomadic.qemu.qemu_task
  - module: nomadic.qemu.qemu_task_info
"""

EXAMPLES = r"""
---
- name: Run three web VMs from one image, each with a forwarded SSH port, and nothing else labelled app=web
  nomadic.qemu.qemu_tasks:
    tasks: "{{ web_vms | map('combine', web_common) | list }}"
    prune: true
    selector: {app: web}
  vars:
    web_vms: [{name: web-0}, {name: web-1}, {name: web-2}]
    web_common:
      image_path: /var/lib/images/web.qcow2
      memory: 512
      port_map: {ssh: 22}
      labels: {app: web}
  register: web

- name: Show where each VM's SSH port went
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.task.ports.ssh.host }}"
  loop: "{{ web.tasks }}"
  loop_control:
    label: "{{ item.name }}"

- name: Two different VMs in one call; one that fails does not stop the other
  nomadic.qemu.qemu_tasks:
    tasks:
      - name: db
        image_path: /var/lib/images/db.qcow2
        memory: 2048
        cpus: 2
      - name: cache
        image_path: /var/lib/images/cache.qcow2

- name: Stop the web VMs, gracefully, all at once
  nomadic.qemu.qemu_tasks:
    tasks: "{{ web_vms | map('combine', {'state': 'stopped', 'graceful_shutdown': true}) | list }}"
  vars:
    web_vms: [{name: web-0}, {name: web-1}, {name: web-2}]
"""

RETURN = r"""
tasks:
  description:
    - One result per task of O(tasks), in the same order, as M(nomadic.qemu.qemu_task) returns it (RV(tasks[].task),
      RV(tasks[].actions), RV(tasks[].recovered) and, when they apply, C(shutdown) and C(ready_seconds)),
      with the task's name, and whether it changed, failed or was not run.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The task's name.
      returned: always
      type: str
      sample: web-0
    changed:
      description: Whether the run changed the task (would, in check mode).
      returned: always
      type: bool
    failed:
      description: True when the task failed; RV(tasks[].msg) says why.
      returned: when the task failed
      type: bool
    msg:
      description: Why the task failed, or why it was not run.
      returned: when the task failed or was not run
      type: str
      sample: "image_path /srv/x.img is outside image_paths (/var/lib/images); move the image or widen image_paths"
    skipped:
      description: True for a task not run because another failed and O(fail_fast) is set.
      returned: when the task was not run
      type: bool
    task:
      description: The task as it is after the run, as M(nomadic.qemu.qemu_task)'s RV(nomadic.qemu.qemu_task#module:task).
      returned: when the task ran
      type: dict
      sample: {name: web-0, state: running, pid: 4242, ports: {ssh: {host: 24022, guest: 22, host_address: ''}}}
    actions:
      description: What was done, as M(nomadic.qemu.qemu_task)'s RV(nomadic.qemu.qemu_task#module:actions).
      returned: when the task ran
      type: list
      elements: str
      sample: [started]
    recovered:
      description: As M(nomadic.qemu.qemu_task)'s RV(nomadic.qemu.qemu_task#module:recovered).
      returned: when the task ran without failing
      type: bool
pruned:
  description: One result per task removed by O(prune) (would be, in check mode), sorted by name, each as in RV(tasks).
  returned: always
  type: list
  elements: dict
  sample: [{name: web-9, changed: true, actions: [stopped, removed], task: {name: web-9, state: absent}}]
"""

import functools
import threading

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._policy import load_policy
from ansible_collections.nomadic.qemu.plugins.module_utils._task.batch import reconcile_batch
from ansible_collections.nomadic.qemu.plugins.module_utils._task.driver import QemuDriver
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import BATCH_OPTIONS, GROUP_OPTIONS, TASK_REQUIRED_IF, argument_spec
from ansible_collections.nomadic.qemu.plugins.module_utils._task.plan import Planner
from ansible_collections.nomadic.qemu.plugins.module_utils._task.reconcile import Reconciler


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(BATCH_OPTIONS, GROUP_OPTIONS, tasks={'required_if': TASK_REQUIRED_IF}),
        supports_check_mode=True,
    )
    # From the tasks' threads, a command that cannot run is that task's error, not a fail_json of the whole call.
    run_command = functools.partial(module.run_command, handle_exceptions=False)
    driver = QemuDriver(run_command=run_command, warn=module.warn)
    policy_lock, policy = threading.Lock(), []

    def host_policy():
        # Read once, when the first task plans: a broken policy file fails the tasks that need it, not a stop or a prune.
        with policy_lock:
            if not policy:
                policy.append(load_policy())
            return policy[0]

    def reconciler(params):
        planner = Planner(params, find_binary=module.get_bin_path, run_command=run_command, policy_loader=host_policy)
        return Reconciler(params, planner, driver, check_mode=module.check_mode, warn=module.warn)

    try:
        result, failure = reconcile_batch(module.params, reconciler, check_mode=module.check_mode, warn=module.warn)
    except QemuTaskError as exc:
        module.fail_json(msg=str(exc))
    if not module._diff:
        result.pop('diff')
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
