# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Job files for the tests of plugins/plugin_utils/_nomad/: the fixtures, and a small job to vary."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.job import read_job, read_job_file
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'fixtures')
WHERE = "job.nomad.hcl: job 'j', group 'g', task 't': "
RESOLVED = ('NOMAD_JOB_NAME, NOMAD_JOB_ID, NOMAD_GROUP_NAME, NOMAD_TASK_NAME, NOMAD_ALLOC_INDEX, NOMAD_ALLOC_NAME, '
            'NOMAD_TASK_DIR, NOMAD_ALLOC_DIR, NOMAD_SECRETS_DIR, NOMAD_META_<key>')
# What config.args resolves besides (into qemu_task's own references).
ARGS_RESOLVED = ('NOMAD_ALLOC_ID, NOMAD_CPU_CORES, NOMAD_MEMORY_LIMIT, '
                 'NOMAD_PORT_<label>, NOMAD_HOST_PORT_<label>, NOMAD_IP_<label>, NOMAD_HOST_IP_<label>, NOMAD_ADDR_<label>, '
                 'NOMAD_HOST_ADDR_<label>')
SHA256 = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
# The labels of the task instance of job() with count 1.
LABELS = {'nomad_job': 'j', 'nomad_group': 'g', 'nomad_task': 't', 'nomad_alloc_index': '0'}


def labels(job_id, group, task, index):
    """The labels the reader gives a task instance."""
    return {'nomad_job': job_id, 'nomad_group': group, 'nomad_task': task, 'nomad_alloc_index': str(index)}


def fixture(name, **kw):
    return read_job_file(os.path.join(FIXTURES, name), display_name=name, **kw)


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return handle.read()


def job(task='', group='', job_extra='', top='', config='image_path = "local/vm.img"', driver='qemu'):
    """A job file with job 'j', group 'g' and task 't'."""
    return '''%s
job "j" {
  %s
  group "g" {
    %s
    task "t" {
      driver = "%s"
      config {
        %s
      }
      %s
    }
  }
}
''' % (top, job_extra, group, driver, config, task)


def read(text, **kw):
    return read_job(text, 'job.nomad.hcl', **kw)


def only_task(text, **kw):
    result = read(text, **kw)
    assert len(result['tasks']) == 1
    return result['tasks'][0]


def error(text, **kw):
    with pytest.raises(JobFileError) as exc:
        read(text, **kw)
    return str(exc.value)
