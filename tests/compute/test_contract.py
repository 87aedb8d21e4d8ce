"""The job is one contract (c2d.job.JobSpec) from the provider to the stage programs: what the
provider sends is what the operator keeps, what job.json holds, what configure lays out and
what publish returns; a job with a field the contract does not have is refused."""

import hashlib
import json
import time

import httpx
import pytest

from c2d.assets import ACCESS_SERVICE_ID, COMPUTE_SERVICE_ID
from c2d.job import Container, DatasetSpec, JobSpec, PublishedAlgorithmSpec, layout
from c2d.signing import address_of, signed_headers
from jobs import CONTAINER, algorithm_order, dataset_order, job_spec, wait_final

SEEN = """
import hashlib, json, os, pathlib
data = pathlib.Path("/data")
dids = json.loads(os.environ["DIDS"])
seen = {
    "DIDS": dids,
    "TRANSFORMATION_DID": os.environ["TRANSFORMATION_DID"],
    "ddos": {p.name: json.loads(p.read_text()) for p in (data / "ddos").iterdir()},
    "inputs": {f"{d}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
               for d in dids for p in (data / "inputs" / d).iterdir()},
    "algorithm": hashlib.sha256((data / "transformations" / "algorithm").read_bytes()).hexdigest(),
}
(data / "outputs" / "seen.json").write_text(json.dumps(seen))
"""


def _public(ddo: dict) -> dict:
    """The DDO as the job carries it: without the provider's encrypted file list."""
    ddo = json.loads(json.dumps(ddo))
    for service in ddo["service"]:
        service["attributes"].pop("encryptedFiles", None)
    return ddo


def test_every_field_goes_from_the_provider_to_the_stages(stack, consumer, consumer_api, make_dataset, make_algorithm):
    dataset, algorithm = make_dataset("numbers.csv"), make_algorithm(SEEN)
    dataset_paid, algorithm_paid = dataset_order(consumer, dataset), algorithm_order(consumer, algorithm)
    (job,) = consumer_api.compute_start(dataset_paid, algorithm_paid)
    final = wait_final(consumer_api, job["jobId"])
    assert final["status"] == 70, final
    numbers = hashlib.sha256((stack.data_root / "numbers.csv").read_bytes()).hexdigest()
    code = hashlib.sha256(SEEN.encode()).hexdigest()
    expected = JobSpec(
        jobId=job["jobId"],
        owner=consumer.address,
        environment="default",  # the operator's choice: the request named none
        allowNetworkAccess=False,
        datasets=[
            DatasetSpec(
                did=dataset.did,
                serviceId=COMPUTE_SERVICE_ID,
                transferTxId=dataset_paid["transferTxId"],
                files=[0],
                checksums={"0": numbers},
                ddo=_public(dataset.ddo),
            )
        ],
        algorithm=PublishedAlgorithmSpec(
            did=algorithm.did,
            serviceId=ACCESS_SERVICE_ID,
            transferTxId=algorithm_paid["transferTxId"],
            container=Container(**CONTAINER),
            files=[0],
            checksums={"0": code},
            ddo=_public(algorithm.ddo),
        ),
    )
    job_dir = stack.jobs_dir / job["jobId"]
    assert layout.read_spec(job_dir) == expected  # job.json is the model's JSON, field for field
    # configure laid out what the job says, publish returned what the algorithm wrote
    (seen,) = [r for r in final["results"] if r["filename"] == "seen.json"]
    assert seen["type"] == "output"
    assert json.loads(consumer_api.compute_result(job["jobId"], seen["index"])) == {
        "DIDS": [dataset.did],
        "TRANSFORMATION_DID": algorithm.did,
        "ddos": {dataset.did: _public(dataset.ddo), algorithm.did: _public(algorithm.ddo)},
        "inputs": {f"{dataset.did}/0": numbers},
        "algorithm": code,
    }
    assert final["did"] == dataset.did and final["inputDID"] == [dataset.did] and final["algoDID"] == algorithm.did


def _post_job(stack, body: dict) -> httpx.Response:
    """A job sent to the operator service as the provider sends it (signed with its key)."""
    key = stack.provider_key_file.read_text().strip()
    path, content = "/api/v1/operator/compute", json.dumps(body).encode()
    headers = signed_headers(key, address_of(key), "POST", path, content, time.time_ns())
    headers["content-type"] = "application/json"
    return httpx.post(stack.operator.url + path, content=content, headers=headers, timeout=10)


@pytest.mark.parametrize(
    "change",
    [
        {"priority": 1},
        {"datasets": [{**job_spec().datasets[0].model_dump(), "url": "file:///etc/passwd"}]},
        {"algorithm": {"rawcode": "print(1)", "container": {**CONTAINER, "privileged": True}}},
        {"algorithm": {"rawcode": "print(1)", "did": "did:op:" + "12" * 20, "container": CONTAINER}},
    ],
    ids=["job", "dataset", "container", "raw-and-published"],
)
def test_a_job_with_a_field_the_contract_lacks_is_refused(stack, change):
    body = {**job_spec(f"contract-{time.time_ns()}", environment=None).model_dump(mode="json"), **change}
    response = _post_job(stack, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request" and response.json()["message"].startswith("invalid: ")
    assert not (stack.jobs_dir / body["jobId"]).exists()


def test_the_contract_itself_is_accepted(stack):
    """The control of the test above: the same job without the extra field is a job."""
    body = job_spec(f"contract-{time.time_ns()}", environment=None).model_dump(mode="json")
    response = _post_job(stack, body)
    assert response.status_code == 200, response.text
    (created,) = response.json()
    assert created["jobId"] == body["jobId"] and created["environment"] == "default"
