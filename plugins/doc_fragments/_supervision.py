# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

from __future__ import annotations


class ModuleDocFragment:

    # How a task is kept running and confined: its supervisor, restart policy, logs, CPUs, user and sandbox;
    # declared in plugins/module_utils/_task/options.py TASK_OPTIONS.
    DOCUMENTATION = r"""
options:
  supervisor:
    description:
      - Who keeps the VM running between runs of this module.
      - V(systemd) writes a unit per task, C(/etc/systemd/system/nomadic-qemu-<name>.service) (with a hash of
        O(state_dir) in the name when it is not the default), and has systemd start QEMU in the foreground. systemd
        restarts it by O(restart), starts it at boot with O(enabled), and confines it (O(sandbox), O(cpu_set),
        C(MemoryMax) and C(CPUQuota) from O(memory) and O(cpus)). Needs systemd as the service manager and root.
      - V(none) starts QEMU detached (C(-daemonize)); nothing restarts a crashed VM before the next run of this
        module, which starts it again and says so (RV(recovered)), and nothing starts it after a reboot.
      - V(auto) is V(systemd) where it can be used (C(/run/systemd/system) exists, C(systemctl) is found and the
        module runs as root), else V(none). RV(task.supervisor) says which one a task got.
      - Changing the supervisor of a running task restarts it, and a unit the task no longer needs is removed.
    type: str
    choices: [none, systemd, auto]
    default: auto
  enabled:
    description:
      - Start the VM at boot, once the network is up (C(systemctl enable) of its unit). Needs O(supervisor)
        V(systemd). Changing it never restarts the VM.
      - With O(state=stopped) the unit follows it too, so V(false) (the default) keeps a stopped VM down at the
        next boot, and V(true) has it start then.
    type: bool
    default: false
  restart:
    description:
      - Nomad's C(restart) block, applied by systemd to a supervised VM whose QEMU fails (exits non-zero or is
        killed). A guest that powers itself off (QEMU exits 0) stays down. Unset, Nomad's defaults for service
        jobs. Without a supervisor nothing restarts a VM between runs, and this is recorded only.
      - Changing it rewrites the unit and never restarts the VM.
    type: dict
    suboptions:
      attempts:
        description:
          - How many restarts within O(restart.interval) before the VM is given up (O(restart.mode=fail)).
            V(0) never restarts.
        type: int
        default: 2
      interval:
        description:
          - The window O(restart.attempts) are counted in, in seconds or as a Nomad duration. At least
            O(restart.delay), as Nomad requires.
        type: raw
        default: 30m0s
      delay:
        description:
          - How long systemd waits before it starts the VM again, in seconds or as a Nomad duration.
        type: raw
        default: 15s
      mode:
        description:
          - V(fail) leaves the unit C(failed) once the attempts are used up; RM(nomadic.qemu.qemu_task_info)
            reports the task as V(failed), and the next run of this module with O(state=running) starts it again.
          - V(delay) never gives up. Nomad waits out the interval after the attempts; systemd cannot pause so, and
            spreads the restarts instead (the delay is the larger of O(restart.delay) and O(restart.interval)
            divided by O(restart.attempts)), so never more than the attempts within an interval, as in Nomad.
        type: str
        choices: [fail, delay]
        default: fail
  logs:
    description:
      - Nomad's C(logs) block for the guest's serial console, C(console.log) in the task directory. QEMU appends
        to it; it is never truncated. At every start, the console of the earlier run becomes C(console.log.1)
        (C(.2) and so on for older ones), so the last lines of a crashed run survive its recovery.
      - A running VM's console that has reached O(logs.max_file_size) is rotated when this module runs, and QEMU
        is pointed at the new file; between runs the file grows. At most O(logs.max_files) files are kept.
    type: dict
    suboptions:
      max_files:
        description:
          - How many console files to keep, the live one included.
        type: int
        default: 10
      max_file_size:
        description:
          - When a console file is rotated. A number (or a string of digits) is megabytes, as in Nomad; a string may give its unit
            (V(512K), V(10M)).
        type: raw
        default: 10
  cpu_set:
    description:
      - The host CPUs the VM may run on, such as V(0-3,6) or a list of CPU numbers (systemd's C(AllowedCPUs)).
        Needs O(supervisor) V(systemd). Changing it restarts the VM.
    type: raw
  run_as:
    description:
      - A user for QEMU to run as (C(-runas)). QEMU opens its files (images, disks, sockets, console) as the
        module's user, then drops to this one before it runs the guest, in both supervisor modes.
      - The task directory stays owned by the module's user, because the collection reads its records and acts
        on them and trusts nothing that another user could write. Images are opened before the switch and need
        not be readable by this user; C(/dev/kvm) must be, under O(accelerator=kvm).
    type: str
  sandbox:
    description:
      - QEMU's seccomp sandbox (C(-sandbox)), with the strictest set the supervisor allows, as RV(task.sandbox) says.
        Detached by C(-daemonize) (O(supervisor) V(none)), C(obsolete=deny,resourcecontrol=deny); QEMU 7.2 exits
        under C(elevateprivileges=deny) and is killed under C(spawn=deny) when it daemonizes. In the foreground
        under systemd, all four deny sets; with O(run_as) all but C(elevateprivileges), which C(-runas) needs.
      - Under systemd, it also confines the unit (C(ProtectSystem=strict) with the task directory and the images
        and disks QEMU writes writable, C(PrivateTmp) unless the task keeps files under C(/tmp) or C(/var/tmp),
        devices limited to C(/dev/kvm), C(/dev/net/tun) and the block devices the task's images and disks are on).
      - V(false) turns both off, for args that need what they deny; args may then pass their own C(-sandbox).
    type: bool
    default: true
"""
