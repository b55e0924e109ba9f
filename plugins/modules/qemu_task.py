#!/usr/bin/python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: qemu_task
short_description: Run a QEMU virtual machine from a disk image, like Nomad's qemu driver
version_added: 0.1.0
description:
  - Makes a task, a QEMU virtual machine started from a disk image, be V(running),
    V(stopped), V(absent) or V(restarted) on the managed host.
  - Takes the configuration of HashiCorp Nomad's C(qemu) task driver, with the same option names
    and defaults, plus host ports and a host policy. Where the behaviour differs from Nomad, the
    option says so.
  - QEMU runs detached (C(-daemonize)) with a pidfile, its serial console written to a log file in
    the task directory, and a QMP monitor socket that M(nomadic.qemu.qemu_shutdown) uses.
  - The effective configuration (the whole QEMU command line and the options behind it) is
    recorded in the task directory. A run with the same configuration whose VM is alive changes
    nothing and does not touch QEMU; a different configuration restarts the VM, and C(--diff)
    shows why.
  - A VM whose process died (crash, C(kill -9), host reboot) is detected, reported with
    RV(recovered), and started again. A pid reused by another process is never taken for the VM;
    the process start time and its exact command line must match too.
  - Two runs on the same task at once (two plays, C(async)) serialize on a lock per task and end
    with exactly one VM.
author:
  - nomadic.qemu contributors (@nomadic)
extends_documentation_fragment:
  - nomadic.qemu._attributes
  - nomadic.qemu._attributes.actiongroup_qemu
  - nomadic.qemu._task
  - nomadic.qemu._media
  - nomadic.qemu._supervision
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff holds the task's state, the QEMU command line and the options behind it, before and after.
  idempotent:
    support: partial
    details:
      - V(restarted) restarts the VM on every run, by definition; the other states are idempotent.
options:
  state:
    description:
      - V(running) starts the VM if it is not running, restarts it if its configuration changed,
        and starts it again if its process died.
      - V(stopped) stops a running VM and keeps its state (including its dynamic host ports).
      - V(restarted) stops the VM if it runs and starts it; always a change.
      - V(present) makes the task exist, its directory and record, without starting or stopping its VM. A new task
        is created stopped, so that files such as artifacts can be put in its directory before it starts (and
        V(absent) removes them with it); an existing one keeps running or not. O(labels) are set either way.
      - V(absent) stops the VM if it runs and removes the task. A task directory the module created
        is removed with everything in it; one that existed before the task (for example with images
        downloaded into it) keeps the files that are not the collection's, with a warning. A
        directory that holds no task is left alone. Nothing to remove is not an error.
      - How a VM is stopped is set by O(graceful_shutdown) and O(kill_timeout); RV(shutdown) says
        how it ended.
    type: str
    choices: [running, stopped, restarted, present, absent]
    default: running
  image_path:
    description:
      - The disk image to boot (qcow2, raw img, iso...). Required for V(running) and V(restarted).
      - A relative path resolves against the task's own directory (O(state_dir)/O(name)), as
        Nomad resolves it against the task directory where artifacts are downloaded.
      - The image must exist and be readable. With O(image_paths) in force, its real path
        (symbolic links resolved) must lie inside one of those directories or the task directory.
    type: path
  image_format:
    description:
      - The image's format (C(-drive format=...)), for example V(raw) or V(qcow2). Unset, QEMU
        probes it, as with Nomad; for a raw image QEMU then warns and keeps the guest from
        writing its first sector, so give V(raw) for raw images.
      - With O(overlay), the format of the base, written into the overlay as its backing format; unset, it is
        read from the image's header (qcow2, qed, vmdk, else raw).
    type: str
  accelerator:
    description:
      - V(tcg) is QEMU's software emulation (Nomad's default). V(kvm) uses hardware
        virtualization and fails with a clear error when C(/dev/kvm) cannot create a VM.
      - V(auto) uses V(kvm) when it is usable and V(tcg) otherwise; RV(task.accelerator) says which.
        Nomad has no V(auto).
    type: str
    choices: [tcg, kvm, auto]
    default: tcg
  graceful_shutdown:
    description:
      - Stop the VM with the ACPI power button over the QMP monitor, waiting up to O(kill_timeout)
        for the guest to power off, then force it (the kill signal C(SIGTERM), and C(SIGKILL) after
        a short grace). Without it, the VM is stopped by the kill signal, and C(SIGKILL) after
        O(kill_timeout), as in Nomad.
      - Applies to V(stopped), V(absent), V(restarted) and to restarts for a changed configuration.
      - Recorded with the task when it starts (default V(false)); changing it later updates the
        record without restarting the VM. Given with V(stopped), V(absent) or V(restarted), it
        applies to that stop whatever was recorded.
      - Unlike Nomad, socket path length never disables it.
    type: bool
  guest_agent:
    description:
      - Adds the virtio-serial channel C(org.qemu.guest_agent.0) on the unix socket
        RV(task.agent_socket), as Nomad does.
    type: bool
    default: false
  args:
    description:
      - Extra QEMU arguments, appended to the command line as in Nomad.
      - "They may refer to the task's own values, resolved on the host when the task is planned:
        C(${host_port.LABEL}) and C(${guest_port.LABEL}) (a label of O(port_map), or for the host
        port any label: a label only args name gets a host port, from O(ports) or the dynamic
        range, kept across runs, with no forwarding of its own, so your own
        C(-netdev user,hostfwd=...) can use it), C(${host_address}) (C(0.0.0.0) when
        O(host_address) is empty), C(${memory}) (MB), C(${cpus}), C(${cpu_set}) (O(cpu_set), or
        every CPU of the host), C(${alloc_id}) (a UUID for this task on this host, the same on every
        run), C(${task_dir}), and C(${local_dir}), C(${alloc_dir}) and C(${secrets_dir}) (the
        C(local), C(alloc) and C(secrets) directories inside the task directory, as in Nomad's
        allocation; each is created when args name it, C(secrets) private to its owner). C($${)
        is a literal C(${). Any other C(${...}) is refused."
      - The resolved arguments are what QEMU gets, what RV(task.argv) records and what the host
        policy checks; RV(task.config) keeps them as given.
      - With O(args_allowlist) in force, every element starting with C(-) must be in it.
      - Options that would take the process away from the collection (C(-daemonize), C(-pidfile),
        C(-qmp)...) are refused. With O(image_paths) in force, files named by C(-drive),
        C(-blockdev), C(-cdrom), C(-kernel) and similar must lie inside them (CVE-2021-43415).
    type: list
    elements: str
    default: []
  port_map:
    description:
      - Port label to guest port. Each label is forwarded from a host port to that guest port, for
        TCP and UDP, through QEMU's user-mode network (a C(virtio-net) device, as in Nomad).
      - A label without a host port in O(ports) gets one from the dynamic range 20000-32000
        (Nomad's), kept across runs so re-running never moves it.
    type: dict
    default: {}
  ports:
    description:
      - Port label to host port, the host side of the labels in O(port_map) or of a label O(args)
        names as C(${host_port.LABEL}) (Nomad takes these from the group's network block).
      - Unknown labels, ports outside 1-65535, the same host port twice and a host port already in
        use are refused before anything starts.
    type: dict
    default: {}
  host_address:
    description:
      - Host address the forwarded ports bind to. Empty means all addresses, as in Nomad (which
        cannot choose, see hashicorp/nomad#3364).
    type: str
    default: ''
  emulator:
    description:
      - The QEMU system emulator, run as C(qemu-system-<emulator>) found on C(PATH). A
        C(qemu-system-) prefix is accepted.
    type: str
    default: x86_64
  machine_type:
    description:
      - Passed as C(-machine type=<machine_type>).
    type: str
    default: pc
  drive_interface:
    description:
      - The interface the image is attached with (C(-drive if=...)).
    type: str
    choices: [ide, scsi, sd, mtd, floppy, pflash, virtio, none]
    default: ide
  memory:
    description:
      - Guest memory in MB (Nomad's C(resources.memory)), within Nomad's bounds 128 to 4000000.
    type: int
    default: 300
  cpus:
    description:
      - Virtual CPUs (C(-smp)), Nomad's C(resources.cores). Unlike Nomad, also applied under V(tcg).
        Giving C(-smp) in O(args) as well is an error.
    type: int
  kill_timeout:
    description:
      - How long to wait for the VM to end after asking it to stop, before it is forced. Seconds
        (V(30)) or a Nomad duration (V(30s), V(1m30s), V(500ms)).
      - Recorded with the task when it starts (default V(5s), Nomad's); given with V(stopped),
        V(absent) or V(restarted), it applies to that stop whatever was recorded.
      - At most V(1h), so that every stop ends in bounded time.
    type: raw
  image_paths:
    description:
      - Directories images may come from (Nomad's plugin option C(image_paths)). Unset means no
        restriction, unless the host policy sets one; an empty list allows the task directory only.
      - The task directory is allowed too, as in Nomad, but only under the default O(state_dir);
        O(state_dir) and O(name) are task options, so under another O(state_dir) a task could name
        any directory as its own. With another O(state_dir), add it to O(image_paths) (or the host
        policy) to use images in task directories.
      - Images named in O(args) and the backing files of every image (checked with C(qemu-img info
        --backing-chain)) must be inside these directories too.
      - The host policy file C(/etc/nomadic-qemu/policy.json) (written by the host role) applies
        first; this option can only narrow it, never widen it.
    type: list
    elements: path
  args_allowlist:
    description:
      - Flags allowed in O(args) (Nomad's plugin option). Unset means no restriction unless the
        host policy sets one; this option can only narrow the host policy.
    type: list
    elements: str
  emulators_allowlist:
    description:
      - Emulators allowed in O(emulator) (Nomad's plugin option). Unset means no restriction
        unless the host policy sets one; this option can only narrow the host policy.
    type: list
    elements: str
  labels:
    description:
      - Labels of the task, a mapping of strings to strings (for example the job it belongs to), recorded with
        the task and returned by M(nomadic.qemu.qemu_task_info), which can select tasks by them.
      - Changing only the labels updates the record and never restarts the VM.
    type: dict
    default: {}
  wait_for:
    description:
      - When the guest counts as ready. Without it, V(running) returns as soon as QEMU runs, which is before
        the guest has booted. A guest that has not enabled its ACPI power button yet ignores a graceful
        stop, which then waits for O(kill_timeout) and forces it; so a play that starts a VM and stops it at
        once needs O(wait_for).
      - With it, V(running) and V(restarted) return only once every condition given holds (also when the VM
        was already running, which then returns at once). In check mode nothing is waited for.
      - When the guest is not ready within O(wait_for.timeout), or QEMU exits meanwhile, the module fails with
        the end of the guest console. A VM that timed out is left running (its record says so), so a later run
        can wait again, or stop it.
      - Not part of the task's configuration, so changing it never restarts the VM.
    type: dict
    suboptions:
      console:
        description:
          - A regular expression (Python syntax, multi-line) the guest's serial console must print, for
            example V(login:).
        type: str
      port:
        description:
          - A label of O(port_map) whose forwarded port must accept a TCP connection inside the guest. QEMU's
            user network accepts every connection on the host side itself, so the guest's side is checked
            (the guest sent data, or QEMU reports the connection to the guest established).
        type: str
      agent:
        description:
          - The guest agent must answer C(guest-sync-delimited). Needs O(guest_agent=true).
        type: bool
        default: false
      timeout:
        description:
          - How long to wait, in seconds or as a Nomad duration (V(90s), V(2m)). At most V(1h).
        type: raw
        default: 5m
notes:
  - Nomad names the QEMU process after the image (C(-name <image basename>)); this module uses the
    task name, which is unique on the host.
  - The QMP socket is always created (Nomad creates its monitor only with O(graceful_shutdown)),
    as a path relative to the task directory, so socket paths work whatever the length of
    O(state_dir).
seealso:
  - module: nomadic.qemu.qemu_fingerprint
  - name: Nomad qemu task driver
    description: The driver whose configuration this module takes.
    link: https://developer.hashicorp.com/nomad/docs/drivers/qemu
"""

EXAMPLES = r"""
---
- name: Run a VM from an image, with its web port forwarded to host port 8080
  nomadic.qemu.qemu_task:
    name: web1
    image_path: /var/lib/images/web.qcow2
    accelerator: auto
    memory: 512
    cpus: 2
    port_map:
      http: 80
      ssh: 22
    ports:
      http: 8080
    # ssh gets a port from 20000-32000, kept across runs
  register: web1

- name: Start a VM and return once its guest answers on the ssh port
  nomadic.qemu.qemu_task:
    name: db1
    image_path: /var/lib/images/db.qcow2
    port_map: {ssh: 22}
    graceful_shutdown: true
    labels: {role: db}
    wait_for:
      port: ssh
      timeout: 3m

- name: Show where ssh ended up
  ansible.builtin.debug:
    msg: "ssh is on port {{ web1.task.ports.ssh.host }}"

- name: Forward ports with your own network device, on ports qemu_task picks and keeps
  nomadic.qemu.qemu_task:
    name: app1
    image_path: /var/lib/images/app.qcow2
    args:
      - -netdev
      - user,id=net0,hostfwd=tcp:127.0.0.1:${host_port.http}-:80,hostfwd=tcp::${host_port.ssh}-:22
      - -device
      - virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56
      - -fw_cfg
      - name=opt/app/id,string=${alloc_id}
  register: app1
  # app1.task.ports.http.host is the host port; $${ would be a literal ${

- name: Restrict images and flags for every task in this play
  module_defaults:
    group/nomadic.qemu.qemu:
      image_paths: [/var/lib/images]
      args_allowlist: [-nodefaults, -rtc]
  block:
    - name: Run a VM with extra arguments
      nomadic.qemu.qemu_task:
        name: db1
        image_path: /var/lib/images/db.img
        args: [-rtc, base=utc]

- name: Stop it, keeping its state and ports
  nomadic.qemu.qemu_task:
    name: web1
    state: stopped

- name: Remove it
  nomadic.qemu.qemu_task:
    name: web1
    state: absent
"""

RETURN = r"""
task:
  description: The task as it is after the run (as it would be, in check mode).
  returned: always
  type: dict
  contains:
    name:
      description: The task name.
      returned: always
      type: str
      sample: web1
    state:
      description: V(running), V(stopped) or V(absent).
      returned: always
      type: str
      sample: running
    task_dir:
      description: The task's directory.
      returned: always
      type: str
      sample: /var/lib/nomadic-qemu/web1
    pid:
      description: The QEMU process id; null when not running (and in check mode before a start).
      returned: when the task exists
      type: int
      sample: 4242
    argv:
      description: The full QEMU command line.
      returned: when the task exists
      type: list
      elements: str
      sample: [/usr/bin/qemu-system-x86_64, -machine, "type=pc,accel=tcg", -name, web1]
    accelerator:
      description: The accelerator actually used (V(kvm) or V(tcg)), also when V(auto) was asked for.
      returned: when the task exists
      type: str
      sample: tcg
    image:
      description: The image's real path.
      returned: when the task exists
      type: str
      sample: /var/lib/images/web.qcow2
    overlay:
      description: The task's copy-on-write overlay over the image, when O(overlay) or O(ephemeral) is set.
      returned: when the task exists
      type: str
      sample: /var/lib/nomadic-qemu/web1/overlay.qcow2
    disks:
      description:
        - The task's disks, in their order; C(created) is true for a disk the task created (and
          removes with V(absent)), false for an existing O(disks[].file).
      returned: when the task exists
      type: list
      elements: dict
      sample: [{name: data, path: /var/lib/nomadic-qemu/web1/disk-data.qcow2, format: qcow2, size: 10737418240,
                interface: virtio, serial: data, readonly: false, created: true}]
    ports:
      description:
        - Port label to its host and guest port and the host address bound.
        - A label that only O(args) names has C(guest) null.
      returned: when the task exists
      type: dict
      sample: {http: {host: 8080, guest: 80, host_address: ""}}
    monitor_socket:
      description: The QMP monitor socket.
      returned: when the task exists
      type: str
      sample: /var/lib/nomadic-qemu/web1/qmp.sock
    agent_socket:
      description: The guest agent socket, with O(guest_agent=true); null otherwise.
      returned: when the task exists
      type: str
      sample: /var/lib/nomadic-qemu/web1/qga.sock
    console_log:
      description: The file the guest's serial console is written to.
      returned: when the task exists
      type: str
      sample: /var/lib/nomadic-qemu/web1/console.log
    started_at:
      description: When the running QEMU was started (UTC, ISO 8601); null when not running.
      returned: when the task exists
      type: str
      sample: "2026-11-24T20:15:00Z"
    config:
      description: The options behind the command line, as recorded.
      returned: when the task exists
      type: dict
      sample: {memory: 300, accelerator: tcg, kill_timeout: 5.0}
    labels:
      description: The task's labels (O(labels)).
      returned: when the task exists
      type: dict
      sample: {nomad_job: web}
    recoveries:
      description: How many times a run found the VM's process dead and started it again.
      returned: when the task exists
      type: int
      sample: 0
    supervisor:
      description: Who keeps the VM running, V(systemd) or V(none) (what O(supervisor=auto) resolved to).
      returned: when the task exists
      type: str
      sample: systemd
    unit:
      description: The task's systemd unit, or V(null) without one.
      returned: when the task exists
      type: str
      sample: nomadic-qemu-web1.service
    sandbox:
      description: The C(-sandbox) QEMU runs with, or V(null) with O(sandbox=false).
      returned: when the task exists
      type: str
      sample: on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny
shutdown:
  description: How the VM was stopped, when this run stopped one.
  returned: when a running VM was stopped (not in check mode)
  type: dict
  contains:
    graceful:
      description: Whether the guest powered itself off in time.
      type: bool
      returned: always
      sample: true
    method:
      description: V(acpi) (power button), V(signal) (the kill signal), V(kill) (C(SIGKILL)).
      type: str
      returned: always
      sample: acpi
    seconds:
      description: Time from the stop request to the end of the process.
      type: float
      returned: always
      sample: 0.031
    exit_status:
      description: QEMU's exit status. QEMU runs detached, so the status is not known; always null in this release.
      type: int
      returned: always
      sample: null
    reason:
      description: QEMU's reason for the shutdown, when it reported one (for example V(guest-shutdown)).
      type: str
      returned: always
      sample: guest-shutdown
    notes:
      description: What went differently from the request (for example a monitor that could not be used).
      type: list
      elements: str
      returned: always
      sample: []
ready_seconds:
  description: How long this run waited for the guest to be ready (O(wait_for)).
  returned: when O(wait_for) was given and the task runs (not in check mode)
  type: float
  sample: 12.4
recovered:
  description: True when the VM's process had died and this run started it again.
  returned: always
  type: bool
  sample: false
actions:
  description:
    - What was done (or would be, in check mode), in order, among V(created) (V(present) made the task), V(updated)
      (only the record changed), V(stopped), V(started) and V(removed).
  returned: always
  type: list
  elements: str
  sample: [stopped, started]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.driver import QemuDriver
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import POLICY_OPTIONS, TASK_NAME_OPTIONS, TASK_OPTIONS, TASK_REQUIRED_IF, argument_spec
from ansible_collections.nomadic.qemu.plugins.module_utils._task.plan import Planner
from ansible_collections.nomadic.qemu.plugins.module_utils._task.reconcile import Reconciler


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(TASK_NAME_OPTIONS, TASK_OPTIONS, POLICY_OPTIONS),
        supports_check_mode=True,
        required_if=TASK_REQUIRED_IF,
    )
    planner = Planner(module.params, find_binary=module.get_bin_path, run_command=module.run_command)
    driver = QemuDriver(run_command=module.run_command, warn=module.warn)
    try:
        result = Reconciler(module.params, planner, driver, check_mode=module.check_mode, warn=module.warn).run()
    except QemuTaskError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg='qemu_task failed unexpectedly: %s' % exc, exception=traceback.format_exc())
    if not module._diff:
        result.pop('diff', None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
