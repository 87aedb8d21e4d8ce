"""The parts of a c2d deployment, one ComponentResource each (typed pulumi_kubernetes resources;
manifests written as the API's own camelCase, so what Pulumi sends is what `kubectl` would).

Where things run: the chain (Ganache) and the provider in the system namespace; the operator
service and engine next to the jobs they run, in the jobs namespace (the job directory is one
volume that the stage pods mount too, and a volume claim cannot cross namespaces).
"""

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.config import StackConfig
from c2d.localchain import DEV_MNEMONIC
from c2d.operator import workflows
from c2d.operator.executors.base import STAGE_UID
from c2d.signing import address_of

PART_OF = {"app.kubernetes.io/part-of": "c2d"}
NAME_LABEL = "kubernetes.io/metadata.name"
GANACHE_PORT, PROVIDER_PORT, OPERATOR_PORT = 8545, 8030, 8050
# Cloud metadata services: link-local (AWS, GCP, Azure: 169.254.169.254; AWS IPv6 fd00:ec2::254)
# and Alibaba's 100.100.100.200. Nothing of c2d's may reach them.
METADATA_V4 = ["169.254.0.0/16", "100.100.100.200/32"]
METADATA_V6 = ["fd00:ec2::254/128", "fe80::/10"]
# What an algorithm allowed the network still may not reach: the cluster's and the host's own.
PRIVATE_V4 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8"]
PRIVATE_V6 = ["fc00::/7", "::1/128"]


def _anywhere_but(v4: list[str], v6: list[str]) -> list[dict[str, Any]]:
    return [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": v4}},
        {"ipBlock": {"cidr": "::/0", "except": v6}},
    ]


JOBS_MOUNT = "/var/lib/c2d"
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


class Namespaces(pulumi.ComponentResource):
    """The system namespace (baseline) and the jobs namespace (restricted: stage pods)."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:Namespaces", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        jobs_level = "privileged" if cfg.loopback else "restricted"  # loopback: host-network configure pods
        # kubernetes.io/metadata.name, which the NetworkPolicies select namespaces by, is set
        # by the API server itself only from 1.21 on: set here for 1.20.
        self.system = k8s.core.v1.Namespace(
            "system",
            metadata={
                "name": cfg.system_namespace,
                "labels": {
                    **PART_OF,
                    NAME_LABEL: cfg.system_namespace,
                    **_pod_security("privileged" if cfg.loopback else "baseline"),
                },
            },
            opts=child,
        )
        self.jobs = k8s.core.v1.Namespace(
            "jobs",
            metadata={
                "name": cfg.jobs_namespace,
                "labels": {**PART_OF, NAME_LABEL: cfg.jobs_namespace, **_pod_security(jobs_level)},
            },
            opts=child,
        )
        self.register_outputs({"system": self.system.metadata["name"], "jobs": self.jobs.metadata["name"]})


def _pod_security(level: str) -> dict[str, str]:
    return {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}


class WorkflowCrd(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:WorkflowCrd", name, None, opts)
        crd = workflows.crd()
        self.crd = k8s.apiextensions.v1.CustomResourceDefinition(
            "workflows", metadata=crd["metadata"], spec=crd["spec"], opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"name": self.crd.metadata["name"]})


class Rbac(pulumi.ComponentResource):
    """Service accounts and least-privilege Roles; nothing cluster-wide."""

    ACCOUNTS = ("provider", "operator-service", "operator-engine", "contracts", "ganache")

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:Rbac", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.accounts: dict[str, k8s.core.v1.ServiceAccount] = {}
        in_cluster_chain = cfg.chain == "ganache"
        for account in self.ACCOUNTS:
            if account in ("contracts", "ganache") and not in_cluster_chain:
                continue
            namespace = cfg.jobs_namespace if account.startswith("operator") else cfg.system_namespace
            self.accounts[account] = k8s.core.v1.ServiceAccount(
                account,
                metadata={"name": f"c2d-{account}", "namespace": namespace, "labels": labels(account)},
                automount_service_account_token=account in API_CLIENTS,
                opts=child,
            )
        engine_rules = workflows.ENGINE_RULES
        if cfg.outputs_storage_class:
            engine_rules = [*engine_rules, workflows.OUTPUTS_CLAIM_RULE]
        self.roles = {
            "operator-engine": self._role("operator-engine", cfg.jobs_namespace, engine_rules, child),
            "operator-service": self._role("operator-service", cfg.jobs_namespace, workflows.SERVICE_RULES, child),
        }
        if in_cluster_chain:
            self.roles["contracts"] = self._role("contracts", cfg.system_namespace, CONTRACTS_RULES, child)
        self.register_outputs({})

    def _role(self, account: str, namespace: str, rules: list[dict[str, Any]], opts: pulumi.ResourceOptions) -> Any:
        name = f"c2d-{account}"
        role = k8s.rbac.v1.Role(account, metadata={"name": name, "namespace": namespace}, rules=rules, opts=opts)
        sa_namespace = self.accounts[account].metadata["namespace"]
        k8s.rbac.v1.RoleBinding(
            account,
            metadata={"name": name, "namespace": namespace},
            subjects=[{"kind": "ServiceAccount", "name": name, "namespace": sa_namespace}],
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            opts=opts,
        )
        return role


# The contracts Job records the deployment in one ConfigMap of the system namespace.
CONTRACTS_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["c2d-contracts"], "verbs": ["get", "update"]},
]


class Storage(pulumi.ComponentResource):
    """The provider's volume (its database and the publisher's files) and the jobs volume
    (operator database, job directories and results). On the loopback test cluster: hostPath
    volumes of the node, bound by name; elsewhere: claims of the configured storage class."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.provider_claim = self._claim("provider", cfg.system_namespace, cfg.data_size, "ReadWriteOnce", cfg, child)
        # Every operator pod and stage pod mounts the jobs volume: ReadWriteOnce (the default)
        # keeps them on one node; c2d:jobsAccessMode ReadWriteMany (with a storage class that
        # offers it) lets stage pods run on any node.
        self.jobs_claim = self._claim("jobs", cfg.jobs_namespace, cfg.results_size, cfg.jobs_access_mode, cfg, child)
        # The in-cluster chain keeps its state across restarts: the contracts recorded in the
        # ConfigMap stay where the provider looks for them.
        self.chain_claim = None
        if cfg.chain == "ganache":
            self.chain_claim = self._claim("chain", cfg.system_namespace, cfg.chain_size, "ReadWriteOnce", cfg, child)
        self.register_outputs({})

    def _claim(
        self, part: str, namespace: str, size: str, mode: str, cfg: StackConfig, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.PersistentVolumeClaim:
        name = f"c2d-{part}"
        spec: dict[str, Any] = {"accessModes": [mode], "resources": {"requests": {"storage": size}}}
        if cfg.loopback:
            volume = k8s.core.v1.PersistentVolume(
                part,
                metadata={"name": f"{name}-{namespace}", "labels": PART_OF},
                spec={
                    "capacity": {"storage": size},
                    "accessModes": [mode],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": str(host_volume(namespace, part)), "type": "DirectoryOrCreate"},
                },
                opts=opts,
            )
            spec.update(storageClassName="", volumeName=volume.metadata["name"])
        elif cfg.storage_class:
            spec["storageClassName"] = cfg.storage_class
        return k8s.core.v1.PersistentVolumeClaim(
            part, metadata={"name": name, "namespace": namespace, "labels": PART_OF}, spec=spec, opts=opts
        )


class Secrets(pulumi.ComponentResource):
    """The keys, as Secrets: the provider's (system namespace) and the operator's (jobs
    namespace, read by the engine's configure pods and the service)."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:Secrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.provider = k8s.core.v1.Secret(
            "provider-key",
            metadata={"name": "c2d-provider-key", "namespace": cfg.system_namespace},
            string_data={"provider-key": cfg.provider_key},
            opts=child,
        )
        self.operator = k8s.core.v1.Secret(
            "operator-key",
            metadata={"name": "c2d-operator-key", "namespace": cfg.jobs_namespace},
            string_data={"operator-key": cfg.operator_key},
            opts=child,
        )
        self.register_outputs({})


class Chain(pulumi.ComponentResource):
    """Ganache in the cluster (deterministic accounts from a Secret's mnemonic), or nothing for an
    external chain. `rpc_url` is what the other parts use."""

    def __init__(
        self, name: str, cfg: StackConfig, storage: Storage, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("c2d:infra:Chain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.rpc_url: pulumi.Input[str] = cfg.rpc_url
        self.deployment = None
        if cfg.chain == "ganache":
            host = "127.0.0.1" if cfg.loopback else f"c2d-ganache.{cfg.system_namespace}.svc"
            self.rpc_url = f"http://{host}:{GANACHE_PORT}"
            secret = k8s.core.v1.Secret(
                "ganache-accounts",
                metadata={"name": "c2d-ganache-accounts", "namespace": cfg.system_namespace},
                string_data={"mnemonic": DEV_MNEMONIC},  # public: the same accounts as the embedded stack
                opts=child,
            )
            app = labels("ganache")
            self.deployment = k8s.apps.v1.Deployment(
                "ganache",
                metadata={"name": "c2d-ganache", "namespace": cfg.system_namespace, "labels": app},
                spec={
                    "replicas": 1,
                    "strategy": {"type": "Recreate"},
                    "selector": {"matchLabels": app},
                    "template": {
                        "metadata": {"labels": app},
                        "spec": _pod_spec(
                            cfg,
                            "c2d-ganache",
                            [
                                {
                                    "name": "ganache",
                                    "image": cfg.image("ganache"),
                                    "imagePullPolicy": cfg.pull_policy,
                                    "args": [
                                        "--server.host",
                                        "127.0.0.1" if cfg.loopback else "0.0.0.0",  # noqa: S104
                                        "--server.port",
                                        str(GANACHE_PORT),
                                        "--chain.chainId",
                                        "1337",
                                        "--wallet.totalAccounts",
                                        "10",
                                        "--database.dbPath",
                                        "/chain",
                                        "--wallet.mnemonic",
                                        "$(GANACHE_MNEMONIC)",  # expanded by the kubelet from the Secret
                                    ],
                                    "env": [_secret_env("GANACHE_MNEMONIC", secret.metadata["name"], "mnemonic")],
                                    "ports": [{"name": "rpc", "containerPort": GANACHE_PORT}],
                                    "readinessProbe": _tcp_probe(cfg, GANACHE_PORT, 2),
                                    "livenessProbe": _tcp_probe(cfg, GANACHE_PORT, 10),
                                    "resources": resources("1", "512Mi", cpu_request="200m"),
                                    "securityContext": RESTRICTED_CONTAINER,
                                    "volumeMounts": [{"name": "chain", "mountPath": "/chain", "subPath": "db"}],
                                }
                            ],
                            [{"name": "chain", "persistentVolumeClaim": {"claimName": "c2d-chain"}}],
                            owned={"chain": ["db"]},
                        ),
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[d for d in [storage.chain_claim] if d]),
            )
            _service(cfg, "ganache", GANACHE_PORT, app, child)
        self.register_outputs({"rpcUrl": self.rpc_url})


class Contracts(pulumi.ComponentResource):
    """A Job that deploys the contracts (reusing what is deployed and unchanged, so a re-run
    sends no transaction) and records the addresses in the ConfigMap c2d-contracts, which the
    provider mounts. With an external chain, the ConfigMap holds the configured addresses."""

    def __init__(self, name: str, cfg: StackConfig, chain: Chain, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:Contracts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.job = None
        if cfg.chain == "external":
            self.config_map = k8s.core.v1.ConfigMap(
                "contracts",
                metadata={"name": "c2d-contracts", "namespace": cfg.system_namespace},
                data={"addresses.json": json.dumps(cfg.addresses)},
                opts=child,
            )
            self.addresses: pulumi.Output[Any] = pulumi.Output.from_input(cfg.addresses)
        else:
            app = labels("contracts")
            self.job = k8s.batch.v1.Job(
                "contracts",
                metadata={"name": "c2d-contracts", "namespace": cfg.system_namespace, "labels": app},
                spec={
                    "backoffLimit": 4,
                    "activeDeadlineSeconds": 600,
                    "template": {
                        "metadata": {"labels": app},
                        "spec": {
                            **_pod_spec(
                                cfg,
                                "c2d-contracts",
                                [
                                    {
                                        "name": "deploy",
                                        "image": cfg.image("contracts"),
                                        "imagePullPolicy": cfg.pull_policy,
                                        "env": [
                                            {"name": "C2D_RPC_URL", "value": chain.rpc_url},
                                            {"name": "C2D_CONFIGMAP_NAMESPACE", "value": cfg.system_namespace},
                                        ],
                                        "resources": resources("1", "768Mi", cpu_request="200m"),
                                        "securityContext": RESTRICTED_CONTAINER,
                                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
                                    }
                                ],
                                [{"name": "tmp", "emptyDir": {}}],
                            ),
                            "restartPolicy": "OnFailure",
                        },
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[d for d in [chain.deployment] if d]),
            )
            # The Job creates the ConfigMap. Its id is derived from the Job's outputs, so the read
            # waits for the Job (pulumi-kubernetes awaits its completion) and is skipped in a
            # preview, where the Job does not exist yet (an explicit depends_on alone does
            # neither for a read: pulumi/pulumi#16395).
            config_map_id = self.job.metadata.apply(lambda _: f"{cfg.system_namespace}/c2d-contracts")
            self.config_map = k8s.core.v1.ConfigMap.get(
                "contracts-addresses",
                config_map_id,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.job]),
            )
            self.addresses = self.config_map.data.apply(
                lambda data: json.loads((data or {}).get("addresses.json", "{}"))
            )
        self.register_outputs({"addresses": self.addresses})


class Provider(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        chain: Chain,
        contracts: Contracts,
        storage: Storage,
        secrets: Secrets,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("c2d:infra:Provider", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        app = labels("provider")
        operator_host = "127.0.0.1" if cfg.loopback else f"c2d-operator-service.{cfg.jobs_namespace}.svc"
        host = "127.0.0.1" if cfg.loopback else f"c2d-provider.{cfg.system_namespace}.svc"
        self.url = f"http://{host}:{PROVIDER_PORT}"
        env = [
            {"name": "C2D_RPC_URL", "value": chain.rpc_url},
            {"name": "C2D_CHAIN_ID", "value": str(cfg.chain_id)},
            {"name": "C2D_ADDRESSES_FILE", "value": "/etc/c2d/contracts/addresses.json"},
            {"name": "C2D_OPERATOR_URL", "value": f"http://{operator_host}:{OPERATOR_PORT}"},
            {"name": "C2D_DATA_ROOT", "value": PROVIDER_DATA_ROOT},
            {"name": "C2D_PROVIDER_DATABASE_URL", "value": "sqlite:////var/lib/c2d/state/provider.db"},
            {"name": "C2D_PROVIDER_URL", "value": self.url},
            {"name": "C2D_OPERATOR_ADDRESSES", "value": address(cfg.operator_key)},
            _secret_env("C2D_PROVIDER_KEY", secrets.provider.metadata["name"], "provider-key"),
        ]
        self.deployment = k8s.apps.v1.Deployment(
            "provider",
            metadata={"name": "c2d-provider", "namespace": cfg.system_namespace, "labels": app},
            spec={
                "replicas": 1,
                "strategy": {"type": "Recreate"},  # SQLite on a ReadWriteOnce volume
                "selector": {"matchLabels": app},
                "template": {
                    "metadata": {"labels": app},
                    "spec": _pod_spec(
                        cfg,
                        "c2d-provider",
                        [
                            {
                                "name": "provider",
                                "image": cfg.image("provider"),
                                "imagePullPolicy": cfg.pull_policy,
                                "args": _listen(cfg, PROVIDER_PORT),
                                "env": env,
                                "ports": [{"name": "http", "containerPort": PROVIDER_PORT}],
                                "readinessProbe": _http_probe(cfg, PROVIDER_PORT, 2),
                                "livenessProbe": _http_probe(cfg, PROVIDER_PORT, 15),
                                "resources": resources("1", "512Mi", cpu_request="200m"),
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [
                                    {"name": "provider", "mountPath": "/var/lib/c2d/state", "subPath": "state"},
                                    {"name": "provider", "mountPath": PROVIDER_DATA_ROOT, "subPath": "data"},
                                    {"name": "contracts", "mountPath": "/etc/c2d/contracts", "readOnly": True},
                                ],
                            }
                        ],
                        [
                            {"name": "provider", "persistentVolumeClaim": {"claimName": "c2d-provider"}},
                            {"name": "contracts", "configMap": {"name": "c2d-contracts"}},
                        ],
                        owned={"provider": ["state", "data"]},
                    ),
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[storage.provider_claim, contracts.config_map]),
        )
        _service(cfg, "provider", PROVIDER_PORT, app, child)
        self.register_outputs({"url": self.url})


class Operator(pulumi.ComponentResource):
    """The operator service (job API for the provider) and the engine (kubernetes executor),
    sharing the jobs volume: its `state` (the job store) and `jobs` (job directories)."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider_url: str,
        storage: Storage,
        secrets: Secrets,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("c2d:infra:Operator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=[storage.jobs_claim])
        environments = json.dumps([e.model_dump(by_alias=True) for e in cfg.environments])
        self.environments = k8s.core.v1.ConfigMap(
            "environments",
            metadata={"name": "c2d-environments", "namespace": cfg.jobs_namespace},
            data={"environments.json": environments},
            opts=child,
        )
        common = [
            {"name": "C2D_EXECUTOR", "value": "kubernetes"},
            {"name": "C2D_KUBE_NAMESPACE", "value": cfg.jobs_namespace},
            {"name": "C2D_KUBE_JOBS_CLAIM", "value": "c2d-jobs"},
            {"name": "C2D_KUBE_JOBS_SUBPATH", "value": "jobs"},
            {"name": "C2D_KUBE_OUTPUTS_CLASS", "value": cfg.outputs_storage_class},
            {"name": "C2D_KUBE_LOOPBACK", "value": "true" if cfg.loopback else "false"},
            {"name": "C2D_IMAGE_PREFIX", "value": cfg.image_registry},
            {"name": "C2D_IMAGES_TAG", "value": cfg.image_tag},
            {"name": "C2D_JOBS_DIR", "value": f"{JOBS_MOUNT}/jobs"},
            {"name": "C2D_OPERATOR_DATABASE_URL", "value": f"sqlite:///{JOBS_MOUNT}/state/operator.db"},
            {"name": "C2D_ENVIRONMENTS_FILE", "value": "/etc/c2d/environments/environments.json"},
            {"name": "C2D_PROVIDER_URL", "value": provider_url},
            {"name": "C2D_OPERATOR_PROVIDERS", "value": address(cfg.provider_key)},
            # No operator key here: configure pods read it from its Secret, nothing else signs with it.
        ]
        mounts = [
            {"name": "jobs", "mountPath": f"{JOBS_MOUNT}/jobs", "subPath": "jobs"},
            {"name": "jobs", "mountPath": f"{JOBS_MOUNT}/state", "subPath": "state"},
            {"name": "environments", "mountPath": "/etc/c2d/environments", "readOnly": True},
        ]
        volumes = [
            {"name": "jobs", "persistentVolumeClaim": {"claimName": "c2d-jobs"}},
            {"name": "environments", "configMap": {"name": "c2d-environments"}},
        ]
        service_app, engine_app = labels("operator-service"), labels("operator-engine")
        self.service = k8s.apps.v1.Deployment(
            "operator-service",
            metadata={"name": "c2d-operator-service", "namespace": cfg.jobs_namespace, "labels": service_app},
            spec=_deployment_spec(
                service_app,
                _pod_spec(
                    cfg,
                    "c2d-operator-service",
                    [
                        {
                            "name": "operator-service",
                            "image": cfg.image("operator-service"),
                            "imagePullPolicy": cfg.pull_policy,
                            "args": _listen(cfg, OPERATOR_PORT),
                            "env": common,
                            "ports": [{"name": "http", "containerPort": OPERATOR_PORT}],
                            "readinessProbe": _http_probe(cfg, OPERATOR_PORT, 2, "/healthz"),
                            "livenessProbe": _http_probe(cfg, OPERATOR_PORT, 15, "/healthz"),
                            "resources": resources("500m", "384Mi", cpu_request="100m"),
                            "securityContext": RESTRICTED_CONTAINER,
                            "volumeMounts": mounts,
                        }
                    ],
                    volumes,
                    owned={"jobs": ["jobs", "state"]},
                ),
            ),
            opts=child,
        )
        _service(cfg, "operator-service", OPERATOR_PORT, service_app, child)
        self.engine = k8s.apps.v1.Deployment(
            "operator-engine",
            metadata={"name": "c2d-operator-engine", "namespace": cfg.jobs_namespace, "labels": engine_app},
            spec=_deployment_spec(
                engine_app,
                _pod_spec(
                    cfg,
                    "c2d-operator-engine",
                    [
                        {
                            "name": "operator-engine",
                            "image": cfg.image("operator-engine"),
                            "imagePullPolicy": cfg.pull_policy,
                            "env": common,
                            # The engine has no port: alive while its loop beats (a file it
                            # touches); the check is a bare Python start-up (c2d.heartbeat).
                            "livenessProbe": {
                                "exec": {"command": HEARTBEAT_CHECK},
                                "periodSeconds": 15,
                                "timeoutSeconds": 5,
                                "failureThreshold": 4,
                            },
                            "readinessProbe": {
                                "exec": {"command": HEARTBEAT_CHECK},
                                "periodSeconds": 5,
                                "timeoutSeconds": 5,
                            },
                            "resources": resources("500m", "384Mi", cpu_request="100m"),
                            "securityContext": RESTRICTED_CONTAINER,
                            "volumeMounts": mounts,
                        }
                    ],
                    volumes,
                    owned={"jobs": ["jobs", "state"]},
                ),
            ),
            opts=child,
        )
        self.register_outputs({})


class NetworkPolicies(pulumi.ComponentResource):
    """Default deny in both namespaces, then only the paths c2d uses. (Enforced by the cluster's
    network plugin; the loopback test cluster stores them but has none.)"""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:NetworkPolicies", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        system, jobs = cfg.system_namespace, cfg.jobs_namespace
        dns = {
            "to": [{"namespaceSelector": {}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
        provider_pods = {
            "namespaceSelector": {"matchLabels": {NAME_LABEL: system}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "provider"}},
        }
        chain_port = [{"protocol": "TCP", "port": GANACHE_PORT}]
        to_chain = {
            "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ganache"}}}],
            "ports": chain_port,
        }
        policies: dict[str, tuple[str, dict[str, Any]]] = {
            "system-default-deny": (system, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            "jobs-default-deny": (jobs, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            "provider": (
                system,
                _policy(
                    "provider",
                    ingress=[{"ports": [{"protocol": "TCP", "port": PROVIDER_PORT}]}],  # from anywhere
                    egress=[
                        dns,
                        to_chain,
                        {
                            "to": [
                                {
                                    "namespaceSelector": {"matchLabels": {NAME_LABEL: jobs}},
                                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "operator-service"}},
                                }
                            ],
                            "ports": [{"protocol": "TCP", "port": OPERATOR_PORT}],
                        },
                        # http(s) datasets and an external chain: anywhere but the metadata addresses
                        {"to": _anywhere_but(METADATA_V4, METADATA_V6)},
                    ],
                ),
            ),
            "ganache": (
                system,
                _policy(
                    "ganache",
                    ingress=[
                        {
                            "from": [
                                {"podSelector": {"matchLabels": {"app.kubernetes.io/name": app}}}
                                for app in ("provider", "contracts")
                            ],
                            "ports": chain_port,
                        }
                    ],
                ),
            ),
            "contracts": (
                system,
                _policy(
                    "contracts",
                    egress=[
                        dns,
                        to_chain,
                        _api_server(cfg),
                    ],
                ),
            ),
            "operator-service": (
                jobs,
                _policy(
                    "operator-service",
                    ingress=[{"from": [provider_pods], "ports": [{"protocol": "TCP", "port": OPERATOR_PORT}]}],
                    egress=[dns, _api_server(cfg)],  # it creates the WorkFlows
                ),
            ),
            "operator-engine": (jobs, _policy("operator-engine", egress=[dns, _api_server(cfg)])),
            "configure": (
                jobs,
                {
                    "podSelector": {"matchLabels": {"component": "configure"}},
                    "policyTypes": ["Egress"],
                    "egress": [dns, {"to": [provider_pods], "ports": [{"protocol": "TCP", "port": PROVIDER_PORT}]}],
                },
            ),
            "algorithm-network": (
                jobs,
                {  # only algorithms whose asset and environment allow the network: the public internet
                    "podSelector": {"matchLabels": {"component": "algorithm", "c2d.dev/network": "allowed"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": _anywhere_but(PRIVATE_V4 + METADATA_V4, PRIVATE_V6 + METADATA_V6)}],
                },
            ),
        }
        if cfg.chain != "ganache":
            del policies["ganache"], policies["contracts"]
        self.policies = {
            key: k8s.networking.v1.NetworkPolicy(
                key, metadata={"name": f"c2d-{key}", "namespace": namespace}, spec=spec, opts=child
            )
            for key, (namespace, spec) in policies.items()
        }
        self.register_outputs({})


def _policy(app: str, ingress: list[Any] | None = None, egress: list[Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": app}}, "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return spec


def _api_server(cfg: StackConfig) -> dict[str, Any]:
    return {
        "to": [{"ipBlock": {"cidr": cfg.api_server_cidr}}],
        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}],
    }


class JobQuota(pulumi.ComponentResource):
    """The jobs namespace's ResourceQuota (what every environment at its maxJobs, plus the
    operator, may use) and LimitRange (defaults and ceilings per container)."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:JobQuota", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        envs = cfg.environments
        # Per running job: the algorithm, or a configure/publish stage (1 CPU, 512 MB).
        cpu = sum(e.max_jobs * max(e.cpu, 1.0) for e in envs) + 2
        memory = sum(e.max_jobs * max(e.memory_mb, 512) for e in envs) + 1024
        pods = sum(e.max_jobs for e in envs) * 2 + 4
        self.quota = k8s.core.v1.ResourceQuota(
            "jobs",
            metadata={"name": "c2d-jobs", "namespace": cfg.jobs_namespace},
            spec={
                "hard": {
                    "pods": str(pods),
                    "requests.cpu": f"{int(cpu * 1000)}m",
                    "limits.cpu": f"{int(cpu * 1000)}m",
                    "requests.memory": f"{memory}Mi",
                    "limits.memory": f"{memory}Mi",
                }
            },
            opts=child,
        )
        largest_cpu = max(max(e.cpu for e in envs), 1.0)
        largest_memory = max(max(e.memory_mb for e in envs), 512)
        self.limits = k8s.core.v1.LimitRange(
            "jobs",
            metadata={"name": "c2d-jobs", "namespace": cfg.jobs_namespace},
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": "500m", "memory": "256Mi"},
                        "defaultRequest": {"cpu": "500m", "memory": "256Mi"},
                        "max": {"cpu": f"{int(largest_cpu * 1000)}m", "memory": f"{largest_memory}Mi"},
                    }
                ]
            },
            opts=child,
        )
        self.register_outputs({})


# ---- shared pieces ----


def _pod_spec(
    cfg: StackConfig,
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
    if cfg.loopback:  # no pod network on the test cluster: the node's, which is loopback only
        spec.update(hostNetwork=True, dnsPolicy="Default")  # and no cluster DNS: the node's resolver
        if owned:
            spec["initContainers"] = [_volume_owner(containers[0]["image"], owned)]
    return spec


def _volume_owner(image: str, owned: dict[str, list[str]]) -> dict[str, Any]:
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


def _deployment_spec(app: dict[str, str], pod: dict[str, Any]) -> dict[str, Any]:
    return {
        "replicas": 1,
        "strategy": {"type": "Recreate"},  # one engine, one job store writer at a time
        "selector": {"matchLabels": app},
        "template": {"metadata": {"labels": app}, "spec": pod},
    }


def _service(cfg: StackConfig, part: str, port: int, app: dict[str, str], opts: pulumi.ResourceOptions) -> Any:
    namespace = cfg.jobs_namespace if part.startswith("operator") else cfg.system_namespace
    return k8s.core.v1.Service(
        part,
        metadata={"name": f"c2d-{part}", "namespace": namespace, "labels": app},
        spec={"selector": app, "ports": [{"name": "http", "port": port, "targetPort": port}]},
        opts=opts,
    )


def _listen(cfg: StackConfig, port: int) -> list[str]:
    return ["--host", "127.0.0.1" if cfg.loopback else "0.0.0.0", "--port", str(port)]  # noqa: S104


# The kubelet probes the pod's IP, which for a host-network pod is the node's: on the loopback
# cluster the services listen on 127.0.0.1 only, so the probes name it.
def _http_probe(cfg: StackConfig, port: int, period: int, path: str = "/") -> dict[str, Any]:
    action = {"path": path, "port": port, **({"host": "127.0.0.1"} if cfg.loopback else {})}
    return {"httpGet": action, "periodSeconds": period, "timeoutSeconds": 2}


def _tcp_probe(cfg: StackConfig, port: int, period: int) -> dict[str, Any]:
    return {"tcpSocket": {"port": port, **({"host": "127.0.0.1"} if cfg.loopback else {})}, "periodSeconds": period}


def address(key: pulumi.Output[str]) -> pulumi.Output[str]:
    """The account of a key: public, so not kept secret."""
    return pulumi.Output.unsecret(key.apply(lambda k: address_of(k) if k else ""))


def _secret_env(name: str, secret: Any, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
