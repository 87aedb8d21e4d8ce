#!/usr/bin/env bash
# Sets up everything c2d needs on a fresh machine; idempotent and quick when nothing changed.
#   node_modules/             ganache, solc (wasm), @openzeppelin/contracts   (package-lock.json)
#   .toolchain/brownie-venv   eth-brownie and its exact pins                  (requirements/brownie.lock)
#   .toolchain/solcx          the npm solc registered as py-solc-x's compiler
#   .toolchain/brownie-home   brownie's home: its network-config.yaml (Ganache networks)
#   .toolchain/slither-venv   slither, the contracts' static analysis          (requirements/slither.lock)
#   .toolchain/checks-venv    checkov, kubernetes-validate: the manifests' checks (requirements/checks.lock)
#   .venv                     the c2d package and its tools                   (requirements/c2d.lock)
# Each step is skipped when its stamp matches the hash of what it was made from.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tool="$root/.toolchain"
mkdir -p "$tool/stamps"
PYTHON=${PYTHON:-python3}

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# outdated NAME PRESENT FILE...: true when PRESENT is not "yes" or the hash of FILEs differs
# from stamp NAME; `mark NAME` records that hash once the step has succeeded.
outdated() {
  local name=$1 present=$2; shift 2
  want=$(cat "$@" | sha256sum | cut -c1-16)
  [ "$present" != yes ] || [ "$(cat "$tool/stamps/$name" 2>/dev/null)" != "$want" ]
}
mark() { echo "$want" > "$tool/stamps/$1"; }
exists() { [ -e "$1" ] && echo yes || echo no; }

# pip prints a warning for each missing local index folder of this machine kind; keep the log readable.
pip_quiet() { "$@" 2>&1 | { grep -v "^WARNING: Location 'file://" || true; }; return "${PIPESTATUS[0]}"; }

command -v node >/dev/null || { echo "setup: node (>= 18) is required" >&2; exit 1; }

# debian_package COMMAND PACKAGE WHAT: installs a Debian package when COMMAND is missing (as root),
# else says what to install.
debian_package() {
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ]; then
    say "$2 (Debian package): $3"
    # A package's service is never started here (policy-rc.d): the tests start what they need.
    local guard=/usr/sbin/policy-rc.d made=
    [ -e $guard ] || { printf '#!/bin/sh\nexit 101\n' > $guard && chmod +x $guard && made=1; }
    local install="apt-get install -y -qq $2"
    { DEBIAN_FRONTEND=noninteractive $install >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive $install; }; } >/dev/null
    [ -z "$made" ] || rm -f $guard
  else
    echo "setup: install $2 (sudo apt-get install $2): $3" >&2
  fi
}
# bubblewrap isolates the local executor's stages; without it no job runs (fail closed).
debian_package bwrap bubblewrap "the local executor's sandbox"
# slirp4netns gives a local algorithm that may use the network a guarded network of its own.
debian_package slirp4netns slirp4netns "networks for algorithms that may use the network"
# iptables guards those networks (public addresses only; c2d.operator.executors.usernet).
debian_package iptables iptables "the guard of algorithms' networks"
# The docker executor drives Docker through its command (the test cluster runs a daemon of its own).
debian_package docker docker.io "the docker executor's client"
# The metrics test scrapes the services with a real Prometheus; the page's test drives Chromium.
debian_package prometheus prometheus "the metrics test's scraper"
debian_package chromium chromium "the web page's test browser (Playwright drives it; nothing is downloaded)"

if outdated node "$(exists node_modules/.bin/ganache)" package-lock.json; then
  say "npm packages (ganache, solc, @openzeppelin/contracts)"
  npm ci --no-audit --no-fund --loglevel=error
  mark node
fi

if outdated brownie "$(exists "$tool/brownie-venv/bin/brownie")" requirements/brownie.lock; then
  say "brownie environment (.toolchain/brownie-venv)"
  rm -rf "$tool/brownie-venv"
  "$PYTHON" -m venv "$tool/brownie-venv"
  pip_quiet "$tool/brownie-venv/bin/pip" install -q --disable-pip-version-check -r requirements/brownie.lock
  mark brownie
fi

if outdated slither "$(exists "$tool/slither-venv/bin/slither")" requirements/slither.lock; then
  say "slither environment (.toolchain/slither-venv)"
  rm -rf "$tool/slither-venv"
  "$PYTHON" -m venv "$tool/slither-venv"
  pip_quiet "$tool/slither-venv/bin/pip" install -q --disable-pip-version-check -r requirements/slither.lock
  mark slither
fi

if outdated checks "$(exists "$tool/checks-venv/bin/checkov")" requirements/checks.lock; then
  say "manifest checks environment (.toolchain/checks-venv: checkov, kubernetes-validate)"
  rm -rf "$tool/checks-venv"
  "$PYTHON" -m venv "$tool/checks-venv"
  pip_quiet "$tool/checks-venv/bin/pip" install -q --disable-pip-version-check -r requirements/checks.lock
  mark checks
fi

scripts/install-solc.sh "$tool/solcx" >/dev/null

brownie_home="$tool/brownie-home/.brownie"
mkdir -p "$brownie_home"
cat > "$brownie_home/network-config.yaml" <<YAML
# Written by scripts/setup.sh. 'development' is a Ganache that brownie starts for the
# contract tests; 'c2d-rpc' is any running chain at \$C2D_RPC_URL (used by the deploy script).
# c2d-rpc's chainid is only a label for brownie's own deployment records, which
# contracts/scripts/deploy.py turns off (addresses.json is c2d's record).
development:
  - name: Ganache (c2d)
    id: development
    cmd: $root/node_modules/.bin/ganache
    host: http://127.0.0.1
    timeout: 60
    cmd_settings:
      port: ${C2D_BROWNIE_PORT:-18545}
      gas_limit: 30000000
      accounts: 10
      evm_version: shanghai
      mnemonic: c2d brownie tests
live:
  - name: c2d
    networks:
      - name: c2d chain at \$C2D_RPC_URL
        id: c2d-rpc
        host: \$C2D_RPC_URL
        chainid: c2d
        timeout: 60
YAML

if outdated venv "$(exists .venv/bin/python)" requirements/c2d.lock pyproject.toml setup.py; then
  say "c2d environment (.venv)"
  rm -rf .venv
  "$PYTHON" -m venv .venv
  pip_quiet .venv/bin/pip install -q --disable-pip-version-check -r requirements/c2d.lock
  pip_quiet .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  mark venv
fi
say "ready"
