# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Forwarded ports: checking port_map/ports, and choosing host ports."""

from __future__ import annotations

import errno
import random
import re
import socket

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError

# The numbers a TCP or UDP port may have.
PORT_RANGE = (1, 65535)
# Nomad's default dynamic port range.
DYNAMIC_PORT_RANGE = (20000, 32000)

_LABEL_RE = re.compile(r'^[A-Za-z0-9_-]+$')
_DIGITS_RE = re.compile(r'^[0-9]+$')


def normalize_host_address(host_address):
    """Return the address forwarded ports listen on: '' (all IPv4 addresses) or a normalized IPv4 address.

    QEMU's user networking (QEMU 7.2, measured) forwards IPv4 only: ``hostfwd=tcp:[::1]:...``
    fails with "Bad host address", so IPv6 addresses are refused here with a clear message.
    """
    if host_address is None or host_address == '':
        return ''
    if not isinstance(host_address, str):
        raise QemuTaskError('host_address %r is not an IP address; use an IPv4 address such as 127.0.0.1, or leave it empty'
                            ' for all addresses' % (host_address,), option='host_address')
    # Imported here: a task that forwards to all addresses (the default) never needs this large module.
    import ipaddress
    try:
        address = ipaddress.ip_address(host_address.strip())
    except ValueError:
        raise QemuTaskError("host_address '%s' is not an IP address; use an IPv4 address such as 127.0.0.1, or leave it empty"
                            " for all addresses" % host_address, option='host_address') from None
    if address.version != 4:
        raise QemuTaskError("host_address '%s' is an IPv6 address, but QEMU user networking forwards IPv4 only; use an IPv4"
                            " address such as 127.0.0.1, or leave it empty for all addresses" % host_address, option='host_address')
    return str(address)


def describe_address(host_address):
    """``host_address`` for messages: the address, or 'all addresses'."""
    return host_address or 'all addresses'


def check_port(value, what, option=None):
    """``value`` as a port number: an int or a string of digits within PORT_RANGE.

    Raises QemuTaskError "<what> <value>; use a port between 1 and 65535", naming ``option``:
    ``what`` says what has the value, such as "port_map label 'web' has guest port".
    """
    port = None
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and _DIGITS_RE.match(value.strip()):
        port = int(value.strip())
    low, high = PORT_RANGE
    if port is None or not low <= port <= high:
        shown = value if isinstance(value, int) and not isinstance(value, bool) else "'%s'" % (value,)
        raise QemuTaskError('%s %s; use a port between %d and %d' % (what, shown, low, high), option=option)
    return port


def _port(value, option, label, kind):
    """A port number from an int or a string of digits."""
    return check_port(value, "%s label '%s' has %s port" % (option, label, kind), option=option)


def _mapping(value, option, example):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise QemuTaskError('%s must be a mapping of labels to ports, such as %s' % (option, example), option=option)
    return value


def validate_ports(port_map, ports=None, host_address=None, extra_labels=()):
    """Check and normalize ``port_map`` ({label: guest port}) and ``ports`` ({label: host port}).

    Labels are strings of letters, digits, '_' and '-'; ports are ints or strings of
    digits between 1 and 65535; every label of ``ports`` must be in ``port_map`` or in
    ``extra_labels`` (the labels args name: a host port without forwarding); two labels
    may not share a host port. ``host_address`` is checked with normalize_host_address().
    Returns ``(port_map, ports)`` with int ports.
    """
    normalize_host_address(host_address)
    guest_ports = {}
    for label, value in _mapping(port_map, 'port_map', '{web: 80}').items():
        if not isinstance(label, str) or not _LABEL_RE.match(label):
            raise QemuTaskError("port_map label '%s' is not valid; use letters, digits, '_' and '-', such as web or ssh" % (label,),
                                option='port_map')
        guest_ports[label] = _port(value, 'port_map', label, 'guest')
    host_ports = {}
    for label, value in _mapping(ports, 'ports', '{web: 8080}').items():
        if label not in guest_ports and label not in extra_labels:
            known = ', '.join(sorted(guest_ports)) or 'empty'
            raise QemuTaskError("ports has label '%s' which is not in port_map (%s) nor named in args as ${host_port.%s}; add it to "
                                "port_map or remove it from ports" % (label, known, label), option='ports')
        host_ports[label] = _port(value, 'ports', label, 'host')
    owners = {}
    for label in sorted(host_ports):
        port = host_ports[label]
        if port in owners:
            raise QemuTaskError("ports gives host port %d to both '%s' and '%s'; give each label its own host port"
                                % (port, owners[port], label), option='ports')
        owners[port] = label
    return guest_ports, host_ports


def port_is_free(port, host_address=None):
    """Whether TCP and UDP ``port`` can be bound on ``host_address`` ('' or None: all IPv4 addresses).

    Binds and releases at once. The TCP socket sets SO_REUSEADDR like QEMU's user networking
    does, so a port held only by connections in TIME_WAIT counts as free while a listener does
    not; the UDP socket does not, so any UDP user makes the port busy. Raises QemuTaskError
    when the address is not one of this host's, or the port needs privileges to bind.
    """
    address = normalize_host_address(host_address)
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        sock = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            if exc.errno == errno.EADDRNOTAVAIL:
                raise QemuTaskError("host_address '%s' is not an address of this host; use one of its addresses, or leave"
                                    " host_address empty for all addresses" % address, option='host_address') from None
            if exc.errno == errno.EACCES:
                raise QemuTaskError('host port %d needs privileges to bind on %s; pick a port of 1024 or more in ports'
                                    % (port, describe_address(address)), option='ports') from None
            raise
        finally:
            sock.close()
    return True


def _pick_dynamic(label, taken, reserved, own, address, is_free, rng):
    low, high = DYNAMIC_PORT_RANGE
    size = high - low + 1
    start = rng.randrange(size)
    for step in range(size):
        port = low + (start + step) % size
        if port in taken or port in reserved:
            continue
        if port in own or is_free(port, address):
            return port
    raise QemuTaskError("no free host port is left in %d-%d for label '%s'; set its host port in ports or free some ports"
                        % (low, high, label), option='ports')


def allocate_ports(port_map, ports, previous=None, reserved=(), own=(), host_address=None, is_free=None, rng=None, extra_labels=()):
    """Choose the host port of every label of ``port_map`` and ``extra_labels``; returns ``{label: host_port}``.

    - A port given in ``ports`` is used as given; unless our own running VM already holds it
      (it is in ``own``), it must be free, else QemuTaskError "host port 8080 for label 'web'
      is already in use on all addresses; pick another port in ports or stop what holds it".
    - A label without one keeps ``previous[label]`` (the port an earlier run recorded) when
      that is still a port of DYNAMIC_PORT_RANGE, not in ``reserved``, not given to another
      label, and in ``own`` or free. An explicit port the user has since removed from ports
      is thus not kept (it lies outside the range, or the user wants a new one anyway).
    - Otherwise the label gets a port of DYNAMIC_PORT_RANGE, from a random starting point,
      that is not in ``reserved`` (ports other tasks on this host recorded), not given to
      another label, and in ``own`` or free.

    ``is_free(port, host_address)`` defaults to port_is_free and ``rng`` (anything with
    ``randrange``) to a ``random.SystemRandom()``: tests pass their own.
    """
    guest_ports, host_ports = validate_ports(port_map, ports, host_address, extra_labels=extra_labels)
    address = normalize_host_address(host_address)
    is_free = is_free or port_is_free
    rng = rng or random.SystemRandom()
    reserved = set(reserved or ())
    own = set(own or ())
    previous = previous or {}
    low, high = DYNAMIC_PORT_RANGE
    result = {}
    for label in sorted(host_ports):
        port = host_ports[label]
        if port not in own and not is_free(port, address):
            raise QemuTaskError("host port %d for label '%s' is already in use on %s; pick another port in ports or stop what holds it"
                                % (port, label, describe_address(address)), option='ports')
        result[label] = port
    taken = set(result.values())
    for label in sorted(set(guest_ports) | set(extra_labels)):
        if label in result:
            continue
        port = previous.get(label)
        keep = (isinstance(port, int) and not isinstance(port, bool) and low <= port <= high
                and port not in reserved and port not in taken and (port in own or is_free(port, address)))
        if not keep:
            port = _pick_dynamic(label, taken, reserved, own, address, is_free, rng)
        result[label] = port
        taken.add(port)
    return {label: result[label] for label in sorted(result)}
