"""What the kubernetes executor needs in a cluster before the first job, installed with an
administrator's credentials: the namespaces, the WorkFlow CRD, service accounts for the engine
and the operator service with their Roles in the jobs namespace (nothing cluster-wide), and the
Secret holding the key configure pods sign with.

The Pulumi program (infra/) declares the same objects for real deployments; this is for the test
cluster (its tests and benchmarks) and for trying the executor on a cluster by hand:

    python -m c2d.operator.bootstrap KUBECONFIG   (the operator key from C2D_OPERATOR_KEY)
"""

import base64
import os
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from c2d.operator import workflows
from c2d.operator.executors.kubernetes import SECRET_KEY

SYSTEM_NS, JOBS_NS = "c2d-system", "c2d-jobs"
ACCOUNTS = {
    "c2d-engine": [*workflows.ENGINE_RULES, workflows.OUTPUTS_CLAIM_RULE],  # outputs claims may be tried
    "c2d-operator-service": workflows.SERVICE_RULES,
}


def admin(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def _create(create: Any, *args: Any, body: dict[str, Any]) -> None:
    try:
        create(*args, body=body)
    except ApiException as exc:
        if exc.status != 409:  # already there: installing twice changes nothing
            raise


def install(api: client.ApiClient, operator_key: str) -> None:
    core: Any = client.CoreV1Api(api)
    rbac: Any = client.RbacAuthorizationV1Api(api)
    ext: Any = client.ApiextensionsV1Api(api)
    for ns in (SYSTEM_NS, JOBS_NS):
        _create(core.create_namespace, body={"metadata": {"name": ns}})
    _create(ext.create_custom_resource_definition, body=workflows.crd())
    for _ in range(100):
        crd = ext.read_custom_resource_definition(workflows.CRD_NAME)
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []):
            break
        time.sleep(0.1)
    for name, rules in ACCOUNTS.items():
        _create(core.create_namespaced_service_account, SYSTEM_NS, body={"metadata": {"name": name}})
        role = {"metadata": {"name": name}, "rules": rules}
        try:
            rbac.create_namespaced_role(JOBS_NS, body=role)
        except ApiException as exc:
            if exc.status != 409:
                raise
            rbac.replace_namespaced_role(name, JOBS_NS, body=role)  # installed again: today's rules
        _create(
            rbac.create_namespaced_role_binding,
            JOBS_NS,
            body={
                "metadata": {"name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": SYSTEM_NS}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            },
        )
    secret = {"metadata": {"name": "c2d-operator-key"}, "stringData": {SECRET_KEY: operator_key}}
    try:
        core.create_namespaced_secret(JOBS_NS, secret)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_secret("c2d-operator-key", JOBS_NS, secret)


def account_kubeconfig(api: client.ApiClient, admin_kubeconfig: Path, account: str, target: Path) -> Path:
    """A kubeconfig for one of the service accounts (its token), for a component that runs
    outside the cluster with exactly that account's rights."""
    core: Any = client.CoreV1Api(api)
    for _ in range(100):
        sa = core.read_namespaced_service_account(account, SYSTEM_NS)
        if sa.secrets:
            break
        time.sleep(0.1)
    secret = core.read_namespaced_secret(sa.secrets[0].name, SYSTEM_NS)
    token = base64.b64decode(secret.data["token"]).decode()
    cluster = admin_kubeconfig.read_text().partition("users:")[0]  # apiVersion, kind, clusters
    target.write_text(
        cluster
        + f"users:\n- name: {account}\n  user:\n    token: {token}\n"
        + f"current-context: c2d-test\ncontexts:\n- name: c2d-test\n  context: {{cluster: c2d-test, user: {account}}}\n"
    )
    target.chmod(0o600)
    return target


if __name__ == "__main__":
    install(admin(Path(sys.argv[1])), os.environ["C2D_OPERATOR_KEY"])
    print(f"installed: namespaces {SYSTEM_NS}, {JOBS_NS}; {workflows.CRD_NAME}; {', '.join(ACCOUNTS)}")
