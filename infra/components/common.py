"""Labels, pod and container templates, probes and helpers every part of the deployment uses."""

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.config import Placement
from c2d.operator.executors.base import STAGE_UID
from c2d.signing import address_of

PART_OF = {"app.kubernetes.io/part-of": "c2d"}
NAME_LABEL = "kubernetes.io/metadata.name"
GANACHE_PORT, PROVIDER_PORT, OPERATOR_PORT = 8545, 8030, 8050
ENGINE_METRICS_PORT = 8052  # the engine's /metrics (not on the loopback cluster: host network, one node)
# The contracts Job records the deployment in this ConfigMap (images/contracts-job.py writes it
# by name; the Job's Role may touch no other): its name is fixed, not an output.
CONTRACTS_CONFIG_MAP = "c2d-contracts"
JOBS_MOUNT = "/var/lib/c2d"
KEYS_MOUNT = "/etc/c2d/keys"  # a Secret's key as a file
PROVIDER_DATA_ROOT = "/var/lib/c2d/data"  # publishers' files, inside the provider's container
# The parts that call the API server (WorkFlows, stage Jobs, the contracts' ConfigMap): only
# their pods get a service account token.
API_CLIENTS = ("operator-service", "operator-engine", "contracts")
HEARTBEAT_CHECK = ["python", "-m", "c2d.heartbeat"]


def host_volume(namespace: str, part: str) -> Path:
    """Where a loopback stack keeps a volume on the node."""
    return Path("/var/lib/c2d-volumes", namespace, part)


def labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, **PART_OF}


def exceptions(at: Placement, part: str) -> dict[str, Any]:
    """The checks (checkov's) a part's pods fail on purpose, each with its reason, as the skip
    annotations of its object's metadata: `{"annotations": …}` or nothing."""
    reasons = []
    if part in API_CLIENTS:
        reasons.append(("CKV_K8S_38", "it calls the API server: its token, with its Role in its own namespace only"))
    if at.loopback:
        reasons += [
            ("CKV_K8S_19", "loopback test cluster: no pod network, the node's network is loopback only"),
            ("CKV_K8S_43", "loopback test cluster: images built on the node without a registry, so no registry digest"),
            ("CKV_K8S_15", "loopback test cluster: images built on the node are never pulled"),
        ]
        if part != "contracts":  # hostPath volumes ignore fsGroup
            reasons.append(
                (
                    "CKV_K8S_25",
                    "loopback test cluster: an init container with CHOWN only hands the "
                    "node's hostPath volumes to the pod's user",
                )
            )
    if not reasons:
        return {}
    return {"annotations": {f"checkov.io/skip{n}": f"{check}={why}" for n, (check, why) in enumerate(reasons, 1)}}


def restricted_pod(uid: int = STAGE_UID) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
}


def resources(cpu: str, memory: str, cpu_request: str | None = None) -> dict[str, Any]:
    """Memory: requested = limit (never overcommitted). CPU: a service may request less than its
    limit (it idles between requests), which leaves the node's CPU to the jobs."""
    return {"requests": {"cpu": cpu_request or cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def pod_spec(
    at: Placement,
    account: str,
    containers: list[Any],
    volumes: list[Any],
    owned: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A pod of a service account, non-root, read-only root filesystem with a private /tmp.
    `owned`: volume → the sub-directories the pod's user must own. A storage class's volumes
    take the pod's fsGroup; the loopback cluster's hostPath volumes do not, so there a first
    container creates them and hands them to that user (CHOWN its only capability)."""
    if not any(v["name"] == "tmp" for v in volumes):
        volumes = [*volumes, {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
        for container in containers:
            container["volumeMounts"] = [*container.get("volumeMounts", []), {"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108
    spec: dict[str, Any] = {
        "serviceAccountName": account,
        "automountServiceAccountToken": account.removeprefix("c2d-") in API_CLIENTS,
        "enableServiceLinks": False,
        "securityContext": restricted_pod(),
        "containers": containers,
        "volumes": volumes,
    }
    if at.loopback:  # no pod network on the test cluster: the node's, which is loopback only
        spec.update(hostNetwork=True, dnsPolicy="Default")  # and no cluster DNS: the node's resolver
        if owned:
            spec["initContainers"] = [volume_owner(containers[0]["image"], owned)]
    return spec


def volume_owner(image: str, owned: dict[str, list[str]]) -> dict[str, Any]:
    paths = [f"/volumes/{volume}/{sub}" for volume, subs in owned.items() for sub in subs]
    return {
        "name": "volume-owner",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", f'mkdir -p "$@" && chown {STAGE_UID}:{STAGE_UID} "$@"', "volume-owner", *paths],
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]},
        },
        "resources": resources("100m", "32Mi"),
        "volumeMounts": [{"name": volume, "mountPath": f"/volumes/{volume}"} for volume in owned],
    }


def deployment_spec(
    app: dict[str, str], pod: dict[str, Any], replicas: int = 1, metrics_port: int | None = None
) -> dict[str, Any]:
    """One replica on SQLite (a file on a ReadWriteOnce volume: the old one goes first); several
    on PostgreSQL, rolled one at a time. `metrics_port`: where its /metrics are (scrape annotations)."""
    return {
        "replicas": replicas,
        "strategy": {"type": "RollingUpdate"} if replicas > 1 else {"type": "Recreate"},
        "selector": {"matchLabels": app},
        "template": {"metadata": {"labels": app, **scrape(metrics_port)}, "spec": pod},
    }


def scrape(port: int | None) -> dict[str, Any]:
    """The annotations by which a Prometheus's pod discovery scrapes a pod's /metrics."""
    if port is None:
        return {}
    return {
        "annotations": {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }
    }


def service(at: Placement, part: str, port: int, app: dict[str, str], opts: pulumi.ResourceOptions) -> Any:
    return k8s.core.v1.Service(
        part,
        metadata={"name": f"c2d-{part}", "namespace": at.namespace_of(part), "labels": app},
        spec={"selector": app, "ports": [{"name": "http", "port": port, "targetPort": port}]},
        opts=opts,
    )


def listen(at: Placement, port: int) -> list[str]:
    return ["--host", "127.0.0.1" if at.loopback else "0.0.0.0", "--port", str(port)]  # noqa: S104


# The kubelet probes the pod's IP, which for a host-network pod is the node's: on the loopback
# cluster the services listen on 127.0.0.1 only, so the probes name it.
def http_probe(at: Placement, port: int, period: int, path: str = "/") -> dict[str, Any]:
    action = {"path": path, "port": port, **({"host": "127.0.0.1"} if at.loopback else {})}
    return {"httpGet": action, "periodSeconds": period, "timeoutSeconds": 2}


def tcp_probe(at: Placement, port: int, period: int) -> dict[str, Any]:
    return {"tcpSocket": {"port": port, **({"host": "127.0.0.1"} if at.loopback else {})}, "periodSeconds": period}


def address(key: pulumi.Output[str]) -> pulumi.Output[str]:
    """The account of a key: public, so not kept secret."""
    return pulumi.Output.unsecret(key.apply(lambda k: address_of(k) if k else ""))


def secret_volume(name: str, secret: Any, key: str) -> dict[str, Any]:
    """One key of a Secret as a file (secrets reach containers as files, never as environment
    variables): root's, readable by the pod's group (its fsGroup, the pod's user) only."""
    return {"name": name, "secret": {"secretName": secret, "items": [{"key": key, "path": key}], "defaultMode": 0o440}}
