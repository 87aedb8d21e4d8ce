# Shared by the test-cluster scripts (sourced). Paths outside the repo are per machine.
CLUSTER_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${C2D_CACHE:-/var/cache/c2d}
CLUSTER_DIR=${C2D_CLUSTER_DIR:-/var/lib/c2d-cluster}

log() { echo "[cluster] $*" >&2; }
need_root() { [[ $(id -u) == 0 ]] || { echo "run as root (the test cluster runs a kubelet)" >&2; exit 1; }; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian's source version of `kubernetes` (for example 1.20.5+really1.20.2-1.1).
kube_source_version() {
  apt-cache showsrc kubernetes 2>/dev/null | awk '/^Version:/ {print $2; exit}'
}
kube_bin_dir() { echo "$CACHE_ROOT/kubernetes/$1/bin"; }

API_IP=127.100.0.1
KUBECONFIG_PATH=$CLUSTER_DIR/kubeconfig
DOCKER_SOCK=/run/c2d-docker/docker.sock
DOCKER_ROOT=/var/lib/c2d-docker
PAUSE_IMAGE=c2d/pause:3.4
NET_CLS=/sys/fs/cgroup/net_cls
CLUSTER_CGROUP=c2d-cluster
CLASSID=0x00c20001
COMPONENTS="kubelet kube-scheduler kube-controller-manager kube-apiserver etcd dockerd"

kctl() { kubectl --kubeconfig "$KUBECONFIG_PATH" "$@"; }
kube_ready() { [[ -f $KUBECONFIG_PATH ]] && kctl get --raw /readyz >/dev/null 2>&1 && node_ready; }
node_ready() {
  [[ $(kctl get node localhost -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

wait_for() {  # wait_for WHAT SECONDS COMMAND...
  local what=$1 seconds=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) > deadline )); then
      log "timed out waiting for $what; logs in $CLUSTER_DIR/logs"
      exit 1
    fi
    sleep 0.5
  done
}

# Every cluster process runs in the net_cls cgroup (its children, containers and pods inherit
# the class id); iptables rejects and counts that class's packets to non-loopback addresses.
egress_guard_up() {
  if ! mountpoint -q "$NET_CLS"; then
    mkdir -p "$NET_CLS" && mount -t cgroup -o net_cls net_cls "$NET_CLS"
  fi
  # The kubelet's cgroup root (--cgroup-root) must exist in every hierarchy.
  local controller
  for controller in /sys/fs/cgroup/*/; do
    mkdir -p "$controller$CLUSTER_CGROUP"
  done
  if [[ -f /sys/fs/cgroup/cpuset/cpuset.cpus ]]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/cpuset/$CLUSTER_CGROUP/cpuset.cpus"
    cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/cpuset/$CLUSTER_CGROUP/cpuset.mems"
  fi
  echo "$CLASSID" > "$NET_CLS/$CLUSTER_CGROUP/net_cls.classid"
  local ipt
  for ipt in iptables ip6tables; do
    local lo=127.0.0.0/8
    [[ $ipt == ip6tables ]] && lo=::1/128
    $ipt -N C2D-EGRESS 2>/dev/null || true
    # Logged (kernel log, "c2d-egress:"), rejected and counted.
    $ipt -C C2D-EGRESS -m limit --limit 10/min -j LOG --log-prefix "c2d-egress: " --log-uid 2>/dev/null \
      || $ipt -A C2D-EGRESS -m limit --limit 10/min -j LOG --log-prefix "c2d-egress: " --log-uid
    $ipt -C C2D-EGRESS -j REJECT 2>/dev/null || $ipt -A C2D-EGRESS -j REJECT
    $ipt -C OUTPUT -m cgroup --cgroup "$CLASSID" ! -d "$lo" -j C2D-EGRESS 2>/dev/null \
      || $ipt -I OUTPUT -m cgroup --cgroup "$CLASSID" ! -d "$lo" -j C2D-EGRESS
  done
}

egress_guard_down() {
  local ipt lo
  for ipt in iptables ip6tables; do
    lo=127.0.0.0/8
    [[ $ipt == ip6tables ]] && lo=::1/128
    while $ipt -D OUTPUT -m cgroup --cgroup "$CLASSID" ! -d "$lo" -j C2D-EGRESS 2>/dev/null; do :; done
    $ipt -F C2D-EGRESS 2>/dev/null || true
    $ipt -X C2D-EGRESS 2>/dev/null || true
  done
}

# The kubelet's in-tree AWS credential provider asks the EC2 metadata address (169.254.169.254)
# for credentials at start (the egress guard caught it): the AWS SDK's own switch turns that off.
export AWS_EC2_METADATA_DISABLED=true

# spawn NAME COMMAND...: start a cluster process in the background, in the cluster's cgroup.
spawn() {
  local name=$1; shift
  if [[ -f $CLUSTER_DIR/run/$name.pid ]] && kill -0 "$(cat "$CLUSTER_DIR/run/$name.pid")" 2>/dev/null; then
    return 0
  fi
  (
    echo $BASHPID > "$NET_CLS/$CLUSTER_CGROUP/cgroup.procs"
    exec setsid "$@" >"$CLUSTER_DIR/logs/$name.log" 2>&1 </dev/null
  ) &
  echo $! > "$CLUSTER_DIR/run/$name.pid"
}

# The cluster's own dockerd (own socket and data root): no bridge, no iptables, a runtime
# wrapper that clamps negative oom_score_adj (this VM lacks CAP_SYS_RESOURCE), and gVisor's
# runsc, without a network, as the runtime `runsc` (environments with "runtime": "gvisor").
docker_up() {
  if docker_ready; then return 0; fi
  egress_guard_up  # dockerd and its containers are cluster processes too
  mkdir -p "$(dirname "$DOCKER_SOCK")" "$DOCKER_ROOT" "$CLUSTER_DIR/logs" "$CLUSTER_DIR/run"
  install -m 755 "$CLUSTER_SCRIPTS/runc-clamp-oom" "$CLUSTER_DIR/runc-clamp-oom"
  install -m 755 "$CLUSTER_SCRIPTS/runsc-no-network" "$CLUSTER_DIR/runsc-no-network"
  spawn dockerd dockerd --host "unix://$DOCKER_SOCK" --data-root "$DOCKER_ROOT" \
    --exec-root /run/c2d-docker/exec --pidfile /run/c2d-docker/dockerd.pid \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent=/c2d-cluster/docker \
    --add-runtime "c2d=$CLUSTER_DIR/runc-clamp-oom" --default-runtime=c2d --add-runtime "runsc=$CLUSTER_DIR/runsc-no-network" \
    --log-driver=json-file --log-opt max-size=10m --storage-driver=overlay2 \
    --default-ulimit nofile=4096:4096 --dns 127.0.0.1
  wait_for dockerd 30 docker_ready
}
docker_ready() { DOCKER_HOST=unix://$DOCKER_SOCK docker version >/dev/null 2>&1; }
