# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/hcl.py: parsing HCL with python-hcl2."""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad import hcl
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.job import read_job
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError, Location
from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import (
    error,
    fixture,
    job,
    read,
)


def test_broken_hcl_fixture():
    with pytest.raises(JobFileError) as exc:
        fixture('broken.nomad.hcl')
    assert str(exc.value) == "broken.nomad.hcl: not valid HCL: Unexpected token Token('STRING_CHARS', '\\n  }\\n}\\n\\n') at line 3, column 12."


def test_text_must_be_text():
    with pytest.raises(JobFileError) as exc:
        read_job(b'job "x" {}', 'x.hcl')
    assert str(exc.value) == 'x.hcl: the job file content must be text, not bytes'


def test_missing_hcl2(monkeypatch):
    monkeypatch.setattr(hcl, 'hcl2', None)
    monkeypatch.setattr(hcl, 'HCL2_IMPORT_ERROR', ImportError("No module named 'hcl2'"))
    with pytest.raises(JobFileError) as exc:
        read('job "x" {}')
    assert str(exc.value) == ("reading Nomad job files needs the Python library python-hcl2 8.x on the controller; install it into "
                              "the Python that runs Ansible, for example with: pip install 'python-hcl2>=8,<9' "
                              "(No module named 'hcl2')")


def test_old_hcl2(monkeypatch):
    class Old:
        __version__ = '4.3.0'
    monkeypatch.setattr(hcl, 'hcl2', Old)
    with pytest.raises(JobFileError) as exc:
        read('job "x" {}')
    assert str(exc.value).startswith('python-hcl2 4.3.0 is too old; reading Nomad job files needs')


@pytest.mark.parametrize('text, message', [
    # duplicates that python-hcl2 would silently drop
    (job(config='image_path = "a.img"\nimage_path = "b.img"'),
     "job.nomad.hcl: line 10 sets image_path again (first set on line 9); HCL allows each attribute once per block, remove one of them"),
    (job(config='image_path = "a.img"\nport_map = { a = 1 }\nport_map {\n b = 2\n}'),
     "job.nomad.hcl: line 11 has a port_map block, but line 10 sets port_map as an attribute; use one form"),
])
def test_duplicates(text, message):
    assert error(text) == message


_HCL1 = ("which HCL2 does not allow; Nomad reads only HCL2 since 1.9 removed HCL1 (and -hcl1), and so does nomadic.qemu; "
         "write it as HCL2: ")


@pytest.mark.parametrize('text, message', [
    # The forms of Nomad's HCL2 "Backward Compatibilities" notes.
    (job(task='meta {\n"team" = "web"\n}'),
     'job.nomad.hcl: line 12 looks like HCL1: a quoted attribute name ("team" = "web"), ' + _HCL1 + 'team = ... (the name without quotes)'),
    (job(task='env {\n  "NODE.ROLE" = "db"\n}'),
     'job.nomad.hcl: line 12 looks like HCL1: a quoted attribute name ("NODE.ROLE" = "db"), ' + _HCL1 +
     'the block as a map assignment, with the key quoted, such as meta = { "NODE.ROLE" = ... }'),
    (job(task='meta {\n  rack.row = "r1"\n}'),
     'job.nomad.hcl: line 12 looks like HCL1: an attribute name with a dot (rack.row = "r1"), ' + _HCL1 +
     'the block as a map assignment, with the key quoted, such as meta = { "rack.row" = ... }'),
    (job(config='image_path = "x.img"\nmounts = [\n  {\n    tmpfs_options {\n      size = 1\n    }\n  }\n]'),
     'job.nomad.hcl: line 12 looks like HCL1: a block inside an assignment (tmpfs_options {), ' + _HCL1 +
     'tmpfs_options = { ... } (an attribute, not a block)'),
    (job(task='resources {\n  weight = .25\n}'),
     'job.nomad.hcl: line 12 looks like HCL1: a decimal without its leading zero (weight = .25), ' + _HCL1 + '0.25 for .25'),
])
def test_hcl1_forms_say_so(text, message):
    assert error(text) == message


def test_hcl2_forms_of_old_jobs_are_read():
    # port_map as a list of maps (as HCL1 decoded it) and quoted keys in a map assignment are HCL2 too.
    result = read(job(group='network {\n port "http" {}\n}', config='image_path = "x.img"\nport_map = [{ http = 80 }]',
                      task='meta = { "team" = "web" }'))
    assert result['tasks'][0]['options']['port_map'] == {'http': 80}


@pytest.mark.parametrize('value, number', [(5, 5), (5.0, 5), ('12', 12), (' -3 ', -3), (True, None), (2.5, None), ('1e3', None), (None, None)])
def test_to_int(value, number):
    assert hcl.to_int(value) == number


@pytest.mark.parametrize('value, flag', [(True, True), ('false', False), (' TRUE ', True), ('yes', None), (1, None)])
def test_to_bool(value, flag):
    assert hcl.to_bool(value) is flag


@pytest.mark.parametrize('value, text', [(True, 'true'), (False, 'false'), (2.0, '2'), (1.5, '1.5'), ('x', 'x'), (7, '7')])
def test_hcl_text(value, text):
    assert hcl.hcl_text(value) == text


def test_blocks_and_attributes():
    data = hcl.parse_hcl('job "web" {\n meta {\n a = 1\n }\n meta {\n b = 2\n }\n x = { c = 3 }\n}\n')
    ((label, body),) = hcl.labelled(data['job'], Location('f.hcl'), 'job', 'job "web" { ... }')
    assert label == 'web'
    assert hcl.is_block(body)
    assert not hcl.is_block(body['x'])
    assert hcl.strip(body) == {'meta': [{'a': 1}, {'b': 2}], 'x': {'c': 3}}
    ctx = Location('f.hcl', job='web')
    assert hcl.merged(body['meta'], ctx, 'meta') == {'a': 1, 'b': 2}
    with pytest.raises(JobFileError) as exc:
        hcl.single(body['meta'], ctx, 'meta')
    assert str(exc.value) == "f.hcl: job 'web': has 2 meta blocks; Nomad allows one"
    with pytest.raises(JobFileError) as exc:
        hcl.check_keys(body, ('meta',), ctx, 'the job', 'a job block')
    assert str(exc.value) == "f.hcl: job 'web': the job has unknown key 'x'; a job block takes meta; remove it or fix its spelling"
    with pytest.raises(JobFileError) as exc:
        hcl.bodies(['a'], ctx, 'meta')
    assert str(exc.value) == "f.hcl: job 'web': meta must be a block, such as meta { ... }"
