# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A task's own values in its args: ``${host_port.http}``, ``${memory}``, ``${secrets_dir}``...

They are known only on the host, once the task's ports are chosen: the job-file reader maps
Nomad's ``${NOMAD_PORT_http}`` and the like onto them. ``$${`` is a literal ``${``.
"""

from __future__ import annotations

import os
import re

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import ALLOC_SUBDIRS

# $${ (the escape for a literal ${, closed or not), or ${name} or ${name.LABEL}.
_ESCAPE = '$${'
_SEQUENCE_RE = re.compile(r'\$\$\{|\$\{([^{}]*)\}')
_REFERENCE_RE = re.compile(r'^\s*([a-z_]+)(?:\.([A-Za-z0-9_-]+))?\s*$')

# The directories of Nomad's allocation, inside the task directory.
TASK_SUBDIRS = dict(('%s_dir' % name, name) for name in ALLOC_SUBDIRS)
# Values a port label follows.
PORT_VALUES = ('host_port', 'guest_port')
# Values on their own, with what each is (for the module's documentation and messages).
VALUES = ('host_address', 'memory', 'cpus', 'cpu_set', 'alloc_id', 'task_dir') + tuple(sorted(TASK_SUBDIRS))
_EXAMPLE = '${host_port.http}'


class References:
    """What the args of a task refer to: ``ports`` (labels, by value name) and ``values`` (names)."""

    __slots__ = ('ports', 'values')

    def __init__(self):
        self.ports = {'host_port': set(), 'guest_port': set()}
        self.values = set()

    @property
    def labels(self):
        """Every port label the args name."""
        return self.ports['host_port'] | self.ports['guest_port']

    @property
    def subdirs(self):
        """The allocation directories (local, alloc, secrets) the args name."""
        return sorted(TASK_SUBDIRS[name] for name in self.values if name in TASK_SUBDIRS)


def _known():
    return ', '.join(['${%s.LABEL}' % name for name in PORT_VALUES] + ['${%s}' % name for name in VALUES])


def references(args):
    """Check the ``${...}`` of ``args`` (a list of strings) and return its References.

    Raises QemuTaskError naming ``args[i]`` for an unknown name, a label missing or given where
    none is taken, or a sequence that is not closed.
    """
    found = References()
    for index, arg in enumerate(args):
        if '${' not in arg:
            continue
        for escape, content in _parse(arg, index):
            if escape:
                continue
            match = _REFERENCE_RE.match(content)
            name, label = (match.group(1), match.group(2)) if match else (None, None)
            where = 'args[%d] %r uses ${%s}' % (index, arg, content)
            if name in PORT_VALUES:
                if label is None:
                    raise QemuTaskError('%s without a port label; write ${%s.LABEL}, such as %s' % (where, name, _EXAMPLE), option='args')
                found.ports[name].add(label)
            elif name in VALUES and label is None:
                found.values.add(name)
            else:
                raise QemuTaskError('%s, which is not a value qemu_task knows (%s); write $${ for a literal ${'
                                    % (where, _known()), option='args')
    return found


def _parse(arg, index):
    """``(escaped, content)`` for each ``${...}`` of ``arg``; refuses a ``${`` that is not closed."""
    parts = []
    for match in _SEQUENCE_RE.finditer(arg):
        parts.append((match.group(0) == _ESCAPE, match.group(1)))
    # Any ${ left once the matched sequences are taken out is unclosed (or holds a brace).
    if '${' in _SEQUENCE_RE.sub('', arg):
        raise QemuTaskError('args[%d] %r has a ${ that is not closed; close it with }, or write $${ for a literal ${'
                            % (index, arg), option='args')
    return parts


def check_port_references(refs, port_map):
    """A ``${guest_port.LABEL}`` needs LABEL in port_map: there is no guest port otherwise."""
    for label in sorted(refs.ports['guest_port'] - set(port_map)):
        known = ', '.join(sorted(port_map)) or 'empty'
        raise QemuTaskError("args uses ${guest_port.%s}, but port_map has no label '%s' (%s), so it has no guest port; add it to "
                            "port_map, or use ${host_port.%s}" % (label, label, known, label), option='args')


def alloc_id(task_dir_path):
    """The task's allocation ID: a UUID for this task directory on this host, the same on every run."""
    # Imported here: only a task whose args name ${alloc_id} needs it.
    import uuid
    try:
        with open('/etc/machine-id') as handle:
            host = handle.read().strip()
    except OSError:
        host = ''
    if not host:
        import socket
        host = socket.gethostname()
    return str(uuid.uuid5(uuid.NAMESPACE_URL, 'nomadic-qemu://%s%s' % (host, task_dir_path)))


def values(refs, task_dir_path, host_address, memory, cpus, cpu_set):
    """The values ``refs`` names, as text."""
    result = {}
    for name in refs.values:
        if name == 'host_address':
            # QEMU's hostfwd reads 0.0.0.0 as all addresses, as the empty host_address.
            value = host_address or '0.0.0.0'
        elif name == 'memory':
            value = str(memory)
        elif name == 'cpus':
            value = str(cpus or 1)
        elif name == 'cpu_set':
            count = os.cpu_count() or 1
            value = cpu_set or ('0' if count == 1 else '0-%d' % (count - 1))
        elif name == 'alloc_id':
            value = alloc_id(task_dir_path)
        elif name == 'task_dir':
            value = task_dir_path
        else:
            value = os.path.join(task_dir_path, TASK_SUBDIRS[name])
        result[name] = value
    return result


def resolve(args, known, host_ports, guest_ports):
    """``args`` with every ``${...}`` replaced: ``known`` from values(), the ports by label; ``$${`` becomes ``${``."""
    def replace(match):
        if match.group(0) == _ESCAPE:
            return '${'
        name, label = _REFERENCE_RE.match(match.group(1)).groups()
        if label is None:
            return known[name]
        return str((host_ports if name == 'host_port' else guest_ports)[label])
    return [_SEQUENCE_RE.sub(replace, arg) if '${' in arg else arg for arg in args]


def escape(text):
    """``text`` as args write it when every ``${`` in it is literal (``$${``): what the job-file reader passes through."""
    return text.replace('${', _ESCAPE)


def make_subdirs(task_dir_path, refs):
    """Create the allocation directories the args name (secrets/ private to its owner); returns those created."""
    created = []
    for subdir in refs.subdirs:
        path = os.path.join(task_dir_path, subdir)
        if not os.path.isdir(path):
            os.mkdir(path, 0o700 if subdir == 'secrets' else 0o755)
            created.append(path)
    return created
