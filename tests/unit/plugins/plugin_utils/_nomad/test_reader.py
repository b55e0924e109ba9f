# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/reader.py: locations, and what a read of a job file collects."""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError, Location, Reader, Tolerant, where


@pytest.mark.parametrize('parts, text', [
    ({}, ''),
    ({'job': 'web'}, "job 'web'"),
    ({'job': 'web', 'group': 'g'}, "job 'web', group 'g'"),
    ({'job': 'web', 'group': 'g', 'task': 't'}, "job 'web', group 'g', task 't'"),
    ({'group': 'g'}, "group 'g'"),
])
def test_where(parts, text):
    assert where(**parts) == text
    assert Location('f.hcl', **parts).where() == text


def test_location_error():
    base = Location('f.hcl')
    assert str(base.error('holds no job block')) == 'f.hcl: holds no job block'
    task = base.at(job='web').at(group='g', task='t')
    assert (task.filename, task.job, task.group, task.task) == ('f.hcl', 'web', 'g', 't')
    assert str(task.error('config has no image_path')) == "f.hcl: job 'web', group 'g', task 't': config has no image_path"
    assert str(task.at(job=None, group=None, task=None).error('x')) == 'f.hcl: x'
    assert isinstance(task.error('x'), JobFileError)


def test_tolerant_raises_unless_on():
    def fail():
        raise JobFileError('f.hcl: bad')
    with pytest.raises(JobFileError):
        Tolerant(False).run(fail)
    tolerant = Tolerant(True)
    assert tolerant.run(fail, 'default') == 'default'
    assert tolerant.run(fail) is None
    assert tolerant.run(lambda: 5) == 5
    # the same error twice is listed once
    assert tolerant.errors == ['f.hcl: bad']


def test_tolerant_lets_other_errors_through():
    with pytest.raises(ValueError):
        Tolerant(True).run(lambda: int('x'))


def test_reader_collects():
    reader = Reader('f.hcl', stop_only=True)
    ctx = reader.location(job='web', group='g', task='t')
    reader.refuse(ctx.error('bad'))
    reader.skip(ctx, 'docker', "its driver 'docker' is not qemu")
    reader.ignored.add(ctx, 'env', 'not applied here')
    assert reader.errors == ["f.hcl: job 'web', group 'g', task 't': bad"]
    assert reader.skipped == [{'job': 'web', 'group': 'g', 'task': 't', 'driver': 'docker', 'reason': "its driver 'docker' is not qemu",
                               'message': "job 'web', group 'g', task 't' is not run: its driver 'docker' is not qemu"}]
    assert reader.ignored.items == [{'where': "job 'web', group 'g', task 't'", 'key': 'env', 'reason': 'not applied here',
                                     'message': "job 'web', group 'g', task 't': env is not applied: not applied here"}]


def test_reader_refuses_without_stop_only():
    reader = Reader('f.hcl')
    with pytest.raises(JobFileError) as exc:
        reader.refuse(reader.location(job='web').error('bad'))
    assert str(exc.value) == "f.hcl: job 'web': bad"
    assert reader.errors == []


def test_quiet_reader_shares_all_but_what_is_not_applied():
    reader = Reader('f.hcl')
    quiet = reader.quiet()
    quiet.ignored.add(reader.location(), 'x', 'y')
    quiet.names['a'] = 'job a'
    quiet.static_ports[8080] = 'job a port http'
    assert reader.ignored.items == []
    assert reader.names == {'a': 'job a'}
    assert reader.static_ports == {8080: 'job a port http'}
    assert quiet.tolerant is reader.tolerant
