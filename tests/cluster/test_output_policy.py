"""The output policy's attack suite on the docker and kubernetes executors (the local executor's:
tests/compute/test_output_policy.py): every attack ends as 51 with nothing of its algorithm
released, every honest result passes, status 50 is recorded between 40 and 60."""

import pytest
from attacks import ATTACKS, CSV, HONEST, PUBLISHER_FILTER, READ, ROWS

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderClient
from c2d.job.policy import PRESETS
from jobs import CONTAINER, ONE, dataset_order, filter_entry, give, raw, wait_final, wait_status

pytestmark = pytest.mark.cluster
CONTAINER_EXECUTORS = ("docker", "kubernetes")


@pytest.fixture(scope="module")
def table(stacks, publisher, consumer, keys):
    """The table dataset under the default policy, published once for every stack."""
    api = ProviderClient(stacks["local"].provider.url, keys[1])
    (stacks["local"].data_root / "people.csv").write_text(CSV)
    privacy = Privacy(allowRawAlgorithm=True)
    files = [PublishedFile.local(stacks["local"].data_root / "people.csv", "text/csv")]
    dataset = publish(publisher, api, "People", files, Services(compute_cost=ONE, privacy=privacy))
    give(publisher, consumer, dataset, 500 * ONE)
    api.close()
    return dataset


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_attacks_are_withheld_and_honest_results_pass(name, apis, table, consumer):
    api = apis[name]
    jobs = {}
    for label, code in {**ATTACKS, **HONEST}.items():
        (job,) = api.compute_start(dataset_order(consumer, table), raw(READ + code))
        jobs[label] = job["jobId"]
    finals = {label: wait_final(api, job_id, timeout=240) for label, job_id in jobs.items()}
    for label in ATTACKS:
        final = finals[label]
        assert final["status"] == 51 and final["reason"].startswith("output policy, "), (name, label, final)
        assert {r["type"] for r in final["results"]} <= {"configurationLog", "filterLog"}, (name, label)
        assert not any(row in final["reason"] for row in ROWS[:20])
        assert api.compute_logs(jobs[label]) == b""
    for label in HONEST:
        final = finals[label]
        assert final["status"] == 70, (name, label, final)
        assert any(r["type"] == "output" for r in final["results"]), (name, label)


@pytest.fixture(scope="module")
def held_table(stacks, publisher, consumer, keys):
    """The table under the `approval` policy: results wait for the publisher."""
    api = ProviderClient(stacks["local"].provider.url, keys[1])
    files = [PublishedFile.local(stacks["local"].data_root / "people.csv", "text/csv")]
    policy = PRESETS["approval"].model_dump(mode="json")
    services = Services(compute_cost=ONE, privacy=Privacy(allowRawAlgorithm=True), output_policy=policy)
    dataset = publish(publisher, api, "People, held", files, services)
    give(publisher, consumer, dataset, 500 * ONE)
    api.close()
    return dataset


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_held_results_wait_for_the_publisher(name, stacks, apis, held_table, consumer, keys):
    """Held (52) with nothing released; an approval publishes them, a rejection withholds them."""
    api = apis[name]
    publisher_api = ProviderClient(stacks[name].provider.url, keys[1])
    jobs = []
    for _ in range(2):
        (job,) = api.compute_start(dataset_order(consumer, held_table), raw(READ + HONEST["counts"]))
        jobs.append(job["jobId"])
    for job_id in jobs:
        status = wait_status(api, job_id, 52, timeout=240)
        assert status["results"] == [] and api.compute_logs(job_id) == b"", (name, status)
    approved, rejected = jobs
    publisher_api.compute_approval(approved, "approve")
    publisher_api.compute_approval(rejected, "reject", "not this one")
    final = wait_final(api, approved, timeout=240)
    assert final["status"] == 70 and any(r["type"] == "output" for r in final["results"]), (name, final)
    assert b'"rows": 2000' in api.compute_result(approved, 0)
    final = wait_final(api, rejected, timeout=240)
    assert final["status"] == 51 and final["reason"].endswith(": not this one"), (name, final)
    assert {r["type"] for r in final["results"]} <= {"configurationLog", "filterLog"}, (name, final)
    history = [h["status"] for h in publisher_api.compute_record(approved)["history"]]
    assert history[-5:] == [40, 50, 52, 60, 70], (name, history)
    publisher_api.close()


@pytest.fixture(scope="module")
def filtered_table(stacks, publisher, consumer, keys):
    """The table under the default policy and the publisher's own filter (tests/attacks.py)."""
    api = ProviderClient(stacks["local"].provider.url, keys[1])
    root = stacks["local"].data_root
    source = PUBLISHER_FILTER.encode()
    (root / "publisher-filter.py").write_bytes(source)
    files = [PublishedFile.local(root / "publisher-filter.py", "text/x-python")]
    algorithm = publish(
        publisher, api, "Filter", files, Services(access_cost=ONE), kind="algorithm", container=CONTAINER
    )
    policy = PRESETS["default"].model_dump(mode="json")
    policy["filters"] = [filter_entry(algorithm, source)]
    services = Services(compute_cost=ONE, privacy=Privacy(allowRawAlgorithm=True), output_policy=policy)
    files = [PublishedFile.local(root / "people.csv", "text/csv")]
    dataset = publish(publisher, api, "People, filtered", files, services)
    give(publisher, consumer, dataset, 500 * ONE)
    api.close()
    return dataset, algorithm


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_the_publishers_filter_accepts_rejects_and_redacts(name, apis, filtered_table, consumer):
    """In its own container, the outputs read-only (it cannot plant a file)."""
    api = apis[name]
    dataset, algorithm = filtered_table
    codes = {
        "accept": "open('/data/outputs/n.txt', 'w').write(str(len(data)))",
        "reject": "open('/data/outputs/m.txt', 'w').write('REJECTME')",
        "redact": "open('/data/outputs/secret.csv', 'wb').write(data)\nopen('/data/outputs/ok.txt', 'w').write('fine')",
    }
    jobs = {}
    for label, code in codes.items():
        (job,) = api.compute_start(dataset_order(consumer, dataset), raw(READ + code))
        jobs[label] = job["jobId"]
    finals = {label: wait_final(api, job_id, timeout=240) for label, job_id in jobs.items()}
    outputs = {label: [r["filename"] for r in f["results"] if r["type"] == "output"] for label, f in finals.items()}
    assert finals["accept"]["status"] == 70 and outputs["accept"] == ["n.txt"], (name, finals["accept"])
    assert finals["reject"]["status"] == 51, (name, finals["reject"])
    assert (
        finals["reject"]["reason"]
        == f"output policy, filter: rejected by the publisher's filter {algorithm.did}: a forbidden marker"
    )
    assert finals["redact"]["status"] == 70 and outputs["redact"] == ["ok.txt"], (name, finals["redact"])
