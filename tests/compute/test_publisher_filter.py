"""The publisher's own filter on the embedded stack: a published algorithm, named in the
dataset's output policy by DID and checksums, run after the algorithm with the inputs and
outputs read-only; its verdict accepts, rejects (51, its reason shown) or redacts (the outputs
it names are not published, the rest still goes through the built-in checks)."""

import pytest
from attacks import CSV, PUBLISHER_FILTER, READ

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderClient, ProviderRequestError
from c2d.job.policy import DEFAULT
from jobs import CONTAINER, ONE, dataset_order, filter_entry, give, raw, wait_final


def _publish_filter(stack, chain, api, source: bytes, name: str):
    folder = stack.data_root.parent / chain.address.lower()  # the publisher's own folder of the data root
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_bytes(source)
    files = [PublishedFile.local(path, "text/x-python")]
    return publish(chain, api, name, files, Services(access_cost=ONE), kind="algorithm", container=CONTAINER)


def _dataset(stack, publisher, publisher_api, consumer, entry, name="filtered.csv"):
    (stack.data_root / name).write_text(CSV)
    policy = DEFAULT.model_dump(mode="json")
    policy["filters"] = [entry]
    files = [PublishedFile.local(stack.data_root / name, "text/csv")]
    services = Services(compute_cost=ONE, privacy=Privacy(allowRawAlgorithm=True), output_policy=policy)
    published = publish(publisher, publisher_api, "Filtered", files, services)
    give(publisher, consumer, published)
    return published


@pytest.fixture(scope="module")
def filtered(stack, publisher, publisher_api, consumer):
    source = PUBLISHER_FILTER.encode()
    published = _publish_filter(stack, publisher, publisher_api, source, "publisher-filter")
    return _dataset(stack, publisher, publisher_api, consumer, filter_entry(published, source)), published


def _run(consumer, consumer_api, dataset, code):
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(READ + code))
    return job["jobId"], wait_final(consumer_api, job["jobId"], timeout=120)


def test_accepted_by_the_publishers_filter(stack, consumer, consumer_api, publisher_api, filtered):
    dataset, _ = filtered
    job_id, final = _run(consumer, consumer_api, dataset, "open('/data/outputs/n.txt', 'w').write(str(len(data)))")
    assert final["status"] == 70, final
    names = [r["filename"] for r in final["results"] if r["type"] == "output"]
    assert names == ["n.txt"], names  # the filter could not plant a file
    record = publisher_api.compute_record(job_id)
    assert record["report"]["checks"][0] == "filter" and record["report"]["accepted"]
    assert [h["status"] for h in record["history"]][-4:] == [40, 50, 60, 70]
    assert "verdict accept" in (stack.jobs_dir / job_id / "data" / "logs" / "review-0.log").read_text()


def test_rejected_by_the_publishers_filter(consumer, consumer_api, filtered):
    dataset, published = filtered
    _, final = _run(consumer, consumer_api, dataset, "open('/data/outputs/m.txt', 'w').write('REJECTME')")
    assert final["status"] == 51, final
    assert (
        final["reason"]
        == f"output policy, filter: rejected by the publisher's filter {published.did}: a forbidden marker"
    )
    assert {r["type"] for r in final["results"]} <= {"configurationLog", "filterLog"}


def test_redacted_by_the_publishers_filter(consumer, consumer_api, filtered):
    """The redacted output is not published and not checked (it holds a raw copy); the rest is."""
    dataset, _ = filtered
    code = "open('/data/outputs/secret.csv', 'wb').write(data)\nopen('/data/outputs/ok.txt', 'w').write('fine')"
    job_id, final = _run(consumer, consumer_api, dataset, code)
    assert final["status"] == 70, final
    outputs = [r for r in final["results"] if r["type"] == "output"]
    assert [r["filename"] for r in outputs] == ["ok.txt"]
    assert consumer_api.compute_result(job_id, outputs[0]["index"]) == b"fine"


def test_redaction_does_not_pass_what_the_built_in_checks_refuse(consumer, consumer_api, filtered):
    dataset, _ = filtered
    code = "open('/data/outputs/secret.csv', 'w').write('x')\nopen('/data/outputs/copy.csv', 'wb').write(data)"
    _, final = _run(consumer, consumer_api, dataset, code)
    assert final["status"] == 51 and final["reason"].startswith("output policy, verbatim: outputs/copy.csv"), final


def test_a_filter_that_fails_or_says_nothing_rejects(stack, publisher, publisher_api, consumer, consumer_api):
    for source, why in (
        (b"raise SystemExit(3)\n", "exited with code 3"),
        (b"print('no verdict')\n", "left no valid verdict"),
    ):
        published = _publish_filter(stack, publisher, publisher_api, source, f"bad-filter-{len(source)}")
        dataset = _dataset(
            stack, publisher, publisher_api, consumer, filter_entry(published, source), f"bad-{len(source)}.csv"
        )
        _, final = _run(consumer, consumer_api, dataset, "open('/data/outputs/n.txt', 'w').write('1')")
        assert final["status"] == 51 and final["reason"].startswith("output policy, filter: "), final
        assert why in final["reason"] and published.did in final["reason"], final


def test_a_filter_must_be_the_publishers_and_unchanged(
    stack, publisher, publisher_api, consumer, consumer_api, stranger, keys
):
    stranger_api = ProviderClient(stack.provider.url, keys[3])
    source = PUBLISHER_FILTER.encode()
    foreign = _publish_filter(stack, stranger, stranger_api, source, "foreign-filter")
    stranger_api.close()
    dataset = _dataset(stack, publisher, publisher_api, consumer, filter_entry(foreign, source), "foreign.csv")
    with pytest.raises(ProviderRequestError) as refused:
        consumer_api.compute_start(dataset_order(consumer, dataset), raw("print(1)"))
    assert refused.value.status == 403 and refused.value.code == "filter_not_allowed"
    own = _publish_filter(stack, publisher, publisher_api, source, "changed-filter")
    entry = filter_entry(own, source + b"# changed since\n")
    dataset = _dataset(stack, publisher, publisher_api, consumer, entry, "changed.csv")
    with pytest.raises(ProviderRequestError) as refused:
        consumer_api.compute_start(dataset_order(consumer, dataset), raw("print(1)"))
    assert refused.value.status == 403 and refused.value.code == "filter_checksum_mismatch"
