# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The qemu_task options of a qemu task: its config, resources and kill_timeout, and the ports of its network blocks.

The values are checked by qemu_task's own option table (plugins/module_utils/_task/options.py,
``check_option``) and port check (plugins/module_utils/_ports.py, ``check_port``): the choices,
bounds and defaults are written there only. What is checked here is what a job file adds: its
value types, Nomad's duration syntax, and how config, resources and network blocks fit together.
"""

from __future__ import annotations

import re

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._ports import check_port
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import TASK_OPTIONS, check_option
from ansible_collections.nomadic.qemu.plugins.module_utils._task.runtime import references as runtime_references
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.hcl import BLOCK_MARK, bodies, check_keys, hcl_text, labelled, strip, to_bool, to_int
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.interpolate import plain
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import quote
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.tables import (
    CONFIG_KEYS,
    IGNORED_LOGS_KEYS,
    IGNORED_NETWORK_KEYS,
    IGNORED_PORT_KEYS,
    IGNORED_RESTART_KEYS,
    LOGS_KEYS,
    NETWORK_KEYS,
    PORT_KEYS,
    PORT_MAP_WITHOUT_NETWORK,
    RESOURCES_OPTION_KEYS,
    RESTART_KEYS,
)


class TaskSettings:
    """What a qemu task block sets: ``config``, ``resources`` (None without a block), ``kill_timeout``
    (None when unset), ``ports`` (label -> static host port, or None for a dynamic one; None without any network
    block), ``meta``,
    ``artifacts`` (the artifact blocks), ``restart`` (the group's and the task's blocks, merged) and
    ``logs`` and ``user`` (None when unset)."""

    __slots__ = ('config', 'resources', 'kill_timeout', 'ports', 'meta', 'artifacts', 'restart', 'logs', 'user')

    def __init__(self, config, resources, kill_timeout, ports, meta, artifacts, restart=None, logs=None, user=None):
        self.user = user
        self.restart = restart
        self.logs = logs
        self.config = config
        self.resources = resources
        self.kill_timeout = kill_timeout
        self.ports = ports
        self.meta = meta
        self.artifacts = artifacts

    def resolved(self, reader, ctx, env):
        """These settings with the runtime pass over config, resources and kill_timeout (``env``: the NOMAD_* values)."""
        runtime = reader.interpolator.runtime
        config = strip(self.config)
        args = config.pop('args', None) if isinstance(config, dict) else None
        config = runtime(config, ctx, 'config', env)
        if args is not None:
            config['args'] = reader.interpolator.runtime_args(args, ctx, 'config.args', env, self.ports or {})
        return TaskSettings(
            config,
            runtime(strip(self.resources), ctx, 'resources', env) if self.resources is not None else None,
            runtime(plain(self.kill_timeout), ctx, 'kill_timeout', env),
            self.ports, self.meta, self.artifacts,
            restart=runtime(strip(self.restart), ctx, 'restart', env) if self.restart is not None else None,
            logs=runtime(strip(self.logs), ctx, 'logs', env) if self.logs is not None else None,
            user=runtime(plain(self.user), ctx, 'user', env) if self.user is not None else None)


def _checked(name, value, ctx, key):
    """``value`` checked by qemu_task's option ``name``; the message names where and the job file's ``key``."""
    try:
        return check_option(name, value)
    except QemuTaskError as exc:
        message = str(exc)
        raise ctx.error(message if key == name else '%s: %s' % (key, message)) from None


def _port(value, ctx, what):
    """A port number; ``what`` says what has it, for the message."""
    number = to_int(value)
    try:
        return check_port(value if number is None else number, what)
    except QemuTaskError as exc:
        raise ctx.error(str(exc)) from None


def network_ports(reader, networks, ctx, key):
    """label -> static host port or None (dynamic), from the network blocks ``networks`` (``key`` in messages)."""
    ports = {}
    for network in networks:
        check_keys(network, NETWORK_KEYS, ctx, key, 'a network block')
        for name in sorted(network):
            if name in IGNORED_NETWORK_KEYS:
                reader.ignored.add(ctx, '%s.%s' % (key, name), IGNORED_NETWORK_KEYS[name])
        for kind in ('port', 'reserved_ports'):
            for label, port in labelled(network.get(kind), ctx, '%s.%s' % (key, kind), '%s.port "http" { static = 8080 }' % key):
                port_key = '%s.%s %s' % (key, kind, quote(label))
                check_keys(port, PORT_KEYS, ctx, port_key, 'a port block')
                if label in ports:
                    raise ctx.error('%s: port label %s is declared twice; declare each label once' % (key, quote(label)))
                for name in sorted(port):
                    if name in IGNORED_PORT_KEYS:
                        reader.ignored.add(ctx, '%s.%s' % (port_key, name), IGNORED_PORT_KEYS[name])
                static = port.get('static')
                if static is None or static == 0:
                    ports[label] = None
                    continue
                ports[label] = _port(static, ctx, '%s.static is' % port_key)
    return ports


def _string(value, ctx, key):
    if value is None or value == '':
        return None
    if not isinstance(value, str):
        raise ctx.error('%s must be a string, not %r' % (key, value))
    return value


def _bool(value, ctx, key):
    if value is None:
        return None
    flag = to_bool(value)
    if flag is None:
        raise ctx.error('%s must be true or false, not %r' % (key, value))
    return flag


def _strings(value, ctx, key):
    if value is None:
        return None
    if not isinstance(value, list):
        raise ctx.error('%s must be a list of strings, such as ["-nodefaults"]' % key)
    for i, item in enumerate(value):
        if isinstance(item, (list, dict)) or item is None:
            raise ctx.error('%s[%d] must be a string, not %r' % (key, i, item))
    return [hcl_text(item) for item in value]


def _port_map(value, ctx, key):
    """label -> guest port, from the port_map block (or object)."""
    if value is None:
        return None
    port_map = {}
    for body in bodies(value, ctx, key):
        for label, port in body.items():
            if label == BLOCK_MARK:
                continue
            if label in port_map:
                raise ctx.error('%s label %s is set twice; set it once' % (key, quote(label)))
            port_map[label] = _port(port, ctx, '%s label %s has guest port' % (key, quote(label)))
    return port_map or None


# How a config value of each qemu_task option type is read from the job file.
_CONFIG_READERS = {'str': _string, 'path': _string, 'bool': _bool, 'list': _strings, 'dict': _port_map}


def _config_options(config, ctx):
    options = {}
    image_path = config.get('image_path')
    if image_path is not None and not isinstance(image_path, str):
        raise ctx.error('config.image_path must be a string, such as "local/linux.img", not %r' % (image_path,))
    if image_path is None or not image_path.strip():
        raise ctx.error('config has no image_path; set it to the image, such as local/linux.img for an artifact in local/')
    for key, name in CONFIG_KEYS.items():
        value = _CONFIG_READERS[TASK_OPTIONS[name].type](config.get(key), ctx, 'config.%s' % key)
        if value is not None:
            options[name] = _checked(name, value, ctx, 'config.%s' % key)
    return options


def _host_ports(port_map, ports, ctx):
    """The static host ports of the labels of ``port_map``; each label needs a port of the network block."""
    host_ports = {}
    for label in sorted(port_map):
        if label not in ports:
            known = ', '.join(sorted(ports)) or 'none'
            raise ctx.error('config.port_map label %s has no port in the network block (ports: %s); add port "%s" {} '
                            '(dynamic) or port "%s" { static = <host port> } to the group\'s network block'
                            % (quote(label), known, label, label))
        if ports[label] is not None:
            host_ports[label] = ports[label]
    return host_ports


def _duration_text(value, ctx, key):
    """A Nomad duration as written: a unit is needed, unlike qemu_task's seconds."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ctx.error('%s %r is not a duration; use a Nomad duration such as 30s or 1m30s' % (key, value))
    text = hcl_text(value).strip()
    if re.match(r'^[0-9.]+$', text) and text != '0':
        raise ctx.error('%s %s has no unit; Nomad durations need one, such as 30s or 1m30s' % (key, quote(text)))
    return text


def _duration(value, ctx, key):
    """A Nomad duration, in seconds: an int when whole."""
    seconds = _checked(key, _duration_text(value, ctx, key), ctx, key)
    return int(seconds) if float(seconds).is_integer() else seconds


def qemu_options(reader, ctx, settings):
    """qemu_task options from the TaskSettings of one task instance (after the runtime pass)."""
    check_keys(settings.config, CONFIG_KEYS, ctx, 'config', 'the qemu driver')
    options = _config_options(settings.config, ctx)
    if 'port_map' in options and settings.ports is None:
        # No network block at all: Nomad's qemu driver forwards nothing then, without a word.
        reader.ignored.add(ctx, 'config.port_map', PORT_MAP_WITHOUT_NETWORK % ', '.join(sorted(options.pop('port_map'))))
    if 'port_map' in options:
        host_ports = _host_ports(options['port_map'], settings.ports, ctx)
        if host_ports:
            options['ports'] = host_ports
    # A static port that only args name (a hostfwd of the user's own) is reserved on the host all the same.
    for label in sorted(runtime_references(options.get('args', [])).labels):
        if (settings.ports or {}).get(label) is not None:
            options.setdefault('ports', {})[label] = settings.ports[label]
    for key, name in RESOURCES_OPTION_KEYS.items():
        value = (settings.resources or {}).get(key)
        if value is None:
            continue
        number = to_int(value)
        value = _checked(name, value if number is None else number, ctx, 'resources.%s' % key)
        if name == 'cpus' and '-smp' in options.get('args', []):
            reader.ignored.add(ctx, 'resources.%s' % key, 'config.args already has -smp, which wins, as in Nomad')
        else:
            options[name] = value
    if settings.kill_timeout is not None:
        options['kill_timeout'] = _duration(settings.kill_timeout, ctx, 'kill_timeout')
    if settings.restart is not None:
        options['restart'] = _block(reader, ctx, settings.restart, 'restart', RESTART_KEYS, IGNORED_RESTART_KEYS, ('interval', 'delay'))
    if settings.logs is not None:
        options['logs'] = _block(reader, ctx, settings.logs, 'logs', LOGS_KEYS, IGNORED_LOGS_KEYS, ())
    if settings.user is not None:
        # Nomad runs the task as this user; QEMU drops to it here (-runas).
        options['run_as'] = _checked('run_as', settings.user, ctx, 'user')
    return options


def _block(reader, ctx, body, name, keys, ignored, durations):
    """A restart or logs block as qemu_task's option of that name (durations as written), checked as qemu_task checks it."""
    check_keys(body, keys + tuple(ignored), ctx, name, 'a %s block' % name)
    value = {}
    for key in sorted(body):
        if key in ignored:
            reader.ignored.add(ctx, '%s.%s' % (name, key), ignored[key])
            continue
        item = plain(body[key])
        value[key] = _duration_text(item, ctx, '%s.%s' % (name, key)) if key in durations else item
    _checked(name, value, ctx, name)
    return value
