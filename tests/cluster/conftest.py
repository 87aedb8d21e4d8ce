"""The cluster tests: the real loopback Kubernetes of scripts/cluster (brought up here if it is
not up) and its Docker daemon, with c2d's images (scripts/images.sh).

The engine and the operator service run outside the cluster with kubeconfigs of their own
service accounts, so every call they make is checked against the Roles c2d ships."""

import base64
import os
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from c2d.operator import workflows
from stacks import start_stack

REPO = Path(__file__).resolve().parents[2]
SYSTEM_NS, JOBS_NS = "c2d-system", "c2d-jobs"
DOCKER_HOST = "unix:///run/c2d-docker/docker.sock"
IMAGES = ["configure", "publish", "algorithm-python"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/cluster" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def kubeconfig() -> Path:
    path = subprocess.run(
        [str(REPO / "scripts/cluster/up.sh")], check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    env = {**os.environ, "DOCKER_HOST": DOCKER_HOST}
    for name in IMAGES:
        image = f"c2d/{name}:dev"
        found = subprocess.run(["docker", "image", "inspect", image], env=env, capture_output=True, check=False)
        assert found.returncode == 0, f"{image} is missing: run `make images`"
    return Path(path)


@pytest.fixture(scope="session")
def kube(kubeconfig):
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    api = client.ApiClient(configuration)
    install(api)
    return api


def _apply(create, *args, body):
    try:
        create(*args, body=body)
    except ApiException as exc:
        if exc.status != 409:
            raise


def install(api) -> None:
    """What the deployment (infra/, issue 6) installs for the operator: namespaces, the CRD,
    service accounts and their Roles, the operator key's Secret."""
    core, rbac, ext = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api), client.ApiextensionsV1Api(api)
    for ns in (SYSTEM_NS, JOBS_NS):
        _apply(core.create_namespace, body={"metadata": {"name": ns}})
    _apply(ext.create_custom_resource_definition, body=workflows.crd())
    for _ in range(100):
        crd = ext.read_custom_resource_definition(workflows.CRD_NAME)
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []):
            break
        time.sleep(0.1)
    for name, rules in (("c2d-engine", workflows.ENGINE_RULES), ("c2d-operator-service", workflows.SERVICE_RULES)):
        _apply(core.create_namespaced_service_account, SYSTEM_NS, body={"metadata": {"name": name}})
        _apply(rbac.create_namespaced_role, JOBS_NS, body={"metadata": {"name": name}, "rules": rules})
        subject = {"kind": "ServiceAccount", "name": name, "namespace": SYSTEM_NS}
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
        _apply(
            rbac.create_namespaced_role_binding,
            JOBS_NS,
            body={"metadata": {"name": name}, "subjects": [subject], "roleRef": ref},
        )


def account_kubeconfig(api, admin_kubeconfig: Path, account: str, target: Path) -> Path:
    """A kubeconfig that authenticates as a service account (its token Secret)."""
    core = client.CoreV1Api(api)
    for _ in range(100):
        sa = core.read_namespaced_service_account(account, SYSTEM_NS)
        if sa.secrets:
            break
        time.sleep(0.1)
    secret = core.read_namespaced_secret(sa.secrets[0].name, SYSTEM_NS)
    token = base64.b64decode(secret.data["token"]).decode()
    text = admin_kubeconfig.read_text()
    head, _, _ = text.partition("users:")
    target.write_text(
        head.replace("user: admin", f"user: {account}")
        + f"users:\n- name: {account}\n  user:\n    token: {token}\n"
        + "contexts:\n- name: c2d-test\n"
        + f"  context: {{cluster: c2d-test, user: {account}}}\ncurrent-context: c2d-test\n"
    )
    target.chmod(0o600)
    return target


@pytest.fixture(scope="session")
def operator_key_secret(kube, keys):
    core = client.CoreV1Api(kube)
    body = {"metadata": {"name": "c2d-operator-key"}, "stringData": {"operator-key": keys[8]}}
    try:
        core.create_namespaced_secret(JOBS_NS, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_secret("c2d-operator-key", JOBS_NS, body)


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    return tmp_path_factory.mktemp("published")


@pytest.fixture(scope="session")
def stacks(ganache, addresses_file, keys, tmp_path_factory, published, kube, kubeconfig, operator_key_secret):
    """One stack per executor, sharing the chain and the published files."""
    root = tmp_path_factory.mktemp("accounts")
    engine_config = account_kubeconfig(kube, kubeconfig, "c2d-engine", root / "engine.kubeconfig")
    service_config = account_kubeconfig(kube, kubeconfig, "c2d-operator-service", root / "service.kubeconfig")
    settings = {
        "local": ({}, {}),
        "docker": ({"executor": "docker", "docker_host": DOCKER_HOST}, {}),
        "kubernetes": (
            {"executor": "kubernetes", "kubeconfig": engine_config, "kube_namespace": JOBS_NS, "kube_loopback": True},
            {"kubeconfig": service_config},
        ),
    }
    started = {}
    for name, (engine, service) in settings.items():
        started[name] = start_stack(
            tmp_path_factory.mktemp(name), published, ganache, addresses_file, keys, engine, service
        )
    yield started
    for running in started.values():
        running.stop()
