# nomadic.qemu: set-up, demo and tests on a Debian/Ubuntu machine (root or sudo).
#
#   make demo   install what is needed, build the test guests, show the collection at work
#               (make demo-check: the same, failing if Ansible prints any warning)
#   make test   install what is needed, run ansible-test sanity, units and integration
#   make bench  measure start, no-op and stop against bare QEMU, Ansible's floor and libvirt
#               (make bench-quick: the same harness in under 2 minutes, without libvirt)
#
# Both are safe to re-run: installs are skipped when already done.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: QEMU itself, and what the guest builder needs.
APT_PACKAGES := qemu-system-x86 qemu-utils xorriso cpio dpkg-dev shellcheck python3-venv
# The newest Python that runs the newest ansible-core (see hack/find-python).
PYTHON ?= $(shell hack/find-python)
COLLECTIONS_DIR := $(CURDIR)/.ansible/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS_DIR)

.PHONY: help deps apt venv guests demo demo-check test sanity lint units integration bench bench-quick clean

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

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

test: deps
	hack/ansible-test sanity
	$(VENV)/bin/ansible-lint roles/host
	hack/ansible-test units
	hack/ansible-test integration $(TARGETS)

bench: deps
	$(VENV)/bin/python bench/run.py

bench-quick: deps
	$(VENV)/bin/python bench/run.py --quick

clean:
	rm -rf $(VENV) .ansible tests/output
