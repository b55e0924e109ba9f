# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A Nomad job file read into the qemu tasks qemu_task runs: the job, its groups, tasks and task instances.

``read_job(text, filename, variables)`` turns the text of a job file into a dict with the job's
qemu tasks (one item per task and count index, with qemu_task options, artifacts and
constraints), the tasks it skips (other drivers) and what it does not apply (Nomad scheduling
settings and the like, each with the reason); ``read_job_file`` does it for a file.
"""

from __future__ import annotations

import hashlib
import posixpath
import re

from ansible_collections.nomadic.qemu.plugins.module_utils._task.record import TASK_NAME_RE
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.artifact import artifact
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.constraint import constraints
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.hcl import (
    BLOCK_MARK,
    bodies,
    check_keys,
    hcl_text,
    labelled,
    merged,
    parse_hcl,
    single,
    strip,
    to_int,
)
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.interpolate import Interpolator, plain
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.reader import JobFileError, Reader, quote, where
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.scheduling import affinities, max_parallel, spreads
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.tables import (
    BATCH_TYPE_REASON,
    DEFAULT_COUNT,
    GROUP_KEYS,
    IGNORED_GROUP_KEYS,
    IGNORED_JOB_KEYS,
    IGNORED_RESOURCES_KEYS,
    IGNORED_TASK_KEYS,
    JOB_KEYS,
    JOB_TYPES,
    REFUSED_JOB_KEYS,
    RELATIVE_DIRS,
    RESOURCES_KEYS,
    TASK_KEYS,
    TASK_OPTION_KEYS,
    TOP_LEVEL_KEYS,
)
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.task_options import TaskSettings, network_ports, qemu_options
from ansible_collections.nomadic.qemu.plugins.plugin_utils._nomad.variables import declared_variables, variable_values

_NAME_CHARS_RE = re.compile(r'[^A-Za-z0-9_.-]+')

# The keys of each level whose ${...} the HCL pass resolves when the level is read; the others
# are resolved where they are used (a group's network, a task's settings), or never (other drivers).
_JOB_HCL_KEYS = ('type', 'name', 'id', 'constraint', 'affinity', 'spread', 'update', 'meta')
_GROUP_HCL_KEYS = ('constraint', 'affinity', 'spread', 'update', 'meta', 'network', 'restart')
_TASK_HCL_KEYS = ('config', 'resources', 'artifact', 'constraint', 'affinity', 'meta') + tuple(TASK_OPTION_KEYS)


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


def task_labels(job, group, task, index):
    """The qemu_task labels of a task instance: the job (its ID), the group, the task and the count index, as strings."""
    return {'nomad_job': job, 'nomad_group': group, 'nomad_task': task, 'nomad_alloc_index': str(index)}


def _meta(body, ctx):
    return dict((k, hcl_text(v)) for k, v in merged(body.get('meta'), ctx, 'meta').items())


def _without(body, keys):
    return dict((k, v) for k, v in body.items() if k not in keys)


def read_job(text, filename='<job>', variables=None, stop_only=False):
    """Read the text of a Nomad job file.

    Returns a dict:

    - ``file``, ``job`` (the job ID, its label), ``name`` (its name), ``type``;
    - ``tasks``: one item per qemu task and count index, in file order, each with ``job``,
      ``group``, ``task``, ``index`` (the count index, 0 to count - 1), ``name`` (the qemu_task
      name), ``options`` (qemu_task options, with the ``labels`` naming the job, group, task and
      index), ``artifacts`` and ``constraints`` (job, group and task levels, each with its
      ``level`` and ``source``);
    - ``groups``: per group its ``count``, the names of its qemu task instances, the
      constraints deciding where it runs (job, group and every qemu task of the group;
      distinct_hosts and distinct_property among them), its ``affinities`` (job, group and
      tasks), ``spreads`` (job and group) and ``max_parallel`` (the update block's; None
      without one);
    - ``skipped``: tasks not run (other drivers, groups with count 0), with the reason;
    - ``ignored``: settings Nomad knows that are not applied here, with the reason;
    - ``errors``: with ``stop_only``, what a full read refuses the file for (empty otherwise).

    Raises JobFileError for anything it cannot map. With ``stop_only``, only what stopping the
    job needs must be right (the file parses, it has one job block): other errors are listed in
    ``errors``, and the tasks whose names cannot be known (a count that cannot be read) are left
    out; the tasks that are kept may miss their options (but for their labels), artifacts and
    constraints.
    """
    reader = Reader(filename, stop_only)
    base = reader.location()
    data = parse_hcl(text, filename)
    reader.run(lambda: check_keys(data, TOP_LEVEL_KEYS, base, 'the file', 'a job file'))
    declared = reader.run(lambda: declared_variables(reader, data, base), {})
    values = variable_values(reader, declared, variables, base)
    reader.interpolator = Interpolator(values, reader.run(lambda: _locals(data, base), {}))

    jobs = labelled(data.get('job'), base, 'job', 'job "web" { ... }')
    if len(jobs) != 1:
        raise base.error('holds %d jobs; a Nomad job file holds exactly one job block' % len(jobs) if jobs else
                         'holds no job block; a Nomad job file holds exactly one, such as job "web" { ... }')
    job_id, job_body = jobs[0]
    ctx = base.at(job=job_id)
    reader.run(lambda: check_keys(job_body, JOB_KEYS, ctx, 'the job', 'a job block'))
    for key, reason in REFUSED_JOB_KEYS.items():
        if key in job_body:
            reader.refuse(ctx.error(reason))
    job_body = reader.run(lambda: reader.interpolator.hcl_keys(job_body, ctx, _JOB_HCL_KEYS), _without(job_body, _JOB_HCL_KEYS))
    for key in job_body:
        if key in IGNORED_JOB_KEYS:
            reader.ignored.add(ctx, key, IGNORED_JOB_KEYS[key])
    job_type = plain(job_body.get('type', 'service'))
    if job_type not in JOB_TYPES:
        reader.refuse(ctx.error('type is %s; Nomad job types are %s' % (quote(job_type), ', '.join(JOB_TYPES))))
    if job_type in ('batch', 'sysbatch'):
        reader.ignored.add(ctx, 'type', BATCH_TYPE_REASON)
    job = _Job(job_id, hcl_text(plain(job_body.get('name', job_id))), reader.run(lambda: constraints(reader, job_body, ctx, 'job'), []),
               reader.run(lambda: _meta(job_body, ctx), {}))
    job.affinities = reader.run(lambda: affinities(reader, job_body, ctx), [])
    job.spreads = reader.run(lambda: spreads(reader, job_body, ctx), [])
    job.max_parallel = reader.run(lambda: max_parallel(reader, job_body, ctx))

    tasks = []
    groups = []
    group_names = set()
    lone = set()
    for group_name, group_body, alone in _groups(job_body, ctx):
        if group_name in group_names:
            if alone:
                message = 'task %s is declared twice directly under the job; task names must be unique there' % quote(group_name)
            elif group_name in lone:
                message = ('task %s directly under the job is a group of that name, as in Nomad, and group %s is declared too; '
                           'rename one of them' % (quote(group_name), quote(group_name)))
            else:
                message = 'group %s is declared twice; group names must be unique in a job' % quote(group_name)
            reader.refuse(ctx.error(message))
            continue
        if alone:
            lone.add(group_name)
        group_names.add(group_name)
        group = reader.run(lambda: _read_group(reader, job, ctx.at(group=group_name), group_body))
        if group is not None:
            groups.append(group.info())
            tasks.extend(group.instances)
    return {
        'file': filename, 'job': job_id, 'name': job.name, 'type': job_type,
        'tasks': tasks, 'groups': groups, 'skipped': reader.skipped, 'ignored': reader.ignored.items,
        'errors': reader.errors,
    }


def read_job_file(path, variables=None, display_name=None, stop_only=False):
    """read_job() on the file at ``path``."""
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise JobFileError('%s: cannot read the job file: %s' % (display_name or path, getattr(exc, 'strerror', None) or exc)) from None
    return read_job(text, display_name or path, variables, stop_only=stop_only)


def _groups(job_body, ctx):
    """(name, body, alone) of the job's groups: first a group for each task directly under the job (alone), named
    after it and with the group defaults, as Nomad's parser makes them; then the group blocks."""
    lone = [(label, {BLOCK_MARK: True, 'task': [{label: body}]}, True)
            for label, body in labelled(job_body.get('task'), ctx, 'task', 'task "vm" { ... }')]
    return lone + [(label, body, False) for label, body in labelled(job_body.get('group'), ctx, 'group', 'group "web" { ... }')]


def _locals(data, ctx):
    """name -> value (before the HCL pass) from the locals blocks."""
    values = {}
    for body in bodies(data.get('locals'), ctx, 'locals'):
        for name, value in body.items():
            if name == BLOCK_MARK:
                continue
            if name in values:
                raise ctx.error('local %s is set twice; set it once' % quote(name))
            values[name] = value
    return values


class _Job:
    """What the groups of a job take from it."""

    __slots__ = ('id', 'name', 'constraints', 'meta', 'affinities', 'spreads', 'max_parallel')

    def __init__(self, job_id, name, job_constraints, meta):
        self.id = job_id
        self.name = name
        self.constraints = job_constraints
        self.meta = meta
        self.affinities = []
        self.spreads = []
        # None: no update block, every change at once
        self.max_parallel = None


class _Group:
    """One group of the job: what its tasks take from it, and the instances of its qemu tasks."""

    __slots__ = ('job', 'name', 'count', 'constraints', 'meta', 'ports', 'task_constraints', 'instances', 'restart',
                 'affinities', 'task_affinities', 'spreads', 'max_parallel', 'port_constraints')

    def __init__(self, job, name, count, group_constraints, meta, ports, restart=None):
        self.job = job
        # The group's restart block: the default of its tasks' own (Nomad merges them key by key).
        self.restart = restart
        self.name = name
        self.count = count
        self.constraints = group_constraints
        self.meta = meta
        self.ports = ports
        self.task_constraints = []
        self.instances = []
        self.affinities = []
        self.task_affinities = []
        self.spreads = []
        self.max_parallel = job.max_parallel
        self.port_constraints = []

    def info(self):
        """The group's entry of ``groups``: the constraints of the job, the group and all its qemu tasks decide where it runs."""
        return {'group': self.name, 'count': self.count, 'tasks': [task['name'] for task in self.instances],
                'constraints': list(self.job.constraints) + self.constraints + self.task_constraints + self.port_constraints,
                'affinities': list(self.job.affinities) + self.affinities + self.task_affinities,
                'spreads': list(self.job.spreads) + self.spreads, 'max_parallel': self.max_parallel}


def _read_group(reader, job, gctx, group_body):
    """Read one group and the instances of its qemu tasks."""
    reader.run(lambda: check_keys(group_body, GROUP_KEYS, gctx, 'the group', 'a group block'))
    count = plain(reader.interpolator.hcl(group_body.get('count', DEFAULT_COUNT), gctx, 'count'))
    count_number = to_int(count)
    if count_number is None or count_number < 0:
        raise gctx.error('count is %r; use a whole number, 0 or more' % (count,))
    group_body = reader.run(lambda: reader.interpolator.hcl_keys(group_body, gctx, _GROUP_HCL_KEYS), _without(group_body, _GROUP_HCL_KEYS))
    for key in group_body:
        if key in IGNORED_GROUP_KEYS:
            reader.ignored.add(gctx, key, IGNORED_GROUP_KEYS[key])
    group_constraints = reader.run(lambda: constraints(reader, group_body, gctx, 'group'), [])

    def read_ports():
        networks = bodies(group_body.get('network'), gctx, 'network')
        if len(networks) > 1:
            raise gctx.error('has %d network blocks; Nomad allows one per group' % len(networks))
        # None: no network block, which is not the same as one without ports (see qemu_options).
        return network_ports(reader, networks, gctx, 'network') if networks else None
    group = _Group(job, gctx.group, count_number, group_constraints, dict(job.meta, **reader.run(lambda: _meta(group_body, gctx), {})),
                   reader.run(read_ports, {}), reader.run(lambda: single(group_body.get('restart'), gctx, 'restart')))
    group.affinities = reader.run(lambda: affinities(reader, group_body, gctx), [])
    group.spreads = reader.run(lambda: spreads(reader, group_body, gctx), [])
    group.max_parallel = reader.run(lambda: max_parallel(reader, group_body, gctx, job.max_parallel), job.max_parallel)
    task_names = set()
    for task_label, task_body in labelled(group_body.get('task'), gctx, 'task', 'task "vm" { ... }'):
        if task_label in task_names:
            reader.refuse(gctx.error('task %s is declared twice; task names must be unique in a group' % quote(task_label)))
            continue
        task_names.add(task_label)
        _read_task(reader, group, gctx.at(task=task_label), task_body)
    return group


def _read_task(reader, group, tctx, task_body):
    """Read one task of ``group``: a qemu task adds its instances, another is skipped."""
    driver = reader.run(lambda: plain(reader.interpolator.hcl(task_body.get('driver'), tctx, 'driver')))
    if not driver:
        reader.refuse(tctx.error('has no driver; set driver = "qemu"'))
        return
    if driver != 'qemu':
        reader.skip(tctx, driver, 'its driver %s is not qemu' % quote(driver))
        return
    if group.count == 0:
        reader.skip(tctx, driver, 'the group count is 0')
        return
    reader.run(lambda: check_keys(task_body, TASK_KEYS, tctx, 'the task', 'a task block'))
    body = reader.run(lambda: reader.interpolator.hcl_keys(task_body, tctx, _TASK_HCL_KEYS))
    readable = body is not None
    if not readable:
        # Stopping only: the names are known, the settings are not.
        body = _without(task_body, _TASK_HCL_KEYS)
    for key in body:
        if key in IGNORED_TASK_KEYS:
            reader.ignored.add(tctx, key, IGNORED_TASK_KEYS[key])
    task_constraints = reader.run(lambda: constraints(reader, body, tctx, 'task'), [])
    group.task_constraints.extend(task_constraints)
    group.task_affinities.extend(reader.run(lambda: affinities(reader, body, tctx), []))
    settings = reader.run(lambda: _task_settings(reader, group, tctx, body)) if readable else None
    for index in range(group.count):
        instance = _instance(reader, group, tctx, index, list(group.job.constraints) + group.constraints + task_constraints)
        if instance is None:
            continue
        if settings is not None:
            # Settings not applied are reported once, not once per count index.
            instance_reader = reader if index == 0 else reader.quiet()
            reader.run(lambda: _instance_settings(instance_reader, group, tctx, settings, instance))
        group.instances.append(instance)


def _task_settings(reader, group, tctx, task_body):
    """The TaskSettings of a qemu task, before the runtime pass."""
    meta = dict(group.meta, **_meta(task_body, tctx))
    configs = bodies(task_body.get('config'), tctx, 'config')
    if not configs:
        raise tctx.error('has no config block; the qemu driver needs config { image_path = "local/<image>" }')
    if len(configs) > 1:
        raise tctx.error('has %d config blocks; Nomad allows one' % len(configs))
    resources = single(task_body.get('resources'), tctx, 'resources')
    ports = None if group.ports is None else dict(group.ports)
    if resources is not None:
        check_keys(resources, RESOURCES_KEYS, tctx, 'resources', 'a resources block')
        for key in sorted(resources):
            if key in IGNORED_RESOURCES_KEYS:
                reader.ignored.add(tctx, 'resources.%s' % key, IGNORED_RESOURCES_KEYS[key])
        legacy_networks = bodies(resources.get('network'), tctx, 'resources.network')
        if legacy_networks:
            legacy = network_ports(reader, legacy_networks, tctx, 'resources.network')
            ports = ports or {}
            for label in legacy:
                if label in ports:
                    raise tctx.error('port label %s is declared in both the group network block and resources.network; declare it '
                                     'once' % quote(label))
            ports.update(legacy)
    restart = dict(strip(group.restart) or {}, **(strip(single(task_body.get('restart'), tctx, 'restart')) or {})) or None
    return TaskSettings(configs[0], resources, task_body.get('kill_timeout'), ports, meta, bodies(task_body.get('artifact'), tctx, 'artifact'),
                        restart=restart, logs=single(task_body.get('logs'), tctx, 'logs'), user=task_body.get('user'))


def _instance(reader, group, tctx, index, instance_constraints):
    """The task item of count index ``index``, with its name and labels; None (stop_only) when its name is taken."""
    job_id = group.job.id
    # Always with the index, as Nomad's allocations always have one: a count going from 1 to 2
    # adds <name>-1 and keeps <name>-0 running.
    name = task_name(job_id, group.name, tctx.task, index)
    if name in reader.names:
        reader.refuse(tctx.error('its task name %s is also the name of %s; rename one of them' % (quote(name), reader.names[name])))
        return None
    reader.names[name] = where(job_id, group.name, tctx.task) + ('' if group.count == 1 else ' (index %d)' % index)
    return {'job': job_id, 'group': group.name, 'task': tctx.task, 'index': index, 'name': name,
            'options': {'labels': task_labels(job_id, group.name, tctx.task, index)}, 'artifacts': [],
            'constraints': instance_constraints}


def _instance_settings(reader, group, tctx, settings, instance):
    """Set the options and artifacts of the task item ``instance`` from the TaskSettings of its task."""
    job_id, index = group.job.id, instance['index']
    env = {
        'NOMAD_JOB_NAME': group.job.name, 'NOMAD_JOB_ID': job_id, 'NOMAD_GROUP_NAME': group.name,
        'NOMAD_TASK_NAME': tctx.task, 'NOMAD_ALLOC_INDEX': str(index),
        'NOMAD_ALLOC_NAME': '%s.%s[%d]' % (job_id, group.name, index),
    }
    env.update(RELATIVE_DIRS)
    for key, value in settings.meta.items():
        env.setdefault('NOMAD_META_%s' % key, value)
        env.setdefault('NOMAD_META_%s' % key.upper(), value)
    options = qemu_options(reader, tctx, settings.resolved(reader, tctx, env))
    artifacts = [artifact(reader, reader.interpolator.runtime(strip(item), tctx, 'artifact[%d]' % i, env), i, tctx)
                 for i, item in enumerate(settings.artifacts)]
    owner = reader.names[instance['name']]
    for label, port in sorted(options.get('ports', {}).items()):
        port_owner = '%s port %s' % (owner, quote(label))
        known = reader.static_ports.get(port)
        # The count indexes of one task share its static ports: placement keeps them on hosts of their own.
        if known is not None and known[1:] != (group.name, tctx.task):
            raise tctx.error('host port %d is forwarded by both %s and %s; two tasks of a job cannot share a static port, '
                             'as both may run on one host (use another port, or a dynamic one)' % (port, known[0], port_owner))
        reader.static_ports.setdefault(port, (port_owner, group.name, tctx.task))
        if group.count > 1 and not group.port_constraints:
            # Nomad keeps allocations asking for the same static port off one node (a port collision).
            group.port_constraints.append({'operator': 'distinct_hosts', 'value': 'true', 'level': 'group',
                                           'source': '%s: static port %d' % (tctx.at(task=None).where(), port)})
    options['labels'] = instance['options']['labels']
    image = posixpath.normpath(options['image_path']) if options.get('image_path') else None
    for item in artifacts:
        # The artifact the VM boots from: run_job fetches it into the image cache (qemu_image) and gives
        # the task a qcow2 overlay on it, so tasks and runs share one verified copy.
        item['disk_image'] = not item['archive'] and item['path'] == image
    instance.update(options=options, artifacts=artifacts)
