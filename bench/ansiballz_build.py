# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Time the controller's side of a module run: building its AnsiballZ payload.

    python bench/ansiballz_build.py RUNS MODULE [MODULE...]

Prints one JSON object: module name -> {"ms": [build times], "bytes": payload size}.
Every build gets a fresh local temporary directory, as every `ansible` ad hoc run does
(the payload cache lives there), so each one walks the module's imports again. Run it
with the project's virtualenv and ANSIBLE_COLLECTIONS_PATH set; it uses ansible-core's
internal module_common API, so a change of ansible-core may need an update here.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time


def main(argv):
    from ansible import constants as C  # pylint: disable=import-outside-toplevel
    from ansible.executor import module_common  # pylint: disable=import-outside-toplevel
    from ansible.plugins.loader import init_plugin_loader, module_loader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar  # pylint: disable=import-outside-toplevel

    runs = int(argv[0])
    init_plugin_loader()
    result = {}
    for name in argv[1:]:
        context = module_loader.find_plugin_with_context(name)
        if not context.resolved:
            raise SystemExit('module %s not found' % name)
        times = []
        size = None
        for _index in range(runs):
            local_tmp = tempfile.mkdtemp(prefix='nqbench-ansiballz-')
            C.DEFAULT_LOCAL_TMP = local_tmp
            try:
                started = time.perf_counter()
                built = module_common.modify_module(
                    module_name=name.rsplit('.', 1)[-1], module_path=context.plugin_resolved_path, module_args={},
                    templar=Templar(loader=None), task_vars={'ansible_python_interpreter': sys.executable},
                    module_compression='ZIP_DEFLATED', async_timeout=0, become_plugin=None, environment={})
                times.append((time.perf_counter() - started) * 1000.0)
                size = len(built.b_module_data)
            finally:
                shutil.rmtree(local_tmp, ignore_errors=True)
        result[name] = {'ms': [round(value, 2) for value in times], 'bytes': size}
    print(json.dumps(result))


if __name__ == '__main__':
    main(sys.argv[1:])
