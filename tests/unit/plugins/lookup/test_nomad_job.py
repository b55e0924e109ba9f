# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import shutil

import pytest
import yaml

from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader

from ansible_collections.nomadic.qemu.plugins.lookup import nomad_job as plugin

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'plugin_utils', 'fixtures')


@pytest.fixture
def lookup():
    """The lookup with its documented options registered, as Ansible's plugin loader does."""
    C.config.initialize_plugin_configuration_definitions('lookup', 'nomadic.qemu.nomad_job', yaml.safe_load(plugin.DOCUMENTATION)['options'])
    instance = plugin.LookupModule(loader=DataLoader())
    instance._load_name = 'nomadic.qemu.nomad_job'
    return instance


def test_documentation():
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc['name'] == 'nomad_job'
    assert sorted(doc['options']) == ['_terms', 'job_vars', 'stop_only']
    assert yaml.safe_load(plugin.EXAMPLES)
    returned = yaml.safe_load(plugin.RETURN)['_raw']['contains']
    assert sorted(returned) == ['errors', 'file', 'groups', 'ignored', 'job', 'name', 'skipped', 'tasks', 'type']
    assert sorted(returned['tasks']['contains']) == ['artifacts', 'constraints', 'group', 'index', 'job', 'name', 'options', 'task']


def test_one_result_per_file(lookup):
    path = os.path.abspath(os.path.join(FIXTURES, 'docs-webservice.nomad.hcl'))
    results = lookup.run([path, path], variables={})
    assert len(results) == 2
    assert results[0] == results[1]
    assert results[0]['file'] == path
    assert [task['name'] for task in results[0]['tasks']] == ['docs-web-webservice-0']


def test_job_vars(lookup):
    path = os.path.join(FIXTURES, 'fleet.nomad.hcl')
    result = lookup.run([path], variables={}, job_vars={'db_memory': 640, 'web_count': 1})[0]
    assert [task['name'] for task in result['tasks']] == ['fleet-web-vm-0', 'fleet-db-vm-0']
    assert result['tasks'][1]['options']['memory'] == 640


def test_relative_path_from_the_search_path(lookup, tmp_path):
    (tmp_path / 'files').mkdir()
    shutil.copy(os.path.join(FIXTURES, 'docs-webservice.nomad.hcl'), str(tmp_path / 'files' / 'web.nomad.hcl'))
    result = lookup.run(['web.nomad.hcl'], variables={'ansible_search_path': [str(tmp_path)]})[0]
    assert result['file'] == str(tmp_path / 'files' / 'web.nomad.hcl')


def test_missing_file(lookup, tmp_path):
    with pytest.raises(AnsibleLookupError) as exc:
        lookup.run(['nowhere.nomad.hcl'], variables={'ansible_search_path': [str(tmp_path)]})
    assert str(exc.value) == ("the Nomad job file nowhere.nomad.hcl was not found; give an absolute path, or one relative to the "
                              "play's directory or its files/ directory")


@pytest.mark.parametrize('name, job_vars, message', [
    ('broken.nomad.hcl', {}, "not valid HCL: Unexpected token Token('STRING_CHARS', '\\n  }\\n}\\n\\n') at line 3, column 12."),
    ('docs-virtual.nomad.hcl', {}, "job 'docs', group 'virtual', task 'virtual': artifact[0].options.checksum 'md5:123445555555555' "
                                   "is not a valid md5 checksum: md5 needs 32 hexadecimal digits, this has 15 characters"),
    ('fleet.nomad.hcl', {}, "variable 'db_memory' has no default and no value; pass it in job_vars (like nomad job run -var "
                            "db_memory=...)"),
])
def test_errors_name_the_file(lookup, name, job_vars, message):
    path = os.path.abspath(os.path.join(FIXTURES, name))
    with pytest.raises(AnsibleLookupError) as exc:
        lookup.run([path], variables={}, job_vars=job_vars)
    assert str(exc.value) == '%s: %s' % (path, message)


def test_stop_only(lookup, tmp_path):
    text = open(os.path.join(FIXTURES, 'docs-webservice.nomad.hcl')).read().replace('image_path', 'image_path = 5\n        image_pat')
    path = tmp_path / 'web.nomad.hcl'
    path.write_text(text)
    with pytest.raises(AnsibleLookupError):
        lookup.run([str(path)], variables={})
    result = lookup.run([str(path)], variables={}, stop_only=True)[0]
    assert [task['name'] for task in result['tasks']] == ['docs-web-webservice-0']
    assert len(result['errors']) == 1
