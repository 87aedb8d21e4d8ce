"""The stack's rules as code: pulumi-policy validations of what the program declares. Publishers
run them with `pulumi up --policy-pack policies/` (policies/__main__.py makes the pack); the tests
call each policy's `validate` on what Pulumi's mocks captured.

Resource rules (ResourceValidationPolicy), for every Kubernetes object that holds pods
(Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod) and every RBAC object:

    no-cluster-roles            no ClusterRole, no ClusterRoleBinding: c2d's roles are namespaced
    no-cluster-admin            no binding to cluster-admin (or admin, edit) in any namespace
    non-root                    pods and containers run as non-root users
    no-privilege-escalation     allowPrivilegeEscalation false in every container
    capabilities-dropped        every capability dropped (drop ALL); none added but CHOWN by an
                                init container that hands volumes over (the loopback cluster's)
    limits-set                  CPU and memory limits on every container
    images-by-digest            every image named by its digest (…@sha256:…)
    no-secrets-in-env           no Secret reaches a container through its environment
    tokens-where-used           a service-account token only in pods that call the API server

Stack rule (StackValidationPolicy): default-deny-network-policies — each namespace the stack
creates has a NetworkPolicy selecting every pod with both policy types and no rule.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

K8S = "kubernetes:"
POD_HOLDERS = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
BROAD_ROLES = {"cluster-admin", "admin", "edit"}
# The parts that call the API server (c2d.infra.components.common.API_CLIENTS) by their accounts.
API_ACCOUNTS = {"c2d-operator-service", "c2d-operator-engine", "c2d-contracts"}
MANDATORY = EnforcementLevel.MANDATORY


def pod_of(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    path = POD_HOLDERS.get(args.resource_type)
    if path is None:
        return None
    node: Any = args.props if path else args.props.get("spec")
    for key in path:
        node = (node or {}).get(key)
    return node or {}


def containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """(name, container, is an init container) of a pod."""
    for container in pod.get("initContainers") or []:
        yield container.get("name", "?"), container, True
    for container in pod.get("containers") or []:
        yield container.get("name", "?"), container, False


def _no_cluster_roles(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in (
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    ):
        report(f"{args.name}: c2d needs no cluster-wide role; use a Role in the part's namespace", None)


def _no_cluster_admin(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type.endswith(":RoleBinding") or args.resource_type.endswith(":ClusterRoleBinding"):
        role = (args.props.get("roleRef") or {}).get("name")
        if role in BROAD_ROLES:
            report(f"{args.name}: binds the built-in role {role}; grant only the verbs the part uses", None)


def _non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args)
    if pod is None:
        return
    pod_context = pod.get("securityContext") or {}
    for name, container, init in containers(pod):
        context = container.get("securityContext") or {}
        if _hands_volumes_over(container, init):
            continue
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        if non_root is not True or user == 0:
            report(f"{args.name}/{name}: must run as a non-root user (runAsNonRoot: true, runAsUser ≠ 0)", None)


def _no_privilege_escalation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args)
    for name, container, _ in containers(pod or {}):
        if (container.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False:
            report(f"{args.name}/{name}: allowPrivilegeEscalation must be false", None)


def _capabilities_dropped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args)
    for name, container, init in containers(pod or {}):
        capabilities = (container.get("securityContext") or {}).get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            report(f"{args.name}/{name}: must drop every capability (capabilities.drop: [ALL])", None)
        added = list(capabilities.get("add") or [])
        if added and not (_hands_volumes_over(container, init) and added == ["CHOWN"]):
            report(f"{args.name}/{name}: adds capabilities {added}", None)


def _hands_volumes_over(container: Mapping[str, Any], init: bool) -> bool:
    """The loopback cluster's init container that chowns hostPath volumes to the pod's user:
    root with CHOWN only, and nothing else."""
    capabilities = (container.get("securityContext") or {}).get("capabilities") or {}
    return init and container.get("name") == "volume-owner" and list(capabilities.get("add") or []) == ["CHOWN"]


def _limits_set(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args)
    for name, container, _ in containers(pod or {}):
        limits = (container.get("resources") or {}).get("limits") or {}
        missing = [kind for kind in ("cpu", "memory") if not limits.get(kind)]
        if missing:
            report(f"{args.name}/{name}: no {' or '.join(missing)} limit", None)


def _images_by_digest(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args)
    for name, container, _ in containers(pod or {}):
        image = str(container.get("image") or "")
        if "@sha256:" not in image:
            report(f"{args.name}/{name}: image {image!r} is not named by its digest (…@sha256:…)", None)


def _no_secrets_in_env(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args)
    for name, container, _ in containers(pod or {}):
        for env in container.get("env") or []:
            if "secretKeyRef" in (env.get("valueFrom") or {}):
                report(
                    f"{args.name}/{name}: Secret in the environment variable {env.get('name')}; mount it as a file",
                    None,
                )
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                report(f"{args.name}/{name}: a whole Secret in the environment; mount it as files", None)


def _tokens_where_used(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args)
    if pod is None:
        return
    account = pod.get("serviceAccountName") or "default"
    if pod.get("automountServiceAccountToken") is not False and account not in API_ACCOUNTS:
        report(f"{args.name}: mounts a service-account token ({account}) but does not call the API server", None)


def _default_deny(args: StackValidationArgs, report: ReportViolation) -> None:
    namespaces = {
        (r.props.get("metadata") or {}).get("name")
        for r in args.resources
        if r.resource_type == "kubernetes:core/v1:Namespace"
    }
    denied = set()
    for r in args.resources:
        if r.resource_type != "kubernetes:networking.k8s.io/v1:NetworkPolicy":
            continue
        spec = r.props.get("spec") or {}
        selects_all = not (spec.get("podSelector") or {}).get("matchLabels") and not (
            spec.get("podSelector") or {}
        ).get("matchExpressions")
        if (
            selects_all
            and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
            and not spec.get("ingress")
            and not spec.get("egress")
        ):
            denied.add((r.props.get("metadata") or {}).get("namespace"))
    for namespace in sorted(n for n in namespaces - denied if n):
        report(f"namespace {namespace}: no default-deny NetworkPolicy (all pods, Ingress and Egress, no rule)", None)


def _resource(name: str, description: str, validate: Any) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=MANDATORY)


RESOURCE_POLICIES = [
    _resource(
        "no-cluster-roles", "No ClusterRole or ClusterRoleBinding: c2d's roles are namespaced.", _no_cluster_roles
    ),
    _resource("no-cluster-admin", "No binding to cluster-admin, admin or edit.", _no_cluster_admin),
    _resource("non-root", "Pods and containers run as non-root users.", _non_root),
    _resource("no-privilege-escalation", "allowPrivilegeEscalation is false everywhere.", _no_privilege_escalation),
    _resource("capabilities-dropped", "Every capability is dropped; none is added.", _capabilities_dropped),
    _resource("limits-set", "Every container has CPU and memory limits.", _limits_set),
    _resource("images-by-digest", "Every image is named by its digest.", _images_by_digest),
    _resource("no-secrets-in-env", "Secrets reach containers as files, not environment variables.", _no_secrets_in_env),
    _resource("tokens-where-used", "Service-account tokens only where the API server is called.", _tokens_where_used),
]
STACK_POLICIES = [
    StackValidationPolicy(
        name="default-deny-network-policies",
        description="Each namespace of the stack denies all traffic by default.",
        validate=_default_deny,
        enforcement_level=MANDATORY,
    )
]
POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
