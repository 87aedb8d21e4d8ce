"""Algorithms in their own containers on the docker and kubernetes executors: c2d's three
runtimes through the paid flow, images pinned by digest, GPUs asked of a cluster that has none."""

import json
import os
import subprocess
import time

import pytest
from kubernetes import client

from jobs import RUNTIMES, dataset_order, raw_in, wait_final

CONTAINER_EXECUTORS = ["docker", "kubernetes"]
JOBS_NS = "c2d-jobs"
DOCKER_HOST = "unix:///run/c2d-docker/docker.sock"  # the test cluster's dockerd


def image_id(image):
    env = {**os.environ, "DOCKER_HOST": DOCKER_HOST}
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def run(apis, name, consumer, dataset, algorithm, environment=None, timeout=120):
    (job,) = apis[name].compute_start(dataset_order(consumer, dataset), algorithm, environment=environment)
    return wait_final(apis[name], job["jobId"], timeout=timeout)


def outputs(api, final):
    return {
        r["filename"]: api.compute_result(final["jobId"], r["index"]) for r in final["results"] if r["type"] == "output"
    }


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_each_runtime_runs_in_its_own_image_with_the_same_result_bytes(name, apis, assets, consumer):
    dataset, _ = assets
    results = {}
    for runtime in RUNTIMES:
        final = run(apis, name, consumer, dataset, raw_in(runtime))
        assert final["status"] == 70, (name, runtime, final)
        results[runtime] = outputs(apis[name], final)
        log = apis[name].compute_logs(final["jobId"])
        if runtime == "node":
            assert b"node v" in log, log
    assert {runtime: made["total.txt"] for runtime, made in results.items()} == dict.fromkeys(RUNTIMES, b"5050\n")
    # each image has its interpreter only: python is not in the node or shell image
    code = raw_in("shell")
    code["meta"]["rawcode"] = "command -v python3 python node || true\necho looked\n"
    final = run(apis, name, consumer, dataset, code)
    assert final["status"] == 70 and apis[name].compute_logs(final["jobId"]) == b"looked\n", final


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_an_image_that_is_not_the_declared_digest_never_runs(name, apis, assets, consumer):
    dataset, _ = assets
    declared = image_id("c2d/algorithm-shell:dev")  # the digest of another image
    code = raw_in("python", checksum=declared)
    code["meta"]["rawcode"] = "open('/data/outputs/ran', 'w').write('yes')\nprint('it ran')\n"
    final = run(apis, name, consumer, dataset, code)
    assert (final["status"], final["statusText"]) == (32, "Algorithm provisioning failed"), final
    assert declared in final["reason"], final
    if name == "docker":  # it compares what it finds: the tagged image is another
        found = image_id("c2d/algorithm-python:dev")
        assert final["reason"] == (
            f"the algorithm's image c2d/algorithm-python:dev is not the declared image: expected {declared}, "
            f"found {found}"
        )
    else:  # the pod names the image by digest: the node has none with it
        assert "ErrImageNeverPull" in final["reason"] and f"c2d/algorithm-python@{declared}" in final["reason"]
    assert outputs(apis[name], final) == {}
    assert b"it ran" not in apis[name].compute_logs(final["jobId"])


def test_docker_runs_an_image_pinned_by_its_digest(apis, assets, consumer):
    dataset, _ = assets
    final = run(apis, "docker", consumer, dataset, raw_in("node", checksum=image_id("c2d/algorithm-node:dev")))
    assert final["status"] == 70, final
    assert outputs(apis["docker"], final) == {"total.txt": b"5050\n"}


def test_an_image_outside_the_environments_list_is_refused_at_start(apis, assets, consumer):
    from c2d.client import ProviderRequestError

    dataset, _ = assets
    for name in CONTAINER_EXECUTORS:
        algorithm = raw_in("python")
        algorithm["meta"]["container"]["image"] = "c2d/provider"  # an image of the host, not a runtime
        with pytest.raises(ProviderRequestError) as info:
            apis[name].compute_start(dataset_order(consumer, dataset), algorithm)
        assert (info.value.status, info.value.code) == (400, "image_not_allowed"), name


def test_a_job_asking_for_gpus_the_cluster_lacks_ends_with_the_reason(apis, assets, consumer, kube):
    dataset, _ = assets
    (job,) = apis["kubernetes"].compute_start(dataset_order(consumer, dataset), raw_in("shell"), environment="gpu")
    batch = client.BatchV1Api(kube)
    deadline, stage = time.monotonic() + 60, None
    while stage is None and time.monotonic() < deadline:
        found = batch.list_namespaced_job(JOBS_NS, label_selector=f"workflow={job['jobId']},component=algorithm")
        stage = found.items[0] if found.items else None
        time.sleep(0.1)
    assert stage is not None, "the algorithm's Job was never made"
    (container,) = stage.spec.template.spec.containers
    assert container.resources.limits["nvidia.com/gpu"] == "1" and container.resources.requests["nvidia.com/gpu"] == "1"
    started = time.monotonic()
    final = wait_final(apis["kubernetes"], job["jobId"], timeout=90)
    assert final["status"] == 32, final
    assert "could not be scheduled" in final["reason"] and "nvidia.com/gpu" in final["reason"], final
    assert time.monotonic() - started < 60  # the environment's startTimeout (5 s) and a few polls


def test_docker_asks_for_gpus_and_says_why_there_are_none(apis, assets, consumer):
    dataset, _ = assets
    final = run(apis, "docker", consumer, dataset, raw_in("shell"), environment="gpu")
    assert final["status"] == 32, final
    assert final["reason"].startswith("the algorithm's image could not be started: "), final
    assert "gpu" in final["reason"].lower(), final


def test_the_listing_shows_images_and_gpus(apis):
    for name in CONTAINER_EXECUTORS:
        listed = {env["id"]: env for env in apis[name].environments()}
        assert listed["default"]["runtimes"] == [], name  # runtimes are the local executor's
        assert listed["default"]["images"] == [f"c2d/algorithm-{r}" for r in RUNTIMES]
        assert (listed["gpu"]["gpus"], listed["gpu"]["gpuResource"]) == (1, "nvidia.com/gpu")
        assert json.dumps(listed).count("pullSecret") == 0
