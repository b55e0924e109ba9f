# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.unit import (
    DEFAULT_RESTART,
    check_cpu_set,
    check_restart,
    check_run_as,
    command_line,
    cpu_quota,
    memory_max_mb,
    quote_word,
    render_unit,
    restart_directives,
    unit_name,
)

QEMU = ['/usr/bin/qemu-system-x86_64', '-name', 'web', '-m', '512M']
STOP = ['/usr/bin/python3', '-c', 'pass']


def render(**changes):
    options = dict(task_name='web', task_dir='/var/lib/nomadic-qemu/web', argv=QEMU, stop_argv=STOP, restart=check_restart(None),
                   kill_timeout=5.0, memory=512, accelerator='kvm')
    options.update(changes)
    return render_unit(**options)


def directives(text, key):
    return [line.split('=', 1)[1] for line in text.splitlines() if line.startswith(key + '=')]


def test_default_restart_is_nomads_service_default():
    assert check_restart(None) == {'attempts': 2, 'interval': 1800.0, 'delay': 15.0, 'mode': 'fail'}
    assert check_restart({}) == DEFAULT_RESTART


def test_restart_keys_take_durations_and_defaults():
    expected = {'attempts': 3, 'interval': 90.0, 'delay': 5.0, 'mode': 'fail'}
    assert check_restart({'attempts': '3', 'delay': '5s', 'interval': '1m30s'}) == expected


@pytest.mark.parametrize('value, words', [
    ('fail', ['restart', 'mapping']),
    ({'attempt': 1}, ['unknown', 'attempt']),
    ({'attempts': -1}, ['restart.attempts']),
    ({'attempts': True}, ['restart.attempts']),
    ({'delay': 'soon'}, ['restart.delay']),
    ({'mode': 'never'}, ['restart.mode', 'fail, delay']),
    ({'delay': '1m', 'interval': '30s'}, ['restart.interval', 'interval >= delay']),
])
def test_bad_restart_names_the_key(value, words):
    with pytest.raises(QemuTaskError) as error:
        check_restart(value)
    for word in words:
        assert word in str(error.value)
    assert error.value.option == 'restart'


def test_fail_mode_allows_attempts_restarts_within_interval():
    unit, service = restart_directives(check_restart({'attempts': 3, 'delay': '5s', 'interval': '10m'}))
    assert unit == ['StartLimitIntervalSec=600s', 'StartLimitBurst=4']
    assert service == ['Restart=on-failure', 'RestartSec=5s']


def test_fail_mode_interval_holds_the_delays():
    # Three restarts 20 s apart never fit in 30 s: systemd would count them in different windows and never give up.
    unit, _service = restart_directives(check_restart({'attempts': 3, 'delay': '20s', 'interval': '30s'}))
    assert unit == ['StartLimitIntervalSec=61s', 'StartLimitBurst=4']


def test_delay_mode_spreads_restarts_and_never_gives_up():
    unit, service = restart_directives(check_restart({'attempts': 4, 'delay': '1s', 'interval': '1m', 'mode': 'delay'}))
    assert unit == ['StartLimitIntervalSec=0']
    assert service == ['Restart=on-failure', 'RestartSec=15s']


def test_zero_attempts_never_restarts():
    assert restart_directives(check_restart({'attempts': 0})) == ([], ['Restart=no'])


def test_a_zero_delay_still_waits():
    _unit, service = restart_directives(check_restart({'delay': 0}))
    assert service[1] == 'RestartSec=100ms'


def test_memory_max_is_more_than_the_guest_memory():
    assert memory_max_mb(512, 'kvm') == 512 + 256 + 32
    assert memory_max_mb(512, 'tcg') == 512 + 256 + 32 + 1024
    assert memory_max_mb(4096, 'kvm') > 4096


def test_cpu_quota_is_one_host_cpu_per_vcpu():
    assert cpu_quota(None) == '100%'
    assert cpu_quota(4) == '400%'


@pytest.mark.parametrize('value, expected', [
    (None, None),
    ('0', '0'),
    ('3,1,2', '1-3'),
    ('0-3, 6', '0-3,6'),
    ([0, 2, 3], '0,2-3'),
    ('4-5,0-1,1', '0-1,4-5'),
])
def test_cpu_set_is_normalized(value, expected):
    assert check_cpu_set(value) == expected


@pytest.mark.parametrize('value', ['', 'all', '1-', '-1', '3-1', '1,,2'])
def test_bad_cpu_set_names_the_option(value):
    with pytest.raises(QemuTaskError) as error:
        check_cpu_set(value)
    assert 'cpu_set' in str(error.value)


@pytest.mark.parametrize('value', ['qemu', 'nomad-vm', '1000', None])
def test_run_as_accepts_user_names(value):
    assert check_run_as(value) == value


@pytest.mark.parametrize('value', ['', 'Root', 'a b', 'x;rm', 5])
def test_run_as_refuses_what_is_no_user_name(value):
    with pytest.raises(QemuTaskError) as error:
        check_run_as(value)
    assert 'run_as' in str(error.value)


@pytest.mark.parametrize('word, quoted', [
    ('plain', '"plain"'),
    ('two words', '"two words"'),
    ('say "hi"', '"say \\"hi\\""'),
    ('back\\slash', '"back\\\\slash"'),
    ('100%', '"100%%"'),
    ('$HOME', '"$$HOME"'),
    ('a\nb', '"a\\nb"'),
    ('', '""'),
])
def test_quote_word(word, quoted):
    assert quote_word(word) == quoted


def test_unit_name():
    assert unit_name('web-1') == 'nomadic-qemu-web-1.service'
    assert unit_name('web-1', 'ab12') == 'nomadic-qemu-web-1:ab12.service'
    # A task named after another's instance does not get its unit.
    assert unit_name('web-1-ab12') != unit_name('web-1', 'ab12')


def test_unit_carries_limits_and_confinement():
    text = render(cpus=2, cpu_set='0-1', writable=['/srv/disks/data.qcow2'])
    assert directives(text, 'Type') == ['exec']
    assert directives(text, 'ExecStart') == [command_line(QEMU)]
    assert directives(text, 'ExecStop') == [command_line(STOP)]
    assert directives(text, 'TimeoutStopSec') == ['10s']
    # QEMU drops to run_as itself (-runas), after it opened its files in the root-owned task directory.
    assert directives(text, 'User') == []
    assert directives(text, 'MemoryMax') == ['800M']
    assert directives(text, 'CPUQuota') == ['200%']
    assert directives(text, 'AllowedCPUs') == ['0-1']
    assert directives(text, 'ProtectSystem') == ['strict']
    assert directives(text, 'ReadWritePaths') == ['/var/lib/nomadic-qemu/web /srv/disks/data.qcow2']
    assert directives(text, 'DeviceAllow') == ['/dev/kvm rw', '/dev/net/tun rw']
    assert directives(text, 'NoNewPrivileges') == ['yes']
    assert directives(text, 'PrivateTmp') == ['yes']
    assert directives(text, 'WantedBy') == ['multi-user.target']


def test_unit_without_cpu_set_names_none():
    assert directives(render(), 'AllowedCPUs') == []


def test_unit_without_sandbox_keeps_limits_but_not_confinement():
    text = render(confine=False)
    assert directives(text, 'MemoryMax') == ['800M']
    for key in ('ProtectSystem', 'ReadWritePaths', 'PrivateTmp', 'DevicePolicy', 'DeviceAllow'):
        assert directives(text, key) == [], key
    assert directives(text, 'NoNewPrivileges') == ['yes']


def test_unit_text_changes_with_what_the_unit_applies():
    assert render(cpus=2) != render(cpus=3)
    assert render(kill_timeout=5.0) != render(kill_timeout=6.0)


def test_path_with_space_is_one_path():
    text = render(task_dir='/srv/my vms/web')
    assert directives(text, 'ReadWritePaths') == ['/srv/my\\x20vms/web']


@pytest.mark.skipif(shutil.which('systemd-analyze') is None, reason='systemd-analyze is not installed')
def test_systemd_accepts_the_unit(tmp_path):
    qemu = shutil.which('true')
    text = render(argv=[qemu, '-name', 'a b%$"x\\'], stop_argv=[qemu], cpus=2, cpu_set='0',
                  restart=check_restart({'attempts': 3, 'delay': '500ms', 'interval': '1m'}), task_dir=str(tmp_path))
    path = tmp_path / unit_name('web')
    path.write_text(text)
    result = subprocess.run(['systemd-analyze', 'verify', str(path)], capture_output=True, text=True, check=False)
    problems = [line for line in result.stderr.splitlines() if str(path) in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_block_devices_are_allowed_as_read_or_written_and_tmp_can_stay_shared():
    text = render(devices=[('/dev/vg0/web', 'rw'), ('/dev/sdb', 'r')], private_tmp=False)
    assert directives(text, 'DeviceAllow') == ['/dev/kvm rw', '/dev/net/tun rw', '/dev/vg0/web rw', '/dev/sdb r']
    assert directives(text, 'PrivateTmp') == []
    assert directives(render(), 'PrivateTmp') == ['yes']
