#!/usr/bin/env bash
# Build the test cluster's Kubernetes binaries from Debian's `kubernetes` source package with
# Debian's Go, once per machine. The result is cached outside the repo, keyed by the source
# version: a rebuild happens only when Debian's version changes.
#
#   scripts/cluster/build.sh     prints the directory holding kube-apiserver, kube-controller-manager,
#                                kube-scheduler, kubelet and kubectl
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/common.sh"

need_root
apt_install golang-go etcd-server docker.io docker-registry debootstrap gcc libc6-dev dpkg-dev \
  golang-github-modern-go-reflect2-dev runsc

# A deb-src entry for bookworm, so that apt-get source finds the package.
if ! apt-cache showsrc kubernetes >/dev/null 2>&1 || [[ -z $(kube_source_version) ]]; then
  cat > /etc/apt/sources.list.d/c2d-deb-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi

version=$(kube_source_version)
out=$(kube_bin_dir "$version")
if [[ -f $out/.complete ]]; then
  echo "$out"
  exit 0
fi
log "building Kubernetes $version into $out (about 10 min on 2 cores, once per machine)"
start=$(date +%s)
work=$CACHE_ROOT/build-$version
rm -rf "$work" "$out" && mkdir -p "$work/src" "$out"
(cd "$work/src" && apt-get source -qq --download-only "kubernetes=$version" 2>/dev/null \
  && dpkg-source -x ./*.dsc tree >/dev/null)
gopath=$work/gopath
mkdir -p "$gopath/src/k8s.io"
mv "$work/src/tree" "$gopath/src/k8s.io/kubernetes"
rm -rf "$work/src"
k8s=$gopath/src/k8s.io/kubernetes

# The vendored reflect2 1.0.1 crashes on Go >= 1.18 (fatal error in mapiterinit at the first
# custom-resource create); Debian's 1.0.2 does not.
rm -rf "$k8s/vendor/github.com/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$k8s/vendor/github.com/modern-go/reflect2"

export GOPATH=$gopath GO111MODULE=off GOFLAGS= GOCACHE=$work/gocache CGO_ENABLED=1
cd "$k8s"
upstream=v${version#*really}
upstream=${upstream%%-*}
ldflags="-s -w -X k8s.io/kubernetes/vendor/k8s.io/component-base/version.gitVersion=$upstream \
 -X k8s.io/kubernetes/vendor/k8s.io/component-base/version.gitMajor=1 -X k8s.io/kubernetes/vendor/k8s.io/component-base/version.gitMinor=20 \
 -X k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version.gitVersion=$upstream"

# The OpenAPI definitions of the main tree are generated, not shipped.
log "generating OpenAPI definitions"
go build -o "$work/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
inputs=$(grep -Rl --include='*.go' '+k8s:openapi-gen=' pkg vendor \
  | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' \
  | xargs -n1 dirname | sort -u | sed 's#^#k8s.io/kubernetes/#' | paste -sd, -)
"$work/openapi-gen" --input-dirs "$inputs" \
  --output-package k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
  --go-header-file hack/boilerplate/boilerplate.generatego.txt \
  --report-filename "$work/openapi-report.txt" -o "$gopath/src"

for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
  log "go build $cmd"
  go build -tags selinux,notest -ldflags "$ldflags" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
cp build/pause/linux/pause.c "$out/../pause.c"  # the test cluster's pause image (scripts/images.sh)
rm -rf "$work"
echo "$(( $(date +%s) - start ))" > "$out/.build-seconds"
touch "$out/.complete"
log "built in $(cat "$out/.build-seconds") s"
echo "$out"
