"""The stack's variants, as configurations: what the mock tests, the policy tests and the
outside checks (scripts/check-manifests.py) each render."""

import hashlib
import json
from pathlib import Path

import yaml

from c2d.infra.config import CHAIN_IMAGES, SERVICE_IMAGES

REPO = Path(__file__).resolve().parents[1]

KEYS = {
    "c2d:providerKey": "0x" + "09" * 32,
    "c2d:operatorKey": "0x" + "08" * 32,
}
# What `docker push` printed for each image (any digest serves under the mocks).
DIGESTS = {name: "sha256:" + hashlib.sha256(name.encode()).hexdigest() for name in SERVICE_IMAGES + CHAIN_IMAGES}
PREBUILT = {**KEYS, "c2d:imageRegistry": "registry.example/c2d/", "c2d:imageDigests": json.dumps(DIGESTS)}
EXTERNAL_CHAIN = {
    "c2d:chain": "external",
    "c2d:rpcUrl": "https://rpc.example",
    "c2d:chainId": "100",
    "c2d:addresses": '{"100": {"contracts": {}}}',
}


def dev() -> dict[str, str]:
    """The loopback test cluster's stack (Pulumi.dev.yaml)."""
    config = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]
    return {str(k): str(v) for k, v in config.items()}


POSTGRES = {
    "c2d:database": "postgres",
    "c2d:postgresImage": "postgres:16-bookworm@sha256:" + hashlib.sha256(b"postgres").hexdigest(),
    "c2d:databasePassword": "a database password",
}
EXTERNAL_DATABASE = {
    "c2d:database": "external",
    "c2d:providerDatabaseUrl": "postgresql+psycopg://provider:secret@10.0.5.10:5432/provider",
    "c2d:operatorDatabaseUrl": "postgresql+psycopg://operator:secret@10.0.5.10:5432/operator",
    "c2d:databaseCidr": "10.0.5.10/32",
}

VARIANTS: dict[str, dict[str, str]] = {
    "dev": dev(),
    "existing": PREBUILT,
    "external-chain": {**PREBUILT, **EXTERNAL_CHAIN},
    "build": {**KEYS, "c2d:imageRegistry": "registry.example/c2d/", "c2d:images": "build"},
    "postgres": {
        **PREBUILT,
        **POSTGRES,
        "c2d:endpoint": "ingress",
        "c2d:hostname": "c2d.example.org",
        "c2d:acmeEmail": "ops@example.org",
    },
    "external-database": {
        **PREBUILT,
        **EXTERNAL_CHAIN,
        **EXTERNAL_DATABASE,
        "c2d:endpoint": "loadbalancer",
        "c2d:hostname": "c2d.example.org",
        "c2d:loadBalancerAnnotations": '{"service.beta.kubernetes.io/aws-load-balancer-ssl-cert": "arn:aws:acm:x"}',
    },
}

# The managed clusters and the loopback one, each made by the stack (Pulumi's mocks stand in for
# the clouds: nothing here talks to AWS or Google).
VARIANTS["eks"] = {
    **PREBUILT,
    **POSTGRES,
    "c2d:cluster": "eks",
    "c2d:gpuNodes": "1",
    "c2d:metricsNamespace": "monitoring",
}
VARIANTS["gke"] = {
    **PREBUILT,
    **EXTERNAL_CHAIN,
    "c2d:cluster": "gke",
    "c2d:project": "c2d-example",
    "c2d:location": "europe-west4",
    "c2d:gpuNodes": "2",
}
VARIANTS["local"] = {**dev(), "c2d:cluster": "local"}
del VARIANTS["local"]["c2d:loopback"]  # implied
