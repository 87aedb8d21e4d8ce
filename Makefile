# c2d developer targets. Every target sets up what it needs first (scripts/setup.sh is
# idempotent and takes well under a second when nothing changed).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin

.PHONY: help setup contracts lint test test-contracts test-python test-manifests test-cluster cluster-up cluster-down images render demo bench chaos lock lock-brownie clean

help:
	@echo "make demo    set up, then run the demo on a local Ganache chain"
	@echo "make test    set up, then lint and run every test (contracts on Ganache, Python)"
	@echo "make bench   every benchmark (python -m bench), then one table of each figure against its target"
	@echo "make chaos   the chaos suite at full size: 100 runs per executor, a process, container or pod killed in each"
	@echo "make setup   only set up: npm tools, brownie and c2d environments"
	@echo "make cluster-up / cluster-down   the loopback test Kubernetes (built from Debian's source once)"
	@echo "make images  c2d's container images, into the test cluster's Docker"
	@echo "make render  the Pulumi program's manifests (dev stack) into build/manifests.json"

setup:
	@scripts/setup.sh

contracts: setup
	@scripts/brownie.sh compile | grep -E "^(Compiling|Project has been compiled)" || true
	@test -f contracts/build/contracts/DataToken.json

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	scripts/typecheck.sh
	$(VENV)/mypy bench

test-contracts: contracts
	scripts/brownie.sh pytest tests -q
	scripts/slither.sh

test-python: contracts
	$(VENV)/pytest -q -m "not cluster and not from_nothing"

# The rendered stack's outside checks: checkov and kubernetes-validate on every variant.
test-manifests: setup
	$(VENV)/python scripts/check-manifests.py

# The cluster tests: docker and kubernetes executors on the loopback test cluster (scripts/cluster).
# Then, with the cluster down, the program's local cluster from nothing to a first job and back.
test-cluster: contracts cluster-up images
	$(VENV)/pytest -q -m cluster tests/cluster; status=$$?; scripts/cluster/down.sh; [ $$status = 0 ] || exit $$status
	$(VENV)/pytest -q -s -m from_nothing tests/deploy

cluster-up:
	@scripts/cluster/up.sh >/dev/null

cluster-down:
	@scripts/cluster/down.sh

images: contracts
	@scripts/images.sh

# The Pulumi program's manifests for the dev stack (Pulumi.dev.yaml), under Pulumi's mocks.
render: setup
	@scripts/render.sh

test: lint test-contracts test-python test-manifests test-cluster

demo: contracts
	$(VENV)/c2d demo

bench: contracts
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(VENV)/python -m bench

# The chaos suite at full size, 100 runs per stack (make test runs a few: tests/compute/test_chaos.py,
# tests/cluster/test_chaos.py): the embedded stack, then the docker and kubernetes executors on the test cluster.
chaos: contracts cluster-up images
	$(VENV)/python -m bench.chaos 100 local docker kubernetes

# Re-resolve an environment in one pip run and record the result.
lock:
	rm -rf .toolchain/lock-venv && python3 -m venv .toolchain/lock-venv
	.toolchain/lock-venv/bin/pip install -q -e '.[dev]' 'setuptools>=69'
	{ echo "# c2d's own environment (.venv), resolved in one pip run; no brownie pins here."; \
	  echo "# Regenerate: make lock"; \
	  .toolchain/lock-venv/bin/pip freeze --all --exclude-editable | grep -v '^pip=='; } > requirements/c2d.lock

lock-brownie:
	rm -rf .toolchain/lock-venv && python3 -m venv .toolchain/lock-venv
	.toolchain/lock-venv/bin/pip install -q eth-brownie==1.22.2
	{ echo "# eth-brownie's environment (compile, test, deploy the contracts), resolved in one pip run."; \
	  echo "# Regenerate: make lock-brownie"; \
	  .toolchain/lock-venv/bin/pip freeze | grep -v '^-e'; } > requirements/brownie.lock

clean:
	rm -rf .toolchain .venv node_modules contracts/build
