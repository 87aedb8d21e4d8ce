"""The in-cluster chain (Ganache) and the contracts Job that deploys to it."""

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.components.common import (
    CONTRACTS_CONFIG_MAP,
    GANACHE_PORT,
    KEYS_MOUNT,
    RESTRICTED_CONTAINER,
    exceptions,
    labels,
    pod_spec,
    resources,
    secret_volume,
    service,
    tcp_probe,
)
from c2d.infra.components.storage import Storage
from c2d.infra.config import ChainSettings, Placement
from c2d.localchain import DEV_MNEMONIC


class Chain(pulumi.ComponentResource):
    """Ganache in the cluster (deterministic accounts from a Secret's mnemonic), or nothing for an
    external chain. `rpc_url` is what the other parts use."""

    def __init__(
        self,
        name: str,
        at: Placement,
        settings: ChainSettings,
        storage: Storage,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("c2d:infra:Chain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.rpc_url: pulumi.Input[str] = settings.rpc_url
        self.deployment = None
        if settings.in_cluster:
            chain_claim = storage.chain_claim
            assert chain_claim is not None, "an in-cluster chain has its volume"
            host = "127.0.0.1" if at.loopback else f"c2d-ganache.{at.system_namespace}.svc"
            self.rpc_url = f"http://{host}:{GANACHE_PORT}"
            secret = k8s.core.v1.Secret(
                "ganache-accounts",
                metadata={"name": "c2d-ganache-accounts", "namespace": at.system_namespace},
                string_data={"mnemonic": DEV_MNEMONIC},  # public: the same accounts as the embedded stack
                opts=child,
            )
            app = labels("ganache")
            self.deployment = k8s.apps.v1.Deployment(
                "ganache",
                metadata={
                    "name": "c2d-ganache",
                    "namespace": at.system_namespace,
                    "labels": app,
                    **exceptions(at, "ganache"),
                },
                spec={
                    "replicas": 1,
                    "strategy": {"type": "Recreate"},
                    "selector": {"matchLabels": app},
                    "template": {
                        "metadata": {"labels": app},
                        "spec": pod_spec(
                            at,
                            "c2d-ganache",
                            [
                                {
                                    "name": "ganache",
                                    "image": at.image("ganache"),
                                    "imagePullPolicy": at.pull_policy,
                                    # the accounts' mnemonic from the Secret's file, not the env
                                    "command": [
                                        "sh",
                                        "-c",
                                        'exec node /opt/ganache/node_modules/ganache/dist/node/cli.js "$@" '
                                        f'--wallet.mnemonic "$(cat {KEYS_MOUNT}/mnemonic)"',
                                        "ganache",
                                    ],
                                    "args": [
                                        "--server.host",
                                        "127.0.0.1" if at.loopback else "0.0.0.0",  # noqa: S104
                                        "--server.port",
                                        str(GANACHE_PORT),
                                        "--chain.chainId",
                                        "1337",
                                        "--wallet.totalAccounts",
                                        "10",
                                        "--database.dbPath",
                                        "/chain",
                                    ],
                                    "ports": [{"name": "rpc", "containerPort": GANACHE_PORT}],
                                    "readinessProbe": tcp_probe(at, GANACHE_PORT, 2),
                                    "livenessProbe": tcp_probe(at, GANACHE_PORT, 10),
                                    "resources": resources("1", "512Mi", cpu_request="200m"),
                                    "securityContext": RESTRICTED_CONTAINER,
                                    "volumeMounts": [
                                        {"name": "chain", "mountPath": "/chain", "subPath": "db"},
                                        {"name": "accounts", "mountPath": KEYS_MOUNT, "readOnly": True},
                                    ],
                                }
                            ],
                            [
                                {"name": "chain", "persistentVolumeClaim": {"claimName": chain_claim.metadata["name"]}},
                                secret_volume("accounts", secret.metadata["name"], "mnemonic"),
                            ],
                            owned={"chain": ["db"]},
                        ),
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[chain_claim]),
            )
            service(at, "ganache", GANACHE_PORT, app, child)
        self.register_outputs({"rpcUrl": self.rpc_url})


class Contracts(pulumi.ComponentResource):
    """A Job that deploys the contracts (reusing what is deployed and unchanged, so a re-run
    sends no transaction) and records the addresses in the ConfigMap c2d-contracts, which the
    provider mounts. With an external chain, the ConfigMap holds the configured addresses."""

    def __init__(
        self,
        name: str,
        at: Placement,
        settings: ChainSettings,
        chain: Chain,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("c2d:infra:Contracts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.job = None
        if not settings.in_cluster:
            self.config_map = k8s.core.v1.ConfigMap(
                "contracts",
                metadata={"name": CONTRACTS_CONFIG_MAP, "namespace": at.system_namespace},
                data={"addresses.json": json.dumps(settings.addresses)},
                opts=child,
            )
            self.addresses: pulumi.Output[Any] = pulumi.Output.from_input(settings.addresses)
        else:
            app = labels("contracts")
            self.job = k8s.batch.v1.Job(
                "contracts",
                metadata={
                    "name": CONTRACTS_CONFIG_MAP,
                    "namespace": at.system_namespace,
                    "labels": app,
                    **exceptions(at, "contracts"),
                },
                spec={
                    "backoffLimit": 4,
                    "activeDeadlineSeconds": 600,
                    "template": {
                        "metadata": {"labels": app},
                        "spec": {
                            **pod_spec(
                                at,
                                "c2d-contracts",
                                [
                                    {
                                        "name": "deploy",
                                        "image": at.image("contracts"),
                                        "imagePullPolicy": at.pull_policy,
                                        "env": [
                                            {"name": "C2D_RPC_URL", "value": chain.rpc_url},
                                            {"name": "C2D_CONFIGMAP_NAMESPACE", "value": at.system_namespace},
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
            config_map_id = self.job.metadata.apply(lambda _: f"{at.system_namespace}/{CONTRACTS_CONFIG_MAP}")
            self.config_map = k8s.core.v1.ConfigMap.get(
                "contracts-addresses",
                config_map_id,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.job]),
            )
            self.addresses = self.config_map.data.apply(
                lambda data: json.loads((data or {}).get("addresses.json", "{}"))
            )
        self.register_outputs({"addresses": self.addresses})
