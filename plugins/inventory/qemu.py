# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: qemu
short_description: The VMs that nomadic.qemu runs, on one or many hypervisors, as inventory hosts
version_added: 0.2.0
author:
  - nomadic.qemu contributors (@nomadic)
description:
  - Reads the task records that M(nomadic.qemu.qemu_task) keeps on each hypervisor and makes one inventory host
    per task, with C(ansible_host) and C(ansible_port) pointing at the task's forwarded SSH port, so that a play
    reaches the guests directly.
  - A hypervisor is V(local) (this controller) or an SSH destination. A remote one is read with the system C(ssh)
    client in batch mode, through the user's SSH configuration, by a small standard-library reader that the
    hypervisor's C(python3) runs from standard input; nothing needs installing there beyond what
    M(nomadic.qemu.qemu_task) already needs. All hypervisors are read at once.
  - Records are read as the collection's modules read them (see the state and trust guide, C(docs/state-and-trust.md));
    a state directory or task directory that another user could write is skipped with a warning, and every value
    taken from a record is marked unsafe, so that a record never runs a template on the controller.
  - "Groups: C(qemu) (every task), C(qemu_<hypervisor>), C(qemu_running) and C(qemu_stopped),
    C(qemu_label_<key>_<value>) for each label, and C(qemu_guest_agent) for tasks with a guest agent; plus
    O(groups) and O(keyed_groups). Names are made safe for Ansible (C(-) and C(.) become C(_))."
  - "Each host gets the variable C(qemu_task): the task's C(name), C(state), C(hypervisor), C(labels), C(ports),
    C(accelerator), C(pid), C(started_at), C(image), C(memory), C(cpus), C(emulator), C(guest_agent), C(agent_socket),
    C(monitor_socket), C(console_log) and C(task_dir). A task with a guest agent also gets the variables of the
    connection plugin P(nomadic.qemu.qga#connection) (C(ansible_qga_socket), C(ansible_qga_hypervisor) and, for a
    remote hypervisor, C(ansible_qga_ssh_args) and C(ansible_qga_hypervisor_python) when O(python) is not
    V(python3)), so that C(-c nomadic.qemu.qga) reaches it without a network."
  - The source file's name must end in C(qemu.yml) or C(qemu.yaml).
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: The name of this plugin. It must always be set to V(nomadic.qemu.qemu) for it to be used.
    type: str
    required: true
    choices: [nomadic.qemu.qemu]
  hypervisors:
    description:
      - The hosts whose tasks to read.
      - A string is V(local), or an SSH destination V([user@]host[:port]) (an alias of the user's C(~/.ssh/config)
        works, as with C(ssh) itself).
      - A dictionary has C(ssh) (the destination, or V(local)), and optionally C(name) (the hypervisor's name in
        groups and host names; default the destination's host part, or V(local)), C(state_dir) (default
        O(state_dir)) and C(python) (the interpreter there; default O(python)).
      - Names must be unique.
    type: list
    elements: raw
    default: [local]
  state_dir:
    description:
      - The state directory to read on every hypervisor that does not set its own.
      - By default the modules' default for the user that reads it, C(/var/lib/nomadic-qemu) for root, else
        C($XDG_STATE_HOME/nomadic-qemu) (C(~/.local/state/nomadic-qemu)).
      - An absolute path on the hypervisors; nothing in it is expanded on the controller.
    type: str
  python:
    description:
      - The command that runs Python 3 on remote hypervisors; the reader comes on its standard input.
      - For example V(sudo -n python3), for a user that reads the state directory of root.
      - It runs the reader in isolated mode (C(-I)), so nothing of the login directory is imported.
    type: str
    default: python3
  ssh_args:
    description:
      - Arguments added to every C(ssh) command that reaches a remote hypervisor, before the destination, for
        example V([-F, /path/ssh_config]) or V([-i, ~/.ssh/fleet_key]).
      - The same arguments are used for O(proxy) and passed to the P(nomadic.qemu.qga#connection) connection.
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds to wait for SSH to connect to a hypervisor (C(ConnectTimeout)), and four times that for its answer.
      - At least V(1).
    type: int
    default: 10
  ssh_port_label:
    description:
      - The label (of the task's C(port_map)) of the guest's SSH port. Its host port becomes C(ansible_port).
      - A task without that label gets no C(ansible_host) or C(ansible_port).
    type: str
    default: ssh
  proxy:
    description:
      - When V(true), a guest whose SSH port is forwarded on a loopback address of a remote hypervisor is reached
        through that hypervisor, with C(ansible_ssh_common_args) set to a C(ProxyCommand) that runs
        C(ssh -W) there with O(ssh_args). That replaces an C(ansible_ssh_common_args) of your own for those hosts;
        add to it with O(compose).
      - Such a guest's C(ansible_host) is then C(<task>.<hypervisor>.invalid), a name only the C(ProxyCommand) uses,
        so that each guest has its own SSH control socket and known_hosts entry although all are on C(127.0.0.1).
      - When V(false), such a guest cannot be reached from the controller; the host is still listed, with a warning
        naming it (the guest agent connection still works).
    type: bool
    default: false
  include_stopped:
    description:
      - Also list tasks whose QEMU does not run.
      - A host with no SSH address (a stopped task, one without the O(ssh_port_label) port) gets the C(ansible_host)
        C(<task>.<hypervisor>.invalid), which never resolves, so that SSH fails at once rather than reach another
        machine.
    type: bool
    default: false
  host_name:
    description:
      - A Jinja2 expression (no braces), evaluated with C(qemu_task) set, that names each host.
      - When two tasks get the same name, on different hypervisors, each of them is named
        C(<name>@<hypervisor>) instead, so that names stay unique; with a O(host_name) of your own, that is
        also a warning. Which names collide depends on the tasks listed, so such a name changes when the other
        task stops or its hypervisor is left out; give names that are unique (for example with
        C(qemu_task.name ~ '@' ~ qemu_task.hypervisor)) where C(host_vars) or C(--limit) must keep matching.
    type: str
    default: qemu_task.name
  guest_agent_connection:
    description:
      - Set C(ansible_connection=nomadic.qemu.qga) for the tasks that have a guest agent, so that plays reach them
        through the agent rather than SSH.
      - The same can be done per group, with C(group_vars) for the group C(qemu_guest_agent).
    type: bool
    default: false
  strict:
    description:
      - Also makes a hypervisor that cannot be read, or a task whose record cannot be trusted, an error. Without
        it, each is a warning naming it, and the other hypervisors still give their hosts.
notes:
  - The inventory is read when Ansible starts. A task started during a play appears after M(ansible.builtin.meta)
    C(refresh_inventory).
  - With many hypervisors, the reads run 16 at a time; a hypervisor that does not answer within the timeout is
    left out, as an unreachable one is.
seealso:
  - plugin: nomadic.qemu.qga
    plugin_type: connection
  - module: nomadic.qemu.qemu_task_info
"""

EXAMPLES = r"""
---
# guests.qemu.yml: the VMs of this controller
plugin: nomadic.qemu.qemu

---
# guests.qemu.yml: the VMs of three hypervisors, named by label, grouped by role
plugin: nomadic.qemu.qemu
hypervisors:
  - local
  - root@hv1.example.com
  - name: hv2
    ssh: admin@10.0.0.12:2222
    state_dir: /srv/vms
proxy: true
host_name: "qemu_task.labels.hostname | default(qemu_task.name)"
keyed_groups:
  - key: qemu_task.labels.role | default('none')
    prefix: role
compose:
  ansible_user: "'debian'"

---
# Reach the guests through their guest agents (no network needed)
plugin: nomadic.qemu.qemu
guest_agent_connection: true
"""

import json
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.release import __version__ as ansible_version
from ansible.utils.display import Display

from ansible_collections.nomadic.qemu.plugins.plugin_utils import _task_reader
from ansible_collections.nomadic.qemu.plugins.plugin_utils._guest_hosts import (
    HypervisorError,
    connection_vars,
    parse_hypervisors,
    task_problem,
    unique_names,
)

display = Display()

if tuple(int(part) for part in ansible_version.split('.')[:2]) < (2, 19):
    # Before ansible-core 2.19 every string an inventory plugin sets is a template; mark the records' values unsafe.
    from ansible.utils.unsafe_proxy import wrap_var
else:
    # Since 2.19 only strings trusted as templates are templates, and an inventory plugin's values are not.
    def wrap_var(value):
        return value

MAX_READERS = 16


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = 'nomadic.qemu.qemu'

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(('qemu.yml', 'qemu.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if self.get_option('timeout') < 1:
            raise AnsibleParserError('%s: timeout is %s; give at least 1 (seconds)' % (path, self.get_option('timeout')))
        try:
            hypervisors = parse_hypervisors(self.get_option('hypervisors'), self.get_option('state_dir'), self.get_option('python'))
        except HypervisorError as exc:
            raise AnsibleParserError('%s: %s' % (path, exc)) from None
        for hypervisor in hypervisors:
            if hypervisor.local and hypervisor.python != self.get_option('python'):
                display.warning('nomadic.qemu.qemu: python is not used for the local hypervisor %s: the controller reads it itself'
                                % hypervisor.name)

        # The cache keeps what hypervisors answered; one that failed, or was added since, is read again.
        cache_key = self.get_cache_key(path)
        readings = {}
        if self.get_option('cache') and cache:
            try:
                readings = dict(self._cache[cache_key])
            except KeyError:
                readings = {}
        stale = [hypervisor for hypervisor in hypervisors
                 if not isinstance(readings.get(hypervisor.name), dict) or readings[hypervisor.name].get('error')]
        if stale:
            readings.update(self._read_all(stale))
        if self.get_option('cache') and (stale or not cache):
            self._cache[cache_key] = dict((name, reading) for name, reading in readings.items() if not reading.get('error'))
        self._populate(hypervisors, readings)

    # Reading ------------------------------------------------------------------------------------

    def _read_all(self, hypervisors):
        """{hypervisor name: the reader's result, or {'error': why}}, read in parallel."""
        with ThreadPoolExecutor(max_workers=min(MAX_READERS, len(hypervisors)) or 1) as pool:
            results = pool.map(self._read_one, hypervisors)
            return dict((hypervisor.name, result) for hypervisor, result in zip(hypervisors, results))

    def _read_one(self, hypervisor):
        if hypervisor.local:
            return _task_reader.read_state_dir(hypervisor.state_dir)
        timeout = self.get_option('timeout')
        ssh_args = self.get_option('ssh_args')
        argv = hypervisor.ssh_argv(ssh_args, timeout) + [hypervisor.reader_command()]
        display.vvv('nomadic.qemu.qemu: reading %s with %s' % (hypervisor.name, ' '.join(shlex.quote(a) for a in argv)))
        try:
            with open(_task_reader.__file__, 'rb') as f:
                source = f.read()
            done = subprocess.run(argv, input=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout * 4, check=False)
        except subprocess.TimeoutExpired:
            return {'error': 'no answer within %d s' % (timeout * 4)}
        except OSError as exc:
            return {'error': 'cannot run ssh: %s' % (exc.strerror or exc)}
        stderr = done.stderr.decode('utf-8', 'replace').strip()
        if done.returncode != 0:
            last = stderr.splitlines()[-1] if stderr else 'no message'
            what = 'ssh failed' if done.returncode == 255 else 'the reader failed with exit status %d' % done.returncode
            return {'error': '%s: %s' % (what, last)}
        try:
            result = json.loads(done.stdout.decode('utf-8'))
        except ValueError:
            return {'error': 'the reader printed no JSON (is %s Python 3 there?)' % hypervisor.python}
        if not isinstance(result, dict) or not isinstance(result.get('tasks'), list):
            return {'error': 'the reader printed an unexpected answer'}
        try:
            result['address'] = hypervisor.resolve_address(ssh_args)
        except HypervisorError as exc:
            return {'error': str(exc)}
        return result

    # Populating ---------------------------------------------------------------------------------

    def _problem(self, message):
        if self.get_option('strict'):
            raise AnsibleError(message)
        display.warning(message)

    def _populate(self, hypervisors, readings):
        entries = []
        for hypervisor in hypervisors:
            reading = readings.get(hypervisor.name) or {'error': 'not read'}
            if reading.get('error'):
                self._problem('nomadic.qemu.qemu: hypervisor %s (%s) was left out: %s'
                              % (hypervisor.name, hypervisor.destination, reading['error']))
                continue
            for skipped in reading.get('skipped') or []:
                if not isinstance(skipped, dict):
                    continue
                self._problem('nomadic.qemu.qemu: task %s on hypervisor %s was left out: %s'
                              % (skipped.get('name'), hypervisor.name, skipped.get('reason')))
            address = reading.get('address') or hypervisor.default_address
            for task in reading['tasks']:
                problem = task_problem(task)
                if problem:
                    self._problem('nomadic.qemu.qemu: a task on hypervisor %s was left out: %s' % (hypervisor.name, problem))
                    continue
                if task.get('state') != 'running' and not self.get_option('include_stopped'):
                    continue
                task = dict(task, hypervisor=hypervisor.name)
                entries.append((hypervisor, address, task))

        strict = self.get_option('strict')
        wanted = []
        for hypervisor, address, task in entries:
            name = self._compose(self.get_option('host_name'), {'qemu_task': wrap_var(task)})
            if not isinstance(name, str) or not name:
                raise AnsibleError('nomadic.qemu.qemu: host_name gave %r for task %s on %s; it must give a non-empty string'
                                   % (name, task['name'], hypervisor.name))
            wanted.append(name)
        try:
            names, renamed = unique_names(wanted, [hypervisor.name for hypervisor, _a, _t in entries])
        except HypervisorError as exc:
            raise AnsibleError('nomadic.qemu.qemu: %s' % exc) from None
        if renamed and self.get_option('host_name') != 'qemu_task.name':
            display.warning('nomadic.qemu.qemu: host_name gave the same name to tasks of different hypervisors (%s); '
                            'they are named <name>@<hypervisor>' % ', '.join(sorted(renamed)))

        self.inventory.add_group('qemu')
        for (hypervisor, address, task), name in zip(entries, names):
            host_vars = connection_vars(task, hypervisor, address, self.get_option('ssh_port_label'), self.get_option('proxy'),
                                        self.get_option('ssh_args'), self.get_option('guest_agent_connection'))
            if host_vars.pop('_unreachable', False):
                display.warning('nomadic.qemu.qemu: %s (task %s on %s) forwards SSH on %s, which only that hypervisor reaches;'
                                ' set proxy: true to reach it through the hypervisor'
                                % (name, task['name'], hypervisor.name, task['ports'][self.get_option('ssh_port_label')]['host_address']))
            self.inventory.add_host(name, group='qemu')
            for group in self._default_groups(hypervisor, task):
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            self.inventory.set_variable(name, 'qemu_task', wrap_var(task))
            for key, value in host_vars.items():
                self.inventory.set_variable(name, key, wrap_var(value))
            variables = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option('compose'), variables, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), variables, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), variables, name, strict=strict)

    @staticmethod
    def _default_groups(hypervisor, task):
        groups = ['qemu_%s' % hypervisor.name, 'qemu_%s' % task['state']]
        groups.extend('qemu_label_%s_%s' % (key, value) for key, value in sorted(task['labels'].items()))
        if task.get('guest_agent'):
            groups.append('qemu_guest_agent')
        return [to_safe_group_name(group, force=True, silent=True) for group in groups]
