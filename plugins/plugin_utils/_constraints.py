# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Nomad job constraints (attribute, operator, value) checked against a host's attributes.

Controller side only. Nothing here needs Ansible: errors are ``ConstraintError`` (a
``ValueError``) and the plugins turn them into ``AnsibleFilterError``.

The semantics follow Nomad's scheduler (``scheduler/feasible.go``) and the version
libraries it uses (go-version for ``version``, its SemVer variant for ``semver``), with
the differences listed in docs/constraints.md:

- ``<``, ``<=``, ``>``, ``>=`` compare two versions such as ``7.2.22`` and ``10.0.0`` as
  versions, where Nomad compares them as text;
- bad input (an unknown operator, a malformed version constraint or regular expression)
  is an error, where Nomad silently treats the constraint as not met;
- versions are normalised first: ``2.4.0(qemu-kvm-ev)`` is ``2.4.0`` and a Debian epoch
  (``1:8.2.2+ds``) is dropped.

Comparisons rest on ``packaging`` (PEP 440) where it gives go-version's results, behind a
thin layer for what PEP 440 cannot express:

- versions are read with go-version's grammar (``packaging`` rejects ``8.0.0~rc1``,
  ``5.10.0-21-amd64``, ``1.0.0-foo`` and reads ``1.0.0-1`` as a post-release); build
  metadata is dropped, since go-version ignores it where PEP 440 orders local versions;
- the numeric segments compare as ``packaging.version.Version`` objects of the segments
  alone (zero padding included: ``1.2`` equals ``1.2.0``);
- a constraint between two versions without pre-release is a
  ``packaging.specifiers.Specifier`` (``=`` is ``==``, ``~>`` is ``~=``), except go-version's
  two ``~>`` rules PEP 440 lacks: ``~> 1`` has no upper bound (``~=1`` is invalid) and a
  constraint with more segments than the version (at least three counted) is not met
  (``1.2.3`` against ``~> 1.2.3.0``, which ``~=1.2.3.0`` admits);
- pre-releases stay with the code below: they are SemVer identifiers compared by SemVer
  precedence (``rc10`` before ``rc9``, ``1`` before ``alpha``), which PEP 440's ``a``/``b``/``rc``
  numbers cannot represent, and go-version's rule that a pre-release only meets a
  constraint naming a pre-release of the same segments is not PEP 440's.
"""

from __future__ import annotations

import re

# packaging is a dependency of ansible-core, but not of the bare environment ansible-test's
# import test loads plugins in: without it, comparing versions is an error with an install hint.
try:
    from packaging.specifiers import Specifier
    from packaging.version import Version as Pep440Version
except ImportError as exc:
    PACKAGING_IMPORT_ERROR = exc
else:
    PACKAGING_IMPORT_ERROR = None

# Nomad's operators, and the aliases it accepts for them.
EQUAL_OPERATORS = ('=', '==', 'is')
NOT_EQUAL_OPERATORS = ('!=', 'not')
ORDER_OPERATORS = ('<', '<=', '>', '>=')
VERSION_OPERATORS = ('version', 'semver')
SET_OPERATORS = ('set_contains', 'set_contains_all', 'set_contains_any')
PRESENCE_OPERATORS = ('is_set', 'is_not_set')
OPERATORS = (EQUAL_OPERATORS + NOT_EQUAL_OPERATORS + ORDER_OPERATORS + VERSION_OPERATORS + ('regexp',)
             + SET_OPERATORS + PRESENCE_OPERATORS)
# Operators Nomad checks across allocations, not against one host's attributes.
PLACEMENT_OPERATORS = ('distinct_hosts', 'distinct_property')
# Operators that may stand as the key of a constraint, Nomad's short form: {attribute: ..., version: '>= 1'}.
SHORTHAND_OPERATORS = VERSION_OPERATORS + ('regexp',) + SET_OPERATORS
CONSTRAINT_KEYS = ('attribute', 'operator', 'value')
DEFAULT_OPERATOR = '='

# go-version's VersionRegexpRaw: segments, then a pre-release (with '-', or letters right
# after the segments: 1.0beta1), then build metadata after '+'.
_VERSION_RE = re.compile(
    r'^v?(?P<release>[0-9]+(?:\.[0-9]+)*?)'
    r'(?:-(?P<pre>[0-9]+[0-9A-Za-z~-]*(?:\.[0-9A-Za-z~-]+)*)|(?:-?(?P<pre_alpha>[A-Za-z~-]+[0-9A-Za-z~-]*(?:\.[0-9A-Za-z~-]+)*)))?'
    r'(?:\+(?P<metadata>[0-9A-Za-z~-]+(?:\.[0-9A-Za-z~-]+)*))?$')
# go-version's SemverRegexpRaw: the same, but a pre-release always follows a '-'.
_SEMVER_RE = re.compile(
    r'^v?(?P<release>[0-9]+(?:\.[0-9]+)*?)'
    r'(?:-(?P<pre>[0-9]+[0-9A-Za-z~-]*(?:\.[0-9A-Za-z~-]+)*)|(?:-(?P<pre_alpha>[A-Za-z~-]+[0-9A-Za-z~-]*(?:\.[0-9A-Za-z~-]+)*)))?'
    r'(?:\+(?P<metadata>[0-9A-Za-z~-]+(?:\.[0-9A-Za-z~-]+)*))?$')
# Text QEMU builds add after the version: "2.4.0(qemu-kvm-ev)", "8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)".
_PAREN_SUFFIX_RE = re.compile(r'^(?P<version>[^()]*?)\s*\([^()]*\)$')
# A Debian epoch: "1:8.2.2+ds-0ubuntu1".
_EPOCH_RE = re.compile(r'^[0-9]+:(?=[0-9])')

_CONSTRAINT_RE = re.compile(r'^\s*(?P<op>>=|<=|!=|~>|=|>|<)?\s*(?P<version>\S+?)\s*$')
_VERSION_CONSTRAINT_OPERATORS = ('=', '!=', '>', '<', '>=', '<=', '~>')
_SEMVER_CONSTRAINT_OPERATORS = ('=', '!=', '>', '<', '>=', '<=')

_INTEGER_RE = re.compile(r'^[+-]?[0-9]+$')
_FLOAT_RE = re.compile(r'^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)$', re.IGNORECASE)

_INTERPOLATION_RE = re.compile(r'^\$\{(?P<name>[^{}]+)\}$')


class ConstraintError(ValueError):
    """A constraint that cannot be evaluated: unknown operator, malformed value, wrong type.

    The message names what is wrong and how to write it instead.
    """


class Version:
    """A version as go-version reads it: numeric segments, a pre-release and build metadata.

    Ordering: the segments compare numerically, missing ones count as 0 (``1.2`` equals
    ``1.2.0``); with equal segments a version without pre-release is greater than one with,
    and pre-releases compare by SemVer 2.0 precedence. Build metadata is ignored.

    ``release_version`` is the segments alone as a ``packaging.version.Version``; the
    segments compare through it. The pre-release and the metadata are kept out of it:
    PEP 440 cannot express the first and would order the second.
    """

    def __init__(self, text, release, prerelease='', metadata=''):
        self.text = text
        self.release = tuple(release)
        self.prerelease = prerelease
        self.metadata = metadata
        if PACKAGING_IMPORT_ERROR is not None:
            raise ConstraintError(
                "comparing versions needs the Python library 'packaging' on the controller, which cannot be imported "
                "({0}); install it in the Python environment that runs Ansible: python -m pip install packaging".format(
                    PACKAGING_IMPORT_ERROR))
        self.release_version = Pep440Version('.'.join(str(segment) for segment in self.release))

    @property
    def padded(self):
        """The segments padded with zeros to at least three, as go-version keeps them."""
        return self.release + (0,) * (3 - len(self.release))

    def __repr__(self):
        return 'Version({0!r})'.format(self.text)

    def compare(self, other):
        """Return -1, 0 or 1 as this version is lower than, equal to or greater than ``other``."""
        mine, theirs = self.release_version, other.release_version
        if mine != theirs:
            return -1 if mine < theirs else 1
        # SemVer precedence, not PEP 440's: see _compare_prereleases
        return _compare_prereleases(self.prerelease, other.prerelease)


def _compare_identifiers(mine, theirs):
    mine_numeric, theirs_numeric = mine.isdigit(), theirs.isdigit()
    if mine_numeric and theirs_numeric:
        left, right = int(mine), int(theirs)
    elif mine_numeric != theirs_numeric:
        # numeric identifiers have lower precedence than alphanumeric ones
        return -1 if mine_numeric else 1
    else:
        left, right = mine, theirs
    if left == right:
        return 0
    return -1 if left < right else 1


def _compare_prereleases(mine, theirs):
    """SemVer 2.0 precedence of two pre-releases ('' for none).

    Not ``packaging``: PEP 440 knows only ``a``, ``b`` and ``rc`` with a number, compares that
    number numerically (``rc10`` after ``rc9``, where SemVer compares the identifier ``rc10``
    as text, before ``rc9``) and reads ``1.0.0-1`` as a post-release, after ``1.0.0``.
    """
    if mine == theirs:
        return 0
    if not mine:
        return 1
    if not theirs:
        return -1
    mine_parts, theirs_parts = mine.split('.'), theirs.split('.')
    for left, right in zip(mine_parts, theirs_parts):
        result = _compare_identifiers(left, right)
        if result:
            return result
    if len(mine_parts) == len(theirs_parts):
        return 0
    return -1 if len(mine_parts) < len(theirs_parts) else 1


def normalize_version(text):
    """Strip what QEMU builds and distributions add around a version.

    ``' 2.4.0(qemu-kvm-ev) '`` gives ``2.4.0``, ``8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)`` gives
    ``8.2.2`` and ``1:8.2.2+ds-0ubuntu1`` gives ``8.2.2+ds-0ubuntu1``.
    """
    text = text.strip()
    match = _PAREN_SUFFIX_RE.match(text)
    if match and match.group('version'):
        text = match.group('version')
    return _EPOCH_RE.sub('', text)


def parse_version(value, semver=False):
    """Return a ``Version`` for ``value`` (a string or an integer), or None if it is not a version.

    ``semver=True`` uses the stricter SemVer form Nomad's ``semver`` operator wants in
    its constraints (a pre-release must follow a ``-``).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = normalize_version(value)
    match = (_SEMVER_RE if semver else _VERSION_RE).match(text)
    if match is None:
        return None
    release = tuple(int(part) for part in match.group('release').split('.'))
    prerelease = match.group('pre') or match.group('pre_alpha') or ''
    return Version(value, release, prerelease, match.group('metadata') or '')


# go-version's constraint operators as PEP 440 specifier operators, for versions without pre-release.
_SPECIFIER_OPERATORS = {'=': '==', '!=': '!=', '>': '>', '<': '<', '>=': '>=', '<=': '<=', '~>': '~='}


class VersionConstraint:
    """One constraint such as ``>= 2.10`` of a comma-separated ``version`` or ``semver`` value.

    ``specifier`` is the ``packaging.specifiers.Specifier`` that checks versions without
    pre-release when the constraint has none either; it is None when the constraint names a
    pre-release, which go-version's rules below check.
    """

    def __init__(self, text, operator, version, semver=False):
        self.text = text
        self.operator = operator
        self.version = version
        self.semver = semver
        self.specifier = None
        if not version.prerelease:
            specifier_operator = _SPECIFIER_OPERATORS[operator]
            if operator == '~>' and len(version.release) == 1:
                # go-version: ~> 1 is >= 1 (PEP 440 has no ~=1)
                specifier_operator = '>='
            self.specifier = Specifier(specifier_operator + str(version.release_version))

    def check(self, version):
        """Whether ``version`` (a ``Version``) satisfies this constraint."""
        wanted = self.version
        if self.specifier is not None and not version.prerelease:
            if self.operator == '~>' and len(wanted.padded) > len(version.padded):
                # go-version: a version less specific than a ~> constraint does not meet it
                # (1.2.3 and ~> 1.2.3.0), where ~=1.2.3.0 admits it
                return False
            return self.specifier.contains(version.release_version)
        # A pre-release on either side: go-version's rules, with SemVer precedence.
        comparison = version.compare(wanted)
        if self.operator == '=':
            return comparison == 0
        if self.operator == '!=':
            return comparison != 0
        if not self.semver and not _prerelease_check(version, wanted):
            return False
        if self.operator == '>':
            return comparison > 0
        if self.operator == '<':
            return comparison < 0
        if self.operator == '>=':
            return comparison >= 0
        if self.operator == '<=':
            return comparison <= 0
        return _pessimistic(version, wanted)


def _prerelease_check(version, wanted):
    """go-version: a pre-release only satisfies a constraint on a pre-release of the same segments."""
    if version.prerelease and wanted.prerelease:
        return version.padded == wanted.padded
    return not version.prerelease


def _pessimistic(version, wanted):
    """go-version's ``~>``: ``~> 1.2`` is ``>= 1.2, < 2``; ``~> 1.2.3`` is ``>= 1.2.3, < 1.3``."""
    if wanted.prerelease and not version.prerelease:
        return False
    if version.compare(wanted) < 0:
        return False
    mine, theirs = version.padded, wanted.padded
    if len(theirs) > len(mine):
        return False
    # the segments before the last one given must be equal
    return mine[:len(wanted.release) - 1] == theirs[:len(wanted.release) - 1]


def parse_version_constraints(text, semver=False):
    """Parse a comma-separated constraint such as ``>= 2.10, < 9`` into ``VersionConstraint`` objects.

    Raises ``ConstraintError`` naming the part that cannot be read.
    """
    operator_name = 'semver' if semver else 'version'
    allowed = _SEMVER_CONSTRAINT_OPERATORS if semver else _VERSION_CONSTRAINT_OPERATORS
    if not isinstance(text, str):
        raise ConstraintError(
            'the {0} constraint must be a string such as ">= 2.10, < 9", got {1}'.format(operator_name, _describe(text)))
    constraints = []
    for part in text.split(','):
        match = _CONSTRAINT_RE.match(part)
        version = parse_version(match.group('version'), semver=semver) if match else None
        operator = (match.group('op') or '=') if match else None
        if version is None or operator not in allowed:
            if part.strip() == text.strip():
                problem = 'cannot be read'
            elif part.strip():
                problem = 'has the malformed part {0!r}'.format(part.strip())
            else:
                problem = 'has an empty part'
            raise ConstraintError(
                '{0} constraint {1!r} {2}; write an operator ({3}) and a version, several separated by commas, '
                'such as ">= 2.10, < 9"{4}'.format(operator_name, text, problem, ', '.join(allowed), _version_hint(part, semver)))
        constraints.append(VersionConstraint(part.strip(), operator, version, semver=semver))
    return constraints


def _version_hint(part, semver):
    stripped = part.strip()
    if stripped.startswith('=='):
        return ' (use = rather than ==)'
    if semver and stripped.startswith('~>'):
        return ' (semver has no ~>; use the version operator or >= and <)'
    if semver and re.match(r'^\s*(?:>=|<=|!=|=|>|<)?\s*v?[0-9.]+[A-Za-z]', stripped):
        return ' (semver wants a - before a pre-release: 1.0.0-beta1)'
    return ''


def version_satisfies(value, constraints, semver=False):
    """Whether the version ``value`` satisfies ``constraints`` (``'>= 2.10, < 9'``).

    Returns False when ``value`` is not a version (Nomad: the node does not match); raises
    ``ConstraintError`` when ``constraints`` cannot be read.
    """
    parsed = parse_version_constraints(constraints, semver=semver)
    version = parse_version(value)
    if version is None:
        return False
    return all(constraint.check(version) for constraint in parsed)


def _describe(value):
    if value is None:
        return 'nothing (null)'
    return '{0!r} ({1})'.format(value, type(value).__name__)


def to_text(value, what='value'):
    """The text Nomad would see for a scalar: strings as they are, booleans as true/false, numbers as digits."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise ConstraintError('{0} must be a string, a number or a boolean, got {1}'.format(what, _describe(value)))


def _to_set(value, what):
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_text(item, what + ' item') for item in value]
    else:
        items = to_text(value, what).split(',')
    return set(item.strip() for item in items)


def _order_keys(left, right):
    """The keys to compare ``left`` and ``right`` (texts) with for <, <=, >, >=.

    Integers compare as integers and decimal numbers as floats, as in Nomad; then two
    versions (``7.2.22``, ``2.4.0(qemu-kvm-ev)``, ``8``) compare as versions, where Nomad
    compares text; anything else compares as text.
    """
    if _INTEGER_RE.match(left) and _INTEGER_RE.match(right):
        return int(left), int(right)
    if _FLOAT_RE.match(left) and _FLOAT_RE.match(right):
        return float(left), float(right)
    left_version, right_version = parse_version(left), parse_version(right)
    if left_version is not None and right_version is not None:
        return left_version.compare(right_version), 0
    return left, right


def _compare_order(operator, left, right):
    left_key, right_key = _order_keys(left, right)
    if operator == '<':
        return left_key < right_key
    if operator == '<=':
        return left_key <= right_key
    if operator == '>':
        return left_key > right_key
    return left_key >= right_key


def _check_operator(operator):
    if not isinstance(operator, str):
        raise ConstraintError('operator must be a string such as "=" or "version", got {0}'.format(_describe(operator)))
    if operator in PLACEMENT_OPERATORS:
        raise ConstraintError(
            "operator '{0}' spreads allocations over hosts and cannot be checked against one host's attributes; "
            "leave it out here".format(operator))
    if operator not in OPERATORS:
        raise ConstraintError("unknown operator '{0}'; use one of {1}".format(operator, ', '.join(OPERATORS)))


def _predicate(operator, right):
    """Check ``right`` for ``operator`` and return a function telling whether an attribute value meets it."""
    if operator in VERSION_OPERATORS:
        constraints = parse_version_constraints(right, semver=operator == 'semver')

        def satisfies(left):
            version = parse_version(left)
            return version is not None and all(constraint.check(version) for constraint in constraints)
        return satisfies
    if operator in SET_OPERATORS:
        wanted = _to_set(right, 'value')
        if operator == 'set_contains_any':
            return lambda left: bool(_to_set(left, 'the attribute') & wanted)
        return lambda left: wanted <= _to_set(left, 'the attribute')
    text = to_text(right)
    if operator == 'regexp':
        try:
            compiled = re.compile(text)
        except re.error as exc:
            raise ConstraintError('regexp value {0!r} is not a valid regular expression: {1}'.format(text, exc)) from None
        return lambda left: compiled.search(to_text(left, 'the attribute')) is not None
    if operator in ORDER_OPERATORS:
        return lambda left: _compare_order(operator, to_text(left, 'the attribute'), text)
    if operator in NOT_EQUAL_OPERATORS:
        return lambda left: to_text(left, 'the attribute') != text
    return lambda left: to_text(left, 'the attribute') == text


def _evaluate(left, operator, right, right_found=True):
    """``evaluate`` with ``right_found=False`` for a value that names an attribute the host does not have."""
    _check_operator(operator)
    if operator in PRESENCE_OPERATORS:
        return (left is not None) == (operator == 'is_set')
    predicate = None
    if right_found:
        if right is None:
            raise ConstraintError("operator '{0}' needs a value to compare with".format(operator))
        # checked even when the attribute is not set, so that a typo fails on every host
        predicate = _predicate(operator, right)
    if left is None or predicate is None:
        # Nomad: a missing attribute (or value) meets only != and is_not_set
        return operator in NOT_EQUAL_OPERATORS
    return predicate(left)


def evaluate(left, operator, right):
    """Evaluate one constraint: ``left`` (the attribute's value) ``operator`` ``right`` (the value).

    ``left`` is None when the host does not have the attribute; Nomad then treats every
    operator as not met except ``!=``/``not`` and ``is_not_set``. ``right`` may be None
    only for ``is_set`` and ``is_not_set``.

    Values are compared as Nomad sees them, as text: booleans become ``true``/``false`` and
    numbers their digits. The set operators also take lists.

    Raises ``ConstraintError`` (a ``ValueError``) for an unknown operator, a missing value,
    a malformed ``version``/``semver`` constraint, an invalid ``regexp`` or a value of the
    wrong type.
    """
    return _evaluate(left, operator, right)


def attribute_name(target):
    """The attribute a constraint refers to: ``${attr.driver.qemu.version}`` gives ``driver.qemu.version``.

    Accepts Nomad's ``${attr.NAME}``, the ``${NAME}`` form of older documentation
    (``${driver.qemu.version}``), ``${meta.NAME}`` and ``${node.NAME}`` (kept with their
    prefix: ``meta.rack``) and a bare ``NAME``.
    """
    if not isinstance(target, str) or not target.strip():
        raise ConstraintError('attribute must be a non-empty string such as "${{attr.driver.qemu.version}}", got {0}'.format(
            _describe(target)))
    target = target.strip()
    if '${' in target or '}' in target:
        match = _INTERPOLATION_RE.match(target)
        if match is None:
            raise ConstraintError(
                "attribute {0!r} is not an interpolation Nomad understands; write ${{attr.NAME}}, for example "
                "${{attr.driver.qemu.version}}".format(target))
        name = match.group('name').strip()
        if name.startswith('attr.'):
            name = name[len('attr.'):]
        return name
    return target


def describe_constraint(attribute, operator, value):
    """Render a constraint as Nomad does in its placement failures: ``${attr.x} version >= 2.10``."""
    parts = [str(attribute), str(operator)]
    if value is not None and operator not in PRESENCE_OPERATORS:
        if isinstance(value, (list, tuple)):
            value = ','.join(to_text(item, 'value item') for item in value)
        parts.append(to_text(value))
    return ' '.join(parts)


def _normalize_constraint(index, constraint):
    where = 'constraint {0}'.format(index)
    if not isinstance(constraint, dict):
        raise ConstraintError('{0} must be a dictionary with the keys attribute, operator and value, got {1}'.format(
            where, _describe(constraint)))
    shorthand = [key for key in SHORTHAND_OPERATORS if key in constraint]
    unknown = sorted(str(key) for key in constraint if key not in CONSTRAINT_KEYS and key not in SHORTHAND_OPERATORS)
    if unknown:
        raise ConstraintError('{0} has the unknown key{1} {2}; use attribute, operator and value'.format(
            where, 's' if len(unknown) > 1 else '', ', '.join(repr(key) for key in unknown)))
    if shorthand:
        if len(shorthand) > 1 or 'operator' in constraint or 'value' in constraint:
            raise ConstraintError(
                '{0} mixes the short form {1} with operator, value or another short form; write either operator '
                'and value, or one short form such as version: ">= 2.10"'.format(where, repr(shorthand[0])))
        operator, value = shorthand[0], constraint[shorthand[0]]
    else:
        operator = constraint.get('operator')
        if operator is None:
            operator = DEFAULT_OPERATOR
        value = constraint.get('value')
    if 'attribute' not in constraint:
        raise ConstraintError('{0} has no attribute; set attribute to the attribute to check, such as '
                              '"${{attr.driver.qemu.version}}"'.format(where))
    return constraint['attribute'], operator, value


def _show(value):
    if isinstance(value, (list, tuple)):
        return repr(','.join(to_text(item, 'value item') for item in value))
    return repr(to_text(value, 'the attribute'))


def check_constraints(constraints, attributes):
    """Check Nomad-style constraints against a host's attributes; return the unmet ones as messages.

    ``constraints`` is a list of dicts, each with:

    - ``attribute``: ``${attr.NAME}`` (Nomad's syntax), ``${NAME}``, ``${meta.NAME}``,
      ``${node.NAME}``, or a bare ``NAME``;
    - ``operator`` (default ``=``): one of ``OPERATORS``;
    - ``value``: a literal, or an interpolation like ``attribute`` resolved the same way;
      not needed for ``is_set`` and ``is_not_set``.

    Nomad's short form ``{'attribute': ..., 'version': '>= 2.10'}`` (also ``semver``,
    ``regexp``, ``set_contains``, ``set_contains_all``, ``set_contains_any``) is accepted.

    ``attributes`` maps attribute names as Nomad writes them without ``attr.``
    (``driver.qemu.version``, ``kernel.name``, ``meta.rack``) to values, as in the
    ``driver_qemu_attributes`` fact of ``qemu_fingerprint``. A missing key or a None value
    means the host does not have the attribute.

    Returns a list with one message per unmet constraint, in order, each naming the
    constraint and the value the host has, for example
    ``"constraint '${attr.driver.qemu.version} version >= 9.0' is not met: driver.qemu.version is '7.2.22'"``;
    an empty list when all are met.

    Raises ``ConstraintError`` (a ``ValueError``) for a constraint that cannot be evaluated
    (unknown operator or key, malformed version constraint, invalid regular expression,
    ``distinct_hosts``/``distinct_property``, which are not about one host); the message
    says which constraint (counted from 1).
    """
    if not isinstance(constraints, (list, tuple)):
        raise ConstraintError('constraints must be a list of dictionaries with attribute, operator and value, got {0}'.format(
            _describe(constraints)))
    if not isinstance(attributes, dict):
        raise ConstraintError('attributes must be a dictionary of attribute names to values, got {0}'.format(
            _describe(attributes)))
    unmet = []
    for index, constraint in enumerate(constraints, start=1):
        target, operator, value = _normalize_constraint(index, constraint)
        try:
            message = check_constraint(attributes, target, operator, value)
        except ConstraintError as exc:
            raise ConstraintError('constraint {0}: {1}'.format(index, exc)) from None
        if message is not None:
            unmet.append(message)
    return unmet


def check_constraint(attributes, attribute, operator=DEFAULT_OPERATOR, value=None):
    """Check one constraint against ``attributes``; return None when it is met, else the message.

    The arguments are those of one constraint of ``check_constraints``; the message is the
    one ``check_constraints`` returns for it. Raises ``ConstraintError`` the same way,
    without the constraint's number. An ``operator`` of None is Nomad's default, ``=``.
    """
    if operator is None:
        operator = DEFAULT_OPERATOR
    name = attribute_name(attribute)
    left = attributes.get(name)
    right, right_found, value_name = value, True, None
    if isinstance(value, str) and value.strip().startswith('${'):
        value_name = attribute_name(value)
        right = attributes.get(value_name)
        right_found = right is not None
    if _evaluate(left, operator, right, right_found):
        return None
    if left is None:
        reason = '{0} is not set'.format(name)
    elif not right_found:
        reason = '{0} is {1} but {2} is not set'.format(name, _show(left), value_name)
    else:
        reason = '{0} is {1}'.format(name, _show(left))
    return "constraint '{0}' is not met: {1}".format(describe_constraint(attribute, operator, value), reason)
