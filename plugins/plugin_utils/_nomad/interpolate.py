# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""HCL templates and ``${...}`` in job values: the HCL pass (variables, locals) and the runtime pass (NOMAD_*)."""

from __future__ import annotations

import re

from ansible_collections.nomadic.qemu.plugins.module_utils._task.runtime import escape as escape_args
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.hcl import BLOCK_MARK, hcl_text, is_block
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import quote
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.tables import (
    ARGS_RUNTIME,
    ARGS_RUNTIME_NAMES,
    PORT_VARIABLES,
    REPEATED_BLOCKS,
    RESOLVED_RUNTIME,
)

_IDENT = r'[A-Za-z_][A-Za-z0-9_-]*'
_VAR_RE = re.compile(r'^var\.(%s)$' % _IDENT)
_LOCAL_RE = re.compile(r'^local\.(%s)$' % _IDENT)
_RUNTIME_RE = re.compile(r'^(?:(NOMAD_[A-Za-z0-9_]+)|env\[\s*"(NOMAD_[A-Za-z0-9_]+)"\s*\])$')
# Expressions a running Nomad client resolves: left alone where no value is needed (constraints).
_NOMAD_RUNTIME_RE = re.compile(r'^(?:NOMAD_[A-Za-z0-9_]+|env\[\s*"[^"]*"\s*\]|(?:attr|node|meta|driver|device)\.[A-Za-z0-9_.\-\[\]"]+)$')
# ${NOMAD_PORT_http} and its kin: the kind and the port label.
_PORT_VARIABLE_RE = re.compile(r'^NOMAD_(PORT|HOST_PORT|IP|HOST_IP|ADDR|HOST_ADDR)_([A-Za-z0-9_-]+)$')
# A bare name, as an environment variable has: what a Nomad client looks up in the task's environment.
_ENV_NAME_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
# What a Nomad client replaces in task settings at run time (helper/args ReplaceEnv): ${...} without braces inside.
_RUNTIME_SEQUENCE_RE = re.compile(r'\$\{([^{}]*)\}')


def _closing_brace(text, start):
    """Index of the brace closing a template sequence whose content starts at ``start``; -1 if none."""
    depth = 0
    i = start
    quoted = False
    while i < len(text):
        char = text[i]
        if quoted:
            if char == '\\':
                i += 2
                continue
            if char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == '{':
            depth += 1
        elif char == '}':
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def split_template(text):
    """Split an HCL template string into parts: ``('text', s)``, ``('expr', e)`` or ``('directive', d)``.

    ``$${`` and ``%%{`` are escapes for a literal ``${`` and ``%{``. Strip markers (``${~ x ~}``)
    trim the whitespace of the text beside them, as HCL does. Raises ValueError for an
    unclosed sequence.
    """
    parts = []
    buf = []
    i = 0
    while i < len(text):
        if text.startswith('$${', i) or text.startswith('%%{', i):
            buf.append(text[i + 1:i + 3])
            i += 3
            continue
        if text.startswith('${', i) or text.startswith('%{', i):
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise ValueError('%s is not closed' % text[i:i + 2])
            inner = text[i + 2:end]
            if inner.startswith('~'):
                inner = inner[1:]
                while buf and not buf[-1].strip():
                    buf.pop()
                if buf:
                    buf[-1] = buf[-1].rstrip()
            trim_after = inner.endswith('~')
            if trim_after:
                inner = inner[:-1]
            if buf:
                parts.append(('text', ''.join(buf)))
                buf = []
            parts.append(('expr' if text[i] == '$' else 'directive', inner.strip()))
            i = end + 1
            if trim_after:
                while i < len(text) and text[i].isspace():
                    i += 1
            continue
        buf.append(text[i])
        i += 1
    if buf:
        parts.append(('text', ''.join(buf)))
    return parts


class _Unresolved(Exception):
    def __init__(self, expression, directive=False):
        super().__init__(expression)
        self.expression = expression
        self.directive = directive


class Interpolator:
    """Resolves ``${...}`` in job values.

    Two passes, like Nomad: the HCL pass (``hcl``) resolves ``var.*`` and ``local.*`` and keeps
    the expressions a Nomad client resolves at run time (``${NOMAD_*}``, ``${attr.*}``...) as
    text; the runtime pass (``runtime``) resolves the NOMAD_* values known before a task runs
    and refuses everything else.
    """

    def __init__(self, variables, locals_):
        self.variables = variables
        self.locals = locals_
        self.resolved_locals = {}
        self.resolving = []

    # HCL pass
    def _hcl_expression(self, expression, ctx, key):
        match = _VAR_RE.match(expression)
        if match:
            name = match.group(1)
            if name not in self.variables:
                declared = ', '.join(sorted(self.variables)) or 'none'
                raise ctx.error('%s uses ${%s}, but the job file declares no variable %s (declared: %s); '
                                'add a variable "%s" block' % (key, expression, quote(name), declared, name))
            return self.variables[name]
        match = _LOCAL_RE.match(expression)
        if match:
            return self._local(match.group(1), ctx, key)
        raise _Unresolved(expression)

    def _local(self, name, ctx, key):
        if name in self.resolved_locals:
            return self.resolved_locals[name]
        if name not in self.locals:
            raise ctx.error('%s uses ${local.%s}, but no locals block sets %s' % (key, name, name))
        if name in self.resolving:
            cycle = ' -> '.join('local.%s' % n for n in self.resolving[self.resolving.index(name):] + [name])
            raise ctx.error('%s uses local.%s, whose value refers back to itself (%s); break the cycle' % (key, name, cycle))
        self.resolving.append(name)
        try:
            value = self.hcl(self.locals[name], ctx.at(job=None, group=None, task=None), 'locals.%s' % name)
        finally:
            self.resolving.pop()
        self.resolved_locals[name] = value
        return value

    def hcl(self, value, ctx, key):
        """The HCL pass over ``value`` (recursively)."""
        if isinstance(value, list):
            return [self.hcl(v, ctx, _item_key(key, value, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            # HCL's null means "not set".
            return dict((k, v if k == BLOCK_MARK else self.hcl(v, ctx, '%s.%s' % (key, k) if key else k))
                        for k, v in value.items() if v is not None)
        if not isinstance(value, str) or ('${' not in value and '%{' not in value):
            return value
        return self._template(value, ctx, key, self._hcl_expression, keep=True)

    def hcl_keys(self, body, ctx, keys):
        """``body`` with the HCL pass applied to ``keys`` only (the others are not used or are handled later)."""
        result = {}
        for key, value in body.items():
            if value is None:
                continue
            result[key] = self.hcl(value, ctx, key) if key in keys else value
        return result

    # runtime pass
    def runtime(self, value, ctx, key, env):
        """The runtime pass over ``value`` with the NOMAD_* values in ``env``.

        As a Nomad client does, it replaces ``${NAME}`` when NAME is known and leaves any other
        ``${...}`` as it is: after the HCL pass, such text comes from an escape (``$${x}`` in the
        file is the literal ``${x}``) or from a variable's value. The expressions only a running
        client knows (``${NOMAD_PORT_http}``, ``${attr.*}``) are refused: their value would be wrong.
        """
        if isinstance(value, list):
            return [self.runtime(v, ctx, '%s[%d]' % (key, i), env) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return dict((k, self.runtime(v, ctx, '%s.%s' % (key, k), env)) for k, v in value.items())
        if not isinstance(value, str) or '${' not in value:
            return value

        def replace(match):
            expression = match.group(1).strip()
            found = _RUNTIME_RE.match(expression)
            name = found and (found.group(1) or found.group(2))
            if name and name in env:
                return env[name]
            if _NOMAD_RUNTIME_RE.match(expression):
                raise self._unresolved_error(_Unresolved(expression), ctx, key)
            return match.group(0)
        return _RUNTIME_SEQUENCE_RE.sub(replace, value)

    def runtime_args(self, args, ctx, key, env, ports):
        """The runtime pass over config.args, giving qemu_task's args (see module_utils/_task/runtime.py).

        The values known now (``env``) are put in; what only the host knows becomes qemu_task's
        own reference (``${NOMAD_PORT_http}`` -> ``${host_port.http}``, ARGS_RUNTIME); any
        ``${`` left is escaped (``$${``), so QEMU gets it as it is, as from a Nomad client.
        ``ports`` are the labels of the group's network block.
        """
        if not isinstance(args, list):
            return args
        result = []
        for index, arg in enumerate(args):
            item_key = '%s[%d]' % (key, index)
            if not isinstance(arg, str):
                result.append(arg)
                continue
            pieces = []
            end = 0
            for match in _RUNTIME_SEQUENCE_RE.finditer(arg):
                pieces.append(escape_args(arg[end:match.start()]))
                pieces.append(self._runtime_arg(match, ctx, item_key, env, ports))
                end = match.end()
            pieces.append(escape_args(arg[end:]))
            result.append(''.join(pieces))
        return result

    def _runtime_arg(self, match, ctx, key, env, ports):
        expression = match.group(1).strip()
        found = _RUNTIME_RE.match(expression)
        name = found and (found.group(1) or found.group(2))
        if name and name in ARGS_RUNTIME:
            return ARGS_RUNTIME[name]
        if name and name in env:
            return escape_args(env[name])
        port = name and _PORT_VARIABLE_RE.match(name)
        if port:
            kind, label = port.groups()
            if label not in ports:
                known = ', '.join(sorted(ports)) or 'none'
                raise ctx.error('%s uses ${%s}, but the group\'s network block has no port %s (ports: %s); add port "%s" {} '
                                '(dynamic) or port "%s" { static = <host port> } to it' % (key, name, quote(label), known, label, label))
            return PORT_VARIABLES[kind] % {'label': label}
        if _NOMAD_RUNTIME_RE.match(expression):
            raise self._unresolved_error(_Unresolved(expression), ctx, key)
        return escape_args(match.group(0))

    def _template(self, text, ctx, key, resolve, keep):
        try:
            parts = split_template(text)
        except ValueError as exc:
            raise ctx.error('%s %r is not a valid HCL template: %s' % (key, text, exc)) from None
        values = []
        for kind, content in parts:
            if kind == 'text':
                values.append(content)
                continue
            try:
                if kind == 'directive':
                    raise _Unresolved(content, directive=True)
                values.append(resolve(content, ctx, key))
            except _Unresolved as unresolved:
                if keep and not unresolved.directive and _NOMAD_RUNTIME_RE.match(unresolved.expression):
                    values.append(Kept('${%s}' % unresolved.expression))
                    continue
                raise self._unresolved_error(unresolved, ctx, key) from None
        if len(values) == 1 and not isinstance(values[0], Kept):
            return values[0]
        text_parts = []
        for value in values:
            if isinstance(value, (list, dict)) or value is None:
                raise ctx.error('%s puts a %s into the text %r; only strings, numbers and booleans can be part of a string'
                                % (key, 'null' if value is None else type(value).__name__, text))
            text_parts.append(hcl_text(value))
        return ''.join(text_parts)

    def _unresolved_error(self, unresolved, ctx, key):
        resolved = ', '.join(RESOLVED_RUNTIME)
        if unresolved.directive:
            return ctx.error('%s uses the template directive %%{%s}, which is not evaluated; write the value out'
                             % (key, unresolved.expression))
        if _NOMAD_RUNTIME_RE.match(unresolved.expression):
            return ctx.error('%s uses ${%s}, which only a running Nomad client knows; nomadic.qemu resolves var.*, local.* and %s '
                             '(and in config.args also %s); write the value out or use a variable'
                             % (key, unresolved.expression, resolved, ', '.join(ARGS_RUNTIME_NAMES)))
        if _ENV_NAME_RE.match(unresolved.expression):
            return ctx.error('%s uses ${%s}: Nomad leaves that to its client, which puts in the task\'s environment variable %s (from '
                             'an env block, or a template block with env = true); nomadic.qemu renders no templates and gives QEMU no '
                             'environment; write the value out or use a variable' % (key, unresolved.expression, unresolved.expression))
        return ctx.error('%s uses ${%s}, an HCL expression that is not evaluated (variables var.* and local.* are, and %s); '
                         'write the value out or use a variable' % (key, unresolved.expression, resolved))


def _item_key(key, items, index):
    """The key of a list item in messages: ``args[1]``, ``artifact[0]``, but ``config`` for a block given once."""
    if len(items) == 1 and is_block(items[0]) and key.rsplit('.', 1)[-1] not in REPEATED_BLOCKS:
        return key
    return '%s[%d]' % (key, index)


class Kept(str):
    """A ``${...}`` kept as text by the HCL pass."""


def plain(value):
    """Turn Kept strings back into plain ones (for output)."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, Kept):
        return str(value)
    return value
