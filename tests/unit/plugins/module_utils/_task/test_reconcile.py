# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The reconciler through every transition, with the real planner and task store and a stand-in driver."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._shutdown import StopResult
from ansible_collections.nomadic.qemu.plugins.module_utils._task.plan import Planner
from ansible_collections.nomadic.qemu.plugins.module_utils._task.reconcile import Reconciler
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TaskDir


class FakeProcess:
    def __init__(self, pid, driver):
        self.pid = pid
        self.start_time = 1000 + pid
        self.driver = driver

    def is_alive(self):
        return self.pid in self.driver.alive


class FakeDriver:
    """Starts and stops pretend QEMUs: what runs is what ``alive`` holds (pid -> argv)."""

    def __init__(self):
        self.alive = {}
        self.next_pid = 100
        self.calls = []
        self.fail_start = None
        self.ready = None
        self.orphans = set()

    def observe(self, record, task_dir):
        if record is None or record.damaged or record.pid not in self.alive:
            return None
        if self.alive[record.pid] != record.argv:
            return None
        return FakeProcess(record.pid, self)

    def find(self, task_dir, known=None):
        """The pretend QEMUs of this task that no record names (``orphans``: pid -> argv)."""
        found = []
        for pid, argv in sorted(self.alive.items()):
            if pid in self.orphans and (known is None or known.pid != pid):
                process = FakeProcess(pid, self)
                process.argv = argv
                found.append(process)
        return found

    def start(self, task_dir, argv, supervision=None):
        self.calls.append('start')
        if self.fail_start:
            raise QemuTaskError(self.fail_start)
        self.next_pid += 1
        self.alive[self.next_pid] = list(argv)
        return FakeProcess(self.next_pid, self)

    def stop(self, process, monitor_socket, kill_timeout, graceful, method='acpi', agent_socket=None, what='QEMU', unit=None):
        self.calls.append(('stop', process.pid, kill_timeout, graceful))
        self.alive.pop(process.pid, None)
        return StopResult(graceful, 'acpi' if graceful else 'signal', 0.01)

    # No task of these tests is supervised (this machine's PID 1 is not systemd): its units are none.
    @staticmethod
    def unit_text(unit):
        return None

    @staticmethod
    def unit_status(unit):
        return None

    @staticmethod
    def sync_unit(supervision, check_mode=False):
        return []

    @staticmethod
    def remove_unit(unit):
        return False

    @staticmethod
    def set_unit_enabled(unit, enabled, check_mode=False):
        return False

    @staticmethod
    def own_unit(unit):
        return None

    @staticmethod
    def rotate_console(task_dir, logs):
        return False

    def wait_ready(self, wait_for, task_dir, process, ports):
        self.calls.append('wait_ready')
        if self.ready is not None:
            raise QemuTaskError(self.ready)
        return 0.5

    def crash(self):
        self.alive.clear()


@pytest.fixture
def env(tmp_path):
    image = tmp_path / 'disk.img'
    image.write_bytes(b'\0' * 512)
    return {'driver': FakeDriver(), 'state_dir': str(tmp_path / 'state'), 'image': str(image), 'warnings': []}


def run(env, check_mode=False, **params):
    params = dict({'name': 'vm1', 'state_dir': env['state_dir'], 'image_path': env['image']}, **params)
    planner = Planner(params, find_binary=lambda name: '/usr/bin/' + name, run_command=None, kvm_check=lambda: (False, 'no kvm'),
                      host_policy={})
    return Reconciler(params, planner, env['driver'], check_mode=check_mode, warn=env['warnings'].append).run()


def task_dir(env):
    return TaskDir(env['state_dir'], 'vm1')


def four_ways(env, **params):
    """check, real, check again, real again: the results."""
    return [run(env, check_mode=True, **params), run(env, **params), run(env, check_mode=True, **params), run(env, **params)]


def test_start_four_ways(env):
    check, real, check2, real2 = four_ways(env)
    assert (check['changed'], real['changed'], check2['changed'], real2['changed']) == (True, True, False, False)
    assert check['actions'] == ['started'] and real['actions'] == ['started'] and check2['actions'] == [] and real2['actions'] == []
    assert check['diff'] == real['diff']
    assert check['diff']['before'] == {'state': 'absent'}
    assert real['diff']['after']['state'] == 'running'
    assert real['task']['state'] == 'running' and real['task']['pid'] == 101
    assert real2['task']['pid'] == 101
    assert env['driver'].calls == ['start']
    assert task_dir(env).read().state == 'running'


def test_check_mode_writes_nothing(env):
    run(env, check_mode=True)
    assert not os.path.exists(env['state_dir'])


def test_config_change_restarts_four_ways(env):
    run(env)
    check, real, check2, real2 = four_ways(env, memory=512)
    assert [r['changed'] for r in (check, real, check2, real2)] == [True, True, False, False]
    assert check['actions'] == real['actions'] == ['stopped', 'started']
    assert real['diff']['before']['config']['memory'] == 300 and real['diff']['after']['config']['memory'] == 512
    assert real['shutdown'] == {'graceful': False, 'method': 'signal', 'seconds': 0.01, 'exit_status': None, 'reason': None, 'notes': []}
    assert [call for call in env['driver'].calls if call != 'start'] == [('stop', 101, 5.0, False)]
    assert real2['task']['pid'] == 102


@pytest.mark.parametrize('change', [{'labels': {'job': 'web'}}, {'kill_timeout': '30s'}, {'graceful_shutdown': True}],
                         ids=['labels', 'kill_timeout', 'graceful_shutdown'])
def test_change_without_restart_four_ways(env, change):
    run(env)
    check, real, check2, real2 = four_ways(env, **change)
    assert [r['changed'] for r in (check, real, check2, real2)] == [True, True, False, False]
    assert check['actions'] == real['actions'] == ['updated']
    assert env['driver'].calls == ['start']
    assert real2['task']['pid'] == 101
    record = task_dir(env).read()
    assert record.pid == 101
    if 'labels' in change:
        assert record.labels == {'job': 'web'} and real['task']['labels'] == {'job': 'web'}
        assert real['diff']['before']['labels'] == {} and real['diff']['after']['labels'] == {'job': 'web'}


def test_recorded_stop_options_apply_to_a_later_stop(env):
    run(env, kill_timeout='30s', graceful_shutdown=True)
    run(env, state='stopped')
    assert env['driver'].calls[-1] == ('stop', 101, 30.0, True)


def test_stop_four_ways(env):
    run(env)
    check, real, check2, real2 = four_ways(env, state='stopped')
    assert [r['changed'] for r in (check, real, check2, real2)] == [True, True, False, False]
    assert real['task']['state'] == 'stopped' and real['task']['pid'] is None
    assert real['diff'] == {'before': dict(real['diff']['before'], state='running'), 'after': dict(real['diff']['before'], state='stopped')}
    assert task_dir(env).read().state == 'stopped'
    # The stopped task starts again.
    assert run(env)['actions'] == ['started']


def test_absent_four_ways(env):
    run(env)
    check, real, check2, real2 = four_ways(env, state='absent')
    assert [r['changed'] for r in (check, real, check2, real2)] == [True, True, False, False]
    assert check['actions'] == real['actions'] == ['stopped', 'removed']
    assert real['task'] == {'name': 'vm1', 'state': 'absent', 'task_dir': task_dir(env).path}
    assert not os.path.exists(task_dir(env).path)
    assert os.listdir(env['state_dir']) == []


def test_restarted_always_changes(env):
    run(env)
    first, second = run(env, state='restarted'), run(env, state='restarted')
    assert first['changed'] and second['changed']
    assert first['actions'] == second['actions'] == ['stopped', 'started']
    assert second['task']['pid'] == 103


def test_crash_is_recovered_and_counted(env):
    run(env)
    env['driver'].crash()
    check = run(env, check_mode=True)
    assert check['changed'] and check['recovered'] and check['actions'] == ['started']
    real = run(env)
    assert real['recovered'] is True and real['task']['recoveries'] == 1 and real['task']['pid'] == 102
    assert env['warnings'][-1].startswith("task 'vm1': its QEMU process (pid 101) was no longer running; starting it again.")
    again = run(env)
    assert again['changed'] is False and again['recovered'] is False and again['task']['recoveries'] == 1


def test_stopped_after_crash_records_the_truth_without_change(env):
    run(env)
    env['driver'].crash()
    result = run(env, state='stopped')
    assert result['changed'] is False
    assert env['warnings'] == ["task 'vm1': its QEMU process (pid 101) had already ended"]
    assert task_dir(env).read().state == 'stopped'


def test_failed_first_start_leaves_nothing(env):
    env['driver'].fail_start = 'qemu-system-x86_64 failed to start (exit status 1): boom'
    with pytest.raises(QemuTaskError, match='boom'):
        run(env)
    # The state directory this first run made goes too.
    assert not os.path.exists(env['state_dir'])


def test_failed_restart_records_stopped(env):
    run(env)
    env['driver'].fail_start = 'boom'
    with pytest.raises(QemuTaskError):
        run(env, memory=512)
    assert task_dir(env).read().state == 'stopped'


def test_intent_is_recorded_before_qemu_starts(env, monkeypatch):
    seen = []
    real_start = FakeDriver.start

    def start(driver, task, argv, supervision=None):
        seen.append(task.read())
        return real_start(driver, task, argv, supervision)

    monkeypatch.setattr(FakeDriver, 'start', start)
    run(env)
    assert seen[0].state == 'starting' and seen[0].pid is None and seen[0].argv == task_dir(env).read().argv


def test_unrecordable_start_is_stopped(env, monkeypatch):
    real_write = TaskDir.write

    def write(task, record):
        if record.state == 'running':
            raise QemuTaskError('state_dir %s: cannot write the record of task vm1: no space left on device; free space there or '
                                'choose another state_dir' % task.state_dir)
        return real_write(task, record)

    monkeypatch.setattr(TaskDir, 'write', write)
    with pytest.raises(QemuTaskError, match='no space left on device'):
        run(env)
    assert env['driver'].alive == {}
    assert env['driver'].calls[-1] == ('stop', 101, 1.0, False)
    assert not os.path.exists(env['state_dir'])


def test_an_orphan_running_the_desired_argv_is_adopted(env):
    run(env)
    argv = task_dir(env).read().argv
    os.unlink(task_dir(env).record_path)  # the record is lost, the VM runs on
    env['driver'].orphans.add(101)
    check = run(env, check_mode=True)
    assert check['changed'] and check['actions'] == ['adopted']
    adopted = run(env)
    assert adopted['changed'] and adopted['actions'] == ['adopted'] and adopted['task']['pid'] == 101
    assert env['warnings'][-1].startswith("task 'vm1': adopted its running QEMU (pid 101), which no record named")
    assert task_dir(env).read().argv == argv and task_dir(env).read().pid == 101
    env['driver'].orphans.clear()
    assert run(env)['changed'] is False
    assert env['driver'].calls == ['start']


def test_an_orphan_with_another_argv_is_stopped_and_the_task_started(env):
    run(env)
    os.unlink(task_dir(env).record_path)
    env['driver'].orphans.add(101)
    result = run(env, memory=512)
    assert result['actions'] == ['stopped', 'started']
    assert sorted(env['driver'].alive) == [102]


@pytest.mark.parametrize('state', ['stopped', 'absent'])
def test_stopped_and_absent_end_orphans_too(env, state):
    run(env)
    # Another QEMU of this task that no record names, beside the recorded one.
    env['driver'].alive[200] = ['qemu', 'orphan']
    env['driver'].orphans.add(200)
    result = run(env, state=state)
    assert result['changed'] is True
    assert env['driver'].alive == {}
    assert ('stop', 200, 5.0, False) in env['driver'].calls and ('stop', 101, 5.0, False) in env['driver'].calls
    assert any(w.startswith("task 'vm1': stopped its QEMU (pid 200) that no record named") for w in env['warnings'])


def test_absent_ends_an_orphan_whose_directory_is_gone(env):
    run(env)
    import shutil
    shutil.rmtree(task_dir(env).path)
    env['driver'].orphans.add(101)
    result = run(env, state='absent')
    assert result['changed'] is True and env['driver'].alive == {}
    assert run(env, state='absent')['changed'] is False


def test_a_state_dir_others_can_write_is_refused(env):
    os.makedirs(env['state_dir'])
    os.chmod(env['state_dir'], 0o777)
    with pytest.raises(QemuTaskError) as exc:
        run(env)
    assert str(exc.value) == ('state_dir %s is writable by group and others (mode 0777, owner root); another user could plant '
                              'files or links in it: run chmod go-w %s, or choose another state_dir' % (env['state_dir'], env['state_dir']))
    assert env['driver'].calls == [] and os.listdir(env['state_dir']) == []


def test_a_symlinked_task_directory_is_refused(env, tmp_path):
    os.makedirs(env['state_dir'])
    victim = tmp_path / 'victim'
    victim.mkdir()
    os.symlink(str(victim), task_dir(env).path)
    for state in ('running', 'absent'):
        with pytest.raises(QemuTaskError, match='is a symbolic link; the collection never follows links'):
            run(env, state=state)
    assert os.listdir(str(victim)) == [] and os.path.islink(task_dir(env).path)


def test_wait_for_waits_on_start_and_no_op_but_not_in_check_mode(env):
    wait_for = {'console': 'login:', 'port': None, 'agent': False, 'timeout': '1m'}
    assert run(env, check_mode=True, wait_for=wait_for).get('ready_seconds') is None
    started = run(env, wait_for=wait_for)
    assert started['ready_seconds'] == 0.5
    again = run(env, wait_for=wait_for)
    assert again['changed'] is False and again['ready_seconds'] == 0.5
    assert env['driver'].calls == ['start', 'wait_ready', 'wait_ready']


def test_wait_for_timeout_leaves_the_vm_running(env):
    env['driver'].ready = 'not ready'
    with pytest.raises(QemuTaskError, match='not ready'):
        run(env, wait_for={'console': 'login:'})
    assert task_dir(env).read().state == 'running'
    assert env['driver'].alive


@pytest.mark.parametrize('params, message', [
    ({'memory': 64}, "memory 64 MB is out of bounds; use between 128 and 4000000 MB (Nomad's limits)"),
    ({'cpus': 0}, 'cpus 0 is not a CPU count; use 1 or more'),
    ({'kill_timeout': '2h'}, "kill_timeout '2h' is longer than the maximum of 1h0m0s; use 1h0m0s or less"),
    ({'labels': {'a': 1}}, "labels has 'a': 1; labels map non-empty strings to strings, such as {job: web}"),
    ({'wait_for': {'port': 'ssh'}}, "wait_for.port 'ssh' is not a label of port_map (empty); name a forwarded port"),
    ({'wait_for': {'console': '('}}, "wait_for.console '(' is not a valid regular expression: missing ), unterminated subpattern at "
                                     "position 0; fix the expression"),
    ({'wait_for': {'agent': True}}, 'wait_for.agent needs the guest agent channel; set guest_agent: true'),
    ({'wait_for': {'console': 'x', 'timeout': '2h'}},
     "wait_for.timeout '2h' is longer than the maximum of 1h0m0s; use 1h0m0s or less"),
    ({'wait_for': {}}, 'wait_for needs at least one of console (a regular expression), port (a label of port_map) or agent: true'),
])
def test_bad_options_fail_before_anything_happens(env, params, message):
    with pytest.raises(QemuTaskError) as exc:
        run(env, **params)
    assert str(exc.value) == message
    assert env['driver'].calls == []
    assert not os.path.exists(env['state_dir'])


def test_present_four_ways_then_run_and_remove_whole(env):
    check, real, check2, real2 = four_ways(env, state='present', labels={'job': 'web'}, image_path=None)
    assert [r['changed'] for r in (check, real, check2, real2)] == [True, True, False, False]
    assert check['actions'] == real['actions'] == ['created']
    assert real['task']['state'] == 'stopped' and real['task']['labels'] == {'job': 'web'}
    assert real['diff'] == {'before': {'state': 'absent'}, 'after': {'state': 'stopped', 'argv': [], 'config': {}, 'labels': {'job': 'web'}}}
    assert env['driver'].calls == []
    # An artifact put in the directory goes with the task: the collection made the directory.
    with open(os.path.join(task_dir(env).path, 'artifact.img'), 'w') as f:
        f.write('x')
    started = run(env, labels={'job': 'web'})
    assert started['actions'] == ['started'] and started['task']['labels'] == {'job': 'web'}
    assert run(env, state='present', labels={'job': 'web'}, image_path=None)['changed'] is False
    relabelled = run(env, state='present', labels={'job': 'db'}, image_path=None)
    assert relabelled['actions'] == ['updated'] and relabelled['task']['state'] == 'running'
    assert env['driver'].calls == ['start']
    run(env, state='absent')
    assert not os.path.exists(task_dir(env).path)


def test_present_keeps_a_directory_it_did_not_make(env):
    os.makedirs(task_dir(env).path)
    with open(os.path.join(task_dir(env).path, 'mine.img'), 'w') as f:
        f.write('x')
    run(env, state='present', image_path=None)
    run(env, state='absent')
    assert os.listdir(task_dir(env).path) == ['mine.img']


@pytest.mark.parametrize('how', ['SIGTERM', 'SIGINT'])
def test_a_start_interrupted_before_its_record_stops_its_qemu(env, monkeypatch, how):
    import signal
    import threading
    monkeypatch.setenv('NOMADIC_QEMU_TEST_PAUSE_AFTER_START', '10')
    timer = threading.Timer(0.3, os.kill, (os.getpid(), getattr(signal, how)))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run(env)
    finally:
        timer.cancel()
    assert env['driver'].alive == {}
    assert env['driver'].calls[-1] == ('stop', 101, 1.0, False)
    assert task_dir(env).read().state == 'starting'
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    # The next run converges.
    monkeypatch.delenv('NOMADIC_QEMU_TEST_PAUSE_AFTER_START')
    assert run(env)['actions'] == ['started']
    assert run(env)['changed'] is False
