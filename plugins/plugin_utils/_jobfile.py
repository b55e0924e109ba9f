# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Read a HashiCorp Nomad job file (HCL) into the qemu tasks nomadic.qemu.qemu_task runs.

Controller side only (python-hcl2). The entry points are pure functions:

- ``read_job(text, filename, variables)`` turns the text of a job file into a dict with the
  job's qemu tasks (one item per task and count index, with ``qemu_task`` options, artifacts
  and constraints), the tasks it skips (other drivers) and what it does not apply (Nomad
  scheduling settings and the like, each with the reason).
- ``place_job(job, attributes, check_constraints)`` splits those tasks into the ones a host
  runs and the groups it does not, with the unmet constraints as reasons.

Everything the job says is either mapped, listed in ``ignored`` with a reason, or refused
with a JobFileError naming the file, the task and the key: nothing is dropped silently.
"""

from __future__ import annotations

import functools
import hashlib
import json
import posixpath
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ansible.errors import AnsibleError

from ansible_collections.nomadic.qemu.plugins.module_utils._duration import parse_duration
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TASK_NAME_RE
from ansible_collections.nomadic.qemu.plugins.plugin_utils._constraints import OPERATORS, ConstraintError, attribute_name, check_constraint

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

# Nomad's defaults.
DEFAULT_ARTIFACT_DESTINATION = 'local/'
DEFAULT_COUNT = 1

# The qemu driver's config keys, with what they become in qemu_task.
CONFIG_KEYS = ('accelerator', 'args', 'drive_interface', 'emulator', 'graceful_shutdown', 'guest_agent',
               'image_path', 'machine_type', 'port_map')
ACCELERATORS = ('tcg', 'kvm', 'auto')
DRIVE_INTERFACES = ('ide', 'scsi', 'sd', 'mtd', 'floppy', 'pflash', 'virtio', 'none')
MEMORY_RANGE = (128, 4000000)

CHECKSUM_HEX_DIGITS = {'md5': 32, 'sha1': 40, 'sha256': 64, 'sha512': 128}

# Archive types go-getter unpacks (by the end of the URL path, the longest match wins) and
# whether ansible.builtin.unarchive can unpack them into a directory.
ARCHIVES = {
    'tar': True, 'tar.gz': True, 'tgz': True, 'tar.bz2': True, 'tbz2': True, 'tar.xz': True, 'txz': True,
    'tar.zst': True, 'tzst': True, 'zip': True,
    # Single compressed files: go-getter refuses them in the default mode ("any"), and only
    # decompresses them to a file with mode = "file".
    'gz': False, 'bz2': False, 'xz': False, 'zst': False,
}
ARTIFACT_MODES = ('any', 'file', 'dir')
ARTIFACT_KEYS = ('source', 'destination', 'mode', 'options', 'headers', 'insecure', 'chown')
ARTIFACT_OPTIONS = ('checksum', 'archive', 'filename')

CONSTRAINT_KEYS = ('attribute', 'operator', 'value', 'version', 'semver', 'regexp', 'set_contains', 'set_contains_all',
                   'set_contains_any', 'distinct_hosts', 'distinct_property')
# Shorthand constraint attributes and the operator they stand for.
CONSTRAINT_SHORTHANDS = dict((name, name) for name in ('version', 'semver', 'regexp', 'set_contains', 'set_contains_all', 'set_contains_any'))

# Blocks that may be repeated: messages always give their index.
REPEATED_BLOCKS = ('artifact', 'constraint')

VARIABLE_KEYS = ('default', 'type', 'description', 'validation', 'sensitive', 'nullable')

# Nomad runtime variables this module resolves, per task instance.
RESOLVED_RUNTIME = ('NOMAD_JOB_NAME', 'NOMAD_JOB_ID', 'NOMAD_GROUP_NAME', 'NOMAD_TASK_NAME', 'NOMAD_ALLOC_INDEX',
                    'NOMAD_ALLOC_NAME', 'NOMAD_TASK_DIR', 'NOMAD_META_<key>')

_SCHEDULING = 'Nomad scheduling; here the inventory and the play choose the hosts'
_RESTARTS = ('Nomad restarts and reschedules allocations; here run the playbook again, qemu_task starts a VM '
             'whose process died')
_SERVICES = 'service registration and secrets (Consul, Vault, Nomad services) are not part of nomadic.qemu'
_NOT_FOR_QEMU = 'has no effect on a QEMU virtual machine run by nomadic.qemu'

# Keys Nomad knows at each level that this module does not apply, with the reason.
IGNORED_JOB_KEYS = {
    'affinity': _SCHEDULING, 'all_at_once': _SCHEDULING, 'datacenters': _SCHEDULING, 'migrate': _SCHEDULING,
    'multiregion': _SCHEDULING, 'namespace': _SCHEDULING, 'node_pool': _SCHEDULING, 'priority': _SCHEDULING,
    'region': _SCHEDULING, 'spread': _SCHEDULING, 'update': _SCHEDULING, 'reschedule': _RESTARTS,
    'consul': _SERVICES, 'consul_token': _SERVICES, 'vault': _SERVICES, 'vault_token': _SERVICES,
    'consul_namespace': _SERVICES, 'vault_namespace': _SERVICES, 'ui': 'the Nomad web UI is not used',
}
IGNORED_GROUP_KEYS = {
    'affinity': _SCHEDULING, 'spread': _SCHEDULING, 'migrate': _SCHEDULING, 'update': _SCHEDULING,
    'scaling': _SCHEDULING, 'disconnect': _SCHEDULING, 'max_client_disconnect': _SCHEDULING,
    'stop_after_client_disconnect': _SCHEDULING, 'prevent_reschedule_on_lost': _SCHEDULING,
    'max_run_duration': _SCHEDULING, 'restart': _RESTARTS, 'reschedule': _RESTARTS,
    'ephemeral_disk': 'each task keeps its own directory under state_dir', 'shutdown_delay': _NOT_FOR_QEMU,
    'service': _SERVICES, 'consul': _SERVICES, 'vault': _SERVICES,
    'volume': 'host and CSI volumes are not mounted; pass disks to QEMU with args',
}
IGNORED_TASK_KEYS = {
    'affinity': _SCHEDULING, 'scaling': _SCHEDULING, 'leader': _SCHEDULING, 'lifecycle': _SCHEDULING,
    'schedule': _SCHEDULING, 'restart': _RESTARTS,
    'service': _SERVICES, 'consul': _SERVICES, 'vault': _SERVICES, 'identity': _SERVICES, 'secret': _SERVICES,
    'template': 'templates are not rendered; write such files into the task directory with your own tasks',
    'dispatch_payload': 'parameterized jobs are not dispatched',
    'volume_mount': 'host and CSI volumes are not mounted; pass disks to QEMU with args',
    'csi_plugin': _NOT_FOR_QEMU, 'env': 'QEMU runs with the environment of the module, not the task env',
    'kill_signal': 'qemu_task stops QEMU with SIGTERM, then SIGKILL', 'logs': 'the console is written to console.log in the task directory',
    'shutdown_delay': _NOT_FOR_QEMU, 'user': 'QEMU runs as the user Ansible becomes on the host',
    'kind': _NOT_FOR_QEMU, 'action': _NOT_FOR_QEMU,
}
IGNORED_RESOURCES_KEYS = {
    'cpu': 'CPU shares in MHz are not enforced; QEMU may use the host CPUs', 'memory_max': _NOT_FOR_QEMU,
    'disk': _NOT_FOR_QEMU, 'device': _NOT_FOR_QEMU, 'numa': _NOT_FOR_QEMU, 'secrets': _NOT_FOR_QEMU,
    'iops': _NOT_FOR_QEMU,
}
IGNORED_NETWORK_KEYS = {
    'mode': 'ports are always forwarded by QEMU user networking on the host', 'mbits': _NOT_FOR_QEMU,
    'dns': 'QEMU user networking gives the guest its own DNS forwarder', 'hostname': _NOT_FOR_QEMU,
    'device': _NOT_FOR_QEMU, 'cidr': _NOT_FOR_QEMU, 'ip': _NOT_FOR_QEMU, 'cni': _NOT_FOR_QEMU,
}
IGNORED_PORT_KEYS = {
    'to': 'the guest port comes from the task config port_map',
    'host_network': 'all tasks of the run bind the same host_address (a playbook variable)',
    'ignore_collision': _SCHEDULING,
}
# Keys refused outright: ignoring them would run the job at the wrong time.
REFUSED_JOB_KEYS = {
    'periodic': ('is periodic: Nomad starts it on a schedule, running it here would start it now; '
                 'remove the periodic block and schedule the playbook instead (cron, a systemd timer, AWX)'),
    'parameterized': ('is parameterized: Nomad only runs it when dispatched with a payload; '
                      'remove the parameterized block to run it as a regular job'),
}
JOB_TYPES = ('service', 'batch', 'system', 'sysbatch')
BATCH_TYPE_REASON = 'batch jobs run to completion in Nomad; here the VM is started and left running'

JOB_KEYS = ('group', 'constraint', 'meta', 'name', 'id', 'type') + tuple(IGNORED_JOB_KEYS) + tuple(REFUSED_JOB_KEYS)
GROUP_KEYS = ('task', 'count', 'constraint', 'meta', 'network') + tuple(IGNORED_GROUP_KEYS)
TASK_KEYS = ('driver', 'config', 'resources', 'kill_timeout', 'artifact', 'constraint', 'meta') + tuple(IGNORED_TASK_KEYS)
RESOURCES_KEYS = ('memory', 'cores', 'network') + tuple(IGNORED_RESOURCES_KEYS)
NETWORK_KEYS = ('port', 'reserved_ports') + tuple(IGNORED_NETWORK_KEYS)
PORT_KEYS = ('static',) + tuple(IGNORED_PORT_KEYS)
TOP_LEVEL_KEYS = ('job', 'variable', 'variables', 'locals')

_BLOCK_MARK = '__is_block__'
_IDENT = r'[A-Za-z_][A-Za-z0-9_-]*'
_VAR_RE = re.compile(r'^var\.(%s)$' % _IDENT)
_LOCAL_RE = re.compile(r'^local\.(%s)$' % _IDENT)
_RUNTIME_RE = re.compile(r'^(?:(NOMAD_[A-Za-z0-9_]+)|env\[\s*"(NOMAD_[A-Za-z0-9_]+)"\s*\])$')
# Expressions a running Nomad client resolves: left alone where no value is needed (constraints).
_NOMAD_RUNTIME_RE = re.compile(r'^(?:NOMAD_[A-Za-z0-9_]+|env\[\s*"[^"]*"\s*\]|(?:attr|node|meta|driver|device)\.[A-Za-z0-9_.\-\[\]"]+)$')
# What a Nomad client replaces in task settings at run time (helper/args ReplaceEnv): ${...} without braces inside.
_RUNTIME_SEQUENCE_RE = re.compile(r'\$\{([^{}]*)\}')
_NAME_CHARS_RE = re.compile(r'[^A-Za-z0-9_.-]+')
_HEX_RE = re.compile(r'^[0-9A-Fa-f]+$')
_HTTP_SCHEMES = ('http', 'https')


class JobFileError(AnsibleError):
    """A job file that cannot be mapped; ``str(e)`` names the file, the task and the key."""


# ---- HCL --------------------------------------------------------------------------------

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


def parse_hcl(text, filename='<job>'):
    """Parse HCL text into plain Python values (blocks keep the ``__is_block__`` marker)."""
    require_hcl2()
    if not isinstance(text, str):
        raise JobFileError('%s: the job file content must be text, not %s' % (filename, type(text).__name__))
    try:
        tree = hcl2.parses_to_tree(text)
    except Exception as exc:  # pylint: disable=broad-exception-caught
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


# ---- small helpers ----------------------------------------------------------------------

def _quote(value):
    return "'%s'" % (value,)


def _where(job=None, group=None, task=None):
    parts = []
    if job is not None:
        parts.append('job %s' % _quote(job))
    if group is not None:
        parts.append('group %s' % _quote(group))
    if task is not None:
        parts.append('task %s' % _quote(task))
    return ', '.join(parts)


class _Context:
    """Where in the file a value comes from, for messages."""

    def __init__(self, filename, job=None, group=None, task=None):
        self.filename = filename
        self.job = job
        self.group = group
        self.task = task

    def at(self, **kw):
        values = dict(job=self.job, group=self.group, task=self.task)
        values.update(kw)
        return _Context(self.filename, **values)

    def where(self):
        return _where(self.job, self.group, self.task)

    def error(self, msg):
        where = self.where()
        return JobFileError('%s: %s%s' % (self.filename, where + ': ' if where else '', msg))


def _is_block(value):
    return isinstance(value, dict) and value.get(_BLOCK_MARK) is True


def _strip(value):
    """A copy of ``value`` without block markers."""
    if isinstance(value, dict):
        return dict((k, _strip(v)) for k, v in value.items() if k != _BLOCK_MARK)
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _bodies(value, ctx, key):
    """The bodies of an unlabelled block (or of an object attribute); several blocks give several bodies."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    bodies = []
    for item in items:
        if not isinstance(item, dict):
            raise ctx.error('%s must be a block, such as %s { ... }' % (key, key))
        bodies.append(item)
    return bodies


def _labelled(value, ctx, key, example):
    """(label, body) pairs of labelled blocks such as group "name" { ... }."""
    pairs = []
    for item in _bodies(value, ctx, key):
        if _is_block(item) or len(item) != 1:
            raise ctx.error('%s block needs one name, such as %s' % (key, example))
        label, body = next(iter(item.items()))
        if not _is_block(body):
            raise ctx.error("%s %s has more than one name; give it exactly one, such as %s" % (key, _quote(label), example))
        pairs.append((label, body))
    return pairs


def _merged(value, ctx, key):
    """One dict from blocks (or object attributes) that may be repeated, refusing a key set twice."""
    merged = {}
    for body in _bodies(value, ctx, key):
        for k, v in body.items():
            if k == _BLOCK_MARK:
                continue
            if k in merged:
                raise ctx.error('%s.%s is set twice; set it once' % (key, k))
            merged[k] = v
    return merged


def _single(value, ctx, key):
    """The body of a block that may appear once."""
    bodies = _bodies(value, ctx, key)
    if len(bodies) > 1:
        raise ctx.error('has %d %s blocks; Nomad allows one' % (len(bodies), key))
    return bodies[0] if bodies else None


def _check_keys(body, allowed, ctx, what, hint):
    for key in body:
        if key == _BLOCK_MARK or key in allowed:
            continue
        if len(allowed) <= 12:
            known = '%s takes %s' % (hint, ', '.join(sorted(set(allowed))))
        else:
            known = 'it is not a setting of %s' % hint
        raise ctx.error('%s has unknown key %s; %s; remove it or fix its spelling' % (what, _quote(key), known))


def _hcl_text(value):
    """A scalar as HCL converts it to a string."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _to_int(value):
    """An int from an int, an integral float or a string of digits; None otherwise."""
    if _is_int(value):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.match(r'^-?[0-9]+$', value.strip()):
        return int(value.strip())
    return None


def _to_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ('true', 'false'):
        return value.strip().lower() == 'true'
    return None


# ---- templates and interpolation -------------------------------------------------------

def _closing_brace(text, start):
    """Index of the brace closing a template sequence whose content starts at ``start``; -1 if none."""
    depth = 0
    i = start
    quoted = False
    while i < len(text):
        char = text[i]
        if quoted:
            if char == '\\':
                i += 2
                continue
            if char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == '{':
            depth += 1
        elif char == '}':
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def split_template(text):
    """Split an HCL template string into parts: ``('text', s)``, ``('expr', e)`` or ``('directive', d)``.

    ``$${`` and ``%%{`` are escapes for a literal ``${`` and ``%{``. Strip markers (``${~ x ~}``)
    trim the whitespace of the text beside them, as HCL does. Raises ValueError for an
    unclosed sequence.
    """
    parts = []
    buf = []
    i = 0
    while i < len(text):
        if text.startswith('$${', i) or text.startswith('%%{', i):
            buf.append(text[i + 1:i + 3])
            i += 3
            continue
        if text.startswith('${', i) or text.startswith('%{', i):
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise ValueError('%s is not closed' % text[i:i + 2])
            inner = text[i + 2:end]
            if inner.startswith('~'):
                inner = inner[1:]
                while buf and not buf[-1].strip():
                    buf.pop()
                if buf:
                    buf[-1] = buf[-1].rstrip()
            trim_after = inner.endswith('~')
            if trim_after:
                inner = inner[:-1]
            if buf:
                parts.append(('text', ''.join(buf)))
                buf = []
            parts.append(('expr' if text[i] == '$' else 'directive', inner.strip()))
            i = end + 1
            if trim_after:
                while i < len(text) and text[i].isspace():
                    i += 1
            continue
        buf.append(text[i])
        i += 1
    if buf:
        parts.append(('text', ''.join(buf)))
    return parts


class _Unresolved(Exception):
    def __init__(self, expression, directive=False):
        super().__init__(expression)
        self.expression = expression
        self.directive = directive


class _Interpolator:
    """Resolves ``${...}`` in job values.

    Two passes, like Nomad: the HCL pass (``hcl``) resolves ``var.*`` and ``local.*`` and keeps
    the expressions a Nomad client resolves at run time (``${NOMAD_*}``, ``${attr.*}``...) as
    text; the runtime pass (``runtime``) resolves the NOMAD_* values known before a task runs
    and refuses everything else.
    """

    def __init__(self, variables, locals_):
        self.variables = variables
        self.locals = locals_
        self.resolved_locals = {}
        self.resolving = []

    # HCL pass
    def _hcl_expression(self, expression, ctx, key):
        match = _VAR_RE.match(expression)
        if match:
            name = match.group(1)
            if name not in self.variables:
                declared = ', '.join(sorted(self.variables)) or 'none'
                raise ctx.error('%s uses ${%s}, but the job file declares no variable %s (declared: %s); '
                                'add a variable "%s" block' % (key, expression, _quote(name), declared, name))
            return self.variables[name]
        match = _LOCAL_RE.match(expression)
        if match:
            return self._local(match.group(1), ctx, key)
        raise _Unresolved(expression)

    def _local(self, name, ctx, key):
        if name in self.resolved_locals:
            return self.resolved_locals[name]
        if name not in self.locals:
            raise ctx.error('%s uses ${local.%s}, but no locals block sets %s' % (key, name, name))
        if name in self.resolving:
            cycle = ' -> '.join('local.%s' % n for n in self.resolving[self.resolving.index(name):] + [name])
            raise ctx.error('%s uses local.%s, whose value refers back to itself (%s); break the cycle' % (key, name, cycle))
        self.resolving.append(name)
        try:
            value = self.hcl(self.locals[name], ctx.at(job=None, group=None, task=None), 'locals.%s' % name)
        finally:
            self.resolving.pop()
        self.resolved_locals[name] = value
        return value

    def hcl(self, value, ctx, key):
        """The HCL pass over ``value`` (recursively)."""
        if isinstance(value, list):
            return [self.hcl(v, ctx, _item_key(key, value, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            # HCL's null means "not set".
            return dict((k, v if k == _BLOCK_MARK else self.hcl(v, ctx, '%s.%s' % (key, k) if key else k))
                        for k, v in value.items() if v is not None)
        if not isinstance(value, str) or ('${' not in value and '%{' not in value):
            return value
        return self._template(value, ctx, key, self._hcl_expression, keep=True)

    def hcl_keys(self, body, ctx, keys):
        """``body`` with the HCL pass applied to ``keys`` only (the others are not used or are handled later)."""
        result = {}
        for key, value in body.items():
            if value is None:
                continue
            result[key] = self.hcl(value, ctx, key) if key in keys else value
        return result

    # runtime pass
    def runtime(self, value, ctx, key, env):
        """The runtime pass over ``value`` with the NOMAD_* values in ``env``.

        As a Nomad client does, it replaces ``${NAME}`` when NAME is known and leaves any other
        ``${...}`` as it is: after the HCL pass, such text comes from an escape (``$${x}`` in the
        file is the literal ``${x}``) or from a variable's value. The expressions only a running
        client knows (``${NOMAD_PORT_http}``, ``${attr.*}``) are refused: their value would be wrong.
        """
        if isinstance(value, list):
            return [self.runtime(v, ctx, '%s[%d]' % (key, i), env) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return dict((k, self.runtime(v, ctx, '%s.%s' % (key, k), env)) for k, v in value.items())
        if not isinstance(value, str) or '${' not in value:
            return value

        def replace(match):
            expression = match.group(1).strip()
            found = _RUNTIME_RE.match(expression)
            name = found and (found.group(1) or found.group(2))
            if name and name in env:
                return env[name]
            if _NOMAD_RUNTIME_RE.match(expression):
                raise self._unresolved_error(_Unresolved(expression), ctx, key)
            return match.group(0)
        return _RUNTIME_SEQUENCE_RE.sub(replace, value)

    def _template(self, text, ctx, key, resolve, keep):
        try:
            parts = split_template(text)
        except ValueError as exc:
            raise ctx.error('%s %r is not a valid HCL template: %s' % (key, text, exc)) from None
        values = []
        for kind, content in parts:
            if kind == 'text':
                values.append(content)
                continue
            try:
                if kind == 'directive':
                    raise _Unresolved(content, directive=True)
                values.append(resolve(content, ctx, key))
            except _Unresolved as unresolved:
                if keep and not unresolved.directive and _NOMAD_RUNTIME_RE.match(unresolved.expression):
                    values.append(_Kept('${%s}' % unresolved.expression))
                    continue
                raise self._unresolved_error(unresolved, ctx, key) from None
        if len(values) == 1 and not isinstance(values[0], _Kept):
            return values[0]
        text_parts = []
        for value in values:
            if isinstance(value, (list, dict)) or value is None:
                raise ctx.error('%s puts a %s into the text %r; only strings, numbers and booleans can be part of a string'
                                % (key, 'null' if value is None else type(value).__name__, text))
            text_parts.append(_hcl_text(value))
        return ''.join(text_parts)

    def _unresolved_error(self, unresolved, ctx, key):
        resolved = ', '.join(RESOLVED_RUNTIME)
        if unresolved.directive:
            return ctx.error('%s uses the template directive %%{%s}, which is not evaluated; write the value out'
                             % (key, unresolved.expression))
        if _NOMAD_RUNTIME_RE.match(unresolved.expression):
            return ctx.error('%s uses ${%s}, which only a running Nomad client knows; nomadic.qemu resolves var.*, local.* and %s; '
                             'write the value out or use a variable' % (key, unresolved.expression, resolved))
        return ctx.error('%s uses ${%s}, an HCL expression that is not evaluated (variables var.* and local.* are, and %s); '
                         'write the value out or use a variable' % (key, unresolved.expression, resolved))


def _item_key(key, items, index):
    """The key of a list item in messages: ``args[1]``, ``artifact[0]``, but ``config`` for a block given once."""
    if len(items) == 1 and _is_block(items[0]) and key.rsplit('.', 1)[-1] not in REPEATED_BLOCKS:
        return key
    return '%s[%d]' % (key, index)


class _Kept(str):
    """A ``${...}`` kept as text by the HCL pass."""


def _plain(value):
    """Turn _Kept strings back into plain ones (for output)."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return dict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, _Kept):
        return str(value)
    return value


# ---- variables --------------------------------------------------------------------------

_PRIMITIVE_TYPES = ('string', 'number', 'bool', 'any')
_COLLECTION_TYPE_RE = re.compile(r'^(list|set|map)\((.*)\)$')
_NUMBER_RE = re.compile(r'^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$')
SENSITIVE_REASON = ('its value is not hidden: Ansible may show it in task output and logs; keep secrets out of job_vars '
                    'or run with no_log')


class _TypeMismatch(Exception):
    pass


def _variable_type(value, ctx, name):
    """A variable's type constraint: 'string', 'number', 'bool', 'any', or ('list'|'set'|'map', element type)."""
    text = _hcl_text(_plain(value)) if not isinstance(value, (list, dict)) else ''
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
                        'set(...) or map(...) of them' % (_quote(name), _quote(text or value)))
    return parse(text)


def _type_text(kind):
    return kind if isinstance(kind, str) else '%s(%s)' % (kind[0], _type_text(kind[1]))


def _convert(value, kind):
    """``value`` converted to the type ``kind`` as HCL converts it; raises _TypeMismatch."""
    if value is None or kind == 'any':
        return value
    if kind == 'string':
        if isinstance(value, (str, bool, int, float)):
            return _hcl_text(value)
        raise _TypeMismatch()
    if kind == 'number':
        if _is_int(value) or isinstance(value, float):
            return value
        if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
            number = float(value.strip())
            return int(number) if number.is_integer() and re.match(r'^[+-]?[0-9]+$', value.strip()) else number
        raise _TypeMismatch()
    if kind == 'bool':
        flag = _to_bool(value)
        if flag is None or _is_int(value):
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


def _declared_variables(data, ctx, ignored, tolerant):
    """name -> dict(has_default, default, type, nullable) from variable "x" { ... } and variables { ... } blocks."""
    declared = {}
    for name, body in _labelled(data.get('variable'), ctx, 'variable', 'variable "image" { default = "linux.img" }'):
        def declare(name=name, body=body):
            if name in declared:
                raise ctx.error('variable %s is declared twice; declare it once' % _quote(name))
            info = declared[name] = {'has_default': 'default' in body, 'default': _unescape(_strip(body.get('default'))), 'type': 'any',
                                     'nullable': True}
            _check_keys(body, VARIABLE_KEYS, ctx, 'variable %s' % _quote(name), 'a variable block')
            info['nullable'] = _to_bool(body.get('nullable', True))
            if info['nullable'] is None:
                raise ctx.error('variable %s: nullable must be true or false, not %r' % (_quote(name), body.get('nullable')))
            sensitive = _to_bool(body.get('sensitive', False))
            if sensitive is None:
                raise ctx.error('variable %s: sensitive must be true or false, not %r' % (_quote(name), body.get('sensitive')))
            if sensitive:
                ignored.add_at('variable %s' % _quote(name), 'sensitive', SENSITIVE_REASON)
            if body.get('type') is not None:
                info['type'] = _variable_type(body['type'], ctx, name)
            if 'validation' in body:
                conditions = ', '.join(_quote(_hcl_text(_plain(item.get('condition'))))
                                       for item in _bodies(body['validation'], ctx, 'validation'))
                raise ctx.error('variable %s has a validation block (condition %s), which is not evaluated here, and Nomad refuses a job '
                                'whose validation fails; check the value before the run (for example with ansible.builtin.assert) '
                                'and remove the validation block' % (_quote(name), conditions))
        tolerant.run(declare)
    for body in _bodies(data.get('variables'), ctx, 'variables'):
        for name, default in body.items():
            if name == _BLOCK_MARK:
                continue
            if name in declared:
                tolerant.run(lambda name=name: _raise(ctx.error('variable %s is declared twice; declare it once' % _quote(name))))
                continue
            declared[name] = {'has_default': True, 'default': _unescape(_strip(default)), 'type': 'any', 'nullable': True}
    return declared


def _raise(exc):
    raise exc


def _unescape(value):
    """A literal value (a variable's default) as HCL reads it: $${ and %%{ are a literal ${ and %{."""
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return dict((k, _unescape(v)) for k, v in value.items())
    if isinstance(value, str):
        return value.replace('$${', '${').replace('%%{', '%{')
    return value


def _variable_values(declared, given, ctx, tolerant):
    given = given or {}
    if not isinstance(given, dict):
        raise ctx.error('job_vars must be a mapping of variable names to values, not %s' % type(given).__name__)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        tolerant.run(lambda: _raise(ctx.error(
            'job_vars gives %s, which the job file does not declare (declared: %s); remove it or add a variable block'
            % (', '.join(_quote(n) for n in unknown), ', '.join(sorted(declared)) or 'none'))))
    values = {}
    for name, info in declared.items():
        def value_of(name=name, info=info):
            if name in given and not (given[name] is None and not info['nullable'] and info['has_default']):
                value, origin = given[name], 'job_vars gives'
            elif info['has_default']:
                value, origin = info['default'], 'its default is'
            else:
                raise ctx.error('variable %s has no default and no value; pass it in job_vars (like nomad job run -var %s=...)'
                                % (_quote(name), name))
            if value is None and not info['nullable']:
                raise ctx.error('variable %s is null, but it is declared with nullable = false; give it a value' % _quote(name))
            try:
                values[name] = _convert(value, info['type'])
            except _TypeMismatch:
                raise ctx.error('variable %s: %s %r, which is not a %s (its type); give a value of that type'
                                % (_quote(name), origin, value, _type_text(info['type']))) from None
        tolerant.run(value_of)
    return values


# ---- names ------------------------------------------------------------------------------

def task_name(job, group, task, index=None):
    """The qemu_task name for a task instance: ``<job>-<group>-<task>`` and ``-<index>`` when given.

    Characters qemu_task does not allow become ``-``; a name longer than 64 characters is cut and
    ends with 8 hex digits of a hash of the full name, so it stays unique and stable.
    """
    raw = '-'.join([job, group, task])
    base = _NAME_CHARS_RE.sub('-', raw).lstrip('._-') or 'task'
    suffix = '' if index is None else '-%d' % index
    if len(base) + len(suffix) > 64:
        digest = hashlib.sha1(raw.encode('utf-8')).hexdigest()[:8]
        base = '%s-%s' % (base[:64 - len(suffix) - 9].rstrip('._-'), digest)
    name = base + suffix
    if not TASK_NAME_RE.match(name):  # pragma: no cover - the steps above make it valid
        raise JobFileError('cannot make a valid task name from %r' % raw)
    return name


# ---- the job ----------------------------------------------------------------------------

class _Ignored:
    def __init__(self):
        self.items = []

    def add(self, ctx, key, reason):
        self.add_at(ctx.where(), key, reason)

    def add_at(self, where, key, reason):
        self.items.append({'where': where, 'key': key, 'reason': reason,
                           'message': '%s: %s is not applied: %s' % (where, key, reason)})


class _Tolerant:
    """Runs the steps of reading a job; with ``on``, a JobFileError is recorded and the step's default returned.

    Stopping a job needs only its ID and the names of its tasks: a job file that a later edit
    broke (memory = 64, a bad constraint) can still be stopped.
    """

    def __init__(self, on):
        self.on = on
        self.errors = []

    def run(self, step, default=None):
        if not self.on:
            return step()
        try:
            return step()
        except JobFileError as exc:
            if str(exc) not in self.errors:
                self.errors.append(str(exc))
            return default


def _constraints(body, ctx, level, ignored):
    """The constraints of a job, group or task body, as dicts of attribute, operator, value, level and source.

    Each is checked as placing the job on a host checks it, apart from the host's attributes:
    an unknown operator, a malformed version constraint or regular expression is an error here.
    """
    constraints = []
    for index, item in enumerate(_bodies(body.get('constraint'), ctx, 'constraint')):
        key = 'constraint[%d]' % index
        _check_keys(item, CONSTRAINT_KEYS, ctx, key, 'a constraint block')
        item = _plain(_strip(item))
        attribute = item.get('attribute')
        operator = item.get('operator')
        value = item.get('value')
        shorthands = [k for k in CONSTRAINT_KEYS[3:] if k in item]
        if len(shorthands) > 1 or (shorthands and operator is not None):
            raise ctx.error('%s mixes %s; use operator and value, or one shorthand' % (
                key, ', '.join(shorthands + (['operator'] if operator is not None else []))))
        if shorthands and value is not None:
            raise ctx.error('%s sets value next to the short form %s, which carries its own value; use operator and value, '
                            'or %s = "..." alone' % (key, shorthands[0], shorthands[0]))
        value_key = 'value'
        if shorthands and shorthands[0] in CONSTRAINT_SHORTHANDS:
            operator, value = CONSTRAINT_SHORTHANDS[shorthands[0]], item[shorthands[0]]
            value_key = shorthands[0]
        elif shorthands or operator in ('distinct_hosts', 'distinct_property'):
            # These spread a job's allocations over hosts; here every host runs all of them.
            ignored.add(ctx, key, '%s spreads allocations over Nomad clients; here every selected host runs all '
                                  'instances of the job' % (shorthands[0] if shorthands else operator))
            continue
        if attribute is None:
            raise ctx.error('%s has no attribute; set attribute, such as attribute = "${attr.driver.qemu.version}"' % key)
        constraint = {'attribute': _hcl_text(attribute), 'operator': '=' if operator in (None, '') else _hcl_text(operator)}
        if value is not None:
            constraint['value'] = _hcl_text(value)
        _check_constraint(constraint, ctx, key, value_key)
        constraint.update(level=level, source=ctx.where())
        constraints.append(constraint)
    return constraints


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


def _meta(body, ctx):
    return dict((k, _hcl_text(v)) for k, v in _merged(body.get('meta'), ctx, 'meta').items())


def _ports(network_bodies, ctx, ignored, key):
    """label -> static host port or None, from network blocks."""
    ports = {}
    for network in network_bodies:
        _check_keys(network, NETWORK_KEYS, ctx, key, 'a network block')
        for name in sorted(network):
            if name in IGNORED_NETWORK_KEYS:
                ignored.add(ctx, '%s.%s' % (key, name), IGNORED_NETWORK_KEYS[name])
        for kind in ('port', 'reserved_ports'):
            for label, port in _labelled(network.get(kind), ctx, '%s.%s' % (key, kind), '%s.port "http" { static = 8080 }' % key):
                port_key = '%s.%s %s' % (key, kind, _quote(label))
                _check_keys(port, PORT_KEYS, ctx, port_key, 'a port block')
                if label in ports:
                    raise ctx.error('%s: port label %s is declared twice; declare each label once' % (key, _quote(label)))
                for name in sorted(port):
                    if name in IGNORED_PORT_KEYS:
                        ignored.add(ctx, '%s.%s' % (port_key, name), IGNORED_PORT_KEYS[name])
                static = port.get('static')
                if static is None or static == 0:
                    ports[label] = None
                    continue
                number = _to_int(static)
                if number is None or not 1 <= number <= 65535:
                    raise ctx.error('%s.static is %r; use a port between 1 and 65535' % (port_key, static))
                ports[label] = number
    return ports


def _check_checksum(text, ctx, key):
    if not isinstance(text, str) or ':' not in text:
        raise ctx.error('%s %s is not in the form type:value; use md5, sha1, sha256 or sha512, such as sha256:<64 hex digits>'
                        % (key, _quote(text)))
    kind, value = text.split(':', 1)
    kind = kind.strip().lower()
    value = value.strip()
    if kind not in CHECKSUM_HEX_DIGITS:
        raise ctx.error('%s %s has the unsupported type %s; use md5, sha1, sha256 or sha512' % (key, _quote(text), _quote(kind)))
    digits = CHECKSUM_HEX_DIGITS[kind]
    if not _HEX_RE.match(value) or len(value) != digits:
        raise ctx.error('%s %s is not a valid %s checksum: %s needs %d hexadecimal digits, this has %d characters'
                        % (key, _quote(text), kind, kind, digits, len(value)))
    return kind, value.lower()


def _archive_for(path):
    best = None
    for ext in ARCHIVES:
        if path.endswith('.' + ext) and (best is None or len(ext) > len(best)):
            best = ext
    return best


def _artifact(item, index, ctx, ignored):
    key = 'artifact[%d]' % index
    _check_keys(item, ARTIFACT_KEYS, ctx, key, 'an artifact block')
    source = item.get('source')
    if not isinstance(source, str) or not source.strip():
        raise ctx.error('%s has no source; set source to the http or https URL of the file' % key)
    source = source.strip()
    forced = re.match(r'^([A-Za-z0-9]+)::', source)
    if forced:
        raise ctx.error('%s.source %s uses the %s getter; only http and https sources are downloaded' % (key, _quote(source), forced.group(1)))
    split = urlsplit(source)
    if split.scheme.lower() not in _HTTP_SCHEMES or not split.netloc:
        raise ctx.error('%s.source %s is not an http or https URL; only those are downloaded (go-getter\'s git, s3, gcs, hg and '
                        'file sources are not supported)' % (key, _quote(source)))
    options = dict((k, _hcl_text(v)) for k, v in _merged(item.get('options'), ctx, '%s.options' % key).items())
    query = []
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        if name in ARTIFACT_OPTIONS:
            options.setdefault(name, value)
        else:
            query.append((name, value))
    for name in options:
        if name not in ARTIFACT_OPTIONS:
            raise ctx.error('%s.options has unknown key %s; for http sources it takes %s; remove it'
                            % (key, _quote(name), ', '.join(ARTIFACT_OPTIONS)))
    url = urlunsplit((split.scheme, split.netloc, split.path, urlencode(query), split.fragment))

    mode = item.get('mode', 'any')
    if mode not in ARTIFACT_MODES:
        raise ctx.error('%s.mode is %s; use any, file or dir' % (key, _quote(mode)))

    archive = options.get('archive')
    if archive is not None:
        flag = _to_bool(archive)
        if flag is False:
            archive = None
        elif archive not in ARCHIVES:
            raise ctx.error('%s.options.archive is %s; use false or one of %s' % (key, _quote(archive), ', '.join(sorted(ARCHIVES))))
    else:
        archive = _archive_for(split.path)
    if archive and not ARCHIVES[archive]:
        raise ctx.error('%s is a single compressed file (.%s), which is not unpacked (Nomad unpacks it only with mode = "file"); '
                        'ship a tar or zip archive, or set options { archive = false } to keep it compressed' % (key, archive))
    if archive and mode == 'file':
        raise ctx.error('%s has mode = "file" with a %s archive, which is not supported; use mode = "any" to unpack it '
                        'into the destination directory' % (key, archive))
    if not archive and mode == 'dir':
        raise ctx.error('%s has mode = "dir" but %s is not an archive; use mode = "any" for a single file' % (key, _quote(url)))

    destination = item.get('destination', DEFAULT_ARTIFACT_DESTINATION)
    if not isinstance(destination, str) or not destination.strip():
        raise ctx.error('%s.destination must be a path inside the task directory, such as local/' % key)
    normalized = posixpath.normpath(destination.strip())
    if posixpath.isabs(normalized) or normalized == '..' or normalized.startswith('../'):
        raise ctx.error('%s.destination %s is outside the task directory; use a relative path such as local/' % (key, _quote(destination)))

    checksum = options.get('checksum')
    checksum_type = checksum_value = None
    if checksum is not None:
        checksum_type, checksum_value = _check_checksum(checksum, ctx, '%s.options.checksum' % key)

    headers = dict((k, _hcl_text(v)) for k, v in _merged(item.get('headers'), ctx, '%s.headers' % key).items())
    insecure = _to_bool(item.get('insecure', False))
    if insecure is None:
        raise ctx.error('%s.insecure must be true or false' % key)
    if _to_bool(item.get('chown', False)):
        ignored.add(ctx, '%s.chown' % key, 'files belong to the user Ansible becomes on the host')

    filename = None
    if mode == 'file':
        path = normalized
        filename = posixpath.basename(normalized)
    elif archive:
        path = normalized
    else:
        filename = options.get('filename') or posixpath.basename(split.path)
        if not filename or filename in ('.', '..') or '/' in filename:
            raise ctx.error('%s.source %s does not end with a file name; add options { filename = "disk.img" } or use mode = "file" '
                            'with a destination file' % (key, _quote(source)))
        path = posixpath.normpath(posixpath.join(normalized, filename))
    artifact = {
        'source': url,
        'destination': normalized,
        'mode': mode,
        'archive': archive,
        'path': path,
        'filename': filename,
        'checksum': '%s:%s' % (checksum_type, checksum_value) if checksum_type else None,
        'checksum_type': checksum_type,
        'checksum_value': checksum_value,
        'headers': headers,
        'insecure': insecure,
    }
    artifact['id'] = hashlib.sha1(json.dumps(artifact, sort_keys=True).encode('utf-8')).hexdigest()[:16]
    return artifact


def _string_option(config, name, ctx, choices=None):
    value = config.get(name)
    if value is None or value == '':
        return None
    if not isinstance(value, str):
        raise ctx.error('config.%s must be a string, not %r' % (name, value))
    if choices and value not in choices:
        raise ctx.error('config.%s is %s; use one of %s' % (name, _quote(value), ', '.join(choices)))
    return value


def _bool_option(config, name, ctx):
    value = config.get(name)
    if value is None:
        return None
    flag = _to_bool(value)
    if flag is None:
        raise ctx.error('config.%s must be true or false, not %r' % (name, value))
    return flag


def _port_map(value, ctx):
    if value is None:
        return {}
    port_map = {}
    for body in _bodies(value, ctx, 'config.port_map'):
        for label, port in body.items():
            if label == _BLOCK_MARK:
                continue
            if label in port_map:
                raise ctx.error('config.port_map label %s is set twice; set it once' % _quote(label))
            number = _to_int(port)
            if number is None or not 1 <= number <= 65535:
                raise ctx.error('config.port_map label %s has guest port %r; use a port between 1 and 65535' % (_quote(label), port))
            port_map[label] = number
    return port_map


def _qemu_options(config, resources, kill_timeout, ports, ctx, ignored):
    """qemu_task options from a task's config, resources and kill_timeout."""
    _check_keys(config, CONFIG_KEYS, ctx, 'config', 'the qemu driver')
    options = {}
    image_path = config.get('image_path')
    if image_path is not None and not isinstance(image_path, str):
        raise ctx.error('config.image_path must be a string, such as "local/linux.img", not %r' % (image_path,))
    if image_path is None or not image_path.strip():
        raise ctx.error('config has no image_path; set it to the image, such as local/linux.img for an artifact in local/')
    options['image_path'] = image_path
    for name, choices in (('accelerator', ACCELERATORS), ('drive_interface', DRIVE_INTERFACES),
                          ('emulator', None), ('machine_type', None)):
        value = _string_option(config, name, ctx, choices)
        if value is not None:
            options[name] = value
    for name in ('graceful_shutdown', 'guest_agent'):
        value = _bool_option(config, name, ctx)
        if value is not None:
            options[name] = value
    args = config.get('args')
    if args is not None:
        if not isinstance(args, list):
            raise ctx.error('config.args must be a list of strings, such as ["-nodefaults"]')
        for i, arg in enumerate(args):
            if isinstance(arg, (list, dict)) or arg is None:
                raise ctx.error('config.args[%d] must be a string, not %r' % (i, arg))
        options['args'] = [_hcl_text(arg) for arg in args]

    port_map = _port_map(config.get('port_map'), ctx)
    if port_map:
        options['port_map'] = port_map
        host_ports = {}
        for label in sorted(port_map):
            if label not in ports:
                known = ', '.join(sorted(ports)) or 'none'
                raise ctx.error('config.port_map label %s has no port in the network block (ports: %s); add port "%s" {} '
                                '(dynamic) or port "%s" { static = <host port> } to the group\'s network block'
                                % (_quote(label), known, label, label))
            if ports[label] is not None:
                host_ports[label] = ports[label]
        if host_ports:
            options['ports'] = host_ports

    if resources:
        memory = resources.get('memory')
        if memory is not None:
            number = _to_int(memory)
            if number is None or not MEMORY_RANGE[0] <= number <= MEMORY_RANGE[1]:
                raise ctx.error('resources.memory is %r; the qemu driver needs %d to %d (MB)' % ((memory,) + MEMORY_RANGE))
            options['memory'] = number
        cores = resources.get('cores')
        if cores is not None:
            number = _to_int(cores)
            if number is None or number < 1:
                raise ctx.error('resources.cores is %r; use a whole number of cores, 1 or more' % (cores,))
            if '-smp' in options.get('args', []):
                ignored.add(ctx, 'resources.cores', 'config.args already has -smp, which wins, as in Nomad')
            else:
                options['cpus'] = number
    if kill_timeout is not None:
        if isinstance(kill_timeout, bool) or not isinstance(kill_timeout, (str, int, float)):
            raise ctx.error('kill_timeout %r is not a duration; use a Nomad duration such as 30s or 1m30s' % (kill_timeout,))
        text = _hcl_text(kill_timeout).strip()
        if re.match(r'^[0-9.]+$', text) and text != '0':
            raise ctx.error('kill_timeout %s has no unit; Nomad durations need one, such as 30s or 1m30s' % _quote(text))
        try:
            seconds = parse_duration(text, option='kill_timeout')
        except QemuTaskError as exc:
            raise ctx.error(str(exc)) from None
        options['kill_timeout'] = int(seconds) if float(seconds).is_integer() else seconds
    return options


def read_job(text, filename='<job>', variables=None, stop_only=False):
    """Read the text of a Nomad job file.

    Returns a dict:

    - ``file``, ``job`` (the job ID, its label), ``name`` (its name), ``type``;
    - ``tasks``: one item per qemu task and count index, in file order, each with ``job``,
      ``group``, ``task``, ``index`` (the count index, 0 to count - 1), ``name`` (the qemu_task
      name), ``options`` (qemu_task options), ``artifacts`` and ``constraints`` (job, group and
      task levels, each with its ``level`` and ``source``);
    - ``groups``: per group its ``count``, the names of its qemu task instances and the
      constraints deciding where it runs (job, group and every qemu task of the group);
    - ``skipped``: tasks not run (other drivers, groups with count 0), with the reason;
    - ``ignored``: settings Nomad knows that are not applied here, with the reason;
    - ``errors``: with ``stop_only``, what a full read refuses the file for (empty otherwise).

    Raises JobFileError for anything it cannot map. With ``stop_only``, only what stopping the
    job needs must be right (the file parses, it has one job block): other errors are listed in
    ``errors``, and the tasks whose names cannot be known (a count that cannot be read) are left
    out; the tasks that are kept may miss their options, artifacts and constraints.
    """
    base = _Context(filename)
    data = parse_hcl(text, filename)
    tolerant = _Tolerant(stop_only)
    ignored = _Ignored()
    tolerant.run(lambda: _check_keys(data, TOP_LEVEL_KEYS, base, 'the file', 'a job file'))
    declared = tolerant.run(lambda: _declared_variables(data, base, ignored, tolerant), {})
    values = _variable_values(declared, variables, base, tolerant)
    locals_ = {}

    def read_locals():
        for body in _bodies(data.get('locals'), base, 'locals'):
            for name, value in body.items():
                if name == _BLOCK_MARK:
                    continue
                if name in locals_:
                    raise base.error('local %s is set twice; set it once' % _quote(name))
                locals_[name] = value
    tolerant.run(read_locals)
    interpolator = _Interpolator(values, locals_)

    jobs = _labelled(data.get('job'), base, 'job', 'job "web" { ... }')
    if len(jobs) != 1:
        raise base.error('holds %d jobs; a Nomad job file holds exactly one job block' % len(jobs) if jobs else
                         'holds no job block; a Nomad job file holds exactly one, such as job "web" { ... }')
    job_id, job_body = jobs[0]
    ctx = base.at(job=job_id)
    tolerant.run(lambda: _check_keys(job_body, JOB_KEYS, ctx, 'the job', 'a job block'))
    for key, reason in REFUSED_JOB_KEYS.items():
        if key in job_body:
            tolerant.run(lambda reason=reason: _raise(ctx.error(reason)))
    job_body = tolerant.run(lambda: interpolator.hcl_keys(job_body, ctx, ('type', 'name', 'id', 'constraint', 'meta')),
                            dict((k, v) for k, v in job_body.items() if k not in ('type', 'name', 'id', 'constraint', 'meta')))
    for key in job_body:
        if key in IGNORED_JOB_KEYS:
            ignored.add(ctx, key, IGNORED_JOB_KEYS[key])
    job_type = _plain(job_body.get('type', 'service'))
    if job_type not in JOB_TYPES:
        tolerant.run(lambda: _raise(ctx.error('type is %s; Nomad job types are %s' % (_quote(job_type), ', '.join(JOB_TYPES)))))
    if job_type in ('batch', 'sysbatch'):
        ignored.add(ctx, 'type', BATCH_TYPE_REASON)
    job_name = _hcl_text(_plain(job_body.get('name', job_id)))
    job_constraints = tolerant.run(lambda: _constraints(job_body, ctx, 'job', ignored), [])
    job_meta = tolerant.run(lambda: _meta(job_body, ctx), {})

    state = {'tasks': [], 'skipped': [], 'names': {}, 'static_ports': {}, 'tolerant': tolerant, 'job_name': job_name}
    groups = []
    group_labels = set()
    for group_name, group_body in _labelled(job_body.get('group'), ctx, 'group', 'group "web" { ... }'):
        gctx = ctx.at(group=group_name)
        if group_name in group_labels:
            tolerant.run(lambda: _raise(ctx.error('group %s is declared twice; group names must be unique in a job' % _quote(group_name))))
            continue
        group_labels.add(group_name)
        info = tolerant.run(lambda: _read_group(group_name, group_body, gctx, interpolator, ignored, job_constraints, job_meta, state))
        if info is not None:
            groups.append(info)
    return {
        'file': filename, 'job': job_id, 'name': job_name, 'type': job_type,
        'tasks': state['tasks'], 'groups': groups, 'skipped': state['skipped'], 'ignored': ignored.items,
        'errors': tolerant.errors,
    }


def _read_group(group_name, group_body, gctx, interpolator, ignored, job_constraints, job_meta, state):
    """Read one group into ``state``; returns its entry of ``groups``."""
    tolerant = state['tolerant']
    tolerant.run(lambda: _check_keys(group_body, GROUP_KEYS, gctx, 'the group', 'a group block'))
    count = _plain(interpolator.hcl(group_body.get('count', DEFAULT_COUNT), gctx, 'count'))
    count_number = _to_int(count)
    if count_number is None or count_number < 0:
        raise gctx.error('count is %r; use a whole number, 0 or more' % (count,))
    group_body = tolerant.run(lambda: interpolator.hcl_keys(group_body, gctx, ('constraint', 'meta', 'network')),
                              dict((k, v) for k, v in group_body.items() if k not in ('constraint', 'meta', 'network')))
    for key in group_body:
        if key in IGNORED_GROUP_KEYS:
            ignored.add(gctx, key, IGNORED_GROUP_KEYS[key])
    group_constraints = tolerant.run(lambda: _constraints(group_body, gctx, 'group', ignored), [])

    def read_ports():
        networks = _bodies(group_body.get('network'), gctx, 'network')
        if len(networks) > 1:
            raise gctx.error('has %d network blocks; Nomad allows one per group' % len(networks))
        return _ports(networks, gctx, ignored, 'network')
    group = {
        'name': group_name, 'count': count_number, 'constraints': group_constraints,
        'meta': dict(job_meta, **tolerant.run(lambda: _meta(group_body, gctx), {})), 'ports': tolerant.run(read_ports, {}),
    }
    group_info = {'group': group_name, 'count': count_number, 'tasks': [],
                  'constraints': list(job_constraints) + group_constraints}
    task_labels = set()
    for task_label, task_body in _labelled(group_body.get('task'), gctx, 'task', 'task "vm" { ... }'):
        tctx = gctx.at(task=task_label)
        if task_label in task_labels:
            tolerant.run(lambda: _raise(gctx.error('task %s is declared twice; task names must be unique in a group' % _quote(task_label))))
            continue
        task_labels.add(task_label)
        driver = tolerant.run(lambda: _plain(interpolator.hcl(task_body.get('driver'), tctx, 'driver')))
        if not driver:
            tolerant.run(lambda: _raise(tctx.error('has no driver; set driver = "qemu"')))
            continue
        if driver != 'qemu':
            _skip(state, tctx, driver, 'its driver %s is not qemu' % _quote(driver))
            continue
        if count_number == 0:
            _skip(state, tctx, driver, 'the group count is 0')
            continue
        tolerant.run(lambda: _check_keys(task_body, TASK_KEYS, tctx, 'the task', 'a task block'))
        keys = ('config', 'resources', 'kill_timeout', 'artifact', 'constraint', 'meta')
        body = tolerant.run(lambda: interpolator.hcl_keys(task_body, tctx, keys))
        if body is None:
            # Stopping only: the names are known, the settings are not.
            body = dict((k, v) for k, v in task_body.items() if k not in keys)
            body['__unreadable__'] = True
        for key in body:
            if key in IGNORED_TASK_KEYS:
                ignored.add(tctx, key, IGNORED_TASK_KEYS[key])
        task_constraints = tolerant.run(lambda: _constraints(body, tctx, 'task', ignored), [])
        group_info['constraints'].extend(task_constraints)
        instances = _task_instances(
            body, tctx, ignored, interpolator, state,
            dict(job_id=gctx.job, job_name=state['job_name'], group=group, task=task_label,
                 constraints=list(job_constraints) + group_constraints + task_constraints))
        group_info['tasks'].extend(task['name'] for task in instances)
        state['tasks'].extend(instances)
    return group_info


def _skip(state, ctx, driver, reason):
    state['skipped'].append({'job': ctx.job, 'group': ctx.group, 'task': ctx.task, 'driver': driver, 'reason': reason,
                             'message': '%s is not run: %s' % (ctx.where(), reason)})


def _task_instances(task_body, tctx, ignored, interpolator, state, info):
    """The task items of one qemu task: one per count index."""
    tolerant = state['tolerant']
    group = info['group']
    job_id = info['job_id']

    def read_settings():
        meta = dict(group['meta'], **_meta(task_body, tctx))
        configs = _bodies(task_body.get('config'), tctx, 'config')
        if not configs:
            raise tctx.error('has no config block; the qemu driver needs config { image_path = "local/<image>" }')
        if len(configs) > 1:
            raise tctx.error('has %d config blocks; Nomad allows one' % len(configs))
        resources = _single(task_body.get('resources'), tctx, 'resources')
        ports = dict(group['ports'])
        if resources is not None:
            _check_keys(resources, RESOURCES_KEYS, tctx, 'resources', 'a resources block')
            for key in sorted(resources):
                if key in IGNORED_RESOURCES_KEYS:
                    ignored.add(tctx, 'resources.%s' % key, IGNORED_RESOURCES_KEYS[key])
            legacy = _ports(_bodies(resources.get('network'), tctx, 'resources.network'), tctx, ignored, 'resources.network')
            for label in legacy:
                if label in ports:
                    raise tctx.error('port label %s is declared in both the group network block and resources.network; declare it once'
                                     % _quote(label))
            ports.update(legacy)
        artifacts = _bodies(task_body.get('artifact'), tctx, 'artifact')
        return meta, configs[0], resources, ports, artifacts, task_body.get('kill_timeout')
    settings = None if task_body.get('__unreadable__') else tolerant.run(read_settings)
    names = state['names']
    items = []
    for index in range(group['count']):
        # Always with the index, as Nomad's allocations always have one: a count going from 1 to 2
        # adds <name>-1 and keeps <name>-0 running.
        name = task_name(job_id, group['name'], info['task'], index)
        where = _where(job_id, group['name'], info['task']) + ('' if group['count'] == 1 else ' (index %d)' % index)
        if name in names:
            tolerant.run(lambda: _raise(tctx.error('its task name %s is also the name of %s; rename one of them' % (_quote(name), names[name]))))
            continue
        names[name] = where
        item = {'job': job_id, 'group': group['name'], 'task': info['task'], 'index': index, 'name': name,
                'options': {}, 'artifacts': [], 'constraints': list(info['constraints'])}
        if settings is not None:
            # Settings not applied are reported once, not once per count index.
            report = ignored if index == 0 else _Ignored()
            tolerant.run(lambda: item.update(_instance_settings(settings, tctx, report, interpolator, state, info, index, where)))
        items.append(item)
    return items


def _instance_settings(settings, tctx, report, interpolator, state, info, index, where):
    """The options and artifacts of one task instance."""
    meta, config, resources, ports, artifacts, kill_timeout = settings
    group = info['group']
    job_id = info['job_id']
    env = {
        'NOMAD_JOB_NAME': info['job_name'], 'NOMAD_JOB_ID': job_id, 'NOMAD_GROUP_NAME': group['name'],
        'NOMAD_TASK_NAME': info['task'], 'NOMAD_ALLOC_INDEX': str(index),
        'NOMAD_ALLOC_NAME': '%s.%s[%d]' % (job_id, group['name'], index), 'NOMAD_TASK_DIR': 'local',
    }
    for key, value in meta.items():
        env.setdefault('NOMAD_META_%s' % key, value)
        env.setdefault('NOMAD_META_%s' % key.upper(), value)
    config = interpolator.runtime(_strip(config), tctx, 'config', env)
    task_resources = interpolator.runtime(_strip(resources), tctx, 'resources', env) if resources is not None else None
    kill_timeout = interpolator.runtime(_plain(kill_timeout), tctx, 'kill_timeout', env)
    options = _qemu_options(config, task_resources, kill_timeout, ports, tctx, report)
    task_artifacts = [_artifact(interpolator.runtime(_strip(item), tctx, 'artifact[%d]' % i, env), i, tctx, report)
                      for i, item in enumerate(artifacts)]
    for label, port in sorted(options.get('ports', {}).items()):
        owner = '%s port %s' % (where, _quote(label))
        if port in state['static_ports']:
            raise tctx.error('host port %d is forwarded by both %s and %s; every task of the job runs on each host, so '
                             'static ports must differ (use a dynamic port, or count = 1)' % (port, state['static_ports'][port], owner))
        state['static_ports'][port] = owner
    return {'options': options, 'artifacts': task_artifacts}


def read_job_file(path, variables=None, display_name=None, stop_only=False):
    """read_job() on the file at ``path``."""
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise JobFileError('%s: cannot read the job file: %s' % (display_name or path, getattr(exc, 'strerror', None) or exc)) from None
    return read_job(text, display_name or path, variables, stop_only=stop_only)


# ---- placement --------------------------------------------------------------------------

def place_job(job, attributes, check_constraints, running=None):
    """Which of the job's tasks a host with these Nomad ``attributes`` runs.

    As in Nomad, a group runs where the constraints of the job, the group and all its qemu
    tasks are met, and then all of its tasks run there. ``check_constraints(constraints,
    attributes)`` returns the list of unmet constraint messages and raises ValueError for a
    constraint it cannot evaluate.

    ``running`` lists the tasks of jobs already on the host, from the marks the run_job playbook
    writes into their task directories (dicts with at least ``job`` and ``name``; ``group``,
    ``task``, ``index`` and anything else are kept). Those of this job the host no longer runs
    are ``stale``, each with the ``reason``, as Nomad stops the allocations a job no longer wants.

    Returns ``{'tasks': [...], 'unplaced': [{'group', 'tasks', 'reasons'}], 'stale': [...]}``.
    """
    placed_groups = set()
    unplaced = []
    for group in job.get('groups', []):
        if not group.get('tasks'):
            continue
        reasons = []
        for constraint in group.get('constraints', []):
            plain = dict((k, constraint[k]) for k in ('attribute', 'operator', 'value') if k in constraint)
            try:
                messages = check_constraints([plain], attributes)
            except ValueError as exc:
                raise JobFileError('%s: %s: %s' % (job.get('file'), constraint.get('source'), str(exc).replace('constraint 1: ', ''))) from None
            reasons.extend('%s: %s' % (constraint.get('source'), message) for message in messages)
        if reasons:
            unplaced.append({'group': group['group'], 'tasks': list(group['tasks']), 'reasons': reasons})
        else:
            placed_groups.add(group['group'])
    tasks = [task for task in job.get('tasks', []) if task['group'] in placed_groups]
    return {'tasks': tasks, 'unplaced': unplaced, 'stale': stale_tasks(job, tasks, unplaced, running or [])}


def stale_tasks(job, tasks, unplaced, running):
    """The tasks of ``running`` that belong to ``job`` but are not in ``tasks``, each with the reason."""
    wanted = set(task['name'] for task in tasks)
    unplaced_by_name = dict((name, group) for group in unplaced for name in group['tasks'])
    groups = dict((group['group'], group) for group in job.get('groups', []))
    qemu_tasks = set((task['group'], task['task']) for task in job.get('tasks', []))
    stale = []
    for mark in sorted(running, key=lambda item: str(item.get('name'))):
        if not isinstance(mark, dict) or mark.get('job') != job.get('job') or mark.get('name') in wanted:
            continue
        group, task = mark.get('group'), mark.get('task')
        if mark.get('name') in unplaced_by_name:
            reason = 'its group %s does not run on this host: %s' % (_quote(group), '; '.join(unplaced_by_name[mark['name']]['reasons']))
        elif group not in groups:
            reason = 'the job file has no group %s any more' % _quote(group)
        elif (group, task) not in qemu_tasks and groups[group]['count'] > 0:
            reason = 'group %s of the job file has no qemu task %s any more' % (_quote(group), _quote(task))
        elif isinstance(mark.get('index'), int) and mark['index'] >= groups[group]['count']:
            reason = 'group %s now has count = %d, so index %d is no longer run' % (_quote(group), groups[group]['count'], mark['index'])
        else:
            reason = 'the job file no longer has a task instance named %s' % _quote(mark.get('name'))
        stale.append(dict(mark, reason=reason, message='%s: stopped and removed: %s' % (mark.get('name'), reason)))
    return stale
