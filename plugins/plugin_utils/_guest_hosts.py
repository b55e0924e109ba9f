# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins!

"""Guests as inventory hosts: hypervisors, how to reach them, and the variables of each guest.

Pure functions (but Hypervisor.resolve_address, which asks ``ssh -G``), for the inventory plugin
nomadic.qemu.qemu and its unit tests.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
from collections import Counter

from ansible_collections.nomadic.qemu.plugins.plugin_utils._task_reader import TASK_NAME_RE

LOCAL = 'local'
QGA_CONNECTION = 'nomadic.qemu.qga'
_DESTINATION_RE = re.compile(r'^(?!-)(?:(?P<user>[^@\s/]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@:\s/\[\]]+)(?::(?P<port>[0-9]{1,5}))?\Z')
_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z')
# Names the groups qemu_<hypervisor> would share with the groups of states and of the guest agent.
RESERVED_NAMES = ('running', 'stopped', 'guest_agent')
# The address of a guest that ssh must not look up: the reserved top-level domain .invalid never resolves.
ALIAS_SUFFIX = '.invalid'


class HypervisorError(ValueError):
    """A hypervisors entry that cannot be used; the message names it and the fix."""


class Hypervisor:
    """One entry of the ``hypervisors`` option."""

    def __init__(self, destination, name=None, state_dir=None, python='python3'):
        self.destination = destination
        self.local = destination == LOCAL
        self.user = self.host = self.port = None
        if not self.local:
            match = _DESTINATION_RE.match(destination or '')
            if not match:
                raise HypervisorError("hypervisors: %r is not an SSH destination; write 'local', host, user@host or "
                                      "user@host:port" % (destination,))
            self.user, self.host = match.group('user'), match.group('host').strip('[]')
            if match.group('port'):
                self.port = int(match.group('port'))
                if not 0 < self.port < 65536:
                    raise HypervisorError('hypervisors: %s: port %d is out of range 1-65535' % (destination, self.port))
        self.name = name or (LOCAL if self.local else self.host)
        if not _NAME_RE.match(self.name):
            raise HypervisorError("hypervisors: name %r is not usable; use letters, digits, '.', '_' or '-' (set name: for %s)"
                                  % (self.name, destination))
        if group_part(self.name) in RESERVED_NAMES:
            raise HypervisorError('hypervisors: the name %s would share its group with the tasks that are %s; set another name: for %s'
                                  % (self.name, self.name, destination))
        if state_dir is not None and not (isinstance(state_dir, str) and state_dir.startswith('/')):
            raise HypervisorError('hypervisors: state_dir %r of %s is not an absolute path; give the absolute path on that hypervisor'
                                  % (state_dir, destination))
        self.state_dir = state_dir
        self.python = python or 'python3'

    def __repr__(self):
        return 'Hypervisor(%r, name=%r)' % (self.destination, self.name)

    @property
    def default_address(self):
        """The address that reaches this hypervisor when ssh cannot tell better."""
        return '127.0.0.1' if self.local else self.host

    def ssh_target(self):
        """The ssh arguments that name this hypervisor: [-p PORT] [user@]host."""
        target = ['-p', str(self.port)] if self.port else []
        return target + ['%s@%s' % (self.user, self.host) if self.user else self.host]

    def ssh_argv(self, ssh_args, timeout):
        """An ssh command (without its remote command) that reaches this hypervisor in batch mode."""
        # -T: no terminal, whatever the user's config asks. ControlPersist=no: a master connection this
        # command makes (ControlMaster in the user's config) ends with it rather than hold its output open.
        return (['ssh', '-T', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=%d' % timeout, '-o', 'ControlPersist=no'] + list(ssh_args)
                + self.ssh_target())

    def reader_command(self):
        """The remote command that runs the reader from standard input on this hypervisor.

        ``-I`` (isolated mode): nothing of the login directory or the environment is imported.
        """
        command = '%s -I -' % self.python
        if self.state_dir:
            command += ' ' + shlex.quote(self.state_dir)
        return command

    def proxy_command(self, ssh_args, address):
        """An OpenSSH ProxyCommand that reaches address:%p from this hypervisor.

        OpenSSH expands %-tokens in a ProxyCommand, so a % in the arguments is doubled.
        """
        argv = ['ssh', '-o', 'BatchMode=yes'] + [arg.replace('%', '%%') for arg in ssh_args]
        argv += ['-W', '%s:%%p' % address] + [arg.replace('%', '%%') for arg in self.ssh_target()]
        return ' '.join(shlex.quote(arg) for arg in argv)

    def resolve_address(self, ssh_args, run=subprocess.run):
        """The address ssh connects to for this hypervisor (its ssh config's HostName), from ``ssh -G``."""
        if self.local:
            return self.default_address
        try:
            done = run(['ssh', '-G'] + list(ssh_args) + self.ssh_target(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return self.default_address
        if done.returncode != 0:
            return self.default_address
        for line in done.stdout.decode('utf-8', 'replace').splitlines():
            key, _sep, value = line.partition(' ')
            if key.lower() == 'hostname' and value.strip():
                return value.strip()
        return self.default_address


def parse_hypervisors(entries, state_dir=None, python='python3'):
    """Hypervisor objects for the ``hypervisors`` option; names must be unique."""
    if not entries:
        raise HypervisorError("hypervisors is empty; list 'local' or SSH destinations")
    if state_dir is not None and not state_dir.startswith('/'):
        raise HypervisorError('state_dir %r is not an absolute path; give the absolute path on the hypervisors' % (state_dir,))
    hypervisors = []
    for entry in entries:
        if isinstance(entry, str):
            hypervisors.append(Hypervisor(entry, state_dir=state_dir, python=python))
        elif isinstance(entry, dict):
            unknown = sorted(set(entry) - {'ssh', 'name', 'state_dir', 'python'})
            if unknown:
                raise HypervisorError('hypervisors: unknown key %s in %r; use ssh, name, state_dir and python'
                                      % (', '.join(unknown), dict(entry)))
            if not isinstance(entry.get('ssh'), str):
                raise HypervisorError("hypervisors: %r has no ssh: destination; give ssh: local or ssh: user@host" % (dict(entry),))
            for key in ('name', 'state_dir', 'python'):
                if entry.get(key) is not None and not isinstance(entry[key], str):
                    raise HypervisorError('hypervisors: %s of %s must be a string' % (key, entry['ssh']))
            hypervisors.append(Hypervisor(entry['ssh'], name=entry.get('name'), state_dir=entry.get('state_dir') or state_dir,
                                          python=entry.get('python') or python))
        else:
            raise HypervisorError("hypervisors: %r is neither a destination nor a dictionary" % (entry,))
    counts = Counter(hypervisor.name for hypervisor in hypervisors)
    twice = sorted(name for name, count in counts.items() if count > 1)
    if twice:
        raise HypervisorError('hypervisors: the name %s is given to more than one hypervisor; set name: on each to tell them apart'
                              % ', '.join(twice))
    groups = {}
    for hypervisor in hypervisors:
        groups.setdefault(group_part(hypervisor.name), []).append(hypervisor.name)
    shared = sorted(' and '.join(names) for names in groups.values() if len(names) > 1)
    if shared:
        raise HypervisorError('hypervisors: the names %s would share the group qemu_%s; set name: on one of them'
                              % (', '.join(shared), group_part(shared[0].split(' and ')[0])))
    return hypervisors


def group_part(name):
    """A name as it appears in a group name (Ansible's safe group names have no '-' or '.')."""
    return re.sub(r'[^A-Za-z0-9_]', '_', name)


def unique_names(wanted, hypervisor_names):
    """Host names from the wanted ones: a name wanted for tasks of several hypervisors becomes name@hypervisor.

    Returns (names, renamed). A name still taken twice (one hypervisor, two tasks) is an error.
    """
    owners = {}
    for name, hypervisor in zip(wanted, hypervisor_names):
        owners.setdefault(name, set()).add(hypervisor)
    renamed = set(name for name, hypervisors in owners.items() if len(hypervisors) > 1)
    names = ['%s@%s' % (name, hypervisor) if name in renamed else name for name, hypervisor in zip(wanted, hypervisor_names)]
    counts = Counter(names)
    twice = sorted(name for name, count in counts.items() if count > 1)
    if twice:
        raise HypervisorError('host_name gives the name %s to more than one task of the same hypervisor; include '
                              'qemu_task.name in host_name' % ', '.join(twice))
    return names, renamed


def _is_loopback(address):
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == 'localhost'


def guest_alias(task_name, hypervisor):
    """An address for a guest that only a ProxyCommand uses, unique per guest, and that ssh cannot look up."""
    return '%s.%s%s' % (task_name, hypervisor.name, ALIAS_SUFFIX)


def connection_vars(task, hypervisor, address, ssh_port_label, proxy, ssh_args, guest_agent_connection):
    """The connection variables of one guest; ``_unreachable`` is set for a guest the controller cannot reach.

    A guest with no SSH address (stopped, no SSH port, or forwarded on a remote loopback without
    proxy) gets an ansible_host under .invalid, so that ssh fails at once rather than connect to a
    machine named like the inventory host (``web@hv2`` would be user web on hv2). A proxied guest
    gets such a name too, with a ProxyCommand that connects to its real address: each guest then
    has its own SSH control socket and known_hosts entry, though all are on 127.0.0.1.
    """
    found = {'ansible_host': guest_alias(task['name'], hypervisor)}
    port = task.get('ports', {}).get(ssh_port_label)
    if task.get('state') == 'running' and port:
        bound = port.get('host_address') or ''
        found['ansible_port'] = port['host']
        if bound in ('', '0.0.0.0'):
            found['ansible_host'] = address
        elif not (_is_loopback(bound) and not hypervisor.local):
            found['ansible_host'] = bound
        elif proxy:
            found['ansible_ssh_common_args'] = '-o %s' % shlex.quote('ProxyCommand=' + hypervisor.proxy_command(ssh_args, bound))
        else:
            found['_unreachable'] = True
    if task.get('guest_agent') and task.get('agent_socket'):
        found['ansible_qga_socket'] = task['agent_socket']
        found['ansible_qga_hypervisor'] = hypervisor.destination
        if not hypervisor.local:
            found['ansible_qga_ssh_args'] = list(ssh_args)
            if hypervisor.python != 'python3':
                found['ansible_qga_hypervisor_python'] = hypervisor.python
        if guest_agent_connection:
            found['ansible_connection'] = QGA_CONNECTION
    return found


def task_problem(task):
    """Why a task a reader answered cannot become a host (a broken or hostile answer), or None."""
    if not isinstance(task, dict):
        return 'the reader gave something that is not a task'
    if not isinstance(task.get('name'), str) or not TASK_NAME_RE.match(task['name']):
        return 'the reader gave a task name that is not one (%r)' % (task.get('name'),)
    if task.get('state') not in ('running', 'stopped'):
        return 'the reader gave the state %r' % (task.get('state'),)
    labels = task.get('labels')
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        return 'the reader gave labels that are not strings'
    ports = task.get('ports')
    if not isinstance(ports, dict):
        return 'the reader gave ports that are not a mapping'
    for info in ports.values():
        if not isinstance(info, dict) or not isinstance(info.get('host'), int) or isinstance(info.get('host'), bool) \
                or not 0 < info['host'] < 65536 or not isinstance(info.get('host_address', ''), str):
            return 'the reader gave a port that is not one'
    if task.get('agent_socket') is not None and not (isinstance(task['agent_socket'], str) and task['agent_socket'].startswith('/')):
        return 'the reader gave an agent socket that is not an absolute path'
    return None
