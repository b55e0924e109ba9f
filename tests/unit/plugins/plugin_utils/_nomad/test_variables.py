# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/variables.py: input variables, their types and values."""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import (
    LABELS,
    error,
    job,
    labels,
    read,
)


def test_locals_and_typed_variables():
    top = 'variable "n" { default = 2 }\nvariable "agent" { default = true }\nlocals {\n img = "${local.dir}/x.img"\n dir = "local"\n}'
    result = read(job(top=top, group='count = var.n', config='image_path = local.img\nguest_agent = var.agent'))
    assert [t['options'] for t in result['tasks']] == [
        {'image_path': 'local/x.img', 'guest_agent': True, 'labels': labels('j', 'g', 't', index)} for index in (0, 1)]


def test_variables_block_and_overrides():
    result = read(job(top='variables {\n image = "a.img"\n}', config='image_path = var.image'), variables={'image': 'b.img'})
    assert result['tasks'][0]['options']['image_path'] == 'b.img'


def test_variables_must_be_a_mapping():
    assert error(job(), variables=['a']) == 'job.nomad.hcl: job_vars must be a mapping of variable names to values, not list'


@pytest.mark.parametrize('given, message', [
    ({'b': 'yes'}, "job.nomad.hcl: variable 'b': job_vars gives 'yes', which is not a bool (its type); give a value of that type"),
    ({'b': None, 'n': None}, "job.nomad.hcl: variable 'n' is null, but it is declared with nullable = false; give it a value"),
])
def test_variable_values_refused(given, message):
    top = 'variable "b" {\n type = bool\n default = true\n}\nvariable "n" {\n nullable = false\n}'
    assert error(job(top=top), variables=given) == message


def test_variable_types_convert():
    top = ('variable "n" {\n type = number\n}\nvariable "s" {\n type = set(string)\n default = [1, true, "1"]\n sensitive = true\n}\n'
           'variable "m" {\n type = map(bool)\n default = {a = "true"}\n}\nvariable "z" {\n nullable = false\n default = "d.img"\n}')
    result = read(job(top=top, group='count = var.n', config='image_path = var.z\nargs = var.s'), variables={'n': '2', 'z': None})
    assert [t['name'] for t in result['tasks']] == ['j-g-t-0', 'j-g-t-1']
    assert result['tasks'][0]['options'] == {'image_path': 'd.img', 'args': ['1', 'true'], 'labels': LABELS}
    assert result['ignored'] == [{
        'where': "variable 's'", 'key': 'sensitive',
        'reason': 'its value is not hidden: Ansible may show it in task output and logs; keep secrets out of job_vars or run with no_log',
        'message': "variable 's': sensitive is not applied: its value is not hidden: Ansible may show it in task output and logs; keep "
                   "secrets out of job_vars or run with no_log"}]


@pytest.mark.parametrize('text, message', [
    # variables
    (job(top='variable "v" {\n default = 1\n kind = "x"\n}'),
     "job.nomad.hcl: variable 'v' has unknown key 'kind'; a variable block takes default, description, nullable, sensitive, type, "
     "validation; remove it or fix its spelling"),
    (job(top='variable "v" {}\nvariables {\n v = 1\n}'), "job.nomad.hcl: variable 'v' is declared twice; declare it once"),
])
def test_variable_errors(text, message):
    assert error(text) == message


@pytest.mark.parametrize('text, message', [
    # variables: validation is not evaluated, so it is refused; types are checked
    (job(top='variable "n" {\n default = 1\n validation {\n condition = var.n > 0\n error_message = "n > 0"\n }\n}'),
     "job.nomad.hcl: variable 'n' has a validation block (condition '${var.n > 0}'), which is not evaluated here, and Nomad "
     "refuses a job whose validation fails; check the value before the run (for example with ansible.builtin.assert) and remove "
     "the validation block"),
    (job(top='variable "n" {\n type = number\n default = "x"\n}'),
     "job.nomad.hcl: variable 'n': its default is 'x', which is not a number (its type); give a value of that type"),
    (job(top='variable "n" {\n type = list(string)\n default = [[1]]\n}'),
     "job.nomad.hcl: variable 'n': its default is [[1]], which is not a list(string) (its type); give a value of that type"),
    (job(top='variable "n" {\n type = object({a = string})\n default = {}\n}'),
     "job.nomad.hcl: variable 'n' has the type 'object({a=string})', which is not checked here; use string, number, bool, any, "
     "or list(...), set(...) or map(...) of them"),
    (job(top='variable "n" {\n nullable = "maybe"\n default = 1\n}'),
     "job.nomad.hcl: variable 'n': nullable must be true or false, not 'maybe'"),
])
def test_variables_refused_when_read(text, message):
    assert error(text) == message
