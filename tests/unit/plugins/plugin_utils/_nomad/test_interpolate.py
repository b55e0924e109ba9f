# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugins/plugin_utils/_nomad/interpolate.py: templates, the HCL pass and the runtime pass."""

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.interpolate import split_template
from ansible_collections.nomadic.qemu.tests.unit.plugins.plugin_utils._nomad.jobfiles import (
    ARGS_RESOLVED,
    LABELS,
    RESOLVED,
    WHERE,
    error,
    job,
    only_task,
)


@pytest.mark.parametrize('text, parts', [
    ('plain', [('text', 'plain')]),
    ('${a}', [('expr', 'a')]),
    ('x-${ a }-y', [('text', 'x-'), ('expr', 'a'), ('text', '-y')]),
    ('$${a} %%{b}', [('text', '${a} %{b}')]),
    ('${f("}")}', [('expr', 'f("}")')]),
    ('${m["k"]}{', [('expr', 'm["k"]'), ('text', '{')]),
    ('a  ${~ x ~}  b', [('text', 'a'), ('expr', 'x'), ('text', 'b')]),
    ('%{ if x }y%{ endif }', [('directive', 'if x'), ('text', 'y'), ('directive', 'endif')]),
])
def test_split_template(text, parts):
    assert split_template(text) == parts


def test_split_template_unclosed():
    with pytest.raises(ValueError, match=r'^\$\{ is not closed$'):
        split_template('a ${b')


@pytest.mark.parametrize('config, options', [
    # HCL's escapes give the literal text to QEMU, as Nomad does (qemu_task's args write a literal ${ as $${)
    ('image_path = "x.img"\nargs = ["$${x}", "a$${b.c}z", "%%{ if }"]', {'image_path': 'x.img', 'args': ['$${x}', 'a$${b.c}z', '%{ if }']}),
    # an escaped runtime variable is still replaced at run time, as a Nomad client does
    ('image_path = "$${NOMAD_TASK_DIR}/x.img"', {'image_path': 'local/x.img'}),
    # a variable's value is not a template
    ('image_path = var.v', {'image_path': '${v}.img'}),
])
def test_escapes(config, options):
    assert only_task(job(config=config, top='variable "v" { default = "$${v}.img" }'))['options'] == dict(options, labels=LABELS)


def test_escaped_runtime_value_is_still_replaced():
    assert error(job(config='image_path = "x.img"\nargs = ["$${NOMAD_PORT_http}"]')) == (
        WHERE + "config.args[0] uses ${NOMAD_PORT_http}, but the group's network block has no port 'http' (ports: none); "
                "add port \"http\" {} (dynamic) or port \"http\" { static = <host port> } to it")


@pytest.mark.parametrize('text, message', [
    # interpolation
    (job(config='image_path = "x.img"\nargs = ["${NOMAD_CPU_LIMIT}"]'),
     WHERE + "config.args[0] uses ${NOMAD_CPU_LIMIT}, which only a running Nomad client knows; nomadic.qemu resolves var.*, local.* "
             "and " + RESOLVED + " (and in config.args also " + ARGS_RESOLVED + "); write the value out or use a variable"),
    (job(config='image_path = "${attr.unique.hostname}.img"'),
     WHERE + "config.image_path uses ${attr.unique.hostname}, which only a running Nomad client knows; nomadic.qemu resolves var.*, "
             "local.* and " + RESOLVED + " (and in config.args also " + ARGS_RESOLVED + "); write the value out or use a variable"),
    (job(config='image_path = "x.img"\nargs = ["-m", "${MEMORY}"]'),
     WHERE + "config.args[1] uses ${MEMORY}: Nomad leaves that to its client, which puts in the task's environment variable MEMORY "
             "(from an env block, or a template block with env = true); nomadic.qemu renders no templates and gives QEMU no "
             "environment; write the value out or use a variable"),
    (job(config='image_path = "${upper("x")}.img"'),
     WHERE + "config.image_path uses ${upper(\"x\")}, an HCL expression that is not evaluated (variables var.* and local.* are, and "
     + RESOLVED + "); write the value out or use a variable"),
    (job(config='image_path = "%{ if true }x%{ endif }.img"'),
     WHERE + "config.image_path uses the template directive %{if true}, which is not evaluated; write the value out"),
    (job(config='image_path = var.image'),
     WHERE + "config.image_path uses ${var.image}, but the job file declares no variable 'image' (declared: none); add a variable "
             "\"image\" block"),
    (job(config='image_path = local.image'), WHERE + "config.image_path uses ${local.image}, but no locals block sets image"),
    (job(config='image_path = local.a', top='locals {\n a = local.b\n b = "${local.a}.img"\n}'),
     "job.nomad.hcl: locals.b uses local.a, whose value refers back to itself (local.a -> local.b -> local.a); break the cycle"),
    (job(config='image_path = "x-${var.list}"', top='variable "list" { default = ["a"] }'),
     WHERE + "config.image_path puts a list into the text 'x-${var.list}'; only strings, numbers and booleans can be part of a string"),
    (job(config='image_path = "%{ if true }x.img"'), "job.nomad.hcl: not valid HCL: Unterminated template if directive"),
    (job(config='image_path = "${NOMAD_TASK_NAME"'),
     "job.nomad.hcl: not valid HCL: Unexpected token Token('DBLQUOTE', '\"') at line 9, column 40."),
])
def test_interpolation_errors(text, message):
    assert error(text) == message


NETWORK = 'network {\n port "http" {}\n port "ssh" { static = 2222 }\n}'


@pytest.mark.parametrize('args, options', [
    # a user's own forwarding, with a dynamic and a static port of the network block
    ('["-netdev", "user,id=n0,hostfwd=tcp::${NOMAD_PORT_http}-:80,hostfwd=tcp::${NOMAD_HOST_PORT_ssh}-:22"]',
     {'args': ['-netdev', 'user,id=n0,hostfwd=tcp::${host_port.http}-:80,hostfwd=tcp::${host_port.ssh}-:22'], 'ports': {'ssh': 2222}}),
    ('["hostfwd=tcp:${NOMAD_IP_http}:${NOMAD_PORT_http}-:80", "${NOMAD_ADDR_http}", "${NOMAD_HOST_ADDR_ssh}", "${NOMAD_HOST_IP_ssh}"]',
     {'args': ['hostfwd=tcp:${host_address}:${host_port.http}-:80', '${host_address}:${host_port.http}',
               '${host_address}:${host_port.ssh}', '${host_address}'], 'ports': {'ssh': 2222}}),
    ('["-m", "${NOMAD_MEMORY_LIMIT}", "${NOMAD_CPU_CORES}", "${NOMAD_ALLOC_ID}", "${env["NOMAD_ALLOC_ID"]}"]',
     {'args': ['-m', '${memory}', '${cpu_set}', '${alloc_id}', '${alloc_id}']}),
    ('["${NOMAD_TASK_DIR}/a", "${NOMAD_ALLOC_DIR}/b", "${NOMAD_SECRETS_DIR}/c", "${NOMAD_JOB_NAME}-${NOMAD_ALLOC_INDEX}"]',
     {'args': ['${local_dir}/a', '${alloc_dir}/b', '${secrets_dir}/c', 'j-0']}),
    # what is not a runtime variable reaches QEMU as written
    ('["$${x}", "$${x.y}", "a$${b}"]', {'args': ['$${x}', '$${x.y}', 'a$${b}']}),
])
def test_runtime_values_in_args_become_qemu_task_references(args, options):
    task = only_task(job(config='image_path = "x.img"\nargs = %s' % args, group=NETWORK))
    assert task['options'] == dict(options, image_path='x.img', labels=LABELS)


def test_runtime_values_elsewhere_are_relative_directories():
    task = only_task(job(config='image_path = "${NOMAD_ALLOC_DIR}/x.img"\nargs = ["${NOMAD_SECRETS_DIR}"]'))
    assert task['options']['image_path'] == 'alloc/x.img'
    assert task['options']['args'] == ['${secrets_dir}']


def test_a_port_variable_needs_a_port_of_the_network_block():
    assert error(job(config='image_path = "x.img"\nargs = ["${NOMAD_PORT_web}"]', group=NETWORK)) == (
        WHERE + "config.args[0] uses ${NOMAD_PORT_web}, but the group's network block has no port 'web' (ports: http, ssh); "
                "add port \"web\" {} (dynamic) or port \"web\" { static = <host port> } to it")
