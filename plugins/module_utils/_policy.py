# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The host policy (what Nomad calls the plugin options) and how task options may narrow it.

The host policy is a JSON file the host administrator writes, for example::

    {"image_paths": ["/var/lib/images"], "args_allowlist": ["-m", "-smp"], "emulators_allowlist": ["x86_64"]}

Each key is optional; a missing key or null leaves that aspect unrestricted. A list, even
an empty one, restricts: ``image_paths: []`` allows images from the task directory only,
``args_allowlist: []`` allows no option in args, ``emulators_allowlist: []`` allows no
emulator. Task options may narrow the host policy, never widen it.
"""

from __future__ import annotations

import json

# normalize_emulator is the one emulator-name rule (_emulator.py); importers of this module use it from here too.
from ansible_collections.nomadic.qemu.plugins.module_utils._emulator import normalize_emulator
from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._paths import check_image_paths, describe_list, is_within

DEFAULT_POLICY_PATH = '/etc/nomadic-qemu/policy.json'
POLICY_KEYS = ('image_paths', 'args_allowlist', 'emulators_allowlist')


def _string_list(value, fail):
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        fail()
    return list(value)


def load_policy(path=DEFAULT_POLICY_PATH):
    """Read the host policy; returns ``{}`` when the file does not exist.

    Otherwise returns a dict with the keys of POLICY_KEYS that the file sets (to a list;
    emulator names normalized) and ``source``, the file's path. Raises QemuTaskError naming
    the file (and key) when it cannot be read, is not a JSON object, has an unknown key, or
    a value of the wrong type.
    """
    try:
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise QemuTaskError('cannot read the host policy %s (%s); make it readable or remove it' % (path, exc.strerror),
                            option='policy') from None
    except UnicodeDecodeError:
        raise QemuTaskError('the host policy %s is not UTF-8 text; fix the file' % path, option='policy') from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise QemuTaskError('the host policy %s is not valid JSON (%s); fix the file' % (path, exc), option='policy') from None
    if not isinstance(data, dict):
        raise QemuTaskError('the host policy %s must be a JSON object with the keys %s; fix the file' % (path, ', '.join(POLICY_KEYS)),
                            option='policy')
    policy = {}
    for key, value in data.items():
        if key not in POLICY_KEYS:
            raise QemuTaskError("the host policy %s has the unknown key '%s'; use only %s" % (path, key, ', '.join(POLICY_KEYS)),
                                option='policy')
        if value is None:
            continue

        def fail(key=key):
            raise QemuTaskError('the host policy %s sets %s to %s; use a list of strings' % (path, key, json.dumps(data[key])),
                                option='policy')

        value = _string_list(value, fail)
        try:
            if key == 'image_paths':
                value = check_image_paths(value)
            elif key == 'emulators_allowlist':
                value = [normalize_emulator(item, key) for item in value]
        except QemuTaskError as exc:
            raise QemuTaskError('the host policy %s: %s' % (path, exc), option='policy') from None
        policy[key] = value
    if policy:
        policy['source'] = path
    return policy


def effective_policy(host_policy, image_paths=None, args_allowlist=None, emulators_allowlist=None):
    """Combine the host policy (from load_policy) with a task's own restrictions.

    A task option may only narrow the host policy: with the host setting image_paths, every
    task entry must be within (real paths) one of the host's directories; a task
    args_allowlist or emulators_allowlist must be a subset of the host's. An unset (None)
    task option takes the host's value; both unset mean unrestricted (None).

    Returns ``{'image_paths': list or None, 'args_allowlist': list or None,
    'emulators_allowlist': list or None, 'source': {key: 'host', 'task' or None}}``;
    ``source`` says where each restriction came from ('task' also when the task narrowed
    the host's), for messages and diffs.
    """
    host_policy = host_policy or {}
    origin = host_policy.get('source', DEFAULT_POLICY_PATH)
    task = {
        'image_paths': check_image_paths(image_paths),
        'args_allowlist': None if args_allowlist is None else _string_list(args_allowlist, lambda: _task_type_error('args_allowlist')),
        'emulators_allowlist': None if emulators_allowlist is None else [
            normalize_emulator(item, 'emulators_allowlist')
            for item in _string_list(emulators_allowlist, lambda: _task_type_error('emulators_allowlist'))],
    }
    result = {'source': {}}
    for key in POLICY_KEYS:
        host_value = host_policy.get(key)
        task_value = task[key]
        if task_value is None:
            result[key] = None if host_value is None else list(host_value)
            result['source'][key] = None if host_value is None else 'host'
            continue
        if host_value is not None:
            for entry in task_value:
                if key == 'image_paths':
                    inside = any(is_within(entry, directory) for directory in host_value)
                else:
                    inside = entry in host_value
                if not inside:
                    raise QemuTaskError("%s entry '%s' is not %s the host policy's %s (%s) in %s; %s"
                                        % (key, entry, 'within' if key == 'image_paths' else 'in', key, describe_list(host_value), origin,
                                           _narrow_hint(key)), option=key)
        result[key] = list(task_value)
        result['source'][key] = 'task'
    return result


def _narrow_hint(key):
    if key == 'image_paths':
        return 'use directories inside those, or leave image_paths unset to use the host policy'
    return 'remove it from %s, or leave %s unset to use the host policy' % (key, key)


def _task_type_error(key):
    raise QemuTaskError('%s must be a list of strings' % key, option=key)


def check_emulator(emulator, emulators_allowlist):
    """Check the task's emulator against emulators_allowlist (None: any emulator).

    Both sides are normalized first (``qemu-system-x86_64`` is ``x86_64``).
    """
    name = normalize_emulator(emulator)
    if emulators_allowlist is None:
        return
    allowed = [normalize_emulator(item, 'emulators_allowlist') for item in emulators_allowlist]
    if name not in allowed:
        raise QemuTaskError("emulator '%s' is not in emulators_allowlist (%s); use one of those or add it to emulators_allowlist"
                            % (name, describe_list(allowed)), option='emulator')
