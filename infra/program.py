"""The whole deployment: what `pulumi up` declares (infra/__main__.py calls `deploy`)."""

from dataclasses import dataclass
from typing import Any

import pulumi

from c2d.infra import components as c
from c2d.infra.config import StackConfig, load


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


def deploy(cfg: StackConfig | None = None) -> Deployment:
    cfg = cfg or load()
    namespaces = c.Namespaces("namespaces", cfg)
    after_ns = pulumi.ResourceOptions(depends_on=[namespaces])
    crd = c.WorkflowCrd("workflow-crd")
    rbac = c.Rbac("rbac", cfg, after_ns)
    storage = c.Storage("storage", cfg, after_ns)
    secrets = c.Secrets("secrets", cfg, after_ns)
    chain = c.Chain("chain", cfg, storage, pulumi.ResourceOptions(depends_on=[namespaces, rbac]))
    contracts = c.Contracts("contracts", cfg, chain, pulumi.ResourceOptions(depends_on=[rbac]))
    provider = c.Provider(
        "provider", cfg, chain, contracts, storage, secrets, pulumi.ResourceOptions(depends_on=[rbac])
    )
    operator = c.Operator(
        "operator", cfg, provider.url, storage, secrets, pulumi.ResourceOptions(depends_on=[rbac, crd])
    )
    policies = c.NetworkPolicies("network-policies", cfg, after_ns)
    quota = c.JobQuota("job-quota", cfg, after_ns)
    outputs: dict[str, Any] = {
        "providerUrl": provider.url,
        "rpcUrl": chain.rpc_url,
        "contracts": contracts.addresses,
        "namespaces": {"system": cfg.system_namespace, "jobs": cfg.jobs_namespace},
    }
    for key, value in outputs.items():
        pulumi.export(key, value)
    return Deployment(
        cfg, namespaces, crd, rbac, storage, secrets, chain, contracts, provider, operator, policies, quota
    )
