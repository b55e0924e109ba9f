# nomadic.qemu: set-up, demo and tests on a Debian/Ubuntu machine (root or sudo).
#
#   make demo   install what is needed, build the test guests, show the collection at work
#               (make demo-check: the same, failing if Ansible prints any warning)
#   make test   install what is needed, run ansible-test sanity, units and integration
#   make bench  measure start, no-op and stop against bare QEMU, Ansible's floor and libvirt,
#               and the placement planner alone (1,000 hosts, 10,000 allocations)
#               (make bench-quick: the same harness in under 2 minutes, without libvirt)
#
# Both are safe to re-run: installs are skipped when already done.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: QEMU itself, what the guest builder needs, and what the test hosts need
# (tests/hosts: systemd-nspawn, ip netns and veths, nsenter).
APT_PACKAGES := qemu-system-x86 qemu-utils xorriso cpio dpkg-dev shellcheck python3-venv \
	debootstrap syslinux syslinux-common mtools dosfstools fdisk e2fsprogs openssh-client \
	systemd-container iproute2 util-linux
# The newest Python that runs the newest ansible-core (see hack/find-python).
PYTHON ?= $(shell hack/find-python)
COLLECTIONS_DIR := $(CURDIR)/.ansible/collections
# The smoke test on the oldest ansible-core the collection declares (2.17: Python 3.10-3.12).
FLOOR_VENV ?= .venv-floor
FLOOR_PYTHON ?= $(shell hack/find-python-floor)
# The documentation toolchain (antsibull-docs, Sphinx, pandoc).
DOCS_VENV ?= .venv-docs
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS_DIR)

.PHONY: help deps apt venv guests demo demo-check test sanity lint units integration bench bench-quick clean
.PHONY: floor-venv smoke-floor docs-venv docs docs-rst

help:
	@sed -n '2,10p' Makefile | sed 's/^# \{0,1\}//'

deps: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Debian packages present: $(APT_PACKAGES)"; fi; \
	[ -n "$$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit)" ] || $(SUDO) apt-get update -qq

venv: $(VENV)/.installed $(COLLECTIONS_DIR)/ansible_collections/nomadic/qemu

$(VENV)/.installed: requirements.txt
	@if [ -z "$(PYTHON)" ]; then echo "No Python 3.12 or 3.13 found: ansible-core 2.21 needs one (set PYTHON=/path/to/python3.12)." >&2; exit 1; fi
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(COLLECTIONS_DIR)/ansible_collections/nomadic/qemu:
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

guests: deps
	$(VENV)/bin/python tests/guests/build.py

# The demo reads facts only as ansible_facts[...], so it runs with top-level fact variables off (the
# default from ansible-core 2.24), against an inventory of localhost (no "no inventory" warnings).
DEMO := ANSIBLE_INJECT_FACT_VARS=False $(VENV)/bin/ansible-playbook -i localhost, hack/demo.yml

demo: deps
	$(DEMO)

# For CI: run the demo and fail if Ansible printed a [WARNING] or a [DEPRECATION WARNING].
demo-check: deps
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	ANSIBLE_NOCOLOR=1 $(DEMO) 2>&1 | tee "$$log"; \
	if grep -E '\[(DEPRECATION )?WARNING\]' "$$log" >/dev/null; then \
	  echo "demo-check: the demo printed warnings:" >&2; grep -E '\[(DEPRECATION )?WARNING\]' "$$log" >&2; exit 1; \
	fi; \
	echo "demo-check: no warnings"

sanity: deps
	hack/ansible-test sanity

lint: deps
	$(VENV)/bin/ansible-lint roles/host

units: deps
	hack/ansible-test units

integration: deps
	hack/ansible-test integration $(TARGETS)

test: deps floor-venv docs-venv
	hack/ansible-test sanity
	$(VENV)/bin/ansible-lint roles/host
	hack/ansible-test units
	hack/ansible-test integration $(TARGETS)
	FLOOR_VENV=$(FLOOR_VENV) hack/smoke-floor
	DOCS_VENV=$(DOCS_VENV) hack/docs-check

# make smoke-floor: build the collection, install the tarball and run tests/smoke/floor.yml
# with ansible-core 2.17 (tests/requirements-floor.txt), the oldest meta/runtime.yml allows.
# It starts QEMU.
floor-venv: $(FLOOR_VENV)/.installed

$(FLOOR_VENV)/.installed: tests/requirements-floor.txt
	@if [ -z "$(FLOOR_PYTHON)" ]; then echo "No Python 3.10, 3.11 or 3.12 found: ansible-core 2.17, the oldest the collection declares (meta/runtime.yml), needs one (set FLOOR_PYTHON=/path/to/python3.12)." >&2; exit 1; fi
	[ -x $(FLOOR_VENV)/bin/python ] || $(FLOOR_PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements-floor.txt
	touch $@

smoke-floor: apt floor-venv
	FLOOR_VENV=$(FLOOR_VENV) hack/smoke-floor

# make docs: check the RST guides are current with the Markdown ones, lint the collection's
# docs and build the docs site offline (hack/docs-check). make docs-rst regenerates the RST
# guides (docs/docsite/rst) after a change to docs/*.md or roles/host/README.md.
docs-venv: $(DOCS_VENV)/.installed

$(DOCS_VENV)/.installed: tests/requirements-docs.txt
	@if [ -z "$(PYTHON)" ]; then echo "No Python 3.12 or 3.13 found: the docs toolchain runs ansible-core 2.21, which needs one (set PYTHON=/path/to/python3.12)." >&2; exit 1; fi
	[ -x $(DOCS_VENV)/bin/python ] || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements-docs.txt
	touch $@

docs: docs-venv
	DOCS_VENV=$(DOCS_VENV) hack/docs-check

docs-rst: docs-venv
	$(DOCS_VENV)/bin/python hack/md2rst.py

bench: deps
	$(VENV)/bin/python bench/run.py
	PYTHONPATH=$(COLLECTIONS_DIR) $(VENV)/bin/python bench/placement.py

bench-quick: deps
	$(VENV)/bin/python bench/run.py --quick
	PYTHONPATH=$(COLLECTIONS_DIR) $(VENV)/bin/python bench/placement.py --runs 1

clean:
	rm -rf $(VENV) $(FLOOR_VENV) $(DOCS_VENV) .ansible tests/output
