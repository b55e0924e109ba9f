# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark of nomadic.qemu, one concept a file.

    settings    paths, the guest, timeouts, the stages and the samples they record
    harness     running commands and Ansible, timing them (wall and CPU), interleaving variants, the environment
    workspace   one run: its directory, the images, the stage loop and the clean-up
    processes   the processes of a run: found by its directory, stopped by the collection's terminate()
    policy      the host policy the bench has to live with
    vms         qemu_task in-process, and bare QEMU started with the same argv
    stages      what is measured: start, no-op, graceful stop
    profile     where the time goes
    scale       one playbook over N VMs
    libvirt     the peer's daemons and collection: installed, started, stopped
    peer        the peer stage: libvirt's start and stop against ours
    results     the samples and facts of one run
    report      statistics, comparisons against the baselines, targets, JSON, text, Markdown
    plot        the SVG plot
    cli         the command line
"""
