"""A job's raw inputs are served to the operator's configure stage only while that job is
configuring: never before it starts, never after configure ends, even with the operator's key;
but again to a configure stage run again while the job is still configuring (its engine died)."""

import httpx

from c2d.job import Status
from c2d.operator.store import JobStore, jobs
from c2d.pods.configure import InputFetcher
from c2d.provider.store import Store
from jobs import dataset_order, raw, wait_final, wait_status


def _fetch(stack, keys, job_id, did):
    fetcher = InputFetcher(stack.provider.url, keys[8], job_id)  # the stack's operator key
    response = fetcher._send(did, 0)
    body = response.read()
    response.close()
    return response.status_code, (response.json()["error"] if response.status_code != 200 else body)


def test_inputs_are_served_only_while_the_job_configures(stack, keys, consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw("print('done')"))
    assert wait_final(consumer_api, job["jobId"])["status"] == 70
    # past configuring: refused, and forgotten
    assert _fetch(stack, keys, job["jobId"], dataset.did) == (403, "job_not_configuring")
    assert _fetch(stack, keys, job["jobId"], dataset.did) == (403, "not_a_job_input")


def test_a_configure_stage_run_again_fetches_its_inputs_again(stack, keys, consumer, consumer_api, make_dataset):
    """Its engine died after configure had fetched everything, before the job was recorded
    provisioned: the stage runs again (on this or another engine) and must find its inputs
    (the two-engine test met it: the job ended 31, not_a_job_input)."""
    dataset = make_dataset("numbers.csv")
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw("print('done')"))
    assert wait_final(consumer_api, job["jobId"])["status"] == 70
    # the job back at configuring, as the store holds it after such a death
    operator_store = JobStore(f"sqlite:///{stack.root / 'operator.db'}")
    row = jobs.update().where(jobs.c.id == job["jobId"])
    try:
        with operator_store.engine.begin() as conn:
            conn.execute(row.values(status=int(Status.CONFIGURING)))
        status, body = _fetch(stack, keys, job["jobId"], dataset.did)
        assert status == 200 and body == (stack.data_root / "numbers.csv").read_bytes()
    finally:
        with operator_store.engine.begin() as conn:
            conn.execute(row.values(status=int(Status.FINISHED)))
        operator_store.close()


def test_a_job_past_configuring_gets_no_input_even_if_remembered(stack, keys, consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    code = "import time\nprint('waiting', flush=True)\ntime.sleep(20)\n"
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(code))
    wait_status(consumer_api, job["jobId"], 40)
    # the provider still remembers them: refused, since the job is past configuring
    store = Store(str(stack.provider.settings.provider_database_url))
    assert store.is_job_input(job["jobId"], dataset.did)
    try:
        assert _fetch(stack, keys, job["jobId"], dataset.did) == (403, "job_not_configuring")
        assert not store.is_job_input(job["jobId"], dataset.did)  # forgotten once it was refused
    finally:
        store.close()
    consumer_api.compute_stop(job["jobId"])
    assert wait_final(consumer_api, job["jobId"])["status"] == 80


def test_an_unknown_job_gets_no_input_and_a_stranger_no_forgetting(stack, keys, make_dataset):
    dataset = make_dataset("numbers.csv")
    store = Store(str(stack.provider.settings.provider_database_url))
    store.record_job_inputs("no-such-job", [dataset.did])
    try:
        assert _fetch(stack, keys, "no-such-job", dataset.did) == (403, "job_not_configuring")
        assert not store.is_job_input("no-such-job", dataset.did)
        store.record_job_inputs("kept-job", [dataset.did])
        # forgetting is for the operator only: a consumer's key is refused
        stranger = InputFetcher(stack.provider.url, keys[2], "kept-job")
        response = stranger._signed("DELETE", {"jobId": "kept-job"})
        assert response.status_code == 403, response.read()
        assert store.is_job_input("kept-job", dataset.did)
        assert httpx.delete(f"{stack.provider.url}/api/services/computeInput?jobId=kept-job").status_code == 403
        assert store.is_job_input("kept-job", dataset.did)
    finally:
        store.close()
