# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The cloud-init NoCloud seed of a task: its files, its ISO image, and what of it may be shown.

user_data and vendor_data can hold passwords and tokens. Nothing here puts their values in a
message, a record or a diff: the configuration shown and recorded holds hashes and top-level
key names only. Mappings are written as ``#cloud-config`` followed by JSON, which is YAML, so
no YAML library is needed on the managed host; the same text is made on the controller by the
qemu_task action plugin (so that Ansible's no_log hides one string, not every value inside).
"""

from __future__ import annotations

import email.mime.multipart
import email.mime.text
import hashlib
import json
import math

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._iso9660 import write_iso

SEED_LABEL = 'cidata'
CLOUD_CONFIG_HEADER = '#cloud-config\n'
# The options that can hold secrets (no_log), and the seed file each one becomes.
SECRET_OPTIONS = ('user_data', 'vendor_data')
FILES = {'user_data': 'user-data', 'meta_data': 'meta-data', 'network_config': 'network-config', 'vendor_data': 'vendor-data'}
# The MIME type cloud-init gives a user-data part by its first line.
_PART_TYPES = (('#!', 'x-shellscript'), ('#cloud-config', 'cloud-config'), ('#include', 'x-include-url'),
               ('#cloud-boothook', 'cloud-boothook'), ('#part-handler', 'part-handler'), ('## template: jinja', 'jinja2'))
_MIME_STARTS = ('content-type:', 'mime-version:')


def _type_name(value):
    """The name of the standard type behind a value (a date, not the templating engine's subclass of it)."""
    for cls in type(value).__mro__:
        if cls.__module__ in ('builtins', 'datetime', 'decimal', 'fractions'):
            return cls.__name__
    return type(value).__name__


def _offending(value, path):
    """The path and type name of the first value JSON cannot write (never the value itself)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return '%s (a key of type %s)' % (path, _type_name(key))
            found = _offending(item, '%s.%s' % (path, key))
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _offending(item, '%s[%d]' % (path, index))
            if found:
                return found
        return None
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else '%s (a float that is not a number)' % path
    return '%s (of type %s)' % (path, _type_name(value))


def _json(value, option):
    found = _offending(value, 'cloud_init.%s' % option)
    if found:
        raise QemuTaskError('cloud_init.%s cannot be written as YAML: %s; use only mappings with string keys, lists, strings, '
                            'numbers, booleans and nulls' % (option, found), option='cloud_init')
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)


def cloud_config_text(value, option='user_data'):
    """A mapping as a #cloud-config document (its body is JSON, which YAML reads)."""
    return CLOUD_CONFIG_HEADER + _json(value, option) + '\n'


def merge_keys(user_data, keys):
    """user_data (a mapping, a string or None) with ssh_authorized_keys added; returns a mapping or a string."""
    if not keys:
        return {} if user_data is None else user_data
    if user_data is None:
        return {'ssh_authorized_keys': list(keys)}
    if isinstance(user_data, dict):
        merged = dict(user_data)
        existing = list(merged.get('ssh_authorized_keys') or [])
        merged['ssh_authorized_keys'] = existing + [key for key in keys if key not in existing]
        return merged
    if user_data.lstrip().lower().startswith(_MIME_STARTS):
        raise QemuTaskError('cloud_init.ssh_authorized_keys cannot be merged into a user_data that is already a MIME multipart '
                            'message; add a text/cloud-config part with the keys to it, or give user_data as a mapping',
                            option='cloud_init')
    # A script or a document of its own: sent with the keys as a two-part MIME message.
    message = email.mime.multipart.MIMEMultipart(boundary='==nomadic-qemu-user-data==')
    keys_part = email.mime.text.MIMEText(cloud_config_text({'ssh_authorized_keys': list(keys)}), 'cloud-config', 'utf-8')
    keys_part.add_header('Content-Disposition', 'attachment', filename='ssh-authorized-keys.cfg')
    message.attach(keys_part)
    subtype = next((kind for start, kind in _PART_TYPES if user_data.startswith(start)), 'x-shellscript')
    user_part = email.mime.text.MIMEText(user_data, subtype, 'utf-8')
    user_part.add_header('Content-Disposition', 'attachment', filename='user-data')
    message.attach(user_part)
    return message.as_string()


def as_texts(cloud_init):
    """cloud_init with user_data (ssh_authorized_keys merged in) and vendor_data as text, for the action plugin."""
    cloud_init = dict(cloud_init)
    keys = cloud_init.pop('ssh_authorized_keys', None) or []
    _check_keys(keys)
    user_data = merge_keys(cloud_init.get('user_data'), keys)
    cloud_init['user_data'] = _text(user_data, 'user_data')
    if cloud_init.get('vendor_data') is not None:
        cloud_init['vendor_data'] = _text(cloud_init['vendor_data'], 'vendor_data')
    return cloud_init


def _check_keys(keys):
    if not isinstance(keys, list) or not all(isinstance(key, str) and key.strip() for key in keys):
        raise QemuTaskError('cloud_init.ssh_authorized_keys must be a list of public keys (strings)', option='cloud_init')


def _text(value, option):
    if value is None:
        return None
    if isinstance(value, dict):
        return cloud_config_text(value, option) if option in SECRET_OPTIONS else _json(value, option) + '\n'
    if isinstance(value, str):
        return value
    raise QemuTaskError('cloud_init.%s must be a mapping (written as %s) or a string (passed as it is), not a %s'
                        % (option, '#cloud-config YAML' if option in SECRET_OPTIONS else 'YAML', type(value).__name__),
                        option='cloud_init')


def _digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _shown(value, text):
    """What may be shown of a secret document: its hash and, for a mapping, its top-level keys."""
    shown = {'sha256': _digest(text.encode('utf-8'))}
    if isinstance(value, dict):
        shown['keys'] = sorted(value)
    elif text.startswith(CLOUD_CONFIG_HEADER):
        # A #cloud-config document made by the action plugin: its body is JSON.
        try:
            body = json.loads(text[len(CLOUD_CONFIG_HEADER):])
        except ValueError:
            body = None
        if isinstance(body, dict):
            shown['keys'] = sorted(body)
    return shown


def _check_network_config(value):
    if not isinstance(value, dict):
        return
    version = value.get('network', value).get('version') if isinstance(value.get('network', value), dict) else None
    if version not in (1, 2):
        raise QemuTaskError('cloud_init.network_config must say its version, 1 or 2 (version: 2, with ethernets...), as cloud-init '
                            'network configurations do', option='cloud_init')


class Seed:
    """A task's seed: the ISO image's bytes, the instance-id, and its recorded (secret-free) configuration."""

    __slots__ = ('image', 'sha256', 'instance_id', 'config')

    def __init__(self, image, instance_id, config):
        self.image = image
        self.sha256 = _digest(image)
        self.instance_id = instance_id
        self.config = dict(config, seed=self.sha256)


def build_seed(cloud_init, task_name):
    """The Seed of the cloud_init option (a checked mapping) of the task ``task_name``."""
    if not isinstance(cloud_init, dict):
        raise QemuTaskError('cloud_init must be a mapping, such as {user_data: {...}, ssh_authorized_keys: [...]}', option='cloud_init')
    keys = cloud_init.get('ssh_authorized_keys') or []
    _check_keys(keys)
    user_value = merge_keys(cloud_init.get('user_data'), keys)
    network = cloud_init.get('network_config')
    _check_network_config(network)
    texts = {
        'user_data': _text(user_value, 'user_data'),
        'network_config': _text(network, 'network_config'),
        'vendor_data': _text(cloud_init.get('vendor_data'), 'vendor_data'),
    }
    meta = cloud_init.get('meta_data')
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise QemuTaskError('cloud_init.meta_data must be a mapping, such as {local-hostname: web1}', option='cloud_init')
    meta = dict(meta)
    meta.setdefault('local-hostname', task_name)
    if 'instance-id' not in meta:
        # Derived from everything else: changed data is a new instance, which cloud-init configures again.
        digest = hashlib.sha256()
        for option in ('user_data', 'network_config', 'vendor_data'):
            digest.update(b'%s\0%s\0' % (option.encode(), (texts[option] or '').encode('utf-8')))
        digest.update(_json(meta, 'meta_data').encode('utf-8'))
        meta['instance-id'] = 'nomadic-%s-%s' % (task_name, digest.hexdigest()[:12])
    texts['meta_data'] = _json(meta, 'meta_data') + '\n'
    files = dict((FILES[option], text.encode('utf-8')) for option, text in texts.items() if text is not None)
    config = {
        'instance_id': meta['instance-id'],
        'meta_data': meta,
        'user_data': _shown(user_value, texts['user_data']),
    }
    for option in ('network_config', 'vendor_data'):
        if texts[option] is not None:
            config[option] = _shown(cloud_init.get(option), texts[option]) if option in SECRET_OPTIONS else \
                {'sha256': _digest(files[FILES[option]])}
    return Seed(write_iso(SEED_LABEL, files), meta['instance-id'], config)
