"""The provider, the operator service and the engine."""

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.components.chain import Chain, Contracts
from c2d.infra.components.common import (
    CONTRACTS_CONFIG_MAP,
    ENGINE_METRICS_PORT,
    HEARTBEAT_CHECK,
    JOBS_MOUNT,
    KEYS_MOUNT,
    OPERATOR_PORT,
    PROVIDER_DATA_ROOT,
    PROVIDER_PORT,
    RESTRICTED_CONTAINER,
    deployment_spec,
    exceptions,
    http_probe,
    labels,
    listen,
    pod_spec,
    resources,
    scrape,
    secret_volume,
    service,
)
from c2d.infra.components.database import Database
from c2d.infra.components.storage import Secrets, Storage
from c2d.infra.config import Placement
from c2d.operator.environments import Environment

DATABASE_MOUNT = "/etc/c2d/database"


def database_env(name: str, database: Database | None, sqlite: str) -> dict[str, Any]:
    """The store's URL: SQLite's path, or the file of the Secret holding the PostgreSQL URL."""
    if database is None:
        return {"name": name, "value": sqlite}
    return {"name": f"{name}_FILE", "value": f"{DATABASE_MOUNT}/url"}


def database_mounts(database: Database | None) -> list[dict[str, Any]]:
    return [{"name": "database", "mountPath": DATABASE_MOUNT, "readOnly": True}] if database else []


def database_volumes(database: Database | None, store: str) -> list[dict[str, Any]]:
    if database is None:
        return []
    secret = database.provider_secret if store == "provider" else database.operator_secret
    return [secret_volume("database", secret.metadata["name"], "url")]


class Provider(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        at: Placement,
        chain: Chain,
        contracts: Contracts,
        storage: Storage,
        secrets: Secrets,
        *,
        chain_id: int,
        operator_account: pulumi.Input[str],
        database: Database | None = None,
        replicas: int = 1,
        public_url: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`database`: the stores' PostgreSQL (else SQLite on the provider's volume, one replica);
        `public_url`: where consumers reach it (its endpoint), else its Service's address."""
        super().__init__("c2d:infra:Provider", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        app = labels("provider")
        operator_host = "127.0.0.1" if at.loopback else f"c2d-operator-service.{at.jobs_namespace}.svc"
        host = "127.0.0.1" if at.loopback else f"c2d-provider.{at.system_namespace}.svc"
        self.internal_url = f"http://{host}:{PROVIDER_PORT}"  # the operator's configure pods call it here
        self.url = public_url or self.internal_url
        env = [
            {"name": "C2D_RPC_URL", "value": chain.rpc_url},
            {"name": "C2D_CHAIN_ID", "value": str(chain_id)},
            {"name": "C2D_ADDRESSES_FILE", "value": "/etc/c2d/contracts/addresses.json"},
            {"name": "C2D_OPERATOR_URL", "value": f"http://{operator_host}:{OPERATOR_PORT}"},
            {"name": "C2D_DATA_ROOT", "value": PROVIDER_DATA_ROOT},
            database_env("C2D_PROVIDER_DATABASE_URL", database, "sqlite:////var/lib/c2d/state/provider.db"),
            {"name": "C2D_PROVIDER_URL", "value": self.url},
            {"name": "C2D_OPERATOR_ADDRESSES", "value": operator_account},
            {"name": "C2D_PROVIDER_KEY_FILE", "value": f"{KEYS_MOUNT}/provider-key"},  # a file, not the env
        ]
        self.deployment = k8s.apps.v1.Deployment(
            "provider",
            metadata={
                "name": "c2d-provider",
                "namespace": at.system_namespace,
                "labels": app,
                **exceptions(at, "provider"),
            },
            spec={
                "replicas": replicas if database else 1,
                # SQLite on a ReadWriteOnce volume: the old one goes first
                "strategy": {"type": "RollingUpdate" if database else "Recreate"},
                "selector": {"matchLabels": app},
                "template": {
                    "metadata": {"labels": app, **scrape(PROVIDER_PORT)},
                    "spec": pod_spec(
                        at,
                        "c2d-provider",
                        [
                            {
                                "name": "provider",
                                "image": at.image("provider"),
                                "imagePullPolicy": at.pull_policy,
                                "args": listen(at, PROVIDER_PORT),
                                "env": env,
                                "ports": [{"name": "http", "containerPort": PROVIDER_PORT}],
                                "readinessProbe": http_probe(at, PROVIDER_PORT, 2),
                                "livenessProbe": http_probe(at, PROVIDER_PORT, 15),
                                "resources": resources("1", "512Mi", cpu_request="200m"),
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [
                                    {"name": "provider", "mountPath": "/var/lib/c2d/state", "subPath": "state"},
                                    {"name": "provider", "mountPath": PROVIDER_DATA_ROOT, "subPath": "data"},
                                    {"name": "contracts", "mountPath": "/etc/c2d/contracts", "readOnly": True},
                                    {"name": "key", "mountPath": KEYS_MOUNT, "readOnly": True},
                                    *database_mounts(database),
                                ],
                            }
                        ],
                        [
                            {
                                "name": "provider",
                                "persistentVolumeClaim": {"claimName": storage.provider_claim.metadata["name"]},
                            },
                            {
                                "name": "contracts",
                                "configMap": {"name": CONTRACTS_CONFIG_MAP},
                            },  # the Job writes it by name
                            secret_volume("key", secrets.provider.metadata["name"], "provider-key"),
                            *database_volumes(database, "provider"),
                        ],
                        owned={"provider": ["state", "data"]},
                    ),
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[storage.provider_claim, contracts.config_map]),
        )
        service(at, "provider", PROVIDER_PORT, app, child)
        self.register_outputs({"url": self.url})


class Operator(pulumi.ComponentResource):
    """The operator service (job API for the provider) and the engine (kubernetes executor),
    sharing the jobs volume: its `state` (the job store) and `jobs` (job directories)."""

    def __init__(
        self,
        name: str,
        at: Placement,
        provider_url: str,
        storage: Storage,
        secrets: Secrets,
        *,
        environments: list[Environment],
        outputs_storage_class: str,
        provider_account: pulumi.Input[str],
        database: Database | None = None,
        engine_replicas: int = 1,
        gvisor_class: str = "gvisor",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`database`: the job store's PostgreSQL (else SQLite on the jobs volume: one service,
        one engine); with it, `engine_replicas` engines share the jobs by leases and two
        services answer the provider."""
        super().__init__("c2d:infra:Operator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=[storage.jobs_claim])
        self.environments = k8s.core.v1.ConfigMap(
            "environments",
            metadata={"name": "c2d-environments", "namespace": at.jobs_namespace},
            data={"environments.json": json.dumps([e.model_dump(by_alias=True) for e in environments])},
            opts=child,
        )
        common = [
            {"name": "C2D_EXECUTOR", "value": "kubernetes"},
            {"name": "C2D_KUBE_NAMESPACE", "value": at.jobs_namespace},
            {"name": "C2D_KUBE_JOBS_CLAIM", "value": storage.jobs_claim.metadata["name"]},
            {"name": "C2D_KUBE_JOBS_SUBPATH", "value": "jobs"},
            {"name": "C2D_KUBE_OUTPUTS_CLASS", "value": outputs_storage_class},
            {"name": "C2D_KUBE_OPERATOR_KEY_SECRET", "value": secrets.operator.metadata["name"]},
            {"name": "C2D_KUBE_LOOPBACK", "value": "true" if at.loopback else "false"},
            {"name": "C2D_KUBE_GVISOR_CLASS", "value": gvisor_class},
            {"name": "C2D_IMAGE_PREFIX", "value": at.image_registry},
            {"name": "C2D_IMAGES_TAG", "value": at.image_tag},
            # the stage pods' images, by digest as the stack's own
            {
                "name": "C2D_IMAGES",
                "value": pulumi.Output.json_dumps({name: at.image(name) for name in ("configure", "publish")}),
            },
            {"name": "C2D_JOBS_DIR", "value": f"{JOBS_MOUNT}/jobs"},
            database_env("C2D_OPERATOR_DATABASE_URL", database, f"sqlite:///{JOBS_MOUNT}/state/operator.db"),
            {"name": "C2D_ENVIRONMENTS_FILE", "value": "/etc/c2d/environments/environments.json"},
            {"name": "C2D_PROVIDER_URL", "value": provider_url},
            {"name": "C2D_OPERATOR_PROVIDERS", "value": provider_account},
            # No operator key here: configure pods read it from its Secret, nothing else signs with it.
        ]
        mounts = [
            {"name": "jobs", "mountPath": f"{JOBS_MOUNT}/jobs", "subPath": "jobs"},
            {"name": "jobs", "mountPath": f"{JOBS_MOUNT}/state", "subPath": "state"},
            {"name": "environments", "mountPath": "/etc/c2d/environments", "readOnly": True},
            *database_mounts(database),
        ]
        volumes = [
            {"name": "jobs", "persistentVolumeClaim": {"claimName": storage.jobs_claim.metadata["name"]}},
            {"name": "environments", "configMap": {"name": self.environments.metadata["name"]}},
            *database_volumes(database, "operator"),
        ]

        def deployment(
            part: str, container: dict[str, Any], replicas: int, metrics_port: int | None
        ) -> k8s.apps.v1.Deployment:
            """The part's Deployment: its container with c2d's image, the operator's settings,
            limits and the jobs volume."""
            app = labels(part)
            container = {
                "name": part,
                "image": at.image(part),
                "imagePullPolicy": at.pull_policy,
                **container,
                "env": [*common, *container.get("env", [])],
                "resources": resources("500m", "384Mi", cpu_request="100m"),
                "securityContext": RESTRICTED_CONTAINER,
                "volumeMounts": mounts,
            }
            pod = pod_spec(at, f"c2d-{part}", [container], volumes, owned={"jobs": ["jobs", "state"]})
            return k8s.apps.v1.Deployment(
                part,
                metadata={"name": f"c2d-{part}", "namespace": at.jobs_namespace, "labels": app, **exceptions(at, part)},
                spec=deployment_spec(app, pod, replicas if database else 1, metrics_port),
                opts=child,
            )

        self.service = deployment(
            "operator-service",
            {
                "args": listen(at, OPERATOR_PORT),
                "ports": [{"name": "http", "containerPort": OPERATOR_PORT}],
                "readinessProbe": http_probe(at, OPERATOR_PORT, 2, "/healthz"),
                "livenessProbe": http_probe(at, OPERATOR_PORT, 15, "/healthz"),
            },
            2,
            OPERATOR_PORT,
        )
        service(at, "operator-service", OPERATOR_PORT, labels("operator-service"), child)
        # The engine has no port: alive while its loop beats (a file it touches); the check is a
        # bare Python start-up (c2d.heartbeat).
        heartbeat = {"exec": {"command": HEARTBEAT_CHECK}, "timeoutSeconds": 5}
        # Its metrics on a port of their own; not on the loopback cluster, whose pods share the
        # node's network (two engines there would want one port).
        metrics = {
            "env": [
                {"name": "C2D_ENGINE_METRICS_PORT", "value": str(ENGINE_METRICS_PORT)},
                {"name": "C2D_ENGINE_METRICS_HOST", "value": "0.0.0.0"},  # noqa: S104
            ],
            "ports": [{"name": "metrics", "containerPort": ENGINE_METRICS_PORT}],
        }
        self.engine = deployment(
            "operator-engine",
            {
                "livenessProbe": {**heartbeat, "periodSeconds": 15, "failureThreshold": 4},
                "readinessProbe": {**heartbeat, "periodSeconds": 5},
                **({} if at.loopback else metrics),
            },
            engine_replicas,  # each named by its pod (C2D_ENGINE_ID: the host name)
            None if at.loopback else ENGINE_METRICS_PORT,
        )
        self.register_outputs(
            {
                "service": self.service.metadata["name"],
                "engine": self.engine.metadata["name"],
                "environments": self.environments.metadata["name"],
            }
        )
