# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Durations written as seconds or as Go/Nomad duration strings (``30s``, ``1m30s``, ``500ms``)."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

# Unit -> seconds, as Go's time.ParseDuration understands them (both micro signs are accepted).
_UNITS = {
    'ns': Decimal('0.000000001'),
    'us': Decimal('0.000001'),
    '\u00b5s': Decimal('0.000001'),
    '\u03bcs': Decimal('0.000001'),
    'ms': Decimal('0.001'),
    's': Decimal(1),
    'm': Decimal(60),
    'h': Decimal(3600),
}
_NUMBER = r'(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)'
_UNIT = '(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h)'
_PLAIN_RE = re.compile(r'^%s$' % _NUMBER)
_GO_RE = re.compile(r'^(?:%s%s)+$' % (_NUMBER, _UNIT))
_PART_RE = re.compile(r'(%s)(%s)' % (_NUMBER, _UNIT))


def _not_a_duration(value, option):
    return QemuTaskError(
        "%s '%s' is not a duration; use seconds (30) or a Nomad duration such as 30s, 1m30s or 500ms" % (option, value),
        option=option)


def _negative(value, option):
    return QemuTaskError("%s '%s' is negative; use zero or more, such as 0, 30 or 30s" % (option, value), option=option)


def parse_duration(value, option='kill_timeout'):
    """Return ``value`` in seconds (a float).

    Accepts a number of seconds (int or float, zero or more), a numeric string (``"10"``,
    ``"2.5"``) and the durations Go's ``time.ParseDuration`` reads, which is what Nomad
    uses: ``"30s"``, ``"1m30s"``, ``"1.5h"``, ``"500ms"``, ``"1m0.5s"``, ``"100us"`` (or
    ``"100µs"``) and ``"0"``. Units are ns, us/µs, ms, s, m and h; there is no day unit.
    Surrounding whitespace is ignored, whitespace inside is not (``"30 s"`` is refused), and
    so are signs: a negative duration is an error.

    Raises QemuTaskError naming ``option``.
    """
    if isinstance(value, bool):
        raise _not_a_duration(value, option)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise _not_a_duration(value, option)
        if value < 0:
            raise _negative(value, option)
        return float(value)
    if not isinstance(value, str):
        raise _not_a_duration(value, option)
    text = value.strip()
    if not text:
        raise QemuTaskError(
            '%s is empty; use seconds (30) or a Nomad duration such as 30s, 1m30s or 500ms' % option, option=option)
    if text.startswith('-') and (_PLAIN_RE.match(text[1:]) or _GO_RE.match(text[1:])):
        raise _negative(text, option)
    if _PLAIN_RE.match(text):
        return float(Decimal(text))
    if not _GO_RE.match(text):
        raise _not_a_duration(text, option)
    total = Decimal(0)
    for number, unit in _PART_RE.findall(text):
        total += Decimal(number) * _UNITS[unit]
    return float(total)


def _format_fraction(whole, frac, digits):
    """``whole`` and ``frac`` (an integer of ``digits`` digits) as a decimal without trailing zeros."""
    if not frac:
        return str(whole)
    return ('%d.%0*d' % (whole, digits, frac)).rstrip('0')


def format_duration(seconds):
    """Format seconds like Go's ``time.Duration.String()``: ``0s``, ``500ms``, ``1.5s``, ``1m30s``, ``2h0m0s``.

    Sub-microsecond precision is rounded to whole nanoseconds; microseconds are written
    ``us`` (ASCII), which parse_duration reads back.
    """
    nanos = int(round(Decimal(str(seconds)) * 1000000000))
    if nanos < 0:
        raise ValueError('format_duration needs zero or more seconds, not %r' % (seconds,))
    if nanos == 0:
        return '0s'
    if nanos < 1000:
        return '%dns' % nanos
    if nanos < 1000000:
        return _format_fraction(nanos // 1000, nanos % 1000, 3) + 'us'
    if nanos < 1000000000:
        return _format_fraction(nanos // 1000000, nanos % 1000000, 6) + 'ms'
    whole_seconds, frac = divmod(nanos, 1000000000)
    hours, rest = divmod(whole_seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = _format_fraction(secs, frac, 9) + 's'
    if hours:
        return '%dh%dm%s' % (hours, minutes, text)
    if minutes:
        return '%dm%s' % (minutes, text)
    return text
