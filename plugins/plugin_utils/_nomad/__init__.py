# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Read a HashiCorp Nomad job file (HCL) into the qemu tasks nomadic.qemu.qemu_task runs (one concept a file).

Controller side only (python-hcl2). The entry points are ``job.read_job`` and ``job.read_job_file``
(the text or the file of a job into its qemu tasks, the tasks it skips and what it does not apply)
and ``placement.place_job`` (which of those tasks a host runs, and which running ones to stop).

- ``tables``: the keys Nomad knows at each level, the ones not applied and the ones refused, with the reasons;
- ``reader``: JobFileError, where in the file a value is (Location), and the Reader a read carries along;
- ``hcl``: parsing, and walking the blocks and values python-hcl2 returns;
- ``interpolate``: HCL templates and ``${...}``, in the HCL pass and the runtime pass;
- ``variables``: input variables, their types and values;
- ``constraint``: constraint blocks, checked as far as no host is needed;
- ``artifact``: artifact blocks;
- ``task_options``: the qemu_task options of a task, checked by qemu_task's own option table, and network ports;
- ``job``: the job, its groups, tasks and task instances;
- ``placement``: which tasks a host runs, and the running tasks the job no longer wants.
"""
