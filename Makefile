# kubeharden: the two commands of the README, each doing its own set-up on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
KH := $(VENV)/bin/kubeharden
K8S_VERSION ?= v1.34.4
DEB_PACKAGES := debootstrap systemd-container nftables iproute2 openssh-client openssl curl
LAB_DIR ?= .lab

.PHONY: deps python-env lab-assets lint audit test unit-test lab-test demo clean-lab

deps:  ## Debian packages the lab needs (installed only when missing)
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "[setup] apt-get install $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v go >/dev/null || { echo "error: Go is needed to build the lab's Kubernetes binaries"; exit 2; }

$(VENV)/.installed: pyproject.toml lab/pyproject.toml .ci/requirements.lock
	@echo "[setup] Python environment in $(VENV): the product (kubeharden) and its test lab (kubeharden_lab)"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r .ci/requirements.lock
	$(VENV)/bin/pip install -q -e '.[dev]' -e ./lab
	touch $@

python-env: $(VENV)/.installed

lab-assets: deps python-env  ## Kubernetes binaries (Go build, cached), the base root filesystem and the kubelets' images (cached)
	$(PY) -m kubeharden_lab.binaries $(K8S_VERSION)
	$(PY) -c 'from kubeharden_lab.rootfs import ensure_rootfs; print(ensure_rootfs())'
	$(PY) -c 'from kubeharden_lab.binaries import ensure_binaries; from kubeharden_lab.images import ensure_images; print(ensure_images(ensure_binaries("$(K8S_VERSION)")))'

lint: python-env  ## ruff (lint incl. security rules S, complexity, format) and mypy --strict over the product and the lab
	$(VENV)/bin/ruff check kubeharden lab tests inventories deploys
	$(VENV)/bin/ruff format --check kubeharden lab tests inventories deploys
	$(VENV)/bin/mypy kubeharden lab/kubeharden_lab

unit-test: python-env
	$(PY) -m pytest tests/unit -q

lab-test: lab-assets
	$(PY) -m pytest tests/lab -v

audit: python-env  ## the locked Python dependencies against PyPI's advisory data (waivers: .ci/audit-waivers.json)
	$(PY) .ci/dependency_audit.py .ci/requirements.lock --waivers .ci/audit-waivers.json

test: lab-assets lint audit  ## Everything CI runs: lint, unit tests, lab tests against real components
	$(PY) -m pytest tests/unit tests/lab -v -rsP

demo: lab-assets  ## The main job on the lab: make it (weakened), verify, harden, verify again, print the report
	$(KH) lab up --weak --dir $(LAB_DIR)
	@echo; echo "==> verify BEFORE hardening (failures expected: the lab is weakened)"
	$(KH) verify $(LAB_DIR)/inventory.py --json $(LAB_DIR)/report-before.json > $(LAB_DIR)/report-before.txt || true
	@grep -E "^(Summary|Total|  *totals)|FAIL" $(LAB_DIR)/report-before.txt | head -n 25 || true
	@echo; echo "==> harden (one control plane at a time, health-gated, rolled back on failure)"
	$(KH) harden $(LAB_DIR)/inventory.py --summary-json $(LAB_DIR)/harden-summary.json
	@echo; echo "==> verify AFTER hardening: the report"
	$(KH) verify $(LAB_DIR)/inventory.py --json $(LAB_DIR)/report.json --junit $(LAB_DIR)/report.xml --markdown $(LAB_DIR)/report.md
	@echo; echo "Reports: $(LAB_DIR)/report.md, $(LAB_DIR)/report.json, $(LAB_DIR)/report.xml. Remove the lab: make clean-lab"

clean-lab:
	$(KH) lab down --dir $(LAB_DIR)
