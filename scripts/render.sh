#!/usr/bin/env bash
# `make render`: run the Pulumi program (infra/) under Pulumi's mocks with a stack's config and
# write the manifests it would create (no Pulumi CLI needed):
#   scripts/render.sh [STACK_FILE] [OUT] [c2d:key=value ...]   (defaults: Pulumi.dev.yaml build/manifests.json)
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:-Pulumi.dev.yaml}
out=${2:-build/manifests.json}
shift $(( $# > 2 ? 2 : $# ))
exec .venv/bin/python -m c2d.infra.render "$stack" "$out" "$@"
