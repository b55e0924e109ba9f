# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import socket

import pytest

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._ports import (
    DYNAMIC_PORT_RANGE,
    PORT_RANGE,
    allocate_ports,
    check_port,
    normalize_host_address,
    port_is_free,
    validate_ports,
)

LOW, HIGH = DYNAMIC_PORT_RANGE


class FixedRandom:
    """Hands out the given offsets into the dynamic range, in order."""

    def __init__(self, *offsets):
        self.offsets = list(offsets)

    def randrange(self, size):
        assert size == HIGH - LOW + 1
        return self.offsets.pop(0)


class FakeHost:
    """is_free() for a host where the ports in ``busy`` are taken; records what was asked."""

    def __init__(self, busy=()):
        self.busy = set(busy)
        self.asked = []

    def __call__(self, port, host_address):
        self.asked.append((port, host_address))
        return port not in self.busy


def test_dynamic_range_is_nomads():
    assert DYNAMIC_PORT_RANGE == (20000, 32000)


def test_port_range():
    assert PORT_RANGE == (1, 65535)


@pytest.mark.parametrize('value, port', [(1, 1), (65535, 65535), ('22', 22), (' 8080 ', 8080)])
def test_check_port(value, port):
    assert check_port(value, 'x has port') == port


@pytest.mark.parametrize('value, message', [
    (0, "network.port 'db'.static is 0; use a port between 1 and 65535"),
    (65536, "network.port 'db'.static is 65536; use a port between 1 and 65535"),
    (-1, "network.port 'db'.static is -1; use a port between 1 and 65535"),
    (0.5, "network.port 'db'.static is '0.5'; use a port between 1 and 65535"),
    ('-1', "network.port 'db'.static is '-1'; use a port between 1 and 65535"),
    (False, "network.port 'db'.static is 'False'; use a port between 1 and 65535"),
    ([80], "network.port 'db'.static is '[80]'; use a port between 1 and 65535"),
])
def test_check_port_errors(value, message):
    with pytest.raises(QemuTaskError) as exc:
        check_port(value, "network.port 'db'.static is")
    assert str(exc.value) == message
    assert exc.value.option is None
    with pytest.raises(QemuTaskError) as exc:
        check_port(value, 'ports label web has host port', option='ports')
    assert exc.value.option == 'ports'


@pytest.mark.parametrize('port_map, ports, expected', [
    (None, None, ({}, {})),
    ({}, {}, ({}, {})),
    ({'web': 80, 'ssh': '22'}, None, ({'web': 80, 'ssh': 22}, {})),
    ({'web': 80, 'ssh': 22}, {'web': '8080'}, ({'web': 80, 'ssh': 22}, {'web': 8080})),
    ({'a_b-C9': 65535, 'x': 1}, {'x': ' 1 '}, ({'a_b-C9': 65535, 'x': 1}, {'x': 1})),
    ({'web': 80, 'alt': 80}, {'web': 8080, 'alt': 8081}, ({'web': 80, 'alt': 80}, {'web': 8080, 'alt': 8081})),
])
def test_validate_ports(port_map, ports, expected):
    assert validate_ports(port_map, ports) == expected


@pytest.mark.parametrize('port_map, ports, message, option', [
    ({'web': 70000}, None, "port_map label 'web' has guest port 70000; use a port between 1 and 65535", 'port_map'),
    ({'web': 0}, None, "port_map label 'web' has guest port 0; use a port between 1 and 65535", 'port_map'),
    ({'web': -1}, None, "port_map label 'web' has guest port -1; use a port between 1 and 65535", 'port_map'),
    ({'web': 'http'}, None, "port_map label 'web' has guest port 'http'; use a port between 1 and 65535", 'port_map'),
    ({'web': '80.0'}, None, "port_map label 'web' has guest port '80.0'; use a port between 1 and 65535", 'port_map'),
    ({'web': 80.0}, None, "port_map label 'web' has guest port '80.0'; use a port between 1 and 65535", 'port_map'),
    ({'web': True}, None, "port_map label 'web' has guest port 'True'; use a port between 1 and 65535", 'port_map'),
    ({'web': None}, None, "port_map label 'web' has guest port 'None'; use a port between 1 and 65535", 'port_map'),
    ({'we b': 80}, None, "port_map label 'we b' is not valid; use letters, digits, '_' and '-', such as web or ssh", 'port_map'),
    ({'': 80}, None, "port_map label '' is not valid; use letters, digits, '_' and '-', such as web or ssh", 'port_map'),
    ({'web.1': 80}, None, "port_map label 'web.1' is not valid; use letters, digits, '_' and '-', such as web or ssh", 'port_map'),
    ({8080: 80}, None, "port_map label '8080' is not valid; use letters, digits, '_' and '-', such as web or ssh", 'port_map'),
    ([80], None, 'port_map must be a mapping of labels to ports, such as {web: 80}', 'port_map'),
    ({'web': 80}, [8080], 'ports must be a mapping of labels to ports, such as {web: 8080}', 'ports'),
    ({'web': 80, 'ssh': 22}, {'db': 5432}, "ports has label 'db' which is not in port_map (ssh, web) nor named in args as "
                                           "${host_port.db}; add it to port_map or remove it from ports", 'ports'),
    ({}, {'db': 5432}, "ports has label 'db' which is not in port_map (empty) nor named in args as ${host_port.db}; add it to "
                       "port_map or remove it from ports", 'ports'),
    ({'web': 80}, {'web': 65536}, "ports label 'web' has host port 65536; use a port between 1 and 65535", 'ports'),
    ({'web': 80, 'api': 81}, {'web': 8080, 'api': '8080'}, "ports gives host port 8080 to both 'api' and 'web'; give each label its own"
                                                           " host port", 'ports'),
])
def test_validate_ports_errors(port_map, ports, message, option):
    with pytest.raises(QemuTaskError) as exc:
        validate_ports(port_map, ports)
    assert str(exc.value) == message
    assert exc.value.option == option


@pytest.mark.parametrize('address, normalized', [
    (None, ''), ('', ''), ('127.0.0.1', '127.0.0.1'), ('0.0.0.0', '0.0.0.0'), (' 10.1.2.3 ', '10.1.2.3'),
])
def test_normalize_host_address(address, normalized):
    assert normalize_host_address(address) == normalized


@pytest.mark.parametrize('address, message', [
    ('localhost', "host_address 'localhost' is not an IP address; use an IPv4 address such as 127.0.0.1, or leave it empty for all"
                  " addresses"),
    ('256.1.1.1', "host_address '256.1.1.1' is not an IP address; use an IPv4 address such as 127.0.0.1, or leave it empty for all"
                  " addresses"),
    ('127.0.0.1:80', "host_address '127.0.0.1:80' is not an IP address; use an IPv4 address such as 127.0.0.1, or leave it empty for"
                     " all addresses"),
    (1, "host_address 1 is not an IP address; use an IPv4 address such as 127.0.0.1, or leave it empty for all addresses"),
    ('::1', "host_address '::1' is an IPv6 address, but QEMU user networking forwards IPv4 only; use an IPv4 address such as"
            " 127.0.0.1, or leave it empty for all addresses"),
    ('::', "host_address '::' is an IPv6 address, but QEMU user networking forwards IPv4 only; use an IPv4 address such as"
           " 127.0.0.1, or leave it empty for all addresses"),
])
def test_normalize_host_address_errors(address, message):
    with pytest.raises(QemuTaskError) as exc:
        normalize_host_address(address)
    assert str(exc.value) == message
    assert exc.value.option == 'host_address'
    with pytest.raises(QemuTaskError):
        validate_ports({'web': 80}, None, address)


@pytest.mark.parametrize('kwargs, offsets, busy, expected', [
    pytest.param({'ports': {'web': 8080, 'ssh': 2222}}, (), (), {'ssh': 2222, 'web': 8080}, id='explicit'),
    pytest.param({'ports': {'web': 8080}, 'own': [8080]}, (0,), [8080], {'ssh': LOW, 'web': 8080}, id='explicit held by our own VM'),
    pytest.param({}, (5, 0), (), {'ssh': LOW + 5, 'web': LOW}, id='dynamic, labels in sorted order'),
    pytest.param({}, (0, 0), (), {'ssh': LOW, 'web': LOW + 1}, id='dynamic skips a port given to another label'),
    pytest.param({'reserved': [LOW, LOW + 1]}, (0, 0), [LOW + 2], {'ssh': LOW + 3, 'web': LOW + 4}, id='dynamic skips reserved and busy'),
    pytest.param({}, (HIGH - LOW, HIGH - LOW), [HIGH], {'ssh': LOW, 'web': LOW + 1}, id='dynamic wraps around'),
    pytest.param({'own': [LOW]}, (0, 0), [LOW], {'ssh': LOW, 'web': LOW + 1}, id='dynamic may reuse a port of our own VM'),
    pytest.param({'previous': {'web': 25000, 'ssh': 25001}}, (), (), {'ssh': 25001, 'web': 25000}, id='previous kept'),
    pytest.param({'previous': {'web': 25000}, 'own': [25000]}, (7,), [25000], {'ssh': LOW + 7, 'web': 25000},
                 id='previous held by our own VM kept'),
    pytest.param({'previous': {'web': 25000}}, (3, 4), [25000], {'ssh': LOW + 3, 'web': LOW + 4}, id='previous now busy'),
    pytest.param({'previous': {'web': 25000}, 'reserved': [25000]}, (3, 4), (), {'ssh': LOW + 3, 'web': LOW + 4},
                 id='previous now reserved by another task'),
    pytest.param({'previous': {'web': 8080}}, (3, 4), (), {'ssh': LOW + 3, 'web': LOW + 4}, id='previous outside the dynamic range'),
    pytest.param({'previous': {'web': 25000}, 'ports': {'ssh': 25000}}, (9,), (), {'ssh': 25000, 'web': LOW + 9},
                 id='previous now given explicitly to another label'),
    pytest.param({'previous': {'web': '25000', 'ssh': True}}, (1, 2), (), {'ssh': LOW + 1, 'web': LOW + 2}, id='previous not an int'),
    pytest.param({'previous': {'gone': 25000}}, (1, 2), (), {'ssh': LOW + 1, 'web': LOW + 2}, id='previous of a removed label'),
])
def test_allocate_ports(kwargs, offsets, busy, expected):
    host = FakeHost(busy)
    result = allocate_ports({'web': 80, 'ssh': 22}, kwargs.pop('ports', None), is_free=host, rng=FixedRandom(*offsets), **kwargs)
    assert result == expected
    assert list(result) == sorted(result)


def test_allocate_ports_explicit_in_own_is_not_probed():
    host = FakeHost()
    allocate_ports({'web': 80}, {'web': 8080}, own=[8080], is_free=host, rng=FixedRandom())
    assert not host.asked


def test_allocate_ports_passes_the_address():
    host = FakeHost()
    allocate_ports({'web': 80}, {'web': 8080}, host_address='127.0.0.1', is_free=host, rng=FixedRandom())
    assert host.asked == [(8080, '127.0.0.1')]


@pytest.mark.parametrize('address, where', [(None, 'all addresses'), ('', 'all addresses'), ('127.0.0.1', '127.0.0.1')])
def test_allocate_ports_explicit_busy(address, where):
    with pytest.raises(QemuTaskError) as exc:
        allocate_ports({'web': 80}, {'web': 8080}, host_address=address, is_free=FakeHost([8080]), rng=FixedRandom())
    assert str(exc.value) == ("host port 8080 for label 'web' is already in use on %s; pick another port in ports or stop what holds it"
                              % where)
    assert exc.value.option == 'ports'


def test_allocate_ports_explicit_busy_even_when_reserved_elsewhere_is_free():
    # reserved only steers dynamic choices; an explicit port is the user's call
    assert allocate_ports({'web': 80}, {'web': 25000}, reserved=[25000], is_free=FakeHost(), rng=FixedRandom()) == {'web': 25000}


def test_allocate_ports_range_exhausted():
    with pytest.raises(QemuTaskError) as exc:
        allocate_ports({'web': 80}, None, reserved=range(LOW, HIGH), is_free=FakeHost([HIGH]), rng=FixedRandom(17))
    assert str(exc.value) == ("no free host port is left in 20000-32000 for label 'web'; set its host port in ports or free some ports")


def test_allocate_ports_validates():
    with pytest.raises(QemuTaskError) as exc:
        allocate_ports({'web': 80}, {'db': 1}, is_free=FakeHost(), rng=FixedRandom())
    assert str(exc.value) == ("ports has label 'db' which is not in port_map (web) nor named in args as ${host_port.db}; "
                              "add it to port_map or remove it from ports")


def test_allocate_ports_default_random():
    result = allocate_ports({'a': 1, 'b': 2, 'c': 3}, None, is_free=FakeHost())
    assert all(LOW <= port <= HIGH for port in result.values())
    assert len(set(result.values())) == 3


# --- real sockets ------------------------------------------------------------------------------

def bound(kind, address='127.0.0.1', listen=True):
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind((address, 0))
    if kind == socket.SOCK_STREAM and listen:
        sock.listen(1)
    return sock


@pytest.mark.parametrize('kind', [socket.SOCK_STREAM, socket.SOCK_DGRAM])
@pytest.mark.parametrize('address', ['127.0.0.1', None])
def test_port_is_free_sees_a_holder(kind, address):
    holder = bound(kind)
    try:
        port = holder.getsockname()[1]
        assert port_is_free(port, address) is False
    finally:
        holder.close()


def test_port_is_free_sees_a_wildcard_holder_from_a_specific_address():
    holder = bound(socket.SOCK_STREAM, '0.0.0.0')
    try:
        assert port_is_free(holder.getsockname()[1], '127.0.0.1') is False
    finally:
        holder.close()


def test_port_is_free_after_release():
    holder = bound(socket.SOCK_STREAM)
    port = holder.getsockname()[1]
    holder.close()
    assert port_is_free(port, '127.0.0.1') is True
    # and it really released the port again
    again = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        again.bind(('127.0.0.1', port))
    finally:
        again.close()


def test_port_is_free_foreign_address():
    with pytest.raises(QemuTaskError) as exc:
        port_is_free(25000, '192.0.2.1')
    assert str(exc.value) == ("host_address '192.0.2.1' is not an address of this host; use one of its addresses, or leave host_address"
                              " empty for all addresses")


@pytest.mark.skipif(os.geteuid() == 0, reason='root may bind privileged ports')
def test_port_is_free_privileged():
    with pytest.raises(QemuTaskError) as exc:
        port_is_free(80, '127.0.0.1')
    assert str(exc.value) == 'host port 80 needs privileges to bind on 127.0.0.1; pick a port of 1024 or more in ports'


def test_allocate_ports_with_real_sockets():
    holder = bound(socket.SOCK_STREAM)
    try:
        port = holder.getsockname()[1]
        with pytest.raises(QemuTaskError) as exc:
            allocate_ports({'web': 80}, {'web': port}, host_address='127.0.0.1')
        assert str(exc.value) == ("host port %d for label 'web' is already in use on 127.0.0.1; pick another port in ports or stop what"
                                  " holds it" % port)
        assert allocate_ports({'web': 80}, {'web': port}, own=[port], host_address='127.0.0.1') == {'web': port}
        result = allocate_ports({'web': 80}, None, host_address='127.0.0.1')
        assert LOW <= result['web'] <= HIGH
    finally:
        holder.close()
