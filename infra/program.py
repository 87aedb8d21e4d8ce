"""The whole deployment: what `pulumi up` declares (infra/__main__.py calls `deploy`)."""

from dataclasses import dataclass, replace
from typing import Any

import pulumi

from c2d.infra import components as c
from c2d.infra.components.clusters import Cluster
from c2d.infra.components.database import Database
from c2d.infra.components.endpoint import Endpoint
from c2d.infra.components.images import Images
from c2d.infra.config import CHAIN_IMAGES, SERVICE_IMAGES, StackConfig, load


@dataclass
class Deployment:
    config: StackConfig
    namespaces: c.Namespaces
    crd: c.WorkflowCrd
    rbac: c.Rbac
    storage: c.Storage
    secrets: c.Secrets
    chain: c.Chain
    contracts: c.Contracts
    provider: c.Provider
    operator: c.Operator
    policies: c.NetworkPolicies
    quota: c.JobQuota
    sandbox: c.SandboxRuntime | None = None
    images: Images | None = None
    database: Database | None = None
    endpoint: Endpoint | None = None
    cluster: Cluster | None = None


def deploy(cfg: StackConfig | None = None) -> Deployment:
    cfg = cfg or load()
    at, in_cluster_chain = cfg.placement, cfg.chain.in_cluster
    # Where it runs: every Kubernetes resource below is created with this cluster's provider
    # (its components pass it to their children).
    cluster = Cluster("cluster", cfg.cluster)
    providers = {"kubernetes": cluster.provider} if cluster.provider is not None else {}

    def on(*after: pulumi.Resource | None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers=providers, depends_on=[r for r in after if r is not None])

    volumes = cfg.volumes
    if cluster.storage_class:  # the cluster's class, where the stack names none
        volumes = replace(
            volumes,
            storage_class=volumes.storage_class or cluster.storage_class,
            outputs_storage_class=volumes.outputs_storage_class or cluster.storage_class,
        )
    cluster.storage(on())
    api_server_cidr: Any = cfg.api_server_cidr
    if cluster.api_server_cidr is not None and api_server_cidr == "0.0.0.0/0":
        api_server_cidr = cluster.api_server_cidr
    images = None
    if cfg.build is not None:  # built and pushed here: every pod names what the push returned
        images = Images("images", at, cfg.build, SERVICE_IMAGES + (CHAIN_IMAGES if in_cluster_chain else ()))
        at = replace(at, image_refs=images.refs)
    namespaces = c.Namespaces("namespaces", at, on())
    after_ns = on(namespaces)
    crd = c.WorkflowCrd("workflow-crd", on())
    rbac = c.Rbac(
        "rbac",
        at,
        in_cluster_chain=in_cluster_chain,
        claims_outputs=bool(volumes.outputs_storage_class),
        in_cluster_database=cfg.database.kind == "postgres",
        opts=after_ns,
    )
    storage = c.Storage("storage", at, volumes, in_cluster_chain=in_cluster_chain, opts=after_ns)
    database = None
    if cfg.database.shared:  # PostgreSQL: the stores shared by several replicas
        database = Database(
            "database",
            at,
            cfg.database,
            storage_class=volumes.storage_class,
            opts=on(rbac),
        )
    secrets = c.Secrets("secrets", at, cfg.provider_key, cfg.operator_key, after_ns)
    chain = c.Chain("chain", at, cfg.chain, storage, on(namespaces, rbac))
    contracts = c.Contracts("contracts", at, cfg.chain, chain, on(rbac))
    provider = c.Provider(
        "provider",
        at,
        chain,
        contracts,
        storage,
        secrets,
        chain_id=cfg.chain.chain_id,
        operator_account=c.address(cfg.operator_key),
        database=database,
        replicas=cfg.database.provider_replicas,
        public_url=f"https://{cfg.endpoint.hostname}" if cfg.endpoint.kind != "none" else None,
        opts=on(rbac, database),
    )
    sandbox = None
    if cfg.gvisor is not None:  # gvisor environments: their algorithm pods' RuntimeClass
        sandbox = c.SandboxRuntime("sandbox-runtime", cfg.gvisor, on())
    operator = c.Operator(
        "operator",
        at,
        provider.internal_url,
        storage,
        secrets,
        environments=cfg.environments,
        outputs_storage_class=volumes.outputs_storage_class,
        provider_account=c.address(cfg.provider_key),
        database=database,
        engine_replicas=cfg.database.engine_replicas,
        gvisor_class=cfg.gvisor.runtime_class if cfg.gvisor else "gvisor",
        opts=on(rbac, crd, database, sandbox),
    )
    policies = c.NetworkPolicies(
        "network-policies",
        at,
        in_cluster_chain=in_cluster_chain,
        api_server_cidr=api_server_cidr,
        database=cfg.database,
        opts=after_ns,
    )
    quota = c.JobQuota("job-quota", at.jobs_namespace, cfg.environments, after_ns)
    endpoint = None
    if cfg.endpoint.kind != "none":
        endpoint = Endpoint("endpoint", at, cfg.endpoint, provider.deployment, opts=after_ns)
    outputs: dict[str, Any] = {
        "providerUrl": provider.url,
        "rpcUrl": chain.rpc_url,
        "contracts": contracts.addresses,
        "namespaces": {"system": at.system_namespace, "jobs": at.jobs_namespace},
        "cluster": cfg.cluster.kind,
    }
    for key, value in outputs.items():
        pulumi.export(key, value)
    return Deployment(
        cfg,
        namespaces,
        crd,
        rbac,
        storage,
        secrets,
        chain,
        contracts,
        provider,
        operator,
        policies,
        quota,
        sandbox,
        images,
        database,
        endpoint,
        cluster,
    )
