# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""What one read of a job file carries along: where a value is, what is not applied, what is skipped.

Everything the job says is either mapped, listed as ignored with a reason, or refused with a
JobFileError naming the file, the task and the key: nothing is dropped silently.
"""

from __future__ import annotations

import copy

from ansible.errors import AnsibleError


class JobFileError(AnsibleError):
    """A job file that cannot be mapped; ``str(e)`` names the file, the task and the key."""


def quote(value):
    """``value`` in the quotes of messages."""
    return "'%s'" % (value,)


def where(job=None, group=None, task=None):
    """``job 'web', group 'g', task 't'``, for the parts given."""
    parts = []
    if job is not None:
        parts.append('job %s' % quote(job))
    if group is not None:
        parts.append('group %s' % quote(group))
    if task is not None:
        parts.append('task %s' % quote(task))
    return ', '.join(parts)


class Location:
    """Where in the file a value comes from, for messages."""

    def __init__(self, filename, job=None, group=None, task=None):
        self.filename = filename
        self.job = job
        self.group = group
        self.task = task

    def at(self, **kw):
        """This location with some of ``job``, ``group`` and ``task`` changed."""
        values = dict(job=self.job, group=self.group, task=self.task)
        values.update(kw)
        return Location(self.filename, **values)

    def where(self):
        return where(self.job, self.group, self.task)

    def error(self, msg):
        """A JobFileError for ``msg``, prefixed with the file and where in it."""
        place = self.where()
        return JobFileError('%s: %s%s' % (self.filename, place + ': ' if place else '', msg))


class Ignored:
    """The settings Nomad knows that are not applied, each with the reason."""

    def __init__(self):
        self.items = []

    def add(self, at, key, reason):
        self.add_at(at.where(), key, reason)

    def add_at(self, place, key, reason):
        self.items.append({'where': place, 'key': key, 'reason': reason,
                           'message': '%s: %s is not applied: %s' % (place, key, reason)})


class Tolerant:
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


class Reader:
    """One read of a job file: its name, the interpolator, and what the read collects.

    - ``filename``: the name of the file in messages;
    - ``interpolator``: resolves ``${...}`` (set once the variables and locals are known);
    - ``ignored``: the settings not applied (Ignored), ``skipped``: the tasks not run;
    - ``tolerant``: with stop_only, errors are collected instead of raised (``run``, ``errors``);
    - ``names`` and ``static_ports``: the task names and static host ports given so far, with
      their owner, since both must differ across the whole job.
    """

    def __init__(self, filename, stop_only=False):
        self.filename = filename
        self.interpolator = None
        self.ignored = Ignored()
        self.skipped = []
        self.tolerant = Tolerant(stop_only)
        self.names = {}
        self.static_ports = {}

    @property
    def errors(self):
        return self.tolerant.errors

    def run(self, step, default=None):
        """``step()``; with stop_only, a JobFileError is recorded and ``default`` returned."""
        return self.tolerant.run(step, default)

    def refuse(self, error):
        """Raise ``error``, or record it with stop_only."""
        def step():
            raise error
        self.run(step)

    def location(self, **kw):
        """The Location of the file's top level, or of ``job``, ``group`` and ``task`` in it."""
        return Location(self.filename, **kw)

    def skip(self, at, driver, reason):
        """Record that the task at ``at`` is not run, and why."""
        self.skipped.append({'job': at.job, 'group': at.group, 'task': at.task, 'driver': driver, 'reason': reason,
                             'message': '%s is not run: %s' % (at.where(), reason)})

    def quiet(self):
        """This reader, with the settings not applied left unreported (for the count indexes after the first)."""
        other = copy.copy(self)
        other.ignored = Ignored()
        return other
