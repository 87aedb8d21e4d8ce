#!/usr/bin/env bash
# Bring up the single-node test cluster on loopback: etcd, kube-apiserver, controller-manager,
# scheduler, kubelet (dockershim) and a dockerd of its own. Idempotent: a cluster that is up
# stays up. Writes the admin kubeconfig to $CLUSTER_DIR/kubeconfig and prints its path.
#
# Network: everything listens on 127.0.0.0/8 (API server 127.100.0.1:443, which is also the
# `kubernetes` Service IP, so in-cluster clients work from host-network pods); dockerd has no
# bridge and no iptables rules; pods without host network only have `lo`; no cluster DNS. Every
# process of the cluster, pods included, is in the net_cls cgroup c2d-cluster: its packets to a
# non-loopback address are rejected and counted (chain C2D-EGRESS; see tests/cluster).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/common.sh"
need_root

bin=$("$here/build.sh")
start=$(date +%s)
mkdir -p "$CLUSTER_DIR"/{pki,logs,etcd,run}
export PATH=$bin:$PATH

if kube_ready 2>/dev/null; then
  log "already up"
  echo "$KUBECONFIG_PATH"
  exit 0
fi

egress_guard_up
docker_up
"$here/../images.sh" pause >/dev/null

# Certificates: a CA, the API server's certificate (loopback names only) and the service-account
# key pair; kept across restarts so kubeconfigs stay valid.
pki=$CLUSTER_DIR/pki
if [[ ! -f $pki/apiserver.crt ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=c2d-test-cluster-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' \
    "$API_IP" > "$pki/san.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/san.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  token=$(openssl rand -hex 24)
  echo "$token,admin,admin,system:masters" > "$pki/tokens.csv"
  chmod 600 "$pki"/*.key "$pki/tokens.csv"
fi
if [[ ! -f $pki/kubelet-client.crt ]]; then  # the API server's identity at the kubelet (logs, exec)
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -keyout "$pki/kubelet-client.key" -out "$pki/kubelet-client.csr" 2>/dev/null
  openssl x509 -req -in "$pki/kubelet-client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -out "$pki/kubelet-client.crt" 2>/dev/null
  chmod 600 "$pki/kubelet-client.key"
fi
token=$(cut -d, -f1 "$pki/tokens.csv")
cat > "$KUBECONFIG_PATH" <<KC
apiVersion: v1
kind: Config
clusters:
- name: c2d-test
  cluster:
    server: https://$API_IP:443
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: admin
  user:
    token: $token
contexts:
- name: c2d-test
  context: {cluster: c2d-test, user: admin}
current-context: c2d-test
KC
chmod 600 "$KUBECONFIG_PATH"
echo "nameserver 127.0.0.1" > "$CLUSTER_DIR/resolv.conf"
mkdir -p "$CLUSTER_DIR/cni/bin" "$CLUSTER_DIR/cni/net.d"
install -m 755 "$here/cni-loopback" "$CLUSTER_DIR/cni/bin/c2d-loopback"
install -m 755 "$here/cni-loopback" "$CLUSTER_DIR/cni/bin/loopback"
echo '{"cniVersion":"0.4.0","name":"c2d-loopback","type":"c2d-loopback"}' > "$CLUSTER_DIR/cni/net.d/10-c2d-loopback.conf"

spawn etcd etcd --name c2d --data-dir "$CLUSTER_DIR/etcd" \
  --listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 \
  --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
  --initial-cluster c2d=http://127.0.0.1:12380 --listen-metrics-urls= 

spawn kube-apiserver kube-apiserver --etcd-servers=http://127.0.0.1:12379 \
  --bind-address="$API_IP" --advertise-address="$API_IP" --secure-port=443 --insecure-port=0 \
  --service-cluster-ip-range=127.100.0.0/24 --endpoint-reconciler-type=none \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
  --authorization-mode=Node,RBAC --allow-privileged=false \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc \
  --kubelet-preferred-address-types=Hostname --kubelet-https=true \
  --kubelet-client-certificate="$pki/kubelet-client.crt" --kubelet-client-key="$pki/kubelet-client.key" \
  --enable-admission-plugins=NodeRestriction,LimitRanger,ResourceQuota,ServiceAccount \
  --profiling=false --v=0

wait_for "API server" 60 kubectl --kubeconfig "$KUBECONFIG_PATH" get --raw /readyz

spawn kube-controller-manager kube-controller-manager --kubeconfig="$KUBECONFIG_PATH" \
  --leader-elect=false --port=0 --bind-address=127.0.0.1 --secure-port=10257 \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --allocate-node-cidrs=false --controllers='*,-nodeipam,-cloud-node-lifecycle,-route,-service' \
  --pvclaimbinder-sync-period=2s \
  --profiling=false --v=0

spawn kube-scheduler kube-scheduler --kubeconfig="$KUBECONFIG_PATH" --leader-elect=false --port=0 \
  --bind-address=127.0.0.1 --secure-port=10259 --profiling=false --v=0

spawn kubelet kubelet --kubeconfig="$KUBECONFIG_PATH" --container-runtime=docker \
  --docker-endpoint="unix://$DOCKER_SOCK" --pod-infra-container-image="$PAUSE_IMAGE" \
  --hostname-override=localhost --address=127.0.0.1 --port=10250 \
  --read-only-port=0 --healthz-bind-address=127.0.0.1 --healthz-port=10248 \
  --fail-swap-on=false --cgroup-driver=cgroupfs --cgroup-root=/c2d-cluster \
  --resolv-conf="$CLUSTER_DIR/resolv.conf" --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
  --eviction-hard='memory.available<100Mi' --anonymous-auth=false --authentication-token-webhook=false \
  --client-ca-file="$pki/ca.crt" --authorization-mode=AlwaysAllow --cert-dir="$CLUSTER_DIR/pki/kubelet" \
  --network-plugin=cni --cni-bin-dir="$CLUSTER_DIR/cni/bin" --cni-conf-dir="$CLUSTER_DIR/cni/net.d" \
  --serialize-image-pulls=false --register-node=true --pod-max-pids=256 \
  --feature-gates=SizeMemoryBackedVolumes=true --v=0

wait_for "node Ready" 90 node_ready
# Namespaced objects need their default service account before pods can be created.
wait_for "default service account" 30 kubectl --kubeconfig "$KUBECONFIG_PATH" -n default get serviceaccount default
echo "$(( $(date +%s) - start ))" > "$CLUSTER_DIR/up-seconds"
log "up in $(cat "$CLUSTER_DIR/up-seconds") s; KUBECONFIG=$KUBECONFIG_PATH"
echo "$KUBECONFIG_PATH"
