#!/usr/bin/env bash
# Tear the test cluster down: pods' containers, every cluster process, the kubelet's mounts and
# fixed paths, the cluster's state (etcd), the cgroup and the egress rules. Images (the
# cluster dockerd's data root) and the built binaries stay, so the next `up` is quick.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/common.sh"
need_root

stop() {  # stop NAME: SIGTERM, then SIGKILL after 10 s
  local pidfile=$CLUSTER_DIR/run/$1.pid pid
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

stop kubelet
if docker_ready; then
  ids=$(DOCKER_HOST=unix://$DOCKER_SOCK docker ps -aq --filter label=io.kubernetes.pod.name)
  [[ -z $ids ]] || DOCKER_HOST=unix://$DOCKER_SOCK docker rm -f $ids >/dev/null 2>&1 || true
  ids=$(DOCKER_HOST=unix://$DOCKER_SOCK docker ps -aq --filter label=c2d.job)
  [[ -z $ids ]] || DOCKER_HOST=unix://$DOCKER_SOCK docker rm -f $ids >/dev/null 2>&1 || true
fi
for name in kube-scheduler kube-controller-manager kube-apiserver etcd dockerd; do stop "$name"; done

# The kubelet's mounts (volumes, secrets) and its fixed paths.
for dir in /var/lib/kubelet /run/c2d-docker; do
  { grep -o " $dir[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
done
rm -rf /var/lib/kubelet /var/log/pods /var/log/containers "$CLUSTER_DIR/etcd" "$CLUSTER_DIR/run" "$KUBECONFIG_PATH"

egress_guard_down
if [[ -d $NET_CLS/$CLUSTER_CGROUP ]]; then
  for controller in /sys/fs/cgroup/*/; do
    [[ -d $controller$CLUSTER_CGROUP ]] || continue
    find "$controller$CLUSTER_CGROUP" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
fi
log "down"
