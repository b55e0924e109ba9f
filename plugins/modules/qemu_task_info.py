#!/usr/bin/python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: qemu_task_info
short_description: List the QEMU tasks on a host, as they are
version_added: 0.2.0
description:
  - Lists the tasks M(nomadic.qemu.qemu_task) keeps in a state directory, all of them, one by O(name), or those
    with given O(labels).
  - For each task, whether its VM runs (V(running)), was stopped (V(stopped)), or died without being
    stopped (V(crashed)), with its pid, accelerator, ports, sockets, console log and its last lines,
    configuration, labels, start time and how often it was recovered.
  - A running VM is recognised as M(nomadic.qemu.qemu_task) recognises it, by pid, process start time and exact
    command line, so a reused pid never passes for the VM.
  - Never changes anything, not even the record of a crashed task.
author:
  - nomadic.qemu contributors (@nomadic)
extends_documentation_fragment:
  - nomadic.qemu._attributes
  - nomadic.qemu._attributes.actiongroup_qemu
  - nomadic.qemu._group
  - nomadic.qemu._attributes.info_module
options:
  name:
    description:
      - Only the task of this name. Unset lists every task of O(state_dir).
      - 1 to 64 letters, digits, V(.), V(_) or V(-), starting with a letter or digit.
    type: str
  state_dir:
    description:
      - The state directory of the tasks, as for M(nomadic.qemu.qemu_task).
      - Defaults to C(/var/lib/nomadic-qemu) when running as root, otherwise to
        C($XDG_STATE_HOME/nomadic-qemu) (C(~/.local/state/nomadic-qemu)).
      - A state directory that does not exist holds no task.
    type: path
  labels:
    description:
      - Only the tasks whose labels include all of these (O(nomadic.qemu.qemu_task#module:labels)).
    type: dict
    default: {}
  console_lines:
    description:
      - How many of the last lines of each task's serial console to return in RV(tasks[].console_tail);
        V(0) returns none.
    type: int
    default: 20
notes:
  - O(image_paths), O(args_allowlist) and O(emulators_allowlist) are accepted for C(module_defaults) of the group, and
    not used by this module.
seealso:
  - module: nomadic.qemu.qemu_task
"""

EXAMPLES = r"""
---
- name: List the tasks on the host
  nomadic.qemu.qemu_task_info:
  register: found

- name: Show the crashed ones with their last console lines
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.console_tail | join('\n') }}"
  loop: "{{ found.tasks | selectattr('state', 'equalto', 'crashed') }}"
  loop_control:
    label: "{{ item.name }}"

- name: The tasks of one job
  nomadic.qemu.qemu_task_info:
    labels:
      nomad_job: web
  register: web
"""

RETURN = r"""
tasks:
  description: The tasks found, sorted by name. Empty when there is none.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The task name.
      type: str
      returned: always
      sample: web1
    state:
      description:
        - V(running), V(stopped), or V(crashed) (its record says running, but its QEMU is gone).
        - Under systemd also V(failed) (its unit gave up, the restart attempts used up) and V(restarting)
          (systemd waits out the restart delay).
      type: str
      returned: always
      sample: running
    pid:
      description: The QEMU process id; null when not running.
      type: int
      returned: always
      sample: 4242
    accelerator:
      description: The accelerator the VM was started with (V(kvm) or V(tcg)).
      type: str
      returned: always
      sample: tcg
    ports:
      description: Port label to its host and guest port and the host address bound.
      type: dict
      returned: always
      sample: {ssh: {host: 22022, guest: 22, host_address: 127.0.0.1}}
    monitor_socket:
      description: The QMP monitor socket.
      type: str
      returned: always
      sample: /var/lib/nomadic-qemu/web1/qmp.sock
    agent_socket:
      description: The guest agent socket, when the task has the guest agent channel; null otherwise.
      type: str
      returned: always
      sample: null
    console_log:
      description: The file the guest's serial console is written to.
      type: str
      returned: always
      sample: /var/lib/nomadic-qemu/web1/console.log
    console_tail:
      description: The last O(console_lines) lines of the console log.
      type: list
      elements: str
      returned: always
      sample: ["web1 login:"]
    config:
      description: The options behind the command line, as recorded.
      type: dict
      returned: always
      sample: {memory: 300, accelerator: tcg}
    argv:
      description: The full QEMU command line.
      type: list
      elements: str
      returned: always
      sample: [/usr/bin/qemu-system-x86_64, -machine, "type=pc,accel=tcg"]
    image:
      description: The image's real path.
      type: str
      returned: always
      sample: /var/lib/images/web.qcow2
    overlay:
      description: The task's copy-on-write overlay over the image, when its overlay or ephemeral option is set.
      returned: always
      type: str
      sample: /var/lib/nomadic-qemu/web1/overlay.qcow2
    disks:
      description:
        - The task's disks, in their order; C(created) is true for a disk the task created (and
          removes with state absent), false for an existing disk file.
      returned: always
      type: list
      elements: dict
      sample: [{name: data, path: /var/lib/nomadic-qemu/web1/disk-data.qcow2, format: qcow2, size: 10737418240,
                interface: virtio, serial: data, readonly: false, created: true}]
    labels:
      description: The task's labels.
      type: dict
      returned: always
      sample: {nomad_job: web}
    started_at:
      description: When the running QEMU was started (UTC, ISO 8601); null when not running.
      type: str
      returned: always
      sample: "2026-11-24T20:15:00Z"
    recoveries:
      description: How many times M(nomadic.qemu.qemu_task) found the VM's process dead and started it again.
      type: int
      returned: always
      sample: 0
    supervisor:
      description: Who keeps the VM running, V(systemd) or V(none).
      type: str
      returned: always
      sample: systemd
    unit:
      description: The task's systemd unit, or V(null) without one.
      type: str
      returned: always
      sample: nomadic-qemu-web1.service
    sandbox:
      description: The C(-sandbox) QEMU runs with, or V(null) without one.
      type: str
      returned: always
      sample: on,obsolete=deny,resourcecontrol=deny
    unit_status:
      description: What systemd knows of the task's unit.
      type: dict
      returned: when the task has a unit systemd knows
      contains:
        active_state:
          description: The unit's C(ActiveState) (V(active), V(failed), V(inactive)...).
          type: str
          sample: active
        sub_state:
          description: The unit's C(SubState) (V(running), V(auto-restart)...).
          type: str
          sample: running
        result:
          description: The unit's C(Result) (V(success), V(signal), V(start-limit-hit)...).
          type: str
          sample: success
        restarts:
          description: How many times systemd restarted the VM (C(NRestarts)).
          type: int
          sample: 1
        enabled:
          description: Whether the VM starts at boot.
          type: bool
          sample: true
        last_exit:
          description:
            - How QEMU last ended, V(null) when unknown. C(code) is V(exited), V(killed) or V(dumped);
              C(status) the exit status or signal number; C(at) the time (UTC).
          type: dict
          sample: {code: killed, status: '9', at: '2026-12-02T19:03:31Z'}
    task_dir:
      description: The task's directory.
      type: str
      returned: always
      sample: /var/lib/nomadic-qemu/web1
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.driver import QemuDriver
from ansible_collections.nomadic.qemu.plugins.module_utils._task.info import DEFAULT_CONSOLE_LINES, list_tasks
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import POLICY_OPTIONS, TASK_NAME_OPTIONS, TASK_OPTIONS, argument_spec


def main():
    spec = argument_spec(TASK_NAME_OPTIONS, POLICY_OPTIONS, name={'required': False})
    spec.update(labels=TASK_OPTIONS['labels'].spec(), console_lines=dict(type='int', default=DEFAULT_CONSOLE_LINES))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        labels = TASK_OPTIONS['labels'].check(module.params['labels'])
        if module.params['console_lines'] < 0:
            raise QemuTaskError('console_lines %d is negative; use 0 or more' % module.params['console_lines'], option='console_lines')
        driver = QemuDriver(run_command=module.run_command, warn=module.warn)
        tasks = list_tasks(module.params['state_dir'], driver.observe, name=module.params['name'], labels=labels,
                           console_lines=module.params['console_lines'], warn=module.warn, unit_status=driver.unit_status)
    except QemuTaskError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg='qemu_task_info failed unexpectedly: %s' % exc, exception=traceback.format_exc())
    module.exit_json(changed=False, tasks=tasks)


if __name__ == '__main__':
    main()
