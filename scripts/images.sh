#!/usr/bin/env bash
# Build c2d's container images into the local Docker (the test cluster's dockerd when it runs
# here; DOCKER_HOST decides otherwise).
#
#   scripts/images.sh [all]     base (unless BASE is given), every component, the algorithm runtimes
#                               (python, node, shell: c2d.operator.images.RUNTIMES)
#   scripts/images.sh pause     only the pod sandbox image of the test cluster
#   scripts/images.sh base      only the local base image (debootstrap, cached)
#   scripts/images.sh stage     only what the Dockerfiles copy (.toolchain/images: wheels, Ganache,
#                               the compiled contracts), for a builder of its own (the stack's
#                               c2d:images build)
#
# BASE=<image> builds the components FROM that image (python:3.11-slim-bookworm for real users);
# by default they are built FROM the local debootstrap image, since no registry is reachable here.
# TAG (default dev) tags every image c2d/<component>:TAG.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/cluster/common.sh"
TAG=${TAG:-dev}
LOCAL_BASE=c2d/base:bookworm
COMPONENTS_IMAGES="provider operator-service operator-engine configure publish algorithm-python algorithm-node algorithm-shell ganache contracts"

if [[ -z ${DOCKER_HOST:-} && -S $DOCKER_SOCK ]]; then export DOCKER_HOST=unix://$DOCKER_SOCK; fi
if [[ ${1:-all} != stage ]] && ! docker version >/dev/null 2>&1; then
  need_root
  docker_up
  export DOCKER_HOST=unix://$DOCKER_SOCK
fi
has_image() { docker image inspect "$1" >/dev/null 2>&1; }
build() { DOCKER_BUILDKIT=0 docker build -q "$@" >/dev/null; }

pause_image() {
  has_image "$PAUSE_IMAGE" && return 0
  local version src tmp
  version=$(kube_source_version)
  src=$CACHE_ROOT/kubernetes/$version/pause.c
  tmp=$(mktemp -d)
  if [[ ! -f $src ]]; then
    (cd "$tmp" && apt-get source -qq --download-only "kubernetes=$version" >/dev/null 2>&1)
    tar -xzf "$tmp"/kubernetes_*.orig.tar.gz -C "$tmp" --wildcards '*/build/pause/linux/pause.c'
    mkdir -p "$(dirname "$src")" && find "$tmp" -name pause.c -exec cp {} "$src" \;
  fi
  gcc -Os -Wall -static -DVERSION=v3.4-c2d -o "$tmp/pause" "$src"
  cp "$repo/images/pause.Dockerfile" "$tmp/Dockerfile"
  build -t "$PAUSE_IMAGE" "$tmp"
  rm -rf "$tmp"
  log "built $PAUSE_IMAGE"
}

base_image() {
  has_image "$LOCAL_BASE" && return 0
  local tarball=$CACHE_ROOT/base-bookworm.tar
  if [[ ! -f $tarball ]]; then
    need_root
    apt_install debootstrap
    local rootfs=$CACHE_ROOT/base-rootfs
    rm -rf "$rootfs"
    log "debootstrap bookworm (about 2 min, once per machine)"
    debootstrap --variant=minbase --include=python3-minimal bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    chroot "$rootfs" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null \
      && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/* /var/cache/debconf/*-old'
    tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
  fi
  docker import "$tarball" "$LOCAL_BASE" >/dev/null
  log "imported $LOCAL_BASE"
}

# Wheels for the images: c2d's runtime dependencies at the versions of requirements/c2d.lock,
# and c2d itself (built from the working tree), each with pip to install them.
wheels() {
  local out=$repo/.toolchain/images py=$repo/.venv/bin/python
  rm -rf "$out/c2d" && mkdir -p "$out/deps" "$out/c2d"
  local stamp
  stamp=$(cat "$repo/requirements/c2d.lock" "$repo/pyproject.toml" | sha256sum | cut -c1-16)
  if [[ ! -f $out/deps/.stamp-$stamp ]]; then
    rm -rf "$out/deps" && mkdir -p "$out/deps"
    "$py" -m pip wheel -q --disable-pip-version-check -c "$repo/requirements/c2d.lock" -w "$out/deps" "$repo" 2>&1 \
      | grep -v "is ignored: it is neither" >&2 || true
    rm -f "$out"/deps/c2d-*.whl
    touch "$out/deps/.stamp-$stamp"
  fi
  rm -rf "$repo/build/lib" "$repo/build/bdist."*  # setuptools' staging: a module removed since would linger
  "$py" -m pip wheel -q --disable-pip-version-check --no-deps -w "$out/c2d" "$repo" 2>&1 \
    | grep -v "is ignored: it is neither" >&2 || true
  local pip_wheel
  pip_wheel=$("$py" -m pip download -q --disable-pip-version-check --no-deps -d "$out" "pip==$("$py" -m pip --version | cut -d' ' -f2)" >/dev/null 2>&1; ls "$out"/pip-*.whl | head -1)
  cp "$pip_wheel" "$out/deps/_pip.zip"
  cp "$pip_wheel" "$out/c2d/_pip.zip"
}

# Ganache for an in-cluster chain: the checkout's npm package, and node for bases without it.
ganache_files() {
  local out=$repo/.toolchain/images/ganache
  rm -rf "$out" && mkdir -p "$out/node_modules" "$out/bin"
  # ganache and its dependencies: everything npm installed but the compiler and the contracts library
  local entry
  for entry in "$repo"/node_modules/* "$repo"/node_modules/.bin; do
    case ${entry##*/} in solc|@openzeppelin) continue ;; esac
    cp -r "$entry" "$out/node_modules/"
  done
  cp "$(command -v node)" "$out/bin/node"
  # the Node.js algorithm runtime's interpreter
  mkdir -p "$repo/.toolchain/images/node"
  cp "$(command -v node)" "$repo/.toolchain/images/node/node"
}

# The contracts Job: wheels of brownie's environment (requirements/brownie.lock) and the compiled
# project (sources, build artifacts, the OpenZeppelin sources they were compiled from).
contracts_files() {
  local out=$repo/.toolchain/images wheels=$repo/.toolchain/images/brownie py=$repo/.toolchain/brownie-venv/bin/python
  local stamp
  stamp=$(sha256sum < "$repo/requirements/brownie.lock" | cut -c1-16)
  if [[ ! -f $wheels/.stamp-$stamp ]]; then
    rm -rf "$wheels" && mkdir -p "$wheels"
    # -P: not the checkout on sys.path (its operator/ would shadow the standard library's)
    if ! "$py" -P -m pip wheel -q --disable-pip-version-check -w "$wheels" -r "$repo/requirements/brownie.lock" 2>&1 \
      | { grep -v "^WARNING: Location 'file://" >&2 || true; }; then
      echo "images: wheels of brownie's environment failed" >&2
      exit 1
    fi
    cp "$repo/requirements/brownie.lock" "$wheels/brownie.lock"
    cp "$out/deps/_pip.zip" "$wheels/_pip.zip"
    touch "$wheels/.stamp-$stamp"
  fi
  local project=$out/contracts
  rm -rf "$project" && mkdir -p "$project/node_modules/@openzeppelin"
  cp -r "$repo/contracts/src" "$repo/contracts/scripts" "$repo/contracts/brownie-config.yaml" "$project/"
  mkdir -p "$project/build"
  cp -r "$repo/contracts/build/contracts" "$project/build/"
  if [[ -d $repo/contracts/build/interfaces ]]; then cp -r "$repo/contracts/build/interfaces" "$project/build/"; fi
  cp -r "$repo/node_modules/@openzeppelin/contracts" "$project/node_modules/@openzeppelin/"
}

components() {
  local base=${BASE:-}
  if [[ -z $base ]]; then base_image; base=$LOCAL_BASE; fi
  [[ -f $repo/contracts/build/contracts/DataToken.json ]] || { echo "compile the contracts first (make contracts)" >&2; exit 1; }
  wheels
  ganache_files
  contracts_files
  local name
  for name in $COMPONENTS_IMAGES; do
    build --build-arg "BASE=$base" -f "$repo/images/$name.Dockerfile" -t "c2d/$name:$TAG" "$repo"
    log "built c2d/$name:$TAG"
  done
}

case ${1:-all} in
  pause) pause_image ;;
  stage)
    [[ -f $repo/contracts/build/contracts/DataToken.json ]] || { echo "compile the contracts first (make contracts)" >&2; exit 1; }
    wheels; ganache_files; contracts_files ;;
  base) base_image ;;
  all) pause_image; components ;;
  *) echo "usage: $0 [all|pause|base|stage]" >&2; exit 2 ;;
esac
