# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._duration import format_duration, parse_duration
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

HINT = 'use seconds (30) or a Nomad duration such as 30s, 1m30s or 500ms'


@pytest.mark.parametrize('value, seconds', [
    (0, 0.0),
    (30, 30.0),
    (2.5, 2.5),
    ('10', 10.0),
    ('2.5', 2.5),
    ('.5', 0.5),
    (' 45 ', 45.0),
    ('0', 0.0),
    ('0s', 0.0),
    ('30s', 30.0),
    ('1m30s', 90.0),
    ('1.5h', 5400.0),
    ('500ms', 0.5),
    ('2h45m', 9900.0),
    ('1m0.5s', 60.5),
    ('100us', 0.0001),
    ('100\u00b5s', 0.0001),
    ('100\u03bcs', 0.0001),
    ('1500ns', 0.0000015),
    ('1h1m1s1ms', 3661.001),
    ('3s2s', 5.0),
    ('.5m', 30.0),
    ('1.s', 1.0),
])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize('value, message', [
    ('1d', "kill_timeout '1d' is not a duration; " + HINT),
    ('30 s', "kill_timeout '30 s' is not a duration; " + HINT),
    ('1m 30s', "kill_timeout '1m 30s' is not a duration; " + HINT),
    ('abc', "kill_timeout 'abc' is not a duration; " + HINT),
    ('s', "kill_timeout 's' is not a duration; " + HINT),
    ('.s', "kill_timeout '.s' is not a duration; " + HINT),
    ('1e3', "kill_timeout '1e3' is not a duration; " + HINT),
    ('+5s', "kill_timeout '+5s' is not a duration; " + HINT),
    ('30S', "kill_timeout '30S' is not a duration; " + HINT),
    ('1,5s', "kill_timeout '1,5s' is not a duration; " + HINT),
    (True, "kill_timeout 'True' is not a duration; " + HINT),
    (None, "kill_timeout 'None' is not a duration; " + HINT),
    ([30], "kill_timeout '[30]' is not a duration; " + HINT),
    (float('nan'), "kill_timeout 'nan' is not a duration; " + HINT),
    (float('inf'), "kill_timeout 'inf' is not a duration; " + HINT),
    ('', 'kill_timeout is empty; ' + HINT),
    ('   ', 'kill_timeout is empty; ' + HINT),
    (-1, "kill_timeout '-1' is negative; use zero or more, such as 0, 30 or 30s"),
    (-0.5, "kill_timeout '-0.5' is negative; use zero or more, such as 0, 30 or 30s"),
    ('-5s', "kill_timeout '-5s' is negative; use zero or more, such as 0, 30 or 30s"),
    ('-10', "kill_timeout '-10' is negative; use zero or more, such as 0, 30 or 30s"),
])
def test_parse_duration_errors(value, message):
    with pytest.raises(QemuTaskError) as exc:
        parse_duration(value)
    assert str(exc.value) == message
    assert exc.value.option == 'kill_timeout'


def test_parse_duration_names_the_option():
    with pytest.raises(QemuTaskError) as exc:
        parse_duration('soon', option='shutdown_timeout')
    assert str(exc.value) == "shutdown_timeout 'soon' is not a duration; " + HINT
    assert exc.value.option == 'shutdown_timeout'


@pytest.mark.parametrize('seconds, text', [
    (0, '0s'),
    (0.0000005, '500ns'),
    (0.0001, '100us'),
    (0.0015, '1.5ms'),
    (0.5, '500ms'),
    (1, '1s'),
    (1.5, '1.5s'),
    (30, '30s'),
    (60, '1m0s'),
    (90, '1m30s'),
    (60.5, '1m0.5s'),
    (3600, '1h0m0s'),
    (9900, '2h45m0s'),
    (90061.25, '25h1m1.25s'),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize('text', ['30s', '1m30s', '500ms', '1h0m0s', '100us', '2h45m0s', '1m0.5s'])
def test_format_round_trip(text):
    assert format_duration(parse_duration(text)) == text


def test_format_duration_negative():
    with pytest.raises(ValueError):
        format_duration(-1)
