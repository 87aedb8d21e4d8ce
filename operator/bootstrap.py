"""What the kubernetes executor needs in a cluster before the first job, installed with an
administrator's credentials, exactly as the Pulumi program (infra/) declares it for the loopback
cluster: the namespaces, the WorkFlow CRD, the engine's and the operator service's service
accounts with their Roles in the jobs namespace (nothing cluster-wide), and the Secret holding
the key configure pods sign with. For the test cluster (its tests and benchmarks run the engine
and the service with these accounts) and for trying the executor on a cluster by hand:

    python -m c2d.operator.bootstrap KUBECONFIG   (the operator key from C2D_OPERATOR_KEY)
"""

import base64
import os
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config

from c2d.operator import workflows

SECRET_NAME = "c2d-operator-key"  # noqa: S105 (the name of the Secret, C2D_KUBE_OPERATOR_KEY_SECRET)

SYSTEM_NS, JOBS_NS = "c2d-system", "c2d-jobs"
ENGINE_ACCOUNT, SERVICE_ACCOUNT = "c2d-operator-engine", "c2d-operator-service"
ACCOUNTS = (ENGINE_ACCOUNT, SERVICE_ACCOUNT)
KINDS = ("Namespace", "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "Secret")
TEST_OUTPUTS_CLASS = "c2d-test-outputs"  # the tests' outputs claims (local volumes they make)
UNUSED_PROVIDER_KEY = "0x" + "01" * 32  # the program wants one; its Secret is not installed here


def admin(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def program_objects(operator_key: str, outputs_class: str = "") -> list[dict[str, Any]]:
    """What the Pulumi program (c2d.infra, rendered under its mocks) declares for the operator on
    the loopback cluster: the namespaces, the WorkFlow CRD, the operator's service accounts, Roles
    and RoleBindings, and the operator key's Secret; nothing of the provider or the chain."""
    from c2d.infra.render import run

    config = {
        "c2d:providerKey": UNUSED_PROVIDER_KEY,
        "c2d:operatorKey": operator_key,
        "c2d:systemNamespace": SYSTEM_NS,
        "c2d:jobsNamespace": JOBS_NS,
        "c2d:loopback": "true",
        "c2d:outputsStorageClass": outputs_class,
    }
    wanted = []
    for manifest in run(config).manifests():
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        if kind not in KINDS:
            continue
        if kind in ("ServiceAccount", "Role", "RoleBinding") and name not in ACCOUNTS:
            continue
        if kind == "Secret" and name != SECRET_NAME:
            continue
        wanted.append(manifest)
    return wanted


def install(api: client.ApiClient, operator_key: str, outputs_class: str = "") -> None:
    """Applies program_objects (server-side apply: installing again brings them to today's)."""
    from kubernetes.dynamic import DynamicClient

    dynamic: Any = DynamicClient(api)  # type: ignore[no-untyped-call]
    for manifest in program_objects(operator_key, outputs_class):
        resource = dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        namespace = manifest["metadata"].get("namespace")
        dynamic.server_side_apply(
            resource, body=manifest, namespace=namespace, field_manager="c2d-bootstrap", force_conflicts=True
        )
        if manifest["kind"] == "CustomResourceDefinition":
            _established(client.ApiextensionsV1Api(api))


def _established(ext: Any) -> None:
    for _ in range(100):
        crd = ext.read_custom_resource_definition(workflows.CRD_NAME)
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []):
            return
        time.sleep(0.1)


def account_kubeconfig(api: client.ApiClient, admin_kubeconfig: Path, account: str, target: Path) -> Path:
    """A kubeconfig for one of the service accounts (its token), for a component that runs
    outside the cluster with exactly that account's rights."""
    core: Any = client.CoreV1Api(api)
    for _ in range(100):
        sa = core.read_namespaced_service_account(account, JOBS_NS)
        if sa.secrets:
            break
        time.sleep(0.1)
    secret = core.read_namespaced_secret(sa.secrets[0].name, JOBS_NS)
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
