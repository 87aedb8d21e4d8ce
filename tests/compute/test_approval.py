"""Results held for the publisher's approval (status 52) on the embedded stack: the consumer
sees the hold and why and gets nothing of the algorithm's; only an approver decides, through a
signed provider call; an approval publishes, a rejection or the deadline withholds (51); the
publisher's record shows the transitions, the filter's report and the decisions."""

import time

import pytest
from attacks import CSV, HONEST, READ

from c2d.client import ProviderClient, ProviderRequestError
from c2d.job.policy import PRESETS
from jobs import dataset_order, raw, wait_final, wait_status


@pytest.fixture(scope="module")
def held(stack, make_dataset):
    (stack.data_root / "held.csv").write_text(CSV)
    return make_dataset("held.csv", policy="approval")


@pytest.fixture(scope="module")
def stranger_api(stack, keys):
    client = ProviderClient(stack.provider.url, keys[3])
    yield client
    client.close()


def _held_job(consumer, consumer_api, dataset):
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(READ + HONEST["a mean per group"]))
    status = wait_status(consumer_api, job["jobId"], 52, timeout=120)
    return job["jobId"], status


def test_an_approved_job_publishes(consumer, consumer_api, publisher, publisher_api, stranger_api, held):
    job_id, status = _held_job(consumer, consumer_api, held)
    assert status["statusText"] == "Waiting for the publisher's approval"
    assert status["reason"].startswith("held for the publisher's approval until "), status
    assert status["results"] == [] and consumer_api.compute_logs(job_id) == b""
    time.sleep(1.0)  # held: it stays so, and holds no slot of its environment
    assert consumer_api.compute_status(job_id)[0]["status"] == 52
    environment = next(e for e in consumer_api.environments() if e["id"] == status["environment"])
    assert environment["heldJobs"] >= 1 and environment["runningJobs"] == 0, environment

    record = publisher_api.compute_record(job_id)
    assert record["status"] == 52 and record["heldUntil"] > time.time()
    assert record["outputPolicy"]["approval"]["approvers"] == [publisher.address.lower()]
    assert record["report"]["accepted"] and record["report"]["outputs"][0]["name"] == "mean.csv"
    assert [h["status"] for h in record["history"]][-3:] == [40, 50, 52]

    for who in (consumer_api, stranger_api):  # neither the consumer nor anyone else decides or sees
        with pytest.raises(ProviderRequestError) as refused:
            who.compute_approval(job_id, "approve")
        assert refused.value.status == 403 and refused.value.code == "not_an_approver"
        with pytest.raises(ProviderRequestError) as refused:
            who.compute_record(job_id)
        assert refused.value.status == 403 and refused.value.code == "not_publisher"

    decided = publisher_api.compute_approval(job_id, "approve", "looks fine")
    assert decided["approvals"][publisher.address.lower()]["decision"] == "approve"
    final = wait_final(consumer_api, job_id)
    assert final["status"] == 70, final
    assert {"output", "algorithmLog"} <= {r["type"] for r in final["results"]}
    assert b"north" in consumer_api.compute_result(job_id, 0)
    assert [h["status"] for h in publisher_api.compute_record(job_id)["history"]][-4:] == [50, 52, 60, 70]
    with pytest.raises(ProviderRequestError) as late:  # decided once: no second decision
        publisher_api.compute_approval(job_id, "reject")
    assert late.value.status == 409 and late.value.code == "job_not_held"


def test_a_rejected_job_ends_as_51_with_the_publishers_reason(stack, consumer, consumer_api, publisher_api, held):
    job_id, _ = _held_job(consumer, consumer_api, held)
    publisher_api.compute_approval(job_id, "reject", "too\nfine-grained")
    final = wait_final(consumer_api, job_id)
    assert final["status"] == 51, final
    assert final["reason"].startswith("output policy, approval: rejected by the publisher 0x"), final
    assert final["reason"].endswith(": too fine-grained"), final
    assert {r["type"] for r in final["results"]} <= {"configurationLog", "filterLog"}
    assert consumer_api.compute_logs(job_id) == b""
    assert not list((stack.jobs_dir / job_id / "data").glob("results/*"))


def test_the_deadline_withholds(stack, make_dataset, consumer, consumer_api):
    policy = PRESETS["approval"].model_dump(mode="json")
    policy["approval"]["deadlineSeconds"] = 5
    (stack.data_root / "deadline.csv").write_text(CSV)
    dataset = make_dataset("deadline.csv", policy=policy)
    job_id, _ = _held_job(consumer, consumer_api, dataset)
    final = wait_final(consumer_api, job_id, timeout=30)
    assert final["status"] == 51 and final["reason"] == "output policy, approval: no decision before the deadline"


def test_a_held_job_can_be_stopped(consumer, consumer_api, held):
    job_id, _ = _held_job(consumer, consumer_api, held)
    consumer_api.compute_stop(job_id)
    final = wait_final(consumer_api, job_id)
    assert final["status"] == 80 and {r["type"] for r in final["results"]} <= {"configurationLog", "filterLog"}


def test_a_decision_is_signed_for_one_job_and_one_verdict(consumer, consumer_api, publisher_api, held):
    job_id, _ = _held_job(consumer, consumer_api, held)
    body = publisher_api.signed(
        "computeApproval",
        {"jobId": job_id, "decision": "reject", "reason": ""},
        job_id=job_id,
        address_field="publisherAddress",
    )
    forged = {**body, "decision": "approve"}  # the signature covers the verdict
    response = publisher_api.http.post("/api/services/computeApproval", json=forged)
    assert response.status_code == 401 and response.json()["error"] == "signature_mismatch"
    assert publisher_api.http.post("/api/services/computeApproval", json=body).status_code == 200
    replayed = publisher_api.http.post("/api/services/computeApproval", json=body)
    assert replayed.status_code == 401 and replayed.json()["error"] == "nonce_reused"
    assert wait_final(consumer_api, job_id)["status"] == 51


def test_a_held_job_outlives_an_engine_restart(stack, consumer, consumer_api, publisher_api, held):
    """The hold is in the job's record: a killed engine's successor publishes on approval."""
    job_id, _ = _held_job(consumer, consumer_api, held)
    stack.engine.kill()
    publisher_api.compute_approval(job_id, "approve")  # the service records it without the engine
    time.sleep(0.5)
    assert consumer_api.compute_status(job_id)[0]["status"] == 52
    stack.engine.start()
    final = wait_final(consumer_api, job_id)
    assert final["status"] == 70 and any(r["type"] == "output" for r in final["results"]), final


def test_hostile_decisions_and_record_requests_get_clear_errors(publisher_api):
    """Every malformed call is a 4xx with {error, message}, never a 5xx, bounded in size."""
    http = publisher_api.http
    good = publisher_api.signed(
        "computeApproval",
        {"jobId": "x", "decision": "approve", "reason": ""},
        job_id="x",
        address_field="publisherAddress",
    )
    bodies = [
        {**good, "reason": "r" * 301},  # longer than a reason may be
        {**good, "decision": "maybe"},
        {**good, "jobId": "j" * 101},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "signature"},
    ]
    answers = [http.post("/api/services/computeApproval", json=b) for b in bodies]
    answers.append(http.post("/api/services/computeApproval", content=b"\xff\xfe not json"))
    answers.append(http.post("/api/services/computeApproval", content=b"[" * 100 + b"]" * 100))
    answers.append(http.post("/api/services/computeApproval", content=b'{"reason": "' + b"a" * (64 << 10) + b'"}'))
    answers.append(http.get("/api/services/computeRecord", params={"jobId": "j" * 101, "publisherAddress": "0x1"}))
    unknown = publisher_api.signed("computeRecord", {"jobId": "nosuchjob"}, job_id="nosuchjob", query=True,
                                   address_field="publisherAddress")  # fmt: skip
    answers.append(http.get("/api/services/computeRecord", params=unknown))
    for response in answers:
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
        assert set(response.json()) == {"error", "message"}, response.text[:200]
    assert answers[-3].status_code == 413 and answers[-1].json()["error"] == "unknown_job"
