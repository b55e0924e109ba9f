# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""HCL: parsing a job file with python-hcl2, and walking the blocks and values it returns.

Blocks keep python-hcl2's ``__is_block__`` marker (BLOCK_MARK), which tells a block from an
object attribute; every block comes as a list of bodies, a labelled one as ``[{label: body}]``.
"""

from __future__ import annotations

import functools
import re

from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError, quote

try:
    import hcl2
    from lark import Token, Tree
except ImportError as exc:  # pragma: no cover - depends on the controller's Python
    hcl2 = None
    Token = Tree = None
    HCL2_IMPORT_ERROR = exc
else:
    HCL2_IMPORT_ERROR = None

HCL2_INSTALL_HINT = ("reading Nomad job files needs the Python library python-hcl2 8.x on the controller; "
                     "install it into the Python that runs Ansible, for example with: pip install 'python-hcl2>=8,<9'")

BLOCK_MARK = '__is_block__'

# HCL1 forms that HCL2 does not parse (Nomad's HCL2 "Backward Compatibilities" notes), told by the line the
# parse stops on: the text up to where it stopped, the whole line, what the form is, and how HCL2 writes it
# (from the match of the whole line).
_MAP_ASSIGNMENT = 'the block as a map assignment, with the key quoted, such as meta = { "%s" = ... }'
_HCL1_FORMS = (
    (re.compile(r'^\s*"$'), re.compile(r'^\s*"([^"]*)"\s*='), 'a quoted attribute name',
     lambda m: ('%s = ... (the name without quotes)' % m.group(1) if re.match(r'^[A-Za-z_][A-Za-z0-9_-]*$', m.group(1)) else
                _MAP_ASSIGNMENT % m.group(1))),
    (re.compile(r'^\s*[A-Za-z_][A-Za-z0-9_-]*\.$'), re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+)\s*='),
     'an attribute name with a dot', lambda m: _MAP_ASSIGNMENT % m.group(1)),
    (re.compile(r'=\s*[-+]?\.$'), re.compile(r'=\s*[-+]?\.([0-9]+)'), 'a decimal without its leading zero',
     lambda m: '0.%s for .%s' % (m.group(1), m.group(1))),
    (re.compile(r'^\s*[A-Za-z_][A-Za-z0-9_-]*\s*\{$'), re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\{'),
     'a block inside an assignment', lambda m: '%s = { ... } (an attribute, not a block)' % m.group(1)),
)


@functools.lru_cache(maxsize=None)
def _serialization_options():
    """Plain values: strings without their quotes, heredocs as text, block markers kept to tell blocks apart.

    python-hcl2 builds its Lark parser once per process (and caches the grammar on disk), so
    every job file read in a run reuses it.
    """
    return hcl2.SerializationOptions(
        strip_string_quotes=True, explicit_blocks=True, with_comments=False, preserve_heredocs=False,
        preserve_scientific_notation=False)


def require_hcl2():
    """Raise a JobFileError with an install hint when python-hcl2 8.x is not importable."""
    if hcl2 is None:
        raise JobFileError('%s (%s)' % (HCL2_INSTALL_HINT, HCL2_IMPORT_ERROR))
    if not hasattr(hcl2, 'SerializationOptions') or not hasattr(hcl2, 'parses_to_tree'):
        raise JobFileError('python-hcl2 %s is too old; %s' % (getattr(hcl2, '__version__', '(unknown version)'), HCL2_INSTALL_HINT))


def _token_text(node):
    if isinstance(node, Token):
        return str(node)
    if isinstance(node, Tree) and node.children:
        return _token_text(node.children[0])
    return ''


def _check_duplicates(tree, filename):
    """HCL forbids an attribute set twice in one body, or an attribute named like a block beside it.

    python-hcl2 keeps the last one silently, so this walks the parse tree first.
    """
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data == 'body':
            attributes = {}
            blocks = {}
            for child in node.children:
                if not isinstance(child, Tree) or child.data not in ('attribute', 'block'):
                    continue
                name = _token_text(child.children[0]) if child.children else ''
                line = getattr(child.meta, 'line', '?')
                if child.data == 'attribute':
                    if name in attributes:
                        raise JobFileError("%s: line %s sets %s again (first set on line %s); HCL allows each attribute once per block, "
                                           "remove one of them" % (filename, line, name, attributes[name]))
                    if name in blocks:
                        raise JobFileError("%s: line %s sets %s as an attribute, but line %s has a %s block; use one form"
                                           % (filename, line, name, blocks[name], name))
                    attributes[name] = line
                else:
                    if name in attributes:
                        raise JobFileError("%s: line %s has a %s block, but line %s sets %s as an attribute; use one form"
                                           % (filename, line, name, attributes[name], name))
                    blocks.setdefault(name, line)
        stack.extend(child for child in node.children if isinstance(child, Tree))


def _hcl1_form(text, exc):
    """The message for a parse error ``exc`` of ``text`` at an HCL1 form; None when it is not at one."""
    line_number, column = getattr(exc, 'line', None), getattr(exc, 'column', None)
    lines = text.splitlines()
    if not isinstance(line_number, int) or not isinstance(column, int) or not 0 < line_number <= len(lines):
        return None
    line = lines[line_number - 1]
    for head, whole, what, fix in _HCL1_FORMS:
        match = whole.search(line)
        if head.search(line[:column]) and match:
            shown = line.strip() if len(line.strip()) <= 40 else line.strip()[:37] + '...'
            return ('line %d looks like HCL1: %s (%s), which HCL2 does not allow; Nomad reads only HCL2 since 1.9 removed '
                    'HCL1 (and -hcl1), and so does nomadic.qemu; write it as HCL2: %s' % (line_number, what, shown, fix(match)))
    return None


def parse_hcl(text, filename='<job>'):
    """Parse HCL text into plain Python values (blocks keep the ``__is_block__`` marker)."""
    require_hcl2()
    if not isinstance(text, str):
        raise JobFileError('%s: the job file content must be text, not %s' % (filename, type(text).__name__))
    try:
        tree = hcl2.parses_to_tree(text)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        hcl1 = _hcl1_form(text, exc)
        if hcl1:
            raise JobFileError('%s: %s' % (filename, hcl1)) from None
        # lark's UnexpectedInput messages start with the problem and its position; the list
        # of expected tokens after it helps nobody.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise JobFileError('%s: not valid HCL: %s' % (filename, first)) from None
    _check_duplicates(tree, filename)
    try:
        return hcl2.serialize(hcl2.transform(tree), serialization_options=_serialization_options())
    except Exception as exc:  # pylint: disable=broad-exception-caught
        message = str(getattr(exc, 'orig_exc', exc)).strip() or type(exc).__name__
        raise JobFileError('%s: not valid HCL: %s' % (filename, message.splitlines()[-1])) from None


def is_block(value):
    """Whether ``value`` is the body of a block (not an object attribute)."""
    return isinstance(value, dict) and value.get(BLOCK_MARK) is True


def strip(value):
    """A copy of ``value`` without block markers."""
    if isinstance(value, dict):
        return dict((k, strip(v)) for k, v in value.items() if k != BLOCK_MARK)
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def bodies(value, ctx, key):
    """The bodies of an unlabelled block (or of an object attribute); several blocks give several bodies."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items:
        if not isinstance(item, dict):
            raise ctx.error('%s must be a block, such as %s { ... }' % (key, key))
        found.append(item)
    return found


def labelled(value, ctx, key, example):
    """(label, body) pairs of labelled blocks such as group "name" { ... }."""
    pairs = []
    for item in bodies(value, ctx, key):
        if is_block(item) or len(item) != 1:
            raise ctx.error('%s block needs one name, such as %s' % (key, example))
        label, body = next(iter(item.items()))
        if not is_block(body):
            raise ctx.error("%s %s has more than one name; give it exactly one, such as %s" % (key, quote(label), example))
        pairs.append((label, body))
    return pairs


def merged(value, ctx, key):
    """One dict from blocks (or object attributes) that may be repeated, refusing a key set twice."""
    result = {}
    for body in bodies(value, ctx, key):
        for k, v in body.items():
            if k == BLOCK_MARK:
                continue
            if k in result:
                raise ctx.error('%s.%s is set twice; set it once' % (key, k))
            result[k] = v
    return result


def single(value, ctx, key):
    """The body of a block that may appear once."""
    found = bodies(value, ctx, key)
    if len(found) > 1:
        raise ctx.error('has %d %s blocks; Nomad allows one' % (len(found), key))
    return found[0] if found else None


def check_keys(body, allowed, ctx, what, hint):
    """Refuse a key of ``body`` not in ``allowed``; ``what`` is the body in messages, ``hint`` the block it is."""
    for key in body:
        if key == BLOCK_MARK or key in allowed:
            continue
        if len(allowed) <= 12:
            known = '%s takes %s' % (hint, ', '.join(sorted(set(allowed))))
        else:
            known = 'it is not a setting of %s' % hint
        raise ctx.error('%s has unknown key %s; %s; remove it or fix its spelling' % (what, quote(key), known))


def hcl_text(value):
    """A scalar as HCL converts it to a string."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_int(value):
    """Whether ``value`` is an int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def to_int(value):
    """An int from an int, an integral float or a string of digits; None otherwise."""
    if is_int(value):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.match(r'^-?[0-9]+$', value.strip()):
        return int(value.strip())
    return None


def to_bool(value):
    """A bool from a bool or the text true or false; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ('true', 'false'):
        return value.strip().lower() == 'true'
    return None
