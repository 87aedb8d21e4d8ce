"""The cluster tests: the real loopback Kubernetes of scripts/cluster (brought up here if it is
not up) and its Docker daemon, with c2d's images (scripts/images.sh).

The engine and the operator service run outside the cluster with kubeconfigs of their own
service accounts, so every call they make is checked against the Roles c2d ships."""

import os
import subprocess
from pathlib import Path

import pytest
from kubernetes import client, config

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderClient
from c2d.job.policy import PRESETS
from c2d.operator import bootstrap
from egress import egress_packets
from jobs import ALGORITHMS, CONTAINER, ONE, give
from stacks import start_stack

REPO = Path(__file__).resolve().parents[2]
SYSTEM_NS, JOBS_NS = "c2d-system", "c2d-jobs"
DOCKER_HOST = "unix:///run/c2d-docker/docker.sock"
IMAGES = ["configure", "publish", "algorithm-python", "algorithm-node", "algorithm-shell"]


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


@pytest.fixture(scope="session", autouse=True)
def no_egress(request):
    """Fails the run if any cluster process or pod tried to send a packet off loopback, from the
    cluster's start to the end of the tests (the tests that probe the guard on purpose reset it)."""
    if not any("tests/cluster" in str(item.fspath) for item in request.session.items):
        yield
        return
    request.getfixturevalue("kubeconfig")
    assert egress_packets() == 0, "the cluster tried to reach a non-loopback address (dmesg | grep c2d-egress)"
    yield
    assert egress_packets() == 0, "the cluster tried to reach a non-loopback address (dmesg | grep c2d-egress)"


@pytest.fixture(scope="session")
def kube(kubeconfig, keys):
    """An administrator's client, after what a deployment installs for the kubernetes executor
    (c2d.operator.bootstrap: what the Pulumi program declares for the operator: namespaces, CRD,
    service accounts and Roles, the key's Secret; the engine's Role with outputs claims)."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    api = client.ApiClient(configuration)
    bootstrap.install(api, keys[8], outputs_class=bootstrap.TEST_OUTPUTS_CLASS)
    return api


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    return tmp_path_factory.mktemp("published")


@pytest.fixture(scope="session")
def stacks(ganache, addresses_file, keys, tmp_path_factory, published, kube, kubeconfig):
    """One stack per executor, sharing the chain and the published files."""
    root = tmp_path_factory.mktemp("accounts")
    engine_config = bootstrap.account_kubeconfig(kube, kubeconfig, bootstrap.ENGINE_ACCOUNT, root / "engine.kubeconfig")
    service_config = bootstrap.account_kubeconfig(
        kube, kubeconfig, bootstrap.SERVICE_ACCOUNT, root / "service.kubeconfig"
    )
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


@pytest.fixture(scope="module")
def apis(stacks, keys):
    made = {name: ProviderClient(stack.provider.url, keys[2]) for name, stack in stacks.items()}
    yield made
    for api in made.values():
        api.close()


@pytest.fixture(scope="module")
def open_dataset(stacks, publisher, consumer, keys):
    """The numbers under the `open` output policy: for tests of publish's own limits."""
    publisher_api = ProviderClient(stacks["local"].provider.url, keys[1])
    privacy = Privacy(allowRawAlgorithm=True)
    files = [PublishedFile.local(stacks["local"].data_root / "numbers.csv", "text/plain")]
    services = Services(compute_cost=ONE, privacy=privacy, output_policy=PRESETS["open"].model_dump(mode="json"))
    dataset = publish(publisher, publisher_api, "Open numbers", files, services)
    give(publisher, consumer, dataset, 500 * ONE)
    publisher_api.close()
    return dataset


@pytest.fixture(scope="module")
def assets(stacks, publisher, consumer, keys):
    """A dataset and a published algorithm, published once (through the local stack's provider:
    every provider shares the key and the chain) and bought by the consumer."""
    publisher_api = ProviderClient(stacks["local"].provider.url, keys[1])
    data_root = stacks["local"].data_root
    privacy = Privacy(allowRawAlgorithm=True, publisherTrustedAlgorithmPublishers=[publisher.address])
    dataset = publish(
        publisher,
        publisher_api,
        "Numbers",
        [PublishedFile.local(data_root / "numbers.csv", "text/plain")],
        Services(compute_cost=ONE, privacy=privacy),
    )
    path = data_root / "sum_numbers.py"
    path.write_text((ALGORITHMS / "sum_numbers.py").read_text())
    algorithm = publish(
        publisher,
        publisher_api,
        "Sum",
        [PublishedFile.local(path, "text/x-python")],
        Services(access_cost=ONE),
        kind="algorithm",
        container=CONTAINER,
    )
    give(publisher, consumer, dataset, 500 * ONE)
    give(publisher, consumer, algorithm, 500 * ONE)
    publisher_api.close()
    return dataset, algorithm
