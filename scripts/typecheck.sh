#!/usr/bin/env bash
# mypy over the whole c2d namespace. mypy does not follow setup.py's folder mapping
# (provider/ is c2d.provider, ...), so it checks a tree of symlinks laid out as the namespace.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tree="$root/.toolchain/typecheck"
rm -rf "$tree" && mkdir -p "$tree/c2d"
for entry in "$root"/c2d/*; do ln -s "$entry" "$tree/c2d/"; done
for folder in provider operator pods infra; do ln -s "$root/$folder" "$tree/c2d/$folder"; done
cd "$tree"
exec "$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.toolchain/mypy-cache" -p c2d "$@"
