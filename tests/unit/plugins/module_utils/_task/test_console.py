# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.console import check_logs, log_files, needs_rotation, rotate


def test_default_logs_are_nomads():
    assert check_logs(None) == {'max_files': 10, 'max_file_size': 10 * 1024 * 1024}


def test_a_number_is_megabytes_as_in_nomad_and_a_string_names_its_unit():
    assert check_logs({'max_file_size': 2})['max_file_size'] == 2 * 1024 * 1024
    assert check_logs({'max_file_size': '2'})['max_file_size'] == 2 * 1024 * 1024
    assert check_logs({'max_file_size': '512K', 'max_files': '3'}) == {'max_files': 3, 'max_file_size': 512 * 1024}


@pytest.mark.parametrize('value, word', [
    ([], 'mapping'),
    ({'max_size': 1}, 'unknown'),
    ({'max_files': 0}, 'logs.max_files'),
    ({'max_files': True}, 'logs.max_files'),
    ({'max_file_size': 0}, 'logs.max_file_size'),
    ({'max_file_size': 'big'}, 'logs.max_file_size'),
])
def test_bad_logs_name_the_key(value, word):
    with pytest.raises(QemuTaskError) as error:
        check_logs(value)
    assert word in str(error.value)
    assert error.value.option == 'logs'


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def test_rotation_keeps_at_most_max_files_newest_first(tmp_path):
    live = str(tmp_path / 'console.log')
    for run in range(5):
        write(live, 'run %d\n' % run)
        rotate(live, 3)
    # The live file was moved away; the two newest runs are kept (with the live file, three files).
    assert log_files(live, 3) == [live + '.1', live + '.2']
    assert read(live + '.1') == 'run 4\n'
    assert read(live + '.2') == 'run 3\n'
    assert not os.path.exists(live + '.3')


def test_rotation_renames_so_an_open_writer_loses_nothing(tmp_path):
    live = str(tmp_path / 'console.log')
    with open(live, 'a') as writer:
        writer.write('before\n')
        writer.flush()
        rotate(live, 2)
        writer.write('after\n')
    assert read(live + '.1') == 'before\nafter\n'
    assert not os.path.exists(live)


def test_a_smaller_max_files_removes_the_older_files(tmp_path):
    live = str(tmp_path / 'console.log')
    for index in range(1, 6):
        write('%s.%d' % (live, index), str(index))
    write(live, 'live')
    removed = rotate(live, 2)
    assert sorted(os.listdir(tmp_path)) == ['console.log.1']
    assert read(live + '.1') == 'live'
    assert len(removed) == 5


def test_one_file_means_no_older_file(tmp_path):
    live = str(tmp_path / 'console.log')
    write(live, 'x')
    assert rotate(live, 1) == [live]
    assert os.listdir(tmp_path) == []


def test_a_planted_link_is_removed_not_followed(tmp_path):
    live = str(tmp_path / 'console.log')
    target = tmp_path / 'elsewhere'
    write(str(target), 'keep')
    os.symlink(str(target), live)
    rotate(live, 3)
    assert read(str(target)) == 'keep'
    assert not os.path.lexists(live) and not os.path.lexists(live + '.1')


def test_needs_rotation_at_max_file_size(tmp_path):
    live = str(tmp_path / 'console.log')
    assert not needs_rotation(live, 10)
    write(live, 'x' * 9)
    assert not needs_rotation(live, 10)
    write(live, 'x' * 10)
    assert needs_rotation(live, 10)
