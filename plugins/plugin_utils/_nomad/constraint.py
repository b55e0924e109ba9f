# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The constraint blocks of a job, a group or a task, checked as far as no host is needed (plugin_utils/_constraints.py)."""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import (
    OPERATORS,
    PLACEMENT_OPERATORS,
    ConstraintError,
    attribute_name,
    check_constraint,
)
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.hcl import bodies, check_keys, hcl_text, strip, to_bool, to_int
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.interpolate import plain
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.tables import CONSTRAINT_KEYS, CONSTRAINT_SHORTHANDS


def constraints(reader, body, ctx, level):
    """The constraints of a job, group or task body, as dicts of attribute, operator, value, level and source.

    Each is checked as placing the job on a host checks it, apart from the host's attributes:
    an unknown operator, a malformed version constraint or regular expression is an error here.
    """
    found = []
    for index, item in enumerate(bodies(body.get('constraint'), ctx, 'constraint')):
        key = 'constraint[%d]' % index
        check_keys(item, CONSTRAINT_KEYS, ctx, key, 'a constraint block')
        item = plain(strip(item))
        attribute = item.get('attribute')
        operator = item.get('operator')
        value = item.get('value')
        shorthands = [k for k in CONSTRAINT_KEYS[3:] if k in item]
        if len(shorthands) > 1 or (shorthands and operator is not None):
            raise ctx.error('%s mixes %s; use operator and value, or one shorthand' % (
                key, ', '.join(shorthands + (['operator'] if operator is not None else []))))
        # distinct_property = "${meta.rack}" takes the number allowed per value as its value
        if shorthands and value is not None and shorthands[0] != 'distinct_property':
            raise ctx.error('%s sets value next to the short form %s, which carries its own value; use operator and value, '
                            'or %s = "..." alone' % (key, shorthands[0], shorthands[0]))
        value_key = 'value'
        if shorthands and shorthands[0] in CONSTRAINT_SHORTHANDS:
            operator, value = CONSTRAINT_SHORTHANDS[shorthands[0]], item[shorthands[0]]
            value_key = shorthands[0]
        elif shorthands or operator in PLACEMENT_OPERATORS:
            found.append(_placement_constraint(item, shorthands[0] if shorthands else operator, ctx, key, level))
            continue
        if attribute is None:
            raise ctx.error('%s has no attribute; set attribute, such as attribute = "${attr.driver.qemu.version}"' % key)
        constraint = {'attribute': hcl_text(attribute), 'operator': '=' if operator in (None, '') else hcl_text(operator)}
        if value is not None:
            constraint['value'] = hcl_text(value)
        _check_constraint(constraint, ctx, key, value_key)
        constraint.update(level=level, source=ctx.where())
        found.append(constraint)
    return found


def _check_constraint(constraint, ctx, key, value_key):
    """Refuse a constraint no host can evaluate, naming the key at fault."""
    try:
        attribute_name(constraint['attribute'])
    except ConstraintError as exc:
        raise ctx.error('%s.attribute: %s' % (key, exc)) from None
    try:
        # With no attributes: every check that does not depend on the host.
        check_constraint({}, constraint['attribute'], constraint['operator'], constraint.get('value'))
    except ConstraintError as exc:
        at_fault = 'operator' if constraint['operator'] not in OPERATORS else value_key
        raise ctx.error('%s.%s: %s' % (key, at_fault, exc)) from None


def _placement_constraint(item, operator, ctx, key, level):
    """A distinct_hosts or distinct_property constraint, as the placement planner reads it.

    ``distinct_hosts = true`` (or operator = "distinct_hosts", whose value defaults to true) keeps
    the allocations of the job (a job-level constraint) or of the group on hosts of their own;
    ``distinct_property = "${meta.rack}"`` (or operator and attribute), with value the number of
    allocations allowed per value of the attribute (default 1).
    """
    constraint = {'operator': operator}
    if operator == 'distinct_hosts':
        value = item.get('distinct_hosts', item.get('value', True))
        flag = to_bool(value)
        if flag is None:
            raise ctx.error('%s: distinct_hosts is %r; use true or false' % (key, value))
        constraint['value'] = 'true' if flag else 'false'
    else:
        attribute = item.get('distinct_property', item.get('attribute'))
        if attribute is None:
            raise ctx.error('%s: distinct_property needs the attribute, such as distinct_property = "${meta.rack}"' % key)
        constraint['attribute'] = hcl_text(attribute)
        try:
            attribute_name(constraint['attribute'])
        except ConstraintError as exc:
            raise ctx.error('%s.attribute: %s' % (key, exc)) from None
        value = item.get('value')
        if value is not None:
            number = to_int(value)
            if number is None or number < 1:
                raise ctx.error('%s.value is %r; distinct_property takes the number of allocations allowed per value, 1 or more'
                                % (key, value))
            constraint['value'] = str(number)
    constraint.update(level=level, source=ctx.where())
    return constraint
