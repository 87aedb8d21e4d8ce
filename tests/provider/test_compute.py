"""The compute API's checks before a job goes to the operator service: signatures, orders and
each dataset's algorithm policy (deny by default). Behind `compute_api`'s provider runs a real
operator service (no engine): a request that passes every check becomes a job, and the tests
read the job the operator received (c2d.job.JobSpec). Behind the conftest's provider no
operator service runs: a job that cannot be handed over is a 503 and gives its orders back."""

import hashlib
import json

import httpx
import pytest

from c2d.assets import ACCESS_SERVICE_ID, COMPUTE_SERVICE_ID, Privacy, PublishedFile, Services, publish
from c2d.chain import order_amount
from c2d.client import ProviderClient, ProviderRequestError
from c2d.job import PublishedAlgorithmSpec, RawAlgorithmSpec
from c2d.operator import JobStore, load_environments
from c2d.operator import create_app as operator_app
from c2d.operator import load_settings as operator_settings
from c2d.provider.ddo import Container, container_checksum, files_checksum
from c2d.signing import address_of
from servers import AppServer, ProviderServer, make_settings

ONE = 10**18
CONTAINER = {"entrypoint": "python $ALGO", "image": "c2d/algorithm-python", "tag": "dev"}


@pytest.fixture(scope="module")
def operator(tmp_path_factory, provider_key):
    """A real operator service (no engine runs its jobs) and its job store, to read what it got."""
    root = tmp_path_factory.mktemp("operator")
    settings = operator_settings(
        jobs_dir=root / "jobs",
        operator_database_url=f"sqlite:///{root / 'operator.db'}",
        operator_providers=address_of(provider_key),
        provider_url="http://127.0.0.1:9",
    )
    server = AppServer(lambda: operator_app(settings, load_environments(None))).start()
    store = JobStore(settings.operator_database_url)
    yield server, store
    store.close()
    server.stop()


@pytest.fixture(scope="module")
def computing(ganache, addresses_file, provider_root, provider_key, tmp_path_factory, operator):
    db = tmp_path_factory.mktemp("computing") / "provider.db"
    settings = make_settings(ganache, addresses_file, provider_root, db, provider_key, operator_url=operator[0].url)
    server = ProviderServer(settings).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def compute_api(computing, keys):
    client = ProviderClient(computing.url, keys[2])
    yield client
    client.close()


def job_sent(operator, started):
    """The job the operator service received for a started job, as it keeps it."""
    (job,) = started
    kept = operator[1].get(job["jobId"])
    assert kept is not None and job["status"] == 1, job
    return kept.spec


def rejected(call, status, code):
    with pytest.raises(ProviderRequestError) as info:
        call()
    assert (info.value.status, info.value.code) == (status, code), info.value.message
    return info.value


@pytest.fixture(scope="module")
def algorithm(publisher, publisher_api, consumer, data_root):
    published = publish(
        publisher,
        publisher_api,
        "Hello algorithm",
        [PublishedFile.local(data_root / "algo.py", "text/x-python")],
        Services(access_cost=ONE),
        kind="algorithm",
        container=CONTAINER,
    )
    publisher.wallet.send(
        publisher.chain.datatoken(published.datatoken).functions.transfer(consumer.address, 100 * ONE)
    )
    return published


@pytest.fixture(scope="module")
def trusted_entry(algorithm, data_root):
    content = hashlib.sha256((data_root / "algo.py").read_bytes()).hexdigest()
    return {
        "did": algorithm.did,
        "filesChecksum": files_checksum([content]),
        "containerSectionChecksum": container_checksum(Container(**CONTAINER)),
    }


@pytest.fixture(scope="module")
def make_dataset(publisher, publisher_api, consumer, data_root):
    def make(privacy):
        published = publish(
            publisher,
            publisher_api,
            "Compute dataset",
            [PublishedFile.local(data_root / "weather.csv", "text/csv")],
            Services(compute_cost=ONE, privacy=privacy),
        )
        publisher.wallet.send(
            publisher.chain.datatoken(published.datatoken).functions.transfer(consumer.address, 100 * ONE)
        )
        return published

    return make


def order_dataset(consumer, dataset):
    tx = consumer.start_order(dataset.datatoken, order_amount(ONE), COMPUTE_SERVICE_ID).tx_hash
    return {"documentId": dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": tx}


def order_algorithm(consumer, algorithm):
    tx = consumer.start_order(algorithm.datatoken, order_amount(ONE), ACCESS_SERVICE_ID).tx_hash
    return {"documentId": algorithm.did, "serviceId": ACCESS_SERVICE_ID, "transferTxId": tx}


RAW = {"meta": {"rawcode": "print('raw')", "container": CONTAINER}}


def test_published_algorithm_is_denied_by_default(consumer_api, consumer, make_dataset, algorithm):
    dataset = make_dataset(Privacy())
    rejected(
        lambda: consumer_api.compute_start(order_dataset(consumer, dataset), order_algorithm(consumer, algorithm)),
        403,
        "algorithm_not_trusted",
    )


def test_raw_algorithm_not_allowed(consumer_api, consumer, make_dataset):
    dataset = make_dataset(Privacy(allowAllPublishedAlgorithms=True))
    rejected(
        lambda: consumer_api.compute_start(order_dataset(consumer, dataset), RAW),
        403,
        "raw_algorithm_not_allowed",
    )


def test_a_trusted_algorithm_runs_on_exactly_the_bytes_the_publisher_approved(
    compute_api, operator, consumer, make_dataset, algorithm, trusted_entry, data_root
):
    dataset = make_dataset(Privacy(publisherTrustedAlgorithms=[trusted_entry]))
    dataset_order, algorithm_order = order_dataset(consumer, dataset), order_algorithm(consumer, algorithm)
    spec = job_sent(operator, compute_api.compute_start(dataset_order, algorithm_order))
    content = hashlib.sha256((data_root / "algo.py").read_bytes()).hexdigest()
    weather = hashlib.sha256((data_root / "weather.csv").read_bytes()).hexdigest()
    assert isinstance(spec.algorithm, PublishedAlgorithmSpec)
    assert (spec.algorithm.did, spec.algorithm.files, spec.algorithm.checksums) == (algorithm.did, [0], {"0": content})
    assert spec.algorithm.transferTxId == algorithm_order["transferTxId"]
    assert spec.algorithm.container == type(spec.algorithm.container)(**CONTAINER)
    (sent,) = spec.datasets
    assert (sent.did, sent.files, sent.checksums) == (dataset.did, [0], {"0": weather})
    assert (sent.serviceId, sent.transferTxId) == (COMPUTE_SERVICE_ID, dataset_order["transferTxId"])
    assert spec.owner == consumer.address and spec.environment == "default" and spec.allowNetworkAccess is False
    assert "encryptedFiles" not in json.dumps(sent.ddo) and sent.ddo["id"] == dataset.did
    # the orders are used now: a second job on them is refused, and no second job was sent
    again = rejected(lambda: compute_api.compute_start(dataset_order, algorithm_order), 402, "order_used_up")
    assert "used" in again.message


def test_orders_are_given_back_when_the_operator_cannot_take_the_job(
    consumer_api, consumer, make_dataset, algorithm, trusted_entry
):
    """Behind this provider no operator service runs."""
    dataset = make_dataset(Privacy(publisherTrustedAlgorithms=[trusted_entry]))
    dataset_order, algorithm_order = order_dataset(consumer, dataset), order_algorithm(consumer, algorithm)
    rejected(lambda: consumer_api.compute_start(dataset_order, algorithm_order), 503, "operator_unavailable")
    # Nothing started, so both orders are still good for one job.
    rejected(lambda: consumer_api.compute_start(dataset_order, algorithm_order), 503, "operator_unavailable")


def test_the_network_is_allowed_only_when_every_dataset_allows_it(compute_api, operator, consumer, make_dataset):
    networked = make_dataset(Privacy(allowRawAlgorithm=True, allowNetworkAccess=True))
    closed = make_dataset(Privacy(allowRawAlgorithm=True))
    alone = job_sent(operator, compute_api.compute_start(order_dataset(consumer, networked), RAW))
    assert alone.allowNetworkAccess is True
    both = compute_api.compute_start(
        order_dataset(consumer, networked), RAW, additional_datasets=[order_dataset(consumer, closed)]
    )
    spec = job_sent(operator, both)
    assert spec.allowNetworkAccess is False and spec.dataset_dids == [networked.did, closed.did]


@pytest.mark.parametrize("field", ["filesChecksum", "containerSectionChecksum"])
def test_trusted_algorithm_whose_checksum_changed_is_rejected(
    consumer_api, consumer, make_dataset, algorithm, trusted_entry, field
):
    dataset = make_dataset(Privacy(publisherTrustedAlgorithms=[{**trusted_entry, field: "0" * 64}]))
    rejected(
        lambda: consumer_api.compute_start(order_dataset(consumer, dataset), order_algorithm(consumer, algorithm)),
        403,
        "algorithm_checksum_mismatch",
    )


def test_trusted_publisher_and_all_published_pass(compute_api, operator, consumer, make_dataset, algorithm, publisher):
    for privacy in (
        Privacy(publisherTrustedAlgorithmPublishers=[publisher.address.lower()]),
        Privacy(allowAllPublishedAlgorithms=True),
    ):
        dataset = make_dataset(privacy)
        started = compute_api.compute_start(order_dataset(consumer, dataset), order_algorithm(consumer, algorithm))
        spec = job_sent(operator, started)
        assert spec.algorithm_did == algorithm.did and spec.dataset_dids == [dataset.did], privacy


def test_raw_algorithm_allowed(compute_api, operator, consumer, make_dataset):
    dataset = make_dataset(Privacy(allowRawAlgorithm=True))
    spec = job_sent(operator, compute_api.compute_start(order_dataset(consumer, dataset), RAW))
    assert spec.algorithm == RawAlgorithmSpec(rawcode="print('raw')", container=CONTAINER)
    assert spec.algorithm_did is None


def test_every_dataset_must_allow_the_algorithm(consumer_api, consumer, make_dataset):
    open_dataset = make_dataset(Privacy(allowRawAlgorithm=True))
    closed = make_dataset(Privacy())
    start = lambda: consumer_api.compute_start(  # noqa: E731
        order_dataset(consumer, open_dataset), RAW, additional_datasets=[order_dataset(consumer, closed)]
    )
    rejected(start, 403, "raw_algorithm_not_allowed")


def test_a_dataset_as_algorithm_is_rejected(consumer_api, consumer, make_dataset):
    dataset = make_dataset(Privacy(allowAllPublishedAlgorithms=True))
    not_algorithm = make_dataset(Privacy())
    fake = {
        "documentId": not_algorithm.did,
        "serviceId": COMPUTE_SERVICE_ID,
        "transferTxId": "0x" + "11" * 32,
    }
    rejected(lambda: consumer_api.compute_start(order_dataset(consumer, dataset), fake), 400, "not_an_algorithm")


def test_unpaid_dataset_is_rejected(consumer_api, consumer, make_dataset):
    dataset = make_dataset(Privacy(allowRawAlgorithm=True))
    unpaid = {"documentId": dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": "0x" + "22" * 32}
    rejected(lambda: consumer_api.compute_start(unpaid, RAW), 402, "order_not_found")


def test_order_of_another_service_does_not_pay_for_compute(consumer_api, consumer, make_dataset):
    dataset = make_dataset(Privacy(allowRawAlgorithm=True))
    tx = consumer.start_order(dataset.datatoken, order_amount(ONE), ACCESS_SERVICE_ID).tx_hash
    paid_for_access = {"documentId": dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": tx}
    rejected(lambda: consumer_api.compute_start(paid_for_access, RAW), 402, "order_wrong_service")


def test_job_calls_reach_the_operator(compute_api, keys):
    """A consumer with no jobs (a fresh account): an empty list, no such job, the environments."""
    fresh = ProviderClient(compute_api.url, keys[5])
    try:
        assert fresh.compute_status() == []
        rejected(lambda: fresh.compute_stop("job-1"), 404, "unknown_job")
        assert [e["id"] for e in fresh.environments()] == ["default"]
    finally:
        fresh.close()


def test_job_calls_without_an_operator_service_are_a_503(consumer_api):
    rejected(lambda: consumer_api.compute_status(), 503, "operator_unavailable")
    rejected(lambda: consumer_api.environments(), 503, "operator_unavailable")


def _call(api, method, path, body=None, params=None):
    response = api.http.request(method, path, json=body, params=params)
    return response.status_code, response.json().get("error")


def test_a_signature_authorises_one_action_on_one_request(consumer_api, consumer, make_dataset):
    """Signatures used to name neither the action nor the request: a status signature could
    delete the job, and a start signature relayed by anyone could start another algorithm on
    the consumer's order."""
    status = consumer_api._job_body("computeStatus", "job-1")
    # the same signed fields sent to delete, to stop, or for another job: refused
    assert _call(consumer_api, "DELETE", "/api/services/compute", params=status) == (401, "signature_mismatch")
    stop_body = {**status, "nonce": int(status["nonce"]), "expiry": int(status["expiry"])}
    assert _call(consumer_api, "PUT", "/api/services/compute", body=stop_body) == (401, "signature_mismatch")
    other = {**status, "jobId": "job-2"}
    assert _call(consumer_api, "GET", "/api/services/compute", params=other) == (401, "signature_mismatch")
    # a start signature covers the algorithm, the orders and the environment
    dataset = make_dataset(Privacy(allowRawAlgorithm=True))
    body = {
        "dataset": order_dataset(consumer, dataset),
        "algorithm": {"meta": {"rawcode": "print('mine')", "container": CONTAINER}},
    }
    signed = consumer_api.signed("computeStart", body, document_id=dataset.did)
    for changed in (
        {"algorithm": {"meta": {"rawcode": "print('theirs')", "container": CONTAINER}}},
        {"environment": "another"},
        {"additionalDatasets": [order_dataset(consumer, make_dataset(Privacy(allowRawAlgorithm=True)))]},
    ):
        assert _call(consumer_api, "POST", "/api/services/compute", body={**signed, **changed}) == (
            401,
            "signature_mismatch",
        ), changed
    # the signed request itself passes every check (then finds no operator service)
    assert _call(consumer_api, "POST", "/api/services/compute", body=signed) == (503, "operator_unavailable")
    # and not twice
    assert _call(consumer_api, "POST", "/api/services/compute", body=signed) == (401, "nonce_reused")


def test_a_signature_expires(consumer_api):
    import time

    from c2d import client

    for seconds in (-1, 3700):  # past, or more than an hour ahead
        original = client.SIGNATURE_SECONDS
        client.SIGNATURE_SECONDS = seconds
        try:
            params = consumer_api._job_body("computeStatus", "job-1")
        finally:
            client.SIGNATURE_SECONDS = original
        assert int(params["expiry"]) != int(time.time()) + original
        assert _call(consumer_api, "GET", "/api/services/compute", params=params) == (401, "signature_expired")
    unsigned_expiry = {**consumer_api._job_body("computeStatus", "job-1"), "expiry": str(int(time.time()) + 60)}
    assert _call(consumer_api, "GET", "/api/services/compute", params=unsigned_expiry) == (401, "signature_mismatch")


def test_a_client_pinned_to_a_provider_signs_for_no_other(provider_server, keys):
    """The EIP-712 domain names the provider; a client pinned to provider V will not sign for a
    server claiming to be someone else (nor, pinned to V, for the server at hand if that is not V)."""
    from c2d.client import ProviderClient, ProviderMismatch

    real = httpx.get(provider_server.url + "/").json()["providerAddress"]
    other = ProviderClient(provider_server.url, keys[2], provider_address="0x" + "ab" * 20)
    pinned = ProviderClient(provider_server.url, keys[2], provider_address=real)
    try:
        with pytest.raises(ProviderMismatch):
            other.compute_status("job-1")
        rejected(lambda: pinned.compute_status("job-1"), 503, "operator_unavailable")  # signed, accepted, passed on
    finally:
        other.close()
        pinned.close()


def test_numbers_a_signature_cannot_cover_are_refused_not_a_crash(consumer_api, consumer, make_dataset):
    """A container may carry extra fields: NaN there made the signature's hashing raise (500)."""
    dataset = make_dataset(Privacy(allowRawAlgorithm=True))
    for odd in (float("nan"), float("inf"), 1.5):
        container = {**CONTAINER, "extra": odd}
        body = {
            "dataset": order_dataset(consumer, dataset),
            "algorithm": {"meta": {"rawcode": "x", "container": container}},
        }
        signed = consumer_api.signed(
            "computeStart", {**body, "algorithm": {"meta": {"rawcode": "x", "container": CONTAINER}}}
        )
        raw = json.dumps({**signed, **body})  # NaN and Infinity as Python writes them
        response = consumer_api.http.post(
            "/api/services/compute", content=raw, headers={"content-type": "application/json"}
        )
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), odd
    assert consumer_api.info()["software"]  # still up


@pytest.mark.parametrize(
    "answer",
    [[{"jobId": "x"}], {"jobId": "x", "status": 70}, [{"error": "nothing"}], "ok"],
    ids=["missing-fields", "not-a-list", "an-error-as-200", "a-string"],
)
def test_an_operator_answer_that_is_no_job_status_is_a_502(
    ganache, addresses_file, provider_root, provider_key, tmp_path, keys, answer
):
    """The operator's answers are job statuses (c2d.job.JobStatus), checked: anything else is the
    operator's failure, never passed on to the consumer. Behind the provider an httpx transport
    answers as a broken operator service would."""
    from c2d.provider.service import Provider

    broken = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    settings = make_settings(ganache, addresses_file, provider_root, tmp_path / "p.db", provider_key)
    server = ProviderServer(
        settings, make_provider=lambda s: Provider(s, operator_http=httpx.AsyncClient(transport=broken))
    ).start()
    api = ProviderClient(server.url, keys[2])
    try:
        rejected(lambda: api.compute_status(), 502, "operator_failed")
    finally:
        api.close()
        server.stop()
