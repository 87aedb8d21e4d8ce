"""Paid compute jobs end to end: through the provider, on the operator's local executor."""

import json

from jobs import ALGORITHMS, algorithm_order, dataset_order, wait_final


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
