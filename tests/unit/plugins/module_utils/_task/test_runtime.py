# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A task's own values in its args (${host_port.http}, ${memory}...): parsing, checks and resolution."""

from __future__ import annotations

import os
import stat
import uuid

import pytest
from hypothesis import given, strategies as st

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task import runtime
from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils._task.test_reconcile import four_ways, run, task_dir
from ansible_collections.nomadic.qemu.tests.unit.plugins.module_utils._task.test_reconcile import env as env_fixture


def resolved(args, host_ports=None, guest_ports=None, task_dir='/srv/t/web', host_address='', memory=512, cpus=2, cpu_set=None):
    refs = runtime.references(args)
    known = runtime.values(refs, task_dir, host_address, memory, cpus, cpu_set)
    return runtime.resolve(args, known, host_ports or {}, guest_ports or {})


def test_references_collects_labels_and_values():
    refs = runtime.references(['-netdev', 'user,id=n0,hostfwd=tcp:${host_address}:${host_port.http}-:${guest_port.http}',
                               '-m', '${memory}', '-drive', 'file=${local_dir}/d.img', '-x', '${secrets_dir}/k ${host_port.ssh}'])
    assert refs.ports == {'host_port': {'http', 'ssh'}, 'guest_port': {'http'}}
    assert refs.labels == {'http', 'ssh'}
    assert refs.values == {'host_address', 'memory', 'local_dir', 'secrets_dir'}
    assert refs.subdirs == ['local', 'secrets']


def test_args_without_sequences_are_unchanged():
    args = ['-display', 'none', '-name', 'a$b', '{x}', '$']
    assert runtime.references(args).values == set()
    assert resolved(args) == args


def test_values_are_resolved():
    args = ['hostfwd=tcp:${host_address}:${host_port.http}-:${guest_port.http}', '${memory}M', '-smp', '${cpus}',
            '${task_dir}', '${local_dir}', '${alloc_dir}/log', '${secrets_dir}', '${ host_port.http }']
    assert resolved(args, {'http': 23456}, {'http': 80}) == [
        'hostfwd=tcp:0.0.0.0:23456-:80', '512M', '-smp', '2', '/srv/t/web', '/srv/t/web/local', '/srv/t/web/alloc/log',
        '/srv/t/web/secrets', '23456']


def test_host_address_and_cpus_defaults():
    assert resolved(['${host_address}', '${cpus}'], host_address='127.0.0.1', cpus=None) == ['127.0.0.1', '1']
    assert resolved(['${cpu_set}'], cpu_set='1,3') == ['1,3']
    count = os.cpu_count() or 1
    assert resolved(['${cpu_set}']) == ['0' if count == 1 else '0-%d' % (count - 1)]


def test_escape_is_a_literal_sequence():
    args = ['$${host_port.http}', 'a$${NOMAD_X}b ${memory}']
    assert runtime.references(args).values == {'memory'}
    assert resolved(args) == ['${host_port.http}', 'a${NOMAD_X}b 512']
    # an escaped ${ needs no closing brace: it is text
    assert resolved(['a$${', '$${{x}']) == ['a${', '${{x}']


def test_alloc_id_is_a_uuid_stable_per_task_dir():
    first = resolved(['${alloc_id}'])[0]
    assert uuid.UUID(first).version == 5
    assert resolved(['${alloc_id}'])[0] == first
    assert resolved(['${alloc_id}'], task_dir='/srv/t/other')[0] != first


@pytest.mark.parametrize('arg, words', [
    ('${NOMAD_PORT_http}', ['args[0]', '${NOMAD_PORT_http}', 'not a value qemu_task knows', '${host_port.LABEL}', '$${']),
    ('${host_port}', ['args[0]', 'without a port label', '${host_port.LABEL}']),
    ('${guest_port}', ['without a port label', '${guest_port.LABEL}']),
    ('${memory.http}', ['not a value qemu_task knows']),
    ('${host_port.a b}', ['not a value qemu_task knows']),
    ('x ${memory', ['args[0]', 'not closed', '$${']),
    ('${a{b}}', ['not closed']),
])
def test_bad_references_are_refused(arg, words):
    with pytest.raises(QemuTaskError) as info:
        runtime.references([arg])
    assert info.value.option == 'args'
    for word in words:
        assert word in str(info.value)


def test_guest_port_needs_port_map():
    refs = runtime.references(['${guest_port.ssh}', '${host_port.http}'])
    runtime.check_port_references(refs, {'ssh': 22})
    with pytest.raises(QemuTaskError, match=r"port_map has no label 'ssh' \(http\).*\$\{host_port.ssh\}"):
        runtime.check_port_references(refs, {'http': 80})


def test_make_subdirs(tmp_path):
    refs = runtime.references(['${secrets_dir}/x', '${alloc_dir}', '${task_dir}'])
    assert runtime.make_subdirs(str(tmp_path), refs) == [str(tmp_path / 'alloc'), str(tmp_path / 'secrets')]
    assert stat.S_IMODE(os.stat(str(tmp_path / 'secrets')).st_mode) == 0o700
    assert not (tmp_path / 'local').exists()
    assert runtime.make_subdirs(str(tmp_path), refs) == []


_LITERAL = st.text(alphabet='ab.:_-=,/ 0$', max_size=6).filter(lambda text: not text.endswith('$'))
_PIECE = st.one_of(
    _LITERAL.map(lambda text: (text, text)),
    st.sampled_from(['memory', 'cpus', 'task_dir', 'secrets_dir']).map(lambda name: ('${%s}' % name, 'V:' + name)),
    st.sampled_from(['http', 'ssh']).map(lambda label: ('${host_port.%s}' % label, 'H:' + label)),
    st.sampled_from(['memory', 'x.y']).map(lambda name: ('$${%s}' % name, '${%s}' % name)),
)
_VALUES = {'memory': '300', 'cpus': '1', 'task_dir': '/t', 'secrets_dir': '/t/secrets'}
_PORTS = {'http': 20001, 'ssh': 20002}


def _expected(marker):
    if marker.startswith('V:'):
        return _VALUES[marker[2:]]
    if marker.startswith('H:'):
        return str(_PORTS[marker[2:]])
    return marker


@given(st.lists(st.lists(_PIECE, max_size=5), max_size=4))
def test_resolution_replaces_each_sequence_once(arg_pieces):
    """Args built from text, values, ports and escapes resolve to exactly the values, ports and literal sequences."""
    args = [''.join(text for text, marker in pieces) for pieces in arg_pieces]
    # Text ending in "$" before a sequence would form an escape: the literals never end with one.
    refs = runtime.references(args)
    known = runtime.values(refs, '/t', '', 300, 1, None)
    assert runtime.resolve(args, known, _PORTS, {}) == [''.join(_expected(marker) for text, marker in pieces) for pieces in arg_pieces]


# The planner and reconciler with the task's own values in args (a stand-in driver, real ports and files).

env = env_fixture


def has_args(argv, args):
    """Whether ``args`` appear in ``argv``, in order and side by side."""
    return any(argv[i:i + len(args)] == args for i in range(len(argv) - len(args) + 1))


def test_a_task_refers_to_its_own_ports_and_directories(env):
    args = ['-netdev', 'user,id=n1,hostfwd=tcp:${host_address}:${host_port.http}-:80', '-m', '${memory}', '-name', '${secrets_dir}']
    check, real, check2, real2 = four_ways(env, args=args, memory=256)
    assert [r['changed'] for r in (check, real, check2, real2)] == [True, True, False, False]
    assert check['diff'] == real['diff']
    port = real['task']['ports']['http']['host']
    assert 20000 <= port <= 32000 and real['task']['ports']['http']['guest'] is None
    secrets = os.path.join(task_dir(env).path, 'secrets')
    assert has_args(real['task']['argv'], ['-netdev', 'user,id=n1,hostfwd=tcp:0.0.0.0:%d-:80' % port, '-m', '256', '-name', secrets])
    assert real['task']['config']['args'] == args
    assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o700
    assert real2['task']['argv'] == real['task']['argv']
    # Stopped, the task keeps its port; started again, it gets the same one.
    run(env, args=args, memory=256, state='stopped')
    assert run(env, args=args, memory=256)['task']['ports']['http']['host'] == port
    run(env, state='absent')
    assert not os.path.exists(task_dir(env).path)


def test_a_static_host_port_for_a_label_only_args_name(env):
    args = ['-netdev', 'user,id=n1,hostfwd=tcp::${host_port.http}-:80']
    result = run(env, args=args, ports={'http': 30999})
    assert has_args(result['task']['argv'], ['-netdev', 'user,id=n1,hostfwd=tcp::30999-:80'])
    with pytest.raises(QemuTaskError, match=r"ports has label 'ssh' which is not in port_map \(empty\) nor named in args"):
        run(env, args=args, ports={'http': 30999, 'ssh': 30998})


def test_port_map_labels_give_guest_ports(env):
    result = run(env, args=['${guest_port.web}:${host_port.web}'], port_map={'web': 80}, ports={'web': 30997})
    assert '80:30997' in result['task']['argv']
    assert result['task']['ports'] == {'web': {'host': 30997, 'guest': 80, 'host_address': ''}}


@pytest.mark.parametrize('params, message', [
    ({'args': ['${guest_port.web}']}, "args uses ${guest_port.web}, but port_map has no label 'web' (empty)"),
    ({'args': ['${NOMAD_PORT_web}']}, "args[0] '${NOMAD_PORT_web}' uses ${NOMAD_PORT_web}, which is not a value qemu_task knows"),
    ({'args': ['-drive', 'file=${task_dir}/../../../elsewhere.img']}, 'elsewhere.img'),
])
def test_bad_references_fail_before_anything_happens(env, params, message):
    params.setdefault('image_paths', [os.path.dirname(env['image'])])
    with pytest.raises(QemuTaskError) as exc:
        run(env, **params)
    assert message in str(exc.value)
    assert env['driver'].calls == []
    assert not os.path.exists(env['state_dir'])


def test_a_failed_first_start_removes_the_directories_it_made(env):
    env['driver'].fail_start = 'boom'
    with pytest.raises(QemuTaskError, match='boom'):
        run(env, args=['${alloc_dir}', '${local_dir}'])
    assert not os.path.exists(env['state_dir'])


@given(st.text(alphabet='ab${}.$_ ', max_size=20))
def test_escaped_text_resolves_to_itself(text):
    """What the job-file reader escapes reaches QEMU as it was written."""
    args = [runtime.escape(text)]
    refs = runtime.references(args)
    assert runtime.resolve(args, runtime.values(refs, '/t', '', 300, 1, None), {}, {}) == [text]
