#!/usr/bin/env bash
# Static analysis of c2d's contracts with slither (its own environment, requirements/slither.lock,
# made by scripts/setup.sh). Compiles every contract afresh, analyses a copy of contracts/ (slither
# reads brownie's build artifacts; no native solc needed) and fails on any finding above
# informational. A finding kept on purpose carries its reason beside a `slither-disable-next-line`
# comment in the source.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
slither="$root/.toolchain/slither-venv/bin/slither"
[ -x "$slither" ] || { echo "slither: run scripts/setup.sh first" >&2; exit 1; }
scripts/brownie.sh compile --all >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r contracts/src contracts/build contracts/brownie-config.yaml "$work/"
ln -s "$root/node_modules" "$work/node_modules"
cd "$work"
status=0
"$slither" . --compile-force-framework brownie --brownie-ignore-compile --filter-paths node_modules \
  --exclude-informational --exclude-optimization --fail-low --disable-color >"$work/report" 2>&1 || status=$?
grep -v "^INFO:Slither:" "$work/report" || true
if [ "$status" != 0 ]; then
  echo "slither: findings above informational (above), or slither failed" >&2
  exit 1
fi
echo "slither: no finding above informational ($(grep -o "[0-9]* contracts with [0-9]* detectors" "$work/report"))"
