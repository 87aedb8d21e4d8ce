"""The parts of a c2d deployment, one ComponentResource each (typed pulumi_kubernetes resources;
manifests written as the API's own camelCase, so what Pulumi sends is what `kubectl` would).

Where things run: the chain (Ganache) and the provider in the system namespace; the operator
service and engine next to the jobs they run, in the jobs namespace (the job directory is one
volume that the stage pods mount too, and a volume claim cannot cross namespaces).

    cluster   Namespaces, WorkflowCrd, Rbac, JobQuota, SandboxRuntime
    storage   Storage, Secrets
    chain     Chain, Contracts
    services  Provider, Operator
    network   NetworkPolicies
    common    labels, pod templates, probes
"""

from c2d.infra.components.chain import Chain, Contracts
from c2d.infra.components.cluster import JobQuota, Namespaces, Rbac, SandboxRuntime, WorkflowCrd
from c2d.infra.components.common import GANACHE_PORT, PROVIDER_DATA_ROOT, PROVIDER_PORT, address, host_volume
from c2d.infra.components.network import NetworkPolicies
from c2d.infra.components.services import Operator, Provider
from c2d.infra.components.storage import Secrets, Storage

__all__ = [
    "GANACHE_PORT",
    "PROVIDER_DATA_ROOT",
    "PROVIDER_PORT",
    "Chain",
    "Contracts",
    "JobQuota",
    "Namespaces",
    "NetworkPolicies",
    "Operator",
    "Provider",
    "Rbac",
    "SandboxRuntime",
    "Secrets",
    "Storage",
    "WorkflowCrd",
    "address",
    "host_volume",
]
