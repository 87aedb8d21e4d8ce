"""The output policy's attack suite on the docker and kubernetes executors (the local executor's:
tests/compute/test_output_policy.py): every attack ends as 51 with nothing of its algorithm
released, every honest result passes, status 50 is recorded between 40 and 60."""

import pytest
from attacks import ATTACKS, CSV, HONEST, READ, ROWS

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderClient
from jobs import ONE, dataset_order, give, raw, wait_final

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
