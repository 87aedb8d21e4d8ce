"""The provider's and the operator's stores on PostgreSQL (c2d:database postgres or external):
with them, the provider and the engine run several replicas (the engines share the jobs by
leases, c2d.operator.store). Each store's URL, password included, is a Secret in its namespace,
mounted as a file (C2D_*_DATABASE_URL_FILE).

`postgres`: a StatefulSet of the official image in the system namespace, its data on a claim of
c2d:databaseSize, non-root (the stack's user 10001) with a read-only root filesystem; an init
script makes a role and a database for each store (c2d_provider, c2d_operator), with passwords
derived from the administrator's (c2d:databasePassword): neither store can read the other's.
`external`: the URLs come from the stack's secrets."""

import hashlib
import hmac
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.components.common import KEYS_MOUNT, exceptions, labels, pod_spec, resources, secret_volume
from c2d.infra.config import DatabaseSettings, Placement
from c2d.operator.executors.base import STAGE_UID

POSTGRES_PORT = 5432
# The stack's user, not the image's own (999, a low UID that may be a host's): the official image
# runs as any user (its entry point gives an unknown one a passwd entry through nss_wrapper).
POSTGRES_UID = STAGE_UID
ADMIN = "c2d_admin"
ROLES_SCRIPT = f"""#!/bin/sh
# The stores' roles and databases (run once, by the image's entry point, on an empty volume).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE c2d_provider LOGIN PASSWORD '$(cat {KEYS_MOUNT}/provider-password)';
CREATE DATABASE c2d_provider OWNER c2d_provider;
CREATE ROLE c2d_operator LOGIN PASSWORD '$(cat {KEYS_MOUNT}/operator-password)';
CREATE DATABASE c2d_operator OWNER c2d_operator;
REVOKE ALL ON DATABASE c2d_provider FROM PUBLIC;
REVOKE ALL ON DATABASE c2d_operator FROM PUBLIC;
SQL
"""


def derived(password: pulumi.Output[str], role: str) -> pulumi.Output[str]:
    """A store's password, from the administrator's (hex: nothing to quote)."""
    return password.apply(lambda p: hmac.new(p.encode(), f"c2d {role}".encode(), hashlib.sha256).hexdigest())


class Database(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        at: Placement,
        settings: DatabaseSettings,
        *,
        storage_class: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("c2d:infra:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.storage_class = storage_class
        self.statefulset: k8s.apps.v1.StatefulSet | None = None
        if settings.kind == "postgres":
            assert settings.password is not None, "checked by the config"
            passwords = {role: derived(settings.password, role) for role in ("provider", "operator")}
            host = f"c2d-postgres.{at.system_namespace}.svc"
            provider_url: Any = passwords["provider"].apply(
                lambda p: f"postgresql+psycopg://c2d_provider:{p}@{host}:{POSTGRES_PORT}/c2d_provider"
            )
            operator_url: Any = passwords["operator"].apply(
                lambda p: f"postgresql+psycopg://c2d_operator:{p}@{host}:{POSTGRES_PORT}/c2d_operator"
            )
            self.statefulset = self._postgres(at, settings, passwords, child)
        else:
            provider_url, operator_url = settings.provider_url, settings.operator_url
        self.provider_secret = k8s.core.v1.Secret(
            "provider-database",
            metadata={"name": "c2d-provider-database", "namespace": at.system_namespace},
            string_data={"url": pulumi.Output.secret(provider_url)},
            opts=child,
        )
        self.operator_secret = k8s.core.v1.Secret(
            "operator-database",
            metadata={"name": "c2d-operator-database", "namespace": at.jobs_namespace},
            string_data={"url": pulumi.Output.secret(operator_url)},
            opts=child,
        )
        self.register_outputs({"kind": settings.kind})

    def _postgres(
        self,
        at: Placement,
        settings: DatabaseSettings,
        passwords: dict[str, pulumi.Output[str]],
        child: pulumi.ResourceOptions,
    ) -> k8s.apps.v1.StatefulSet:
        assert settings.password is not None
        namespace = at.system_namespace
        secret = k8s.core.v1.Secret(
            "postgres-passwords",
            metadata={"name": "c2d-postgres", "namespace": namespace},
            string_data={
                "admin-password": settings.password,
                "provider-password": passwords["provider"],
                "operator-password": passwords["operator"],
            },
            opts=child,
        )
        init = k8s.core.v1.ConfigMap(
            "postgres-init",
            metadata={"name": "c2d-postgres-init", "namespace": namespace},
            data={"roles.sh": ROLES_SCRIPT},
            opts=child,
        )
        app = labels("postgres")
        ready = {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", ADMIN, "-d", "postgres"]}}
        container = {
            "name": "postgres",
            "image": settings.image,
            "imagePullPolicy": at.pull_policy,
            "env": [
                {"name": "POSTGRES_USER", "value": ADMIN},
                {"name": "POSTGRES_PASSWORD_FILE", "value": f"{KEYS_MOUNT}/admin-password"},  # a file, not the env
                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
            ],
            "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
            "readinessProbe": {**ready, "periodSeconds": 5, "timeoutSeconds": 3},
            "livenessProbe": {**ready, "periodSeconds": 15, "timeoutSeconds": 5, "failureThreshold": 4},
            "resources": resources("1", "1Gi", cpu_request="250m"),
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "runAsNonRoot": True,
                "runAsUser": POSTGRES_UID,
                "runAsGroup": POSTGRES_UID,
            },
            "volumeMounts": [
                {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                {"name": "run", "mountPath": "/var/run/postgresql"},
                {"name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True},
                {"name": "passwords", "mountPath": KEYS_MOUNT, "readOnly": True},
            ],
        }
        pod = pod_spec(
            at,
            "c2d-postgres",
            [container],
            [
                {"name": "run", "emptyDir": {"sizeLimit": "16Mi"}},
                {"name": "init", "configMap": {"name": init.metadata["name"], "defaultMode": 0o555}},
                {
                    "name": "passwords",
                    "secret": {
                        **secret_volume("passwords", secret.metadata["name"], "admin-password")["secret"],
                        "items": [
                            {"key": k, "path": k} for k in ("admin-password", "provider-password", "operator-password")
                        ],
                    },
                },
            ],
        )
        pod["securityContext"] = {
            **pod["securityContext"],
            "runAsUser": POSTGRES_UID,
            "runAsGroup": POSTGRES_UID,
            "fsGroup": POSTGRES_UID,
        }
        claim: dict[str, Any] = {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": settings.size}}},
        }
        if self.storage_class:
            claim["spec"]["storageClassName"] = self.storage_class
        statefulset = k8s.apps.v1.StatefulSet(
            "postgres",
            metadata={"name": "c2d-postgres", "namespace": namespace, "labels": app, **exceptions(at, "postgres")},
            spec={
                "serviceName": "c2d-postgres",
                "replicas": 1,
                "selector": {"matchLabels": app},
                "template": {"metadata": {"labels": app}, "spec": pod},
                "volumeClaimTemplates": [claim],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[secret, init]),
        )
        k8s.core.v1.Service(
            "postgres",
            metadata={"name": "c2d-postgres", "namespace": namespace, "labels": app},
            spec={"selector": app, "ports": [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": POSTGRES_PORT}]},
            opts=child,
        )
        return statefulset
