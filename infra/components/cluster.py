"""The frame of the deployment: namespaces (Pod Security), the WorkFlow CRD, service accounts
and Roles, the jobs namespace's quota, gVisor's RuntimeClass."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.components.common import API_CLIENTS, CONTRACTS_CONFIG_MAP, NAME_LABEL, PART_OF, labels
from c2d.infra.config import GvisorSettings, Placement
from c2d.operator import workflows
from c2d.operator.environments import Environment


class Namespaces(pulumi.ComponentResource):
    """The system namespace (baseline) and the jobs namespace (restricted: stage pods)."""

    def __init__(self, name: str, at: Placement, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:Namespaces", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        jobs_level = "privileged" if at.loopback else "restricted"  # loopback: host-network configure pods
        # kubernetes.io/metadata.name, which the NetworkPolicies select namespaces by, is set
        # by the API server itself only from 1.21 on: set here for 1.20.
        self.system = k8s.core.v1.Namespace(
            "system",
            metadata={
                "name": at.system_namespace,
                "labels": {
                    **PART_OF,
                    NAME_LABEL: at.system_namespace,
                    **_pod_security("privileged" if at.loopback else "baseline"),
                },
            },
            opts=child,
        )
        self.jobs = k8s.core.v1.Namespace(
            "jobs",
            metadata={
                "name": at.jobs_namespace,
                "labels": {**PART_OF, NAME_LABEL: at.jobs_namespace, **_pod_security(jobs_level)},
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

    ACCOUNTS = ("provider", "operator-service", "operator-engine", "contracts", "ganache", "postgres")

    def __init__(
        self,
        name: str,
        at: Placement,
        *,
        in_cluster_chain: bool,
        claims_outputs: bool,
        in_cluster_database: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`claims_outputs`: the engine creates a volume claim per job for its outputs."""
        super().__init__("c2d:infra:Rbac", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.accounts: dict[str, k8s.core.v1.ServiceAccount] = {}
        for account in self.ACCOUNTS:
            if account in ("contracts", "ganache") and not in_cluster_chain:
                continue
            if account == "postgres" and not in_cluster_database:
                continue
            self.accounts[account] = k8s.core.v1.ServiceAccount(
                account,
                metadata={"name": f"c2d-{account}", "namespace": at.namespace_of(account), "labels": labels(account)},
                automount_service_account_token=account in API_CLIENTS,
                opts=child,
            )
        engine_rules = workflows.ENGINE_RULES
        if claims_outputs:
            engine_rules = [*engine_rules, workflows.OUTPUTS_CLAIM_RULE]
        self.roles = {
            "operator-engine": self._role("operator-engine", at.jobs_namespace, engine_rules, child),
            "operator-service": self._role("operator-service", at.jobs_namespace, workflows.SERVICE_RULES, child),
        }
        if in_cluster_chain:
            self.roles["contracts"] = self._role("contracts", at.system_namespace, CONTRACTS_RULES, child)
        self.register_outputs(
            {
                "accounts": {part: account.metadata["name"] for part, account in self.accounts.items()},
                "roles": {part: role.metadata["name"] for part, role in self.roles.items()},
            }
        )

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
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": [CONTRACTS_CONFIG_MAP],
        "verbs": ["get", "update"],
    },
]


class JobQuota(pulumi.ComponentResource):
    """The jobs namespace's ResourceQuota (what every environment at its maxJobs, plus the
    operator, may use) and LimitRange (defaults and ceilings per container)."""

    def __init__(
        self, name: str, namespace: str, envs: list[Environment], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("c2d:infra:JobQuota", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Per running job: the algorithm, or a configure/publish stage (1 CPU, 512 MB).
        cpu = sum(e.max_jobs * max(e.cpu, 1.0) for e in envs) + 2
        memory = sum(e.max_jobs * max(e.memory_mb, 512) for e in envs) + 1024
        pods = sum(e.max_jobs for e in envs) * 2 + 4
        self.quota = k8s.core.v1.ResourceQuota(
            "jobs",
            metadata={"name": "c2d-jobs", "namespace": namespace},
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
            metadata={"name": "c2d-jobs", "namespace": namespace},
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
        self.register_outputs({"quota": self.quota.metadata["name"], "limits": self.limits.metadata["name"]})


# ---- shared pieces ----


class SandboxRuntime(pulumi.ComponentResource):
    """The RuntimeClass that gvisor environments' algorithm pods name (the engine's
    C2D_KUBE_GVISOR_CLASS), with the nodes' runtime handler of gVisor; none where the cluster has
    its own (c2d:gvisorHandler none)."""

    def __init__(self, name: str, settings: GvisorSettings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:SandboxRuntime", name, None, opts)
        self.runtime_class: k8s.node.v1.RuntimeClass | None = None
        if settings.handler:
            self.runtime_class = k8s.node.v1.RuntimeClass(
                "gvisor",
                metadata={"name": settings.runtime_class, "labels": dict(PART_OF)},
                handler=settings.handler,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
