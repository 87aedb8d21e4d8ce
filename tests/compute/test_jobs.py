"""Paid compute jobs end to end: through the provider, on the operator's local executor."""

import hashlib
import json

import pytest

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderRequestError
from c2d.provider.ddo import Container, container_checksum, files_checksum
from jobs import ALGORITHMS, CONTAINER, ONE, algorithm_order, dataset_order, give, raw, wait_final
from servers import FileServer


def test_paid_job_with_a_published_algorithm(stack, consumer, consumer_api, make_dataset, make_algorithm):
    dataset = make_dataset("numbers.csv")
    algorithm = make_algorithm((ALGORITHMS / "sum_numbers.py").read_text())
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), algorithm_order(consumer, algorithm))
    assert job["status"] == 1 and job["statusText"] == "Warming up"
    final = wait_final(consumer_api, job["jobId"])
    assert (final["status"], final["statusText"]) == (70, "Job finished"), final
    results = {r["filename"]: r for r in final["results"]}
    assert {"total.txt", "details/report.json", "algorithm.log", "configure.log", "publish.log"} <= set(results)
    assert results["total.txt"]["type"] == "output" and results["algorithm.log"]["type"] == "algorithmLog"
    assert consumer_api.compute_result(job["jobId"], results["total.txt"]["index"]) == b"5050\n"
    report = json.loads(consumer_api.compute_result(job["jobId"], results["details/report.json"]["index"]))
    assert report == {f"{dataset.did}/0": 5050}
    assert b"summed 1 file(s): 5050" in consumer_api.compute_logs(job["jobId"])


def test_two_datasets_and_a_raw_algorithm(consumer, consumer_api, make_dataset):
    numbers, words = make_dataset("numbers.csv"), make_dataset("words.txt")
    code = (
        "import json, os, pathlib\n"
        "dids = json.loads(os.environ['DIDS'])\n"
        "sizes = [(pathlib.Path('/data/inputs') / d / '0').stat().st_size for d in dids]\n"
        "pathlib.Path('/data/outputs/sizes.json').write_text(json.dumps(sizes))\n"
        "print('algorithm DID:', repr(os.environ['TRANSFORMATION_DID']))\n"
    )
    (job,) = consumer_api.compute_start(
        dataset_order(consumer, numbers), raw(code), additional_datasets=[dataset_order(consumer, words)]
    )
    final = wait_final(consumer_api, job["jobId"])
    assert final["status"] == 70, final
    assert final["inputDID"] == [numbers.did, words.did]
    index = next(r["index"] for r in final["results"] if r["filename"] == "sizes.json")
    assert json.loads(consumer_api.compute_result(job["jobId"], index)) == [292, 32]
    assert b"algorithm DID: ''" in consumer_api.compute_logs(job["jobId"])


def test_ddos_and_layout_seen_by_the_algorithm(consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv", "words.txt")
    code = (
        "import json, os\n"
        "did = json.loads(os.environ['DIDS'])[0]\n"
        "ddo = json.load(open(f'/data/ddos/{did}'))\n"
        "print(sorted(os.listdir('/data')), sorted(os.listdir(f'/data/inputs/{did}')), ddo['id'] == did)\n"
        "print('encryptedFiles' in json.dumps(ddo), os.environ['OUTPUTS'], os.environ['LOGS'])\n"
    )
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(code))
    assert wait_final(consumer_api, job["jobId"])["status"] == 70
    log = consumer_api.compute_logs(job["jobId"]).decode()
    assert "['ddos', 'inputs', 'logs', 'outputs', 'transformations'] ['0', '1'] True" in log
    assert "False /data/outputs /data/logs" in log


def test_failing_algorithm_ends_41_with_its_log(consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw("raise SystemExit('bad input')"))
    final = wait_final(consumer_api, job["jobId"])
    assert (final["status"], final["statusText"]) == (41, "Algorithm failed")
    assert final["reason"] == "the algorithm exited with code 1"
    assert b"bad input" in consumer_api.compute_logs(job["jobId"])


def test_published_algorithm_whose_file_changed_is_not_provisioned(
    stack, consumer, consumer_api, make_dataset, make_algorithm
):
    dataset = make_dataset("numbers.csv")
    source = "print('original')\n"
    algorithm = make_algorithm(source)
    path = stack.data_root / f"algorithm-{abs(hash(source))}.py"  # as make_algorithm names it
    path.write_text("print('swapped after publication')\n")
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), algorithm_order(consumer, algorithm))
    final = wait_final(consumer_api, job["jobId"])
    assert (final["status"], final["statusText"]) == (32, "Algorithm provisioning failed"), final
    assert "checksum mismatch" in final["reason"]


def test_outputs_over_the_limit_fail_publishing(consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    code = "open('/data/outputs/big.bin', 'wb').write(b'x' * (2 << 20))"
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(code), environment="tiny-output")
    final = wait_final(consumer_api, job["jobId"])
    assert (final["status"], final["statusText"]) == (61, "Publishing failed"), final
    assert "exceed the environment's limit" in final["reason"]


def test_results_with_any_file_name_can_be_fetched(consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv", policy="open")  # any name: the default policy's patterns would refuse it
    code = "open('/data/outputs/résumé 结果 \"q\".txt', 'w').write('ok')"
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(code))
    final = wait_final(consumer_api, job["jobId"])
    index = next(r["index"] for r in final["results"] if r["type"] == "output")
    assert final["results"][index]["filename"] == 'résumé 结果 "q".txt'
    assert consumer_api.compute_result(job["jobId"], index) == b"ok"


def test_a_paid_environment_is_refused_and_the_order_kept(consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    order = dataset_order(consumer, dataset)
    with pytest.raises(ProviderRequestError) as info:
        consumer_api.compute_start(order, raw("print(1)"), environment="paid")
    assert (info.value.status, info.value.code) == (402, "environment_not_free")
    (job,) = consumer_api.compute_start(order, raw("print(1)"))  # the order was given back
    assert wait_final(consumer_api, job["jobId"])["status"] == 70


def test_trusted_algorithm_runs_only_as_the_bytes_that_were_trusted(
    stack, publisher, publisher_api, consumer, consumer_api, make_dataset
):
    """The algorithm's server answers the provider's check with the trusted code and the
    configure stage's fetch with other code: configure refuses it (32)."""
    trusted, swapped = b"print('trusted')\n", b"print('swapped in later')\n"
    with FileServer(stack.root, {}, {"/algo.py": [trusted, swapped]}) as server:
        algorithm = publish(
            publisher, publisher_api, "Two-faced", [PublishedFile(server.url + "/algo.py", "text/x-python")],
            Services(access_cost=ONE), kind="algorithm", container=CONTAINER,
        )  # fmt: skip
        give(publisher, consumer, algorithm)
        entry = {
            "did": algorithm.did,
            "filesChecksum": files_checksum([hashlib.sha256(trusted).hexdigest()]),
            "containerSectionChecksum": container_checksum(Container(**CONTAINER)),
        }
        dataset = make_dataset("numbers.csv", privacy=Privacy(publisherTrustedAlgorithms=[entry]))
        (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), algorithm_order(consumer, algorithm))
        final = wait_final(consumer_api, job["jobId"])
    assert (final["status"], final["statusText"]) == (32, "Algorithm provisioning failed"), final
    assert "checksum mismatch" in final["reason"]
