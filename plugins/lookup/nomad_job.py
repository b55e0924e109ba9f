# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: nomad_job
short_description: Read the qemu tasks of a Nomad job file
version_added: 0.1.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Reads a HashiCorp Nomad job file (HCL) on the controller and returns, per file, its C(qemu) tasks ready for
    M(nomadic.qemu.qemu_task), the artifacts to download for them, their constraints, the tasks it skips and
    the settings it does not apply.
  - Each task is returned once per count index, with a task name of its own that always ends with the index, as
    Nomad's allocation index is 0 even with C(count = 1); changing the count never renames a running task.
  - Nothing in the file is dropped silently. What has a meaning here is mapped; Nomad settings without one
    (C(datacenters), C(service), C(restart), C(resources.cpu)...) are listed in RV(_raw[].ignored) with the
    reason; anything else (an unknown key, a C(${...}) that cannot be resolved, a malformed file, a bad checksum)
    is an error naming the file, the task and the key. Constraints are checked for what does not depend on a host
    (the operator, a C(version) or C(semver) constraint, a C(regexp)); variables for their C(type); a variable
    with a C(validation) block is refused, since it is not evaluated.
  - "Interpolation: C(var.NAME) and C(local.NAME) (HCL2 input variables and locals) are resolved, and so are the
    runtime variables known before a task runs: C(NOMAD_JOB_NAME), C(NOMAD_JOB_ID), C(NOMAD_GROUP_NAME),
    C(NOMAD_TASK_NAME), C(NOMAD_ALLOC_INDEX), C(NOMAD_ALLOC_NAME), C(NOMAD_META_<key>) and C(NOMAD_TASK_DIR)
    (the relative path V(local), which QEMU and O(nomadic.qemu.qemu_task#module:image_path) resolve against the
    task directory). Constraints, affinities and spreads keep C(${attr.*}), C(${node.*}) and C(${meta.*}) for
    P(nomadic.qemu.nomad_job_plan#filter). Other expressions (functions, C(NOMAD_PORT_*),
    C(NOMAD_ALLOC_DIR)...) are errors."
  - The playbook C(nomadic.qemu.run_job) uses this lookup to run a job file on a set of hosts.
  - Returns one dictionary per job file. With a single file, C(lookup) returns that dictionary and C(query)
    a list holding it; the tasks are always the list RV(_raw[].tasks), so C(wantlist) never matters for them.
requirements:
  - python-hcl2 8.x on the controller
options:
  _terms:
    description:
      - Paths of Nomad job files. A relative path is searched like the files of M(ansible.builtin.copy) (the
        C(files/) directories of the role and the play, then the play's directory).
    type: list
    elements: path
    required: true
  job_vars:
    description:
      - Values for the job's input variables (its C(variable) blocks), like C(nomad job run -var NAME=VALUE).
      - A variable without a default must be given; a name the file does not declare is an error.
    type: dict
    default: {}
  stop_only:
    description:
      - Read only what stopping the job needs, its ID and the names of its qemu tasks, for C(state=absent) of the
        playbook C(nomadic.qemu.run_job), so that a job file a later edit broke can still be stopped.
      - A file that is not valid HCL, or without exactly one C(job) block, is still an error. Other errors are
        listed in RV(_raw[].errors), and the tasks whose names cannot be known (a C(count) that cannot be read)
        are left out; the tasks returned may lack their options, artifacts and constraints.
    type: bool
    default: false
notes:
  - "The artifact C(options.checksum) is checked here for its form (C(md5), C(sha1), C(sha256) or C(sha512), then
    the right number of hexadecimal digits): the example C(md5:123445555555555) of Nomad's qemu driver
    documentation is refused, as Nomad would refuse it when downloading."
  - Static host ports must differ across the whole job, because every host runs all the job's tasks (Nomad
    would place a group with C(count > 1) on several clients instead).
seealso:
  - plugin: nomadic.qemu.nomad_job
    plugin_type: filter
    description: The same from the text of a job file.
  - plugin: nomadic.qemu.nomad_job_placement
    plugin_type: filter
    description: Which of the tasks a host runs, from its attributes and the job's constraints.
  - module: nomadic.qemu.qemu_task
  - name: Nomad job specification
    description: The job file format.
    link: https://developer.hashicorp.com/nomad/docs/job-specification
"""

EXAMPLES = r"""
---
- name: Show the qemu tasks of a job file
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.options.image_path }}"
  loop: "{{ lookup('nomadic.qemu.nomad_job', 'jobs/web.nomad.hcl').tasks }}"

- name: Give the job's input variables, like nomad job run -var image=web-2.img
  ansible.builtin.set_fact:
    web_job: "{{ lookup('nomadic.qemu.nomad_job', 'jobs/web.nomad.hcl', job_vars={'image': 'web-2.img'}) }}"

- name: Run its tasks on this host (the playbook nomadic.qemu.run_job also fetches artifacts and checks constraints)
  nomadic.qemu.qemu_task:
    name: "{{ item.name }}"
    image_path: "{{ item.options.image_path }}"
    accelerator: "{{ item.options.accelerator | default(omit) }}"
    port_map: "{{ item.options.port_map | default(omit) }}"
    ports: "{{ item.options.ports | default(omit) }}"
    memory: "{{ item.options.memory | default(omit) }}"
  loop: "{{ web_job.tasks }}"
  loop_control:
    label: "{{ item.name }}"

- name: Several job files at once
  ansible.builtin.debug:
    msg: "{{ item.file }}: {{ item.tasks | map(attribute='name') | join(', ') }}; skipped {{ item.skipped | length }}"
  loop: "{{ query('nomadic.qemu.nomad_job', 'jobs/web.nomad.hcl', 'jobs/db.nomad.hcl') }}"
"""

RETURN = r"""
_raw:
  description: One dictionary per job file.
  type: list
  elements: dict
  contains:
    file:
      description: The job file, as found.
      type: str
      sample: /srv/jobs/web.nomad.hcl
    job:
      description: The job ID (the label of the C(job) block).
      type: str
      sample: web
    name:
      description: The job name (C(name), or the ID).
      type: str
      sample: web
    type:
      description: The job type.
      type: str
      sample: service
    tasks:
      description: The qemu tasks, one per task and count index, in file order.
      type: list
      elements: dict
      contains:
        job:
          description: The job ID.
          type: str
          sample: web
        group:
          description: The group name.
          type: str
          sample: frontend
        task:
          description: The task name.
          type: str
          sample: vm
        index:
          description: The count index (C(NOMAD_ALLOC_INDEX)), from 0 to the group's count minus 1.
          type: int
          sample: 0
        name:
          description:
            - The task name for M(nomadic.qemu.qemu_task), C(<job>-<group>-<task>-<index>), with the index even when
              the group's count is 1.
            - Characters a task name cannot hold become C(-); a name longer than 64 characters is cut and ends
              with 8 hexadecimal digits of a hash of the full name.
          type: str
          sample: web-frontend-vm-0
        options:
          description:
            - M(nomadic.qemu.qemu_task) options from the task's C(config) (C(image_path), C(accelerator),
              C(graceful_shutdown), C(guest_agent), C(args), C(port_map), C(emulator), C(machine_type),
              C(drive_interface)), C(resources) (C(memory), C(cores) as C(cpus)), C(kill_timeout) (in seconds)
              and C(ports), the static host ports of the C(port_map) labels from the network block. Labels with a
              dynamic port are left out of C(ports), so qemu_task picks one from 20000-32000.
            - Only the settings the job file gives are present; qemu_task's defaults are Nomad's. They are checked as
              M(nomadic.qemu.qemu_task) checks its options (the choices of C(accelerator) and C(drive_interface), the bounds
              of C(memory), the maximum C(kill_timeout) of 1 hour, ports between 1 and 65535).
            - C(labels) is always present, the job membership of the task instance for the C(labels)
              option of M(nomadic.qemu.qemu_task), all strings - C(nomad_job) (the job ID), C(nomad_group), C(nomad_task)
              and C(nomad_alloc_index) (the count index) - by which P(nomadic.qemu.nomad_job_placement#filter) recognises the
              job's tasks among those on a host.
          type: dict
          sample:
            image_path: local/web.img
            accelerator: kvm
            port_map: {http: 80}
            ports: {http: 8080}
            memory: 512
            labels: {nomad_job: web, nomad_group: frontend, nomad_task: vm, nomad_alloc_index: '0'}
        artifacts:
          description: The task's artifacts, to download into the task directory before it starts.
          type: list
          elements: dict
          contains:
            source:
              description: The URL to download (go-getter's C(checksum), C(archive) and C(filename) query parameters removed).
              type: str
              sample: https://images.example.com/web.img
            destination:
              description: The destination relative to the task directory, normalized (Nomad's default C(local/) is V(local)).
              type: str
              sample: local
            mode:
              description: Nomad's artifact C(mode), V(any), V(file) or V(dir).
              type: str
              sample: any
            archive:
              description:
                - The archive type to unpack into RV(_raw[].tasks[].artifacts[].path) (from C(options.archive), or
                  the end of the URL path as go-getter detects it); V(null) for a file kept as it is.
              type: str
              sample: tar.gz
            decompress:
              description:
                - Only for a single compressed file with C(mode = "file"), its compression, V(gz), V(bz2), V(xz) or V(zst).
                  It is downloaded, checked against RV(_raw[].tasks[].artifacts[].checksum) as downloaded, and decompressed
                  into RV(_raw[].tasks[].artifacts[].path), as go-getter does. Absent for every other artifact.
              type: str
              sample: gz
            path:
              description: Where the file goes, or the directory an archive is unpacked into, relative to the task directory.
              type: str
              sample: local/web.img
            filename:
              description: The file name of a file kept as it is; V(null) for an archive.
              type: str
              sample: web.img
            checksum:
              description: The checksum in the C(<type>:<hex>) form of M(ansible.builtin.get_url); V(null) when none is given.
              type: str
              sample: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
            checksum_type:
              description: V(md5), V(sha1), V(sha256) or V(sha512); V(null) when no checksum is given.
              type: str
              sample: sha256
            checksum_value:
              description: The checksum in lower-case hexadecimal; V(null) when no checksum is given.
              type: str
              sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
            headers:
              description: HTTP headers to send.
              type: dict
              sample: {}
            insecure:
              description: Whether TLS certificates are not checked.
              type: bool
              sample: false
            id:
              description: A short hash of the artifact's settings, to tell whether it was already fetched.
              type: str
              sample: 85dd1778e05ec0cc
        constraints:
          description: The constraints of the job, the group and the task, in that order.
          type: list
          elements: dict
          contains:
            attribute:
              description: The attribute, as in the job file.
              type: str
              sample: ${attr.driver.qemu.version}
            operator:
              description: The operator (V(=) when the file gives none; shorthands such as C(version = ">= 2.10") become operators).
              type: str
              sample: version
            value:
              description: The value, as text; absent when the file gives none.
              type: str
              sample: ">= 2.10"
            level:
              description: V(job), V(group) or V(task).
              type: str
              sample: job
            source:
              description: Where the constraint comes from.
              type: str
              sample: job 'web'
    groups:
      description: Per group, where it may run.
      type: list
      elements: dict
      contains:
        group:
          description: The group name.
          type: str
          sample: frontend
        count:
          description: The group's count.
          type: int
          sample: 1
        tasks:
          description: The names of its qemu task instances.
          type: list
          elements: str
          sample: [web-frontend-vm-0]
        constraints:
          description:
            - The constraints deciding whether the group runs on a host, as in Nomad those of the job, the group and
              all its qemu tasks. C(distinct_hosts) and C(distinct_property) are among them, with C(operator) set to
              their name (and C(attribute) and C(value) for C(distinct_property)).
          type: list
          elements: dict
          sample: [{attribute: "${attr.kernel.name}", operator: "=", value: linux, level: job, source: "job 'web'"}]
        affinities:
          description:
            - The C(affinity) blocks of the job, the group and its qemu tasks, each with C(attribute), C(operator),
              C(value), C(weight) (-100 to 100, not 0; default 50) and C(source), for P(nomadic.qemu.nomad_job_plan#filter).
          type: list
          elements: dict
          sample: [{attribute: "${meta.rack}", operator: "=", value: r1, weight: 50, source: "job 'web'"}]
        spreads:
          description:
            - The C(spread) blocks of the job and the group, each with C(attribute), C(weight) (1 to 100; default 50),
              C(targets) (a list of C(value) and C(percent); empty for an even spread) and C(source).
          type: list
          elements: dict
          sample: [{attribute: "${node.datacenter}", weight: 50, targets: [{value: dc1, percent: 70}], source: "job 'web'"}]
        max_parallel:
          description:
            - The C(update) block's C(max_parallel) (the group's over the job's; 1 in a block without it), how many changed
              allocations of the group are updated at a time; null without an update block (all at once).
          type: int
          sample: 1
    skipped:
      description:
        - Tasks that are not run (another driver, a group with C(count = 0)), with C(job), C(group), C(task), C(driver),
          the C(reason) and a C(message) saying it all.
      type: list
      elements: dict
      sample:
        - job: web
          group: frontend
          task: proxy
          driver: docker
          reason: its driver 'docker' is not qemu
          message: "job 'web', group 'frontend', task 'proxy' is not run: its driver 'docker' is not qemu"
    ignored:
      description:
        - Settings Nomad knows that are not applied here, with C(where) they are, the C(key), the C(reason) and a C(message)
          saying it all.
      type: list
      elements: dict
      sample:
        - where: job 'web'
          key: datacenters
          reason: Nomad scheduling; here the inventory and the play choose the hosts
          message: "job 'web': datacenters is not applied: Nomad scheduling; here the inventory and the play choose the hosts"
    errors:
      description:
        - With O(stop_only), the errors a full read refuses the file for, each naming the file and where; empty otherwise.
      type: list
      elements: str
      sample:
        - "web.nomad.hcl: job 'web', group 'front', task 'vm': resources.memory: memory 64 MB is out of bounds; use between 128 and
          4000000 MB (Nomad's limits)"
"""

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.lookup import LookupBase

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.job import read_job_file
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError


class LookupModule(LookupBase):
    """The nomad_job lookup."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        job_variables = self.get_option('job_vars') or {}
        stop_only = self.get_option('stop_only')
        results = []
        for term in terms:
            path = self.find_file_in_search_path(variables, 'files', term, ignore_missing=True)
            if not path:
                raise AnsibleLookupError('the Nomad job file %s was not found; give an absolute path, or one relative to the '
                                         "play's directory or its files/ directory" % to_native(term))
            try:
                results.append(read_job_file(path, variables=job_variables, stop_only=stop_only))
            except JobFileError as exc:
                raise AnsibleLookupError(to_native(str(exc))) from None
        return results
