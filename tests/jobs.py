"""Helpers of the compute tests: ordering, starting and following jobs."""

import hashlib
import time
from pathlib import Path

from c2d.assets import ACCESS_SERVICE_ID, COMPUTE_SERVICE_ID
from c2d.chain import order_amount
from c2d.job import FINAL, JobSpec

ONE = 10**18
ALGORITHMS = Path(__file__).parent / "compute" / "algorithms"
CONTAINER = {"entrypoint": "python $ALGO", "image": "c2d/algorithm-python", "tag": "dev"}


# c2d's runtimes and the same sum in each (c2d.operator.images.RUNTIMES)
RUNTIMES = {
    "python": ("python $ALGO", "sum_numbers.py"),
    "node": ("node $ALGO", "sum_numbers.js"),
    "shell": ("sh $ALGO", "sum_numbers.sh"),
}


def raw_in(runtime: str, **changes) -> dict:
    """A raw algorithm summing the inputs in one of c2d's runtimes (`changes`: to its container)."""
    entrypoint, source = RUNTIMES[runtime]
    container = {"entrypoint": entrypoint, "image": f"c2d/algorithm-{runtime}", "tag": "dev", **changes}
    return {"meta": {"rawcode": (ALGORITHMS / source).read_text(), "container": container}}


def give(publisher, consumer, published, amount=50 * ONE):
    publisher.wallet.send(publisher.chain.datatoken(published.datatoken).functions.transfer(consumer.address, amount))


def dataset_order(consumer, dataset):
    tx = consumer.start_order(dataset.datatoken, order_amount(ONE), COMPUTE_SERVICE_ID).tx_hash
    return {"documentId": dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": tx}


def algorithm_order(consumer, algorithm):
    tx = consumer.start_order(algorithm.datatoken, order_amount(ONE), ACCESS_SERVICE_ID).tx_hash
    return {"documentId": algorithm.did, "serviceId": ACCESS_SERVICE_ID, "transferTxId": tx}


def raw(code: str) -> dict:
    return {"meta": {"rawcode": code, "container": CONTAINER}}


def wait_final(consumer_api, job_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (status,) = consumer_api.compute_status(job_id)
        if status["status"] in {int(s) for s in FINAL}:
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {status}")


def wait_status(consumer_api, job_id, wanted, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (status,) = consumer_api.compute_status(job_id)
        if status["status"] == wanted:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {wanted}: {status}")


def job_spec(job_id: str = "a" * 32, environment: str | None = "default", **changes) -> JobSpec:
    """A valid job with one dataset and a raw algorithm (no chain behind it)."""
    fields = {
        "jobId": job_id,
        "owner": "0x" + "34" * 20,
        "environment": environment,
        "datasets": [{"did": "did:op:" + "12" * 20, "serviceId": 0, "transferTxId": "0x" + "ab" * 32, "files": [0]}],
        "algorithm": {"rawcode": "print(1)", "container": CONTAINER},
    }
    return JobSpec.model_validate({**fields, **changes})


def filter_entry(published, source: bytes) -> dict[str, str]:
    """An output policy's `filters` entry (or a trusted algorithm's) for a published algorithm
    of one file, `source`, in CONTAINER."""
    from c2d.provider.ddo import Container as DDOContainer
    from c2d.provider.ddo import container_checksum, files_checksum

    return {
        "did": published.did,
        "filesChecksum": files_checksum([hashlib.sha256(source).hexdigest()]),
        "containerSectionChecksum": container_checksum(DDOContainer(**CONTAINER)),
    }
