# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The input variables of a job file: their declarations, types and values (job_vars, like nomad job run -var)."""

from __future__ import annotations

import re

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.hcl import BLOCK_MARK, bodies, check_keys, hcl_text, is_int, labelled, strip, to_bool
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.interpolate import plain
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import quote
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.tables import VARIABLE_KEYS

_PRIMITIVE_TYPES = ('string', 'number', 'bool', 'any')
_COLLECTION_TYPE_RE = re.compile(r'^(list|set|map)\((.*)\)$')
_NUMBER_RE = re.compile(r'^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$')
SENSITIVE_REASON = ('its value is not hidden: Ansible may show it in task output and logs; keep secrets out of job_vars '
                    'or run with no_log')


class _TypeMismatch(Exception):
    pass


def _variable_type(value, ctx, name):
    """A variable's type constraint: 'string', 'number', 'bool', 'any', or ('list'|'set'|'map', element type)."""
    text = hcl_text(plain(value)) if not isinstance(value, (list, dict)) else ''
    if text.startswith('${') and text.endswith('}'):
        text = text[2:-1]
    text = re.sub(r'\s+', '', text)

    def parse(part):
        if part in _PRIMITIVE_TYPES:
            return part
        match = _COLLECTION_TYPE_RE.match(part)
        if match:
            return (match.group(1), parse(match.group(2)))
        raise ctx.error('variable %s has the type %s, which is not checked here; use string, number, bool, any, or list(...), '
                        'set(...) or map(...) of them' % (quote(name), quote(text or value)))
    return parse(text)


def _type_text(kind):
    return kind if isinstance(kind, str) else '%s(%s)' % (kind[0], _type_text(kind[1]))


def _convert(value, kind):
    """``value`` converted to the type ``kind`` as HCL converts it; raises _TypeMismatch."""
    if value is None or kind == 'any':
        return value
    if kind == 'string':
        if isinstance(value, (str, bool, int, float)):
            return hcl_text(value)
        raise _TypeMismatch()
    if kind == 'number':
        if is_int(value) or isinstance(value, float):
            return value
        if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
            number = float(value.strip())
            return int(number) if number.is_integer() and re.match(r'^[+-]?[0-9]+$', value.strip()) else number
        raise _TypeMismatch()
    if kind == 'bool':
        flag = to_bool(value)
        if flag is None or is_int(value):
            raise _TypeMismatch()
        return flag
    collection, element = kind
    if collection == 'map':
        if not isinstance(value, dict):
            raise _TypeMismatch()
        return dict((k, _convert(v, element)) for k, v in value.items())
    if not isinstance(value, list):
        raise _TypeMismatch()
    items = [_convert(v, element) for v in value]
    if collection == 'set':
        unique = []
        for item in items:
            if item not in unique:
                unique.append(item)
        items = unique
    return items


def declared_variables(reader, data, ctx):
    """name -> dict(has_default, default, type, nullable) from variable "x" { ... } and variables { ... } blocks."""
    declared = {}
    for name, body in labelled(data.get('variable'), ctx, 'variable', 'variable "image" { default = "linux.img" }'):
        def declare(name=name, body=body):
            if name in declared:
                raise ctx.error('variable %s is declared twice; declare it once' % quote(name))
            info = declared[name] = {'has_default': 'default' in body, 'default': _unescape(strip(body.get('default'))), 'type': 'any',
                                     'nullable': True}
            check_keys(body, VARIABLE_KEYS, ctx, 'variable %s' % quote(name), 'a variable block')
            info['nullable'] = to_bool(body.get('nullable', True))
            if info['nullable'] is None:
                raise ctx.error('variable %s: nullable must be true or false, not %r' % (quote(name), body.get('nullable')))
            sensitive = to_bool(body.get('sensitive', False))
            if sensitive is None:
                raise ctx.error('variable %s: sensitive must be true or false, not %r' % (quote(name), body.get('sensitive')))
            if sensitive:
                reader.ignored.add_at('variable %s' % quote(name), 'sensitive', SENSITIVE_REASON)
            if body.get('type') is not None:
                info['type'] = _variable_type(body['type'], ctx, name)
            if 'validation' in body:
                conditions = ', '.join(quote(hcl_text(plain(item.get('condition'))))
                                       for item in bodies(body['validation'], ctx, 'validation'))
                raise ctx.error('variable %s has a validation block (condition %s), which is not evaluated here, and Nomad refuses a job '
                                'whose validation fails; check the value before the run (for example with ansible.builtin.assert) '
                                'and remove the validation block' % (quote(name), conditions))
        reader.run(declare)
    for body in bodies(data.get('variables'), ctx, 'variables'):
        for name, default in body.items():
            if name == BLOCK_MARK:
                continue
            if name in declared:
                reader.refuse(ctx.error('variable %s is declared twice; declare it once' % quote(name)))
                continue
            declared[name] = {'has_default': True, 'default': _unescape(strip(default)), 'type': 'any', 'nullable': True}
    return declared


def _unescape(value):
    """A literal value (a variable's default) as HCL reads it: $${ and %%{ are a literal ${ and %{."""
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return dict((k, _unescape(v)) for k, v in value.items())
    if isinstance(value, str):
        return value.replace('$${', '${').replace('%%{', '%{')
    return value


def variable_values(reader, declared, given, ctx):
    """name -> value of every declared variable, from ``given`` (job_vars) or its default, converted to its type."""
    given = given or {}
    if not isinstance(given, dict):
        raise ctx.error('job_vars must be a mapping of variable names to values, not %s' % type(given).__name__)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        reader.refuse(ctx.error('job_vars gives %s, which the job file does not declare (declared: %s); remove it or add a variable block'
                                % (', '.join(quote(n) for n in unknown), ', '.join(sorted(declared)) or 'none')))
    values = {}
    for name, info in declared.items():
        def value_of(name=name, info=info):
            if name in given and not (given[name] is None and not info['nullable'] and info['has_default']):
                value, origin = given[name], 'job_vars gives'
            elif info['has_default']:
                value, origin = info['default'], 'its default is'
            else:
                raise ctx.error('variable %s has no default and no value; pass it in job_vars (like nomad job run -var %s=...)'
                                % (quote(name), name))
            if value is None and not info['nullable']:
                raise ctx.error('variable %s is null, but it is declared with nullable = false; give it a value' % quote(name))
            try:
                values[name] = _convert(value, info['type'])
            except _TypeMismatch:
                raise ctx.error('variable %s: %s %r, which is not a %s (its type); give a value of that type'
                                % (quote(name), origin, value, _type_text(info['type']))) from None
        reader.run(value_of)
    return values
