# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: nomad_job
short_description: Read the qemu tasks of a Nomad job from its text
version_added: 0.1.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Reads the text of a HashiCorp Nomad job file (HCL) and returns the same dictionary as one element of the
    P(nomadic.qemu.nomad_job#lookup) lookup, for job text that is not a file on the controller (slurped from a host,
    fetched with M(ansible.builtin.uri), written inline).
  - See P(nomadic.qemu.nomad_job#lookup) for what is mapped, what is listed as not applied and what is an error.
requirements:
  - python-hcl2 8.x on the controller
positional: job_vars, filename, stop_only
options:
  _input:
    description: The text of the job file.
    type: str
    required: true
  job_vars:
    description: Values for the job's input variables (its C(variable) blocks), like C(nomad job run -var NAME=VALUE).
    type: dict
    default: {}
  filename:
    description: The name to give the job in messages and in the C(file) key of the result.
    type: str
    default: <job>
  stop_only:
    description:
      - Read only what stopping the job needs (its ID and task names); other errors are listed in C(errors)
        instead of failing. See the option of the same name of P(nomadic.qemu.nomad_job#lookup).
    type: bool
    default: false
seealso:
  - plugin: nomadic.qemu.nomad_job
    plugin_type: lookup
    description: The same from a job file on the controller, with the full description of the result.
"""

EXAMPLES = r"""
---
- name: Read a job file kept on the managed host
  ansible.builtin.slurp:
    src: /etc/nomad.d/jobs/web.nomad.hcl
  register: web_job_file

- name: List its qemu tasks
  ansible.builtin.debug:
    msg: "{{ (web_job_file.content | b64decode | nomadic.qemu.nomad_job(filename='web.nomad.hcl')).tasks | map(attribute='name') }}"

- name: An inline job, with a variable
  ansible.builtin.set_fact:
    inline_job: "{{ job_text | nomadic.qemu.nomad_job(job_vars={'memory': 512}) }}"
  vars:
    job_text: |
      variable "memory" { default = 256 }
      job "tiny" {
        group "g" {
          task "vm" {
            driver = "qemu"
            config { image_path = "/var/lib/images/tiny.img" }
            resources { memory = var.memory }
          }
        }
      }
"""

RETURN = r"""
_value:
  description:
    - The job, as one element of the P(nomadic.qemu.nomad_job#lookup) lookup's result (keys C(file), C(job), C(name),
      C(type), C(tasks), C(groups), C(skipped), C(ignored), C(errors)).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.job import read_job
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError


def nomad_job(text, job_vars=None, filename='<job>', stop_only=False):
    """Read the text of a Nomad job file; ``job_vars`` are the values of its input variables."""
    try:
        return read_job(text, filename=filename, variables=job_vars or {}, stop_only=bool(stop_only))
    except JobFileError as exc:
        raise AnsibleFilterError(to_native(str(exc))) from None


class FilterModule:
    """The nomad_job filter."""

    def filters(self):
        return {
            'nomad_job': nomad_job,
        }
