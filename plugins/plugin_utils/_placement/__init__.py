# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Placement of a job's allocations on hosts, as Nomad's scheduler places them (one concept a file; docs/placement.md).

Controller side only, standard library only, pure: no host is reached. The entry points are
``planner.plan_placement`` (the plan) and ``render.render_plan`` (the plan as ``nomad job plan`` text).

- ``inputs``: the input's shapes, checked (PlacementError);
- ``running``: a host's running allocations from qemu_task_info's tasks;
- ``scoring``: Nomad's scoring formulas, one function each;
- ``eligibility``: the hosts meeting a set of constraints and matching a set of affinities, once per set;
- ``scorer``: the best host for the next allocation of a group, kept up to date;
- ``planner``: the plan: stops, sticky allocations, placements and failures;
- ``render``: the plan as text.
"""
