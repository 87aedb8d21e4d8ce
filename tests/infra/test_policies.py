"""The policy pack (c2d.infra.policies) on what the program declares under Pulumi's mocks: every
variant passes every rule, and a resource that breaks a rule is reported (each rule is shown to
fail). The pack itself is never constructed here: a PolicyPack starts a gRPC server and blocks."""

import copy

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from c2d.infra.policies import POLICIES, RESOURCE_POLICIES, STACK_POLICIES
from c2d.infra.render import run
from variants import VARIANTS

LOOPBACK = ("dev", "local")  # the loopback cluster's stacks: images by tag (built on the node, no registry)
PUBLISHED = [name for name in VARIANTS if name not in LOOPBACK]


def _options():
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _resources(recorded):
    return [(typ, name, inputs) for typ, name, inputs in recorded.resources + recorded.others]


def _violations(resources):
    found = []
    for policy in RESOURCE_POLICIES:
        for typ, name, inputs in resources:
            args = ResourceValidationArgs(typ, inputs, f"urn:pulumi:dev::c2d::{typ}::{name}", name, _options(), None)
            policy.validate(args, lambda message, urn, policy=policy: found.append((policy.name, message)))
    stack = [
        PolicyResource(typ, inputs, f"urn:{name}", name, _options(), None, None, [], {})
        for typ, name, inputs in resources
    ]
    for policy in STACK_POLICIES:
        policy.validate(
            StackValidationArgs(stack), lambda message, urn, policy=policy: found.append((policy.name, message))
        )
    return found


@pytest.fixture(scope="module")
def captured():
    return {name: _resources(run(VARIANTS[name])) for name in VARIANTS}


@pytest.mark.parametrize("variant", PUBLISHED)
def test_every_variant_a_publisher_deploys_passes_every_rule(captured, variant):
    assert _violations(captured[variant]) == []


@pytest.mark.parametrize("variant", LOOPBACK)
def test_the_loopback_stack_breaks_only_the_digest_rule(captured, variant):
    """Its images are built on the node, without a registry (so without a registry digest)."""
    assert {policy for policy, _ in _violations(captured[variant])} == {"images-by-digest"}


def _broken(captured, kind, name, change):
    resources = copy.deepcopy(captured["existing"])
    for typ, _resource, inputs in resources:
        if typ.endswith(f":{kind}") and inputs["metadata"]["name"] == name:
            change(inputs)
            return resources
    raise AssertionError(f"no {kind} {name}")


def _container(inputs):
    return inputs["spec"]["template"]["spec"]["containers"][0]


BREAKS = {
    "no-cluster-roles": lambda res: (
        [
            *res,
            (
                "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
                "wide",
                {"metadata": {"name": "wide"}, "rules": []},
            ),
        ]
    ),
    "no-cluster-admin": lambda res: (
        [
            *res,
            (
                "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
                "admin",
                {"metadata": {"name": "admin"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}},
            ),
        ]
    ),
}
CONTAINER_BREAKS = {
    "non-root": lambda c: c["securityContext"].update(runAsNonRoot=False),
    "no-privilege-escalation": lambda c: c["securityContext"].update(allowPrivilegeEscalation=True),
    "capabilities-dropped": lambda c: c["securityContext"].update(capabilities={"drop": ["ALL"], "add": ["NET_ADMIN"]}),
    "limits-set": lambda c: c["resources"].pop("limits"),
    "images-by-digest": lambda c: c.update(image="registry.example/c2d/provider:dev"),
    "no-secrets-in-env": lambda c: c["env"].append(
        {"name": "C2D_PROVIDER_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "k"}}}
    ),
}


@pytest.mark.parametrize("rule", [*BREAKS, *CONTAINER_BREAKS, "tokens-where-used", "default-deny-network-policies"])
def test_each_rule_reports_a_resource_that_breaks_it(captured, rule):
    if rule in BREAKS:
        resources = BREAKS[rule](copy.deepcopy(captured["existing"]))
    elif rule in CONTAINER_BREAKS:
        resources = _broken(captured, "Deployment", "c2d-provider", lambda d: CONTAINER_BREAKS[rule](_container(d)))
    elif rule == "tokens-where-used":
        resources = _broken(
            captured,
            "Deployment",
            "c2d-provider",
            lambda d: d["spec"]["template"]["spec"].update(automountServiceAccountToken=True),
        )
    else:
        resources = [r for r in copy.deepcopy(captured["existing"]) if not r[1].startswith("jobs-default-deny")]
    found = _violations(resources)
    assert found and {policy for policy, _ in found} == {rule}, found
    print(f"\n{rule}: {found[0][1]}")


def test_the_pack_is_every_rule_the_readme_names():
    assert [p.name for p in POLICIES] == [
        "no-cluster-roles",
        "no-cluster-admin",
        "non-root",
        "no-privilege-escalation",
        "capabilities-dropped",
        "limits-set",
        "images-by-digest",
        "no-secrets-in-env",
        "tokens-where-used",
        "default-deny-network-policies",
    ]
