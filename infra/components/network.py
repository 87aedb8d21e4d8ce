"""NetworkPolicies: default deny in both namespaces, then only the paths c2d uses."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.components.common import ENGINE_METRICS_PORT, GANACHE_PORT, NAME_LABEL, OPERATOR_PORT, PROVIDER_PORT
from c2d.infra.components.database import POSTGRES_PORT
from c2d.infra.config import DatabaseSettings, Placement

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


class NetworkPolicies(pulumi.ComponentResource):
    """Default deny in both namespaces, then only the paths c2d uses. (Enforced by the cluster's
    network plugin; the loopback test cluster stores them but has none.)"""

    def __init__(
        self,
        name: str,
        at: Placement,
        *,
        in_cluster_chain: bool,
        api_server_cidr: str,
        database: DatabaseSettings | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`api_server_cidr`: where the API server's endpoints are (the parts that call it may reach only those)."""
        super().__init__("c2d:infra:NetworkPolicies", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        system, jobs = at.system_namespace, at.jobs_namespace
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
                        _api_server(api_server_cidr),
                    ],
                ),
            ),
            "operator-service": (
                jobs,
                _policy(
                    "operator-service",
                    ingress=[
                        {"from": [provider_pods], "ports": [{"protocol": "TCP", "port": OPERATOR_PORT}]},
                        *_scrapers(at, OPERATOR_PORT),
                    ],
                    egress=[dns, _api_server(api_server_cidr)],  # it creates the WorkFlows
                ),
            ),
            "operator-engine": (
                jobs,
                _policy(
                    "operator-engine",
                    ingress=_scrapers(at, ENGINE_METRICS_PORT),  # none: default deny
                    egress=[dns, _api_server(api_server_cidr)],
                ),
            ),
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
        if not in_cluster_chain:
            del policies["ganache"], policies["contracts"]
        if database is not None and database.shared:  # the stores: to PostgreSQL's port only
            if database.kind == "postgres":
                to_database: dict[str, Any] = {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {NAME_LABEL: system}},
                            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": POSTGRES_PORT}],
                }
                clients = [
                    {
                        "namespaceSelector": {"matchLabels": {NAME_LABEL: namespace}},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": app}},
                    }
                    for namespace, app in ((system, "provider"), (jobs, "operator-service"), (jobs, "operator-engine"))
                ]
                policies["postgres"] = (
                    system,
                    _policy(
                        "postgres",
                        ingress=[{"from": clients, "ports": [{"protocol": "TCP", "port": POSTGRES_PORT}]}],
                        egress=[],  # it calls nothing
                    ),
                )
            else:
                to_database = {
                    "to": [{"ipBlock": {"cidr": database.cidr}}],
                    "ports": [{"protocol": "TCP", "port": POSTGRES_PORT}],
                }
            for part in ("operator-service", "operator-engine"):  # the provider may reach it already
                _namespace, spec = policies[part]
                spec["egress"].append(to_database)
            if database.kind == "postgres":
                policies["provider"][1]["egress"].append(to_database)
        self.policies = {
            key: k8s.networking.v1.NetworkPolicy(
                key, metadata={"name": f"c2d-{key}", "namespace": namespace}, spec=spec, opts=child
            )
            for key, (namespace, spec) in policies.items()
        }
        self.register_outputs({"policies": [policy.metadata["name"] for policy in self.policies.values()]})


def _policy(app: str, ingress: list[Any] | None = None, egress: list[Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": app}}, "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return spec


def _scrapers(at: Placement, port: int) -> list[dict[str, Any]]:
    """Ingress from c2d:metricsNamespace's pods (a Prometheus) to a part's metrics port."""
    if not at.metrics_namespace:
        return []
    selector = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": at.metrics_namespace}}}
    return [{"from": [selector], "ports": [{"protocol": "TCP", "port": port}]}]


def _api_server(cidr: str) -> dict[str, Any]:
    return {
        "to": [{"ipBlock": {"cidr": cidr}}],
        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}],
    }
