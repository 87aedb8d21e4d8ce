"""The volumes (provider data, jobs, chain) and the keys' Secrets."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.components.common import PART_OF, host_volume
from c2d.infra.config import Placement, Volumes


class Storage(pulumi.ComponentResource):
    """The provider's volume (its database and the publisher's files) and the jobs volume
    (operator database, job directories and results). On the loopback test cluster: hostPath
    volumes of the node, bound by name; elsewhere: claims of the configured storage class."""

    def __init__(
        self,
        name: str,
        at: Placement,
        volumes: Volumes,
        *,
        in_cluster_chain: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("c2d:infra:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.at, self.storage_class = at, volumes.storage_class
        self.provider_claim = self._claim("provider", at.system_namespace, volumes.data_size, "ReadWriteOnce", child)
        # Every operator pod and stage pod mounts the jobs volume: ReadWriteOnce (the default)
        # keeps them on one node; c2d:jobsAccessMode ReadWriteMany (with a storage class that
        # offers it) lets stage pods run on any node.
        self.jobs_claim = self._claim("jobs", at.jobs_namespace, volumes.results_size, volumes.jobs_access_mode, child)
        # The in-cluster chain keeps its state across restarts: the contracts recorded in the
        # ConfigMap stay where the provider looks for them.
        self.chain_claim = None
        if in_cluster_chain:
            self.chain_claim = self._claim("chain", at.system_namespace, volumes.chain_size, "ReadWriteOnce", child)
        self.register_outputs(
            {
                "providerClaim": self.provider_claim.metadata["name"],
                "jobsClaim": self.jobs_claim.metadata["name"],
                "chainClaim": self.chain_claim.metadata["name"] if self.chain_claim else None,
            }
        )

    def _claim(
        self, part: str, namespace: str, size: str, mode: str, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.PersistentVolumeClaim:
        name = f"c2d-{part}"
        spec: dict[str, Any] = {"accessModes": [mode], "resources": {"requests": {"storage": size}}}
        if self.at.loopback:
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
        elif self.storage_class:
            spec["storageClassName"] = self.storage_class
        return k8s.core.v1.PersistentVolumeClaim(
            part, metadata={"name": name, "namespace": namespace, "labels": PART_OF}, spec=spec, opts=opts
        )


class Secrets(pulumi.ComponentResource):
    """The keys, as Secrets: the provider's (system namespace) and the operator's (jobs
    namespace, read by the engine's configure pods and the service)."""

    def __init__(
        self,
        name: str,
        at: Placement,
        provider_key: pulumi.Output[str],
        operator_key: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("c2d:infra:Secrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.provider = k8s.core.v1.Secret(
            "provider-key",
            metadata={"name": "c2d-provider-key", "namespace": at.system_namespace},
            string_data={"provider-key": provider_key},
            opts=child,
        )
        self.operator = k8s.core.v1.Secret(
            "operator-key",
            metadata={"name": "c2d-operator-key", "namespace": at.jobs_namespace},
            string_data={"operator-key": operator_key},
            opts=child,
        )
        self.register_outputs({"provider": self.provider.metadata["name"], "operator": self.operator.metadata["name"]})
