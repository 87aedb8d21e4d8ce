"""The provider's public endpoint (c2d:endpoint): an Ingress of a configurable class with TLS
(a cert-manager Certificate from an Issuer the stack makes for ACME, or from one the publisher
names; or a TLS Secret the publisher names), or a LoadBalancer Service whose cloud terminates TLS
(its annotations from c2d:loadBalancerAnnotations). `url` is then https://<c2d:hostname>, the
stack's providerUrl and the provider's own public URL (C2D_PROVIDER_URL)."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.components.common import PROVIDER_PORT, labels
from c2d.infra.config import EndpointSettings, Placement

TLS_SECRET = "c2d-provider-tls"  # noqa: S105 (a Secret's name)
# The provider's paths the Ingress routes: what consumers and the page use; /metrics stays inside.
PUBLIC_PATHS = (("/", "Exact"), ("/api", "Prefix"), ("/ui", "Prefix"), ("/docs", "Prefix"), ("/openapi.json", "Exact"))


class Endpoint(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        at: Placement,
        settings: EndpointSettings,
        provider: Any,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("c2d:infra:Endpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=[provider])
        namespace, app = at.system_namespace, labels("provider")
        self.url = f"https://{settings.hostname}"
        if settings.kind == "loadbalancer":
            k8s.core.v1.Service(
                "provider-public",
                metadata={
                    "name": "c2d-provider-public",
                    "namespace": namespace,
                    "labels": app,
                    "annotations": dict(settings.load_balancer_annotations),
                },
                spec={
                    "type": "LoadBalancer",
                    "selector": app,
                    "ports": [{"name": "https", "port": 443, "targetPort": PROVIDER_PORT}],
                },
                opts=child,
            )
            self.register_outputs({"url": self.url})
            return
        secret = settings.tls_secret or TLS_SECRET
        if not settings.tls_secret:  # cert-manager issues it
            issuer, kind = settings.issuer, settings.issuer_kind
            if settings.acme_email:  # an ACME (Let's Encrypt) Issuer of the stack's own, HTTP-01 through the Ingress
                issuer, kind = "c2d-acme", "Issuer"
                k8s.apiextensions.CustomResource(
                    "acme-issuer",
                    api_version="cert-manager.io/v1",
                    kind="Issuer",
                    metadata={"name": issuer, "namespace": namespace},
                    spec={
                        "acme": {
                            "server": settings.acme_server,
                            "email": settings.acme_email,
                            "privateKeySecretRef": {"name": "c2d-acme-account"},
                            "solvers": [{"http01": {"ingress": {"ingressClassName": settings.ingress_class}}}],
                        }
                    },
                    opts=child,
                )
            k8s.apiextensions.CustomResource(
                "provider-certificate",
                api_version="cert-manager.io/v1",
                kind="Certificate",
                metadata={"name": "c2d-provider", "namespace": namespace},
                spec={
                    "secretName": secret,
                    "dnsNames": [settings.hostname],
                    "issuerRef": {"name": issuer, "kind": kind, "group": "cert-manager.io"},
                    "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                },
                opts=child,
            )
        k8s.networking.v1.Ingress(
            "provider",
            metadata={"name": "c2d-provider", "namespace": namespace, "labels": app},
            spec={
                "ingressClassName": settings.ingress_class,
                "tls": [{"hosts": [settings.hostname], "secretName": secret}],
                "rules": [
                    {
                        "host": settings.hostname,
                        "http": {
                            # what consumers use; /metrics stays inside the cluster
                            "paths": [
                                {
                                    "path": path,
                                    "pathType": kind,
                                    "backend": {"service": {"name": "c2d-provider", "port": {"number": PROVIDER_PORT}}},
                                }
                                for path, kind in PUBLIC_PATHS
                            ]
                        },
                    }
                ],
            },
            opts=child,
        )
        self.register_outputs({"url": self.url})
