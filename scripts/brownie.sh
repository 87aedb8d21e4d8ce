#!/usr/bin/env bash
# Runs brownie (or its environment's python/pytest: `scripts/brownie.sh python ...`) in the
# contracts project with c2d's isolated brownie home, compiler and Ganache networks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export HOME="$root/.toolchain/brownie-home"
export SOLCX_BINARY_PATH="$root/.toolchain/solcx"
export PATH="$root/.toolchain/brownie-venv/bin:$root/node_modules/.bin:$PATH"
cd "$root/contracts"
if [ $# -gt 0 ] && [ "$1" != "brownie" ] && [ -x "$root/.toolchain/brownie-venv/bin/$1" ]; then
  exec "$@"
fi
[ "${1:-}" = "brownie" ] && shift
exec brownie "$@"
