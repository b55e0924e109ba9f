#!/usr/bin/python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: qemu_shutdown
short_description: Shut a QEMU virtual machine down gracefully, and by force when it does not comply
version_added: 0.1.0
description:
  - Shuts down a task started by M(nomadic.qemu.qemu_task) (by O(name)), or any QEMU VM given its
    QMP monitor socket (O(monitor_socket)).
  - Presses the ACPI power button through QMP C(system_powerdown), or asks the QEMU guest agent for
    C(guest-shutdown) (O(method=agent)), then waits for the QEMU process to end, up to
    O(kill_timeout). The wait is driven by QEMU's events and the process's exit, not by polling,
    so the module returns as soon as the guest is off.
  - A guest that does not power off in time (one that ignores the button, or a paused or hung
    QEMU) is forced with the kill signal C(SIGTERM), then C(SIGKILL) after a grace of 2 seconds. The
    module returns only when the process has ended, and says how it ended.
  - A VM that is not running is left alone and reported unchanged. A task name that does not exist is reported
    unchanged too, with a warning, so that a typo does not pass for a VM that was shut down.
author:
  - nomadic.qemu contributors (@nomadic)
extends_documentation_fragment:
  - nomadic.qemu._attributes
  - nomadic.qemu._attributes.actiongroup_qemu
  - nomadic.qemu._group
  - nomadic.qemu._task
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  name:
    required: false
    description:
      - Exactly one of O(name) and O(monitor_socket) is required.
  monitor_socket:
    description:
      - The QMP socket of a VM not started by M(nomadic.qemu.qemu_task) (QEMU's
        C(-qmp unix:PATH,server=on,wait=off)). The process serving it is the one shut down; a socket
        served by a program other than QEMU is refused, and that program is left alone.
      - Any path length works. O(state_dir) is ignored with it (so that C(module_defaults) for the
        group can set O(state_dir)).
      - For a task started by M(nomadic.qemu.qemu_task), prefer O(name); shutting a task down by its
        socket leaves its record saying it runs, and the next V(running) run reports it as recovered.
    type: path
  agent_socket:
    description:
      - With O(monitor_socket) and O(method=agent), the guest agent's socket. For tasks it is taken
        from the task (O(nomadic.qemu.qemu_task#module:guest_agent=true)).
    type: path
  method:
    description:
      - V(acpi) presses the ACPI power button.
      - V(agent) asks the guest agent to power off; when no agent answers within a second (or the
        task has no agent channel), the ACPI power button is used instead and RV(notes) says so.
    type: str
    choices: [acpi, agent]
    default: acpi
  kill_timeout:
    description:
      - How long the guest gets to power off before it is forced. Seconds (V(30)) or a Nomad
        duration (V(30s), V(1m30s), V(500ms)).
      - Defaults to the task's recorded O(nomadic.qemu.qemu_task#module:kill_timeout), or V(5s). At most V(1h).
    type: raw
notes:
  - O(image_paths), O(args_allowlist) and O(emulators_allowlist) are accepted for C(module_defaults) of the group, and
    not used by this module.
  - Nomad writes C(system_powerdown) to its monitor, polls once a second, and fails with long
    socket paths; this module is event-driven and works with any path length.
  - After shutting a task down, its record says V(stopped), as after
    O(nomadic.qemu.qemu_task#module:state=stopped).
seealso:
  - module: nomadic.qemu.qemu_task
"""

EXAMPLES = r"""
---
- name: Shut down a task, giving the guest 30 seconds
  nomadic.qemu.qemu_shutdown:
    name: web1
    kill_timeout: 30s
  register: down

- name: Tell how it went
  ansible.builtin.debug:
    msg: "{{ 'powered off by itself' if down.graceful else 'forced with ' ~ down.method }} in {{ down.seconds }} s"

- name: Ask the guest agent first
  nomadic.qemu.qemu_shutdown:
    name: db1
    method: agent

- name: Shut down a VM started some other way, by its QMP socket
  nomadic.qemu.qemu_shutdown:
    monitor_socket: /run/vms/legacy/qmp.sock
"""

RETURN = r"""
graceful:
  description: Whether the guest powered itself off within O(kill_timeout). Null in check mode.
  returned: always
  type: bool
  sample: true
method:
  description:
    - How the VM ended, V(acpi), V(agent), V(signal) (the kill signal) or V(kill) (C(SIGKILL)); null
      when nothing was stopped.
  returned: always
  type: str
  sample: acpi
seconds:
  description: Time from the request to the end of the process.
  returned: always
  type: float
  sample: 0.018
exit_status:
  description: QEMU's exit status. QEMU runs detached, so the status is not known; always null in this release.
  returned: always
  type: int
  sample: null
reason:
  description: The reason QEMU gave in its C(SHUTDOWN) event, when it sent one (for example V(guest-shutdown)).
  returned: always
  type: str
  sample: guest-shutdown
notes:
  description: What went differently from the request (a fallback, a paused VM, why nothing was done).
  returned: always
  type: list
  elements: str
  sample: ["task 'web1' is not running"]
pid:
  description: The pid of the QEMU process that was (or would be) shut down.
  returned: always
  type: int
  sample: 4242
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.driver import QemuDriver
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import POLICY_OPTIONS, SHUTDOWN_OPTIONS, TASK_NAME_OPTIONS, argument_spec
from ansible_collections.nomadic.qemu.plugins.module_utils._task.stop import QemuShutdownRunner


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(TASK_NAME_OPTIONS, SHUTDOWN_OPTIONS, POLICY_OPTIONS, name={'required': False}),
        supports_check_mode=True,
        required_one_of=[('name', 'monitor_socket')],
        mutually_exclusive=[('name', 'monitor_socket')],
    )
    runner = QemuShutdownRunner(module.params, QemuDriver(run_command=module.run_command, warn=module.warn),
                                check_mode=module.check_mode, warn=module.warn)
    try:
        result = runner.run()
    except QemuTaskError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg='qemu_shutdown failed unexpectedly: %s' % exc, exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
