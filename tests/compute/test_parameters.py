"""Consumer parameters: declared by the algorithm's DDO and the dataset's compute service,
checked by the provider, signed with the request, kept in the job, read by the algorithm."""

import json

import pytest

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderRequestError
from jobs import CONTAINER, ONE, algorithm_order, dataset_order, give, raw, wait_final

ALGORITHM_PARAMETERS = [
    {"name": "threshold", "type": "number", "label": "Threshold", "required": True},
    {"name": "verbose", "type": "boolean", "label": "Verbose", "default": False},
    {
        "name": "mode",
        "type": "select",
        "label": "Mode",
        "options": [{"sum": "Sum"}, {"max": "Largest"}],
        "default": "sum",
    },
    {"name": "title", "type": "text", "label": "Title"},
]
DATASET_PARAMETERS = [{"name": "column", "type": "text", "label": "Column", "required": True}]
READS_THEM = (
    "import json, os, pathlib\n"
    "did = json.loads(os.environ['DIDS'])[0]\n"
    "custom = json.loads(pathlib.Path('/data/inputs/algoCustomData.json').read_text())\n"
    "user = json.loads(pathlib.Path(f'/data/inputs/userdata/{did}.json').read_text())\n"
    "pathlib.Path('/data/outputs/seen.json').write_text(json.dumps({'custom': custom, 'user': user}, sort_keys=True))\n"
)


@pytest.fixture(scope="module")
def assets(stack, publisher, publisher_api, consumer):
    privacy = Privacy(allowRawAlgorithm=True, publisherTrustedAlgorithmPublishers=[publisher.address])
    dataset = publish(
        publisher,
        publisher_api,
        "Parametrised dataset",
        [PublishedFile.local(stack.data_root / "numbers.csv", "text/plain")],
        Services(compute_cost=ONE, privacy=privacy, consumer_parameters=DATASET_PARAMETERS),
    )
    path = stack.data_root / "reads_parameters.py"
    path.write_text(READS_THEM)
    algorithm = publish(
        publisher,
        publisher_api,
        "Parametrised algorithm",
        [PublishedFile.local(path, "text/x-python")],
        Services(access_cost=ONE, consumer_parameters=ALGORITHM_PARAMETERS),
        kind="algorithm",
        container=CONTAINER,
    )
    give(publisher, consumer, dataset, 100 * ONE)
    give(publisher, consumer, algorithm, 100 * ONE)
    return dataset, algorithm


def start(consumer, consumer_api, assets, custom=None, user=None):
    dataset, algorithm = assets
    order = {**dataset_order(consumer, dataset), **({"userdata": user} if user is not None else {})}
    algo = {**algorithm_order(consumer, algorithm), **({"algocustomdata": custom} if custom is not None else {})}
    return consumer_api.compute_start(order, algo)


def seen(consumer_api, final):
    index = next(r["index"] for r in final["results"] if r["filename"] == "seen.json")
    return json.loads(consumer_api.compute_result(final["jobId"], index))


def test_the_algorithm_reads_the_checked_values_and_the_defaults(consumer, consumer_api, assets):
    (job,) = start(consumer, consumer_api, assets, {"threshold": "2.5", "title": "run 1"}, {"column": "b"})
    final = wait_final(consumer_api, job["jobId"])
    assert final["status"] == 70, final
    assert seen(consumer_api, final) == {
        "custom": {"threshold": 2.5, "verbose": False, "mode": "sum", "title": "run 1"},
        "user": {"column": "b"},
    }


@pytest.mark.parametrize(
    ("custom", "user", "code", "said"),
    [
        ({"threshold": "2.5.1"}, {"column": "b"}, "invalid_parameter", "'threshold' must be a number"),
        ({"threshold": True}, {"column": "b"}, "invalid_parameter", "'threshold' must be a number"),
        ({"threshold": 1, "mode": "min"}, {"column": "b"}, "invalid_parameter", "'mode' must be one of ['sum', 'max']"),
        ({"threshold": 1, "verbose": "yes"}, {"column": "b"}, "invalid_parameter", "'verbose' must be a boolean"),
        ({"threshold": 1, "other": 1}, {"column": "b"}, "unknown_parameter", "has no parameter 'other'"),
        ({}, {"column": "b"}, "missing_parameter", "needs the parameter 'threshold'"),
        ({"threshold": 1}, None, "missing_parameter", "needs the parameter 'column'"),
        ({"threshold": 1}, {"column": 3}, "invalid_parameter", "'column' must be a text"),
        ({"threshold": 1, "title": "x" * 5000}, {"column": "b"}, "invalid_parameter", "'title' must be a text"),
    ],
)
def test_wrong_values_are_refused_and_the_orders_kept(consumer, consumer_api, assets, custom, user, code, said):
    dataset, algorithm = assets
    order, algo = dataset_order(consumer, dataset), algorithm_order(consumer, algorithm)
    with pytest.raises(ProviderRequestError) as info:
        consumer_api.compute_start({**order, "userdata": user} if user else order, {**algo, "algocustomdata": custom})
    assert (info.value.status, info.value.code) == (400, code)
    assert said in info.value.message, info.value.message
    (job,) = consumer_api.compute_start(
        {**order, "userdata": {"column": "a"}}, {**algo, "algocustomdata": {"threshold": 1}}
    )
    assert wait_final(consumer_api, job["jobId"])["status"] == 70  # both orders were given back


def test_the_values_are_signed_with_the_request(consumer, consumer_api, assets):
    dataset, algorithm = assets
    body = {
        "dataset": {**dataset_order(consumer, dataset), "userdata": {"column": "a"}},
        "algorithm": {**algorithm_order(consumer, algorithm), "algocustomdata": {"threshold": 1}},
    }
    signed = consumer_api.signed("computeStart", body, document_id=dataset.did)
    changed = {**signed, "algorithm": {**signed["algorithm"], "algocustomdata": {"threshold": 2}}}
    response = consumer_api.http.post("/api/services/compute", json=changed)
    assert (response.status_code, response.json()["error"]) == (401, "signature_mismatch")


def test_a_raw_algorithm_takes_any_scalar_custom_data(consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    code = "import pathlib\nprint(pathlib.Path('/data/inputs/algoCustomData.json').read_text())\n"
    algorithm = {**raw(code), "algocustomdata": {"n": 3, "name": "x", "flag": True}}
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), algorithm)
    assert wait_final(consumer_api, job["jobId"])["status"] == 70
    assert json.loads(consumer_api.compute_logs(job["jobId"])) == {"n": 3, "name": "x", "flag": True}
    for bad in ({"n": [1]}, {"n": {"deep": {"er": 1}}}, {"n": None}, {"bad name": 1}, {"x" * 100_000: 1}):
        with pytest.raises(ProviderRequestError) as info:
            consumer_api.compute_start(dataset_order(consumer, dataset), {**raw(code), "algocustomdata": bad})
        assert (info.value.status, info.value.code) == (400, "invalid_parameter"), bad
        assert len(info.value.message) < 200
