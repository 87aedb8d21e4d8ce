"""Stages started ahead (c2d.operator.executors.base): the algorithm's and publish's containers
start with configure and wait for their signals. The algorithm reads inputs that are whole, and
a job whose configure fails leaves none of them behind."""

import hashlib
import os
import subprocess
import time

import pytest
from kubernetes import client

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderClient
from jobs import ONE, dataset_order, give, raw, wait_final

CONTAINER_EXECUTORS = ["docker", "kubernetes"]
JOBS_NS = "c2d-jobs"
DOCKER_HOST = "unix:///run/c2d-docker/docker.sock"
SIZE = 24 << 20  # long enough to fetch that an algorithm not waiting would read a part


def _dataset(stacks, publisher, consumer, keys, name: str, content: bytes):
    publisher_api = ProviderClient(stacks["local"].provider.url, keys[1])
    path = stacks["local"].data_root / name
    path.write_bytes(content)
    try:
        dataset = publish(
            publisher,
            publisher_api,
            name,
            [PublishedFile.local(path, "application/octet-stream")],
            Services(compute_cost=ONE, privacy=Privacy(allowRawAlgorithm=True)),
        )
    finally:
        publisher_api.close()
    give(publisher, consumer, dataset, 20 * ONE)
    return dataset, path


def _left(name: str, kube, job_id: str) -> list[str]:
    """What the executor still holds of the job: containers, or Jobs and pods."""
    if name == "docker":
        done = subprocess.run(
            ["docker", "ps", "-a", "--filter", f"label=c2d.job={job_id}", "--format", "{{.Names}}"],
            env={**os.environ, "DOCKER_HOST": DOCKER_HOST},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()
    selector = f"workflow={job_id}"
    jobs = client.BatchV1Api(kube).list_namespaced_job(JOBS_NS, label_selector=selector).items
    pods = client.CoreV1Api(kube).list_namespaced_pod(JOBS_NS, label_selector=selector).items
    return [item.metadata.name for item in (*jobs, *pods)]


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_the_algorithm_started_ahead_reads_its_inputs_whole(name, apis, stacks, publisher, consumer, keys):
    content = os.urandom(SIZE)
    dataset, _ = _dataset(stacks, publisher, consumer, keys, f"big-{name}.bin", content)
    code = (
        "import hashlib, json, os\n"
        "did = json.loads(os.environ['DIDS'])[0]\n"
        "data = open(f'/data/inputs/{did}/0', 'rb').read()\n"
        "print(len(data), hashlib.sha256(data).hexdigest())\n"
    )
    (job,) = apis[name].compute_start(dataset_order(consumer, dataset), raw(code))
    final = wait_final(apis[name], job["jobId"], timeout=120)
    assert final["status"] == 70, final
    log = apis[name].compute_logs(job["jobId"]).decode()
    assert f"{SIZE} {hashlib.sha256(content).hexdigest()}" in log, log


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_a_failed_configure_leaves_no_stage_started_ahead(name, apis, stacks, publisher, consumer, keys, kube):
    dataset, path = _dataset(stacks, publisher, consumer, keys, f"changed-{name}.bin", b"as published\n")
    path.write_bytes(b"changed since\n")  # its checksum no longer matches: configure fails (31)
    (job,) = apis[name].compute_start(dataset_order(consumer, dataset), raw("print('ran')"))
    final = wait_final(apis[name], job["jobId"], timeout=60)
    assert final["status"] == 31 and "checksum mismatch" in final["reason"], final
    assert {r["type"] for r in final["results"]} == {"configurationLog"}  # the algorithm never ran
    if name == "docker":  # removed before the final status is recorded
        assert _left(name, kube, job["jobId"]) == []
    deadline = time.monotonic() + 10
    while left := _left(name, kube, job["jobId"]):  # kubernetes: pods deleted in the background
        assert time.monotonic() < deadline, left
        time.sleep(0.2)
