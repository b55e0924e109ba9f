# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The keys of a Nomad job file at each level: those mapped, those not applied and those refused, with the reasons.

The keys that set qemu_task options come from qemu_task's option table
(plugins/module_utils/_task/options.py); nothing here repeats an option's choices, bounds or default.
"""

from __future__ import annotations

from ansible_collections.nomadic.qemu.plugins.module_utils._task.options import NOMAD_CONFIG_KEYS, TASK_OPTIONS

# Nomad's defaults.
DEFAULT_ARTIFACT_DESTINATION = 'local/'
DEFAULT_COUNT = 1

# Where a job file sets qemu_task options, from qemu_task's option table: the qemu driver's config
# keys, the task's keys and the resources keys, each with the option it sets.
CONFIG_KEYS = dict(NOMAD_CONFIG_KEYS)
TASK_OPTION_KEYS = dict((option.nomad, option.name) for option in TASK_OPTIONS.values() if option.nomad and '.' not in option.nomad)
RESOURCES_OPTION_KEYS = dict((option.nomad.split('.', 1)[1], option.name) for option in TASK_OPTIONS.values()
                             if option.nomad and option.nomad.startswith('resources.'))

# The artifact checksum types and lengths are declared once, in module_utils/_checksum.py.

# Archive types go-getter unpacks (by the end of the URL path, the longest match wins) and
# whether ansible.builtin.unarchive can unpack them into a directory.
ARCHIVES = {
    'tar': True, 'tar.gz': True, 'tgz': True, 'tar.bz2': True, 'tbz2': True, 'tar.xz': True, 'txz': True,
    'tar.zst': True, 'tzst': True, 'zip': True,
    # Single compressed files: go-getter decompresses them only into a file (mode = "file"); in the
    # modes any and dir their download fails. qemu_image decompresses them here.
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
                    'NOMAD_ALLOC_NAME', 'NOMAD_TASK_DIR', 'NOMAD_ALLOC_DIR', 'NOMAD_SECRETS_DIR', 'NOMAD_META_<key>')
# What the task directories are outside config.args: paths relative to the task directory, as qemu_task reads them.
RELATIVE_DIRS = {'NOMAD_TASK_DIR': 'local', 'NOMAD_ALLOC_DIR': 'alloc', 'NOMAD_SECRETS_DIR': 'secrets'}
# In config.args, the runtime values only the host knows become qemu_task's own references (its args option).
# The directories are qemu_task's ${local_dir}, ${alloc_dir} and ${secrets_dir} (module_utils/_task/runtime.py).
ARGS_RUNTIME = dict(
    [(name, '${%s_dir}' % subdir) for name, subdir in RELATIVE_DIRS.items()],
    NOMAD_MEMORY_LIMIT='${memory}', NOMAD_CPU_CORES='${cpu_set}', NOMAD_ALLOC_ID='${alloc_id}',
)
# ${NOMAD_<kind>_<label>}: the port's host port (Nomad's NOMAD_PORT is the "to" port when the port sets one; the
# guest port here comes from config.port_map, so "to" is not applied), the host address, or both.
PORT_VARIABLES = {
    'PORT': '${host_port.%(label)s}', 'HOST_PORT': '${host_port.%(label)s}',
    'IP': '${host_address}', 'HOST_IP': '${host_address}',
    'ADDR': '${host_address}:${host_port.%(label)s}', 'HOST_ADDR': '${host_address}:${host_port.%(label)s}',
}
ARGS_RUNTIME_NAMES = tuple(sorted(set(ARGS_RUNTIME) - set(RELATIVE_DIRS))) + tuple('NOMAD_%s_<label>' % kind for kind in PORT_VARIABLES)

_SCHEDULING = ('Nomad scheduling that run_job does not apply; it places by count, resources, constraints, affinity, spread '
               'and update.max_parallel on the hosts of the play')
_RESTARTS = ('Nomad reschedules failed allocations on its own; here each run of run_job moves the allocations of '
             'unreachable or ineligible hosts and starts a VM whose process died (restart is applied by systemd on each host)')
_SERVICES = 'service registration and secrets (Consul, Vault, Nomad services) are not part of nomadic.qemu'
_NOT_FOR_QEMU = 'has no effect on a QEMU virtual machine run by nomadic.qemu'

# Keys Nomad knows at each level that this module does not apply, with the reason.
IGNORED_JOB_KEYS = {
    'all_at_once': _SCHEDULING, 'datacenters': _SCHEDULING, 'migrate': _SCHEDULING,
    'multiregion': _SCHEDULING, 'namespace': _SCHEDULING, 'node_pool': _SCHEDULING, 'priority': _SCHEDULING,
    'region': _SCHEDULING, 'reschedule': _RESTARTS,
    'consul': _SERVICES, 'consul_token': _SERVICES, 'vault': _SERVICES, 'vault_token': _SERVICES,
    'consul_namespace': _SERVICES, 'vault_namespace': _SERVICES, 'ui': 'the Nomad web UI is not used',
}
IGNORED_GROUP_KEYS = {
    'migrate': _SCHEDULING,
    'scaling': _SCHEDULING, 'disconnect': _SCHEDULING, 'max_client_disconnect': _SCHEDULING,
    'stop_after_client_disconnect': _SCHEDULING, 'prevent_reschedule_on_lost': _SCHEDULING,
    'max_run_duration': _SCHEDULING, 'reschedule': _RESTARTS,
    'ephemeral_disk': 'each task keeps its own directory under state_dir', 'shutdown_delay': _NOT_FOR_QEMU,
    'service': _SERVICES, 'consul': _SERVICES, 'vault': _SERVICES,
    'volume': 'host and CSI volumes are not mounted; pass disks to QEMU with args',
}
IGNORED_TASK_KEYS = {
    'scaling': _SCHEDULING, 'leader': _SCHEDULING, 'lifecycle': _SCHEDULING,
    'schedule': _SCHEDULING,
    'service': _SERVICES, 'consul': _SERVICES, 'vault': _SERVICES, 'identity': _SERVICES, 'secret': _SERVICES,
    'template': 'templates are not rendered; write such files into the task directory with your own tasks',
    'dispatch_payload': 'parameterized jobs are not dispatched',
    'volume_mount': 'host and CSI volumes are not mounted; pass disks to QEMU with args',
    'csi_plugin': _NOT_FOR_QEMU, 'env': 'QEMU runs with the environment of the module, not the task env',
    'kill_signal': 'qemu_task stops QEMU with SIGTERM, then SIGKILL',
    'shutdown_delay': _NOT_FOR_QEMU,
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
# config.port_map in a group without any network block (%s: its labels), which Nomad's qemu driver skips.
PORT_MAP_WITHOUT_NETWORK = ('no network block declares its ports (%s), so nothing is forwarded, as in Nomad; add them to a '
                            'group network block, such as network { port "ssh" {} }, to forward them')
# Keys refused outright: ignoring them would run the job at the wrong time.
REFUSED_JOB_KEYS = {
    'periodic': ('is periodic: Nomad starts it on a schedule, running it here would start it now; '
                 'remove the periodic block and schedule the playbook instead (cron, a systemd timer, AWX)'),
    'parameterized': ('is parameterized: Nomad only runs it when dispatched with a payload; '
                      'remove the parameterized block to run it as a regular job'),
}
JOB_TYPES = ('service', 'batch', 'system', 'sysbatch')
BATCH_TYPE_REASON = 'batch jobs run to completion in Nomad; here the VM is started and left running'

# A task directly under the job is a group of its own, named after it (as Nomad's parser makes it).
JOB_KEYS = ('group', 'task', 'constraint', 'affinity', 'spread', 'update', 'meta', 'name', 'id', 'type') + tuple(IGNORED_JOB_KEYS) + tuple(REFUSED_JOB_KEYS)
GROUP_KEYS = ('task', 'count', 'constraint', 'affinity', 'spread', 'update', 'meta', 'network', 'restart') + tuple(IGNORED_GROUP_KEYS)
# The keys of the restart and logs blocks that qemu_task applies, and those it does not.
RESTART_KEYS = tuple(TASK_OPTIONS['restart'].suboptions)
IGNORED_RESTART_KEYS = {'render_templates': 'templates are not rendered'}
LOGS_KEYS = tuple(TASK_OPTIONS['logs'].suboptions)
IGNORED_LOGS_KEYS = {'disabled': 'the guest console is always written to console.log in the task directory',
                     'enabled': 'the guest console is always written to console.log in the task directory'}
TASK_KEYS = ('driver', 'config', 'resources', 'artifact', 'constraint', 'affinity', 'meta') + tuple(TASK_OPTION_KEYS) + tuple(IGNORED_TASK_KEYS)
RESOURCES_KEYS = ('network',) + tuple(RESOURCES_OPTION_KEYS) + tuple(IGNORED_RESOURCES_KEYS)
NETWORK_KEYS = ('port', 'reserved_ports') + tuple(IGNORED_NETWORK_KEYS)
PORT_KEYS = ('static',) + tuple(IGNORED_PORT_KEYS)
TOP_LEVEL_KEYS = ('job', 'variable', 'variables', 'locals')
