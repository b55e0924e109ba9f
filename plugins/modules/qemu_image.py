#!/usr/bin/python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: qemu_image
short_description: Keep disk images in a cache on the host, fetched once and verified
version_added: 0.2.0
description:
  - Fetches a disk image from an http, https or file URL, or a local path, into an image cache on the managed host,
    verifies its checksum (the types of Nomad's artifact block, V(md5), V(sha1), V(sha256) and V(sha512)),
    decompresses a single V(.gz), V(.bz2), V(.xz) or V(.zst) file, converts it with C(qemu-img) to O(format) and
    grows it to O(size). Returns the path of the cached image, for O(nomadic.qemu.qemu_task#module:image_path)
    or as the backing file of an overlay.
  - The cache is stored by content. An entry is named by the checksum of the source and what was done to it
    (C(<type>-<hex>[-asis][-size<bytes>][.<format>])), so the same source with the same options is the same file
    for every task, and a decompressed, converted or resized variant is an entry of its own.
  - Runs that want the same image at the same time fetch it once; the others wait for it and find it in the cache.
    A failed or interrupted download, a wrong checksum or a refused option leaves no file in the cache.
  - O(state=absent) removes the entry of O(src), O(state=pruned) removes the entries no task of O(state_dir) uses.
    An entry a task uses is never removed.
author:
  - nomadic.qemu contributors (@nomadic)
extends_documentation_fragment:
  - nomadic.qemu._attributes
  - nomadic.qemu._attributes.actiongroup_qemu
  - nomadic.qemu._group
attributes:
  check_mode:
    support: full
    details:
      - Check mode downloads nothing. It reports a change when the entry is missing from the cache (or, for
        V(absent) and V(pruned), when entries would be removed).
  diff_mode:
    support: full
    details:
      - The diff holds the entry before and after (path, checksum, format, virtual size and size); for V(pruned),
        the entry names before and after.
  idempotent:
    support: full
    details:
      - An entry that is in the cache is not fetched again. With O(checksum), this is known from the checksum; without
        it, from the cache's record of which checksum O(src) served, so a file changed at the source is not noticed
        unless O(force=true).
options:
  state:
    description:
      - V(present) makes the entry of O(src) exist, fetching it when it is missing.
      - V(absent) removes the entry of O(src) with these O(checksum), O(decompress), O(format) and O(size);
        it fails when a task uses it.
      - V(pruned) removes every entry no task of O(state_dir) uses and, with O(max_age), only those older than
        that. O(src) is not used.
    type: str
    default: present
    choices: [present, absent, pruned]
  src:
    description:
      - Where the image comes from, an V(http://), V(https://) or V(file://) URL, or an absolute path on the host.
      - Required for V(present) and V(absent).
    type: str
  checksum:
    description:
      - The checksum of the file at O(src) (before decompression), in Nomad's artifact form C(type:hex),
        such as V(sha256:9f86d0...); the types are V(md5), V(sha1), V(sha256) and V(sha512).
      - With it, a download that does not match fails, naming the URL and both checksums, and an entry in the cache
        is recognised without contacting the source.
      - Without it, the sha256 of what was downloaded names the entry; recommended for anything but tests.
    type: str
  decompress:
    description:
      - V(auto) decompresses a gzip, bzip2, xz or zstd file, recognised by its first bytes (not its name); others are
        kept as they are. zstd needs the C(zstd) program (Debian package C(zstd)).
      - V(none) keeps the file as downloaded.
    type: str
    default: auto
    choices: [auto, none]
  format:
    description:
      - The disk format of the cached image; an image in another format is converted with C(qemu-img convert)
        (Debian package C(qemu-utils)). Unset keeps the image's format.
    type: str
    choices: [qcow2, raw]
  size:
    description:
      - The virtual size to grow the image to with C(qemu-img resize), in bytes or with a K, M, G or T suffix
        (powers of 1024), such as V(10G). Unset keeps the image's size.
      - The cache never shrinks an image; a size below the image's virtual size fails.
    type: str
  cache_dir:
    description:
      - The cache directory. Defaults to C(<state_dir>/.images), which no task name can take.
      - It is created (mode 0755) when needed. Like O(state_dir), it must not be a symbolic link, must belong to this
        user or root, and must not be writable by group or others.
      - With C(image_paths) in force (the host policy or O(image_paths)), tasks may use its entries only when it is
        inside one of the allowed directories.
    type: path
  state_dir:
    description:
      - The state directory of the tasks, as for M(nomadic.qemu.qemu_task). V(pruned) and V(absent) keep the entries
        its tasks use.
      - Defaults to C(/var/lib/nomadic-qemu) when running as root, otherwise to
        C($XDG_STATE_HOME/nomadic-qemu) (C(~/.local/state/nomadic-qemu)).
    type: path
  force:
    description:
      - Fetch O(src) again even when its entry is in the cache. The result is changed only when the content changed.
    type: bool
    default: false
  max_age:
    description:
      - With V(pruned), remove only the unused entries older than this, a duration such as V(720h) or a number of
        seconds. An entry's age counts from when it was fetched (its modification time, which the module never
        changes afterwards, since M(nomadic.qemu.qemu_task) watches the modification time of an overlay's base).
      - Unset removes every unused entry.
    type: raw
  timeout:
    description:
      - How long to wait for the server to connect or to send more data, a duration such as V(30s) or a number of
        seconds. At most V(1h).
    type: raw
    default: 1m
  validate_certs:
    description:
      - Verify the server's TLS certificate for https sources (Nomad's C(insecure) artifact option, inverted).
    type: bool
    default: true
  headers:
    description:
      - HTTP headers to send, as Nomad's artifact C(headers).
    type: dict
    default: {}
  url_username:
    description:
      - The user name for HTTP basic authentication.
    type: str
  url_password:
    description:
      - The password for HTTP basic authentication.
    type: str
notes:
  - O(image_paths), O(args_allowlist) and O(emulators_allowlist) are accepted for C(module_defaults) of the group, and
    not used by this module.
  - A task should not write to a cache entry that other tasks share; give each task a qcow2 overlay whose backing
    file is the entry (C(qemu-img create -f qcow2 -b ENTRY -F FORMAT overlay.qcow2)). An overlay in a task directory
    keeps its backing entry from being pruned.
  - Images whose header names a backing file are refused; the cache keeps only self-contained images.
  - The cache holds, besides its entries, C(index.json) (which checksum each src served, and each entry's format and
    size). Lock files (C(.lock-*)) exist only while a run holds them (a killed run may leave an empty one, which the
    next run reuses); temporary files (C(.part-*)) only while a run fetches, and those of a killed run are removed by
    the next run that fetches or prunes.
  - A run waits up to an hour for another run fetching the same image.
seealso:
  - module: nomadic.qemu.qemu_task
  - name: Nomad artifact block
    description: The checksum and header options this module follows.
    link: https://developer.hashicorp.com/nomad/docs/job-specification/artifact
"""

EXAMPLES = r"""
---
- name: Fetch a cloud image once, verified, as qcow2 grown to 10 GiB
  nomadic.qemu.qemu_image:
    src: https://cloud.example.org/debian-12-genericcloud-amd64.qcow2
    checksum: sha512:{{ debian_sha512 }}
    format: qcow2
    size: 10G
  register: base

- name: Give the task its own overlay on the shared base
  ansible.builtin.command:
    argv: [qemu-img, create, -f, qcow2, -b, "{{ base.path }}", -F, qcow2, /var/lib/images/web1.qcow2]
    creates: /var/lib/images/web1.qcow2

- name: A compressed raw image from a file server, decompressed
  nomadic.qemu.qemu_image:
    src: https://files.example.org/appliance.img.xz
    checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    headers:
      Authorization: "Bearer {{ token }}"

- name: Remove the entries no task uses and nobody asked for in 30 days
  nomadic.qemu.qemu_image:
    state: pruned
    max_age: 720h
"""

RETURN = r"""
path:
  description: The cache entry. Null in check mode when it is missing and its checksum cannot be known without downloading.
  returned: success, when state is present or absent
  type: str
  sample: /var/lib/nomadic-qemu/.images/sha256-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.qcow2
checksum:
  description: The checksum of the source in C(type:hex) form, as given in O(checksum) or computed (sha256) while downloading.
  returned: success, when state is present or absent
  type: str
  sample: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
format:
  description: The entry's disk format, as C(qemu-img info) reads it (or its header, without qemu-img).
  returned: success, when state is present or absent
  type: str
  sample: qcow2
virtual_size:
  description: The entry's virtual disk size in bytes.
  returned: success, when state is present or absent
  type: int
  sample: 10737418240
size:
  description: The entry's file size in bytes.
  returned: success, when state is present or absent
  type: int
  sample: 327680
downloaded:
  description: Whether this run fetched O(src). False when the entry was in the cache, also when another run fetched it meanwhile.
  returned: always
  type: bool
  sample: true
cache_dir:
  description: The cache directory.
  returned: always
  type: str
  sample: /var/lib/nomadic-qemu/.images
removed:
  description: The entries removed (or, in check mode, that would be).
  returned: when state is absent or pruned
  type: list
  elements: str
  sample: [/var/lib/nomadic-qemu/.images/sha256-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08]
kept:
  description: The entries kept because a task uses them.
  returned: when state is pruned
  type: list
  elements: str
  sample: [/var/lib/nomadic-qemu/.images/sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.qcow2]
"""

import signal
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nomadic.qemu.plugins.module_utils._errors import QemuTaskError
from ansible_collections.nomadic.qemu.plugins.module_utils._image.manager import ImageCache, Terminated
from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import GROUP_OPTIONS, IMAGE_OPTIONS, argument_spec


def _terminated(signum, frame):
    raise Terminated()


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(GROUP_OPTIONS, IMAGE_OPTIONS),
        supports_check_mode=True,
        required_if=[('state', 'present', ['src']), ('state', 'absent', ['src'])],
    )
    signal.signal(signal.SIGTERM, _terminated)
    try:
        result = ImageCache(module.params, check_mode=module.check_mode, run=module.run_command, warn=module.warn).reconcile()
    except QemuTaskError as exc:
        module.fail_json(msg=str(exc))
    except Terminated:
        module.fail_json(msg='qemu_image was terminated (SIGTERM); nothing of this run was left in the cache')
    except KeyboardInterrupt:
        module.fail_json(msg='qemu_image was interrupted; nothing of this run was left in the cache')
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg='qemu_image failed unexpectedly: %s' % exc, exception=traceback.format_exc())
    if not module._diff:
        result.pop('diff', None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
