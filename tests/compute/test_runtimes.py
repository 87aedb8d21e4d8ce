"""Algorithms in c2d's runtimes (python, node, shell) on the local executor, which serves them
with the host's interpreters in its sandbox; containers it cannot run are refused at start."""

import pytest

from c2d.client import ProviderRequestError
from jobs import RUNTIMES, dataset_order, raw_in, wait_final


def test_the_same_computation_in_each_runtime_gives_the_same_bytes(consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    totals, logs = {}, {}
    for runtime in RUNTIMES:
        (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw_in(runtime))
        final = wait_final(consumer_api, job["jobId"])
        assert final["status"] == 70, (runtime, final)
        index = next(r["index"] for r in final["results"] if r["filename"] == "total.txt")
        totals[runtime] = consumer_api.compute_result(job["jobId"], index)
        logs[runtime] = consumer_api.compute_logs(job["jobId"])
    assert totals == dict.fromkeys(RUNTIMES, b"5050\n")
    assert b"node v" in logs["node"] and b"sh summed: 5050" in logs["shell"]


def test_the_environments_say_which_images_and_runtimes_they_take(consumer_api):
    listed = {env["id"]: env for env in consumer_api.environments()}
    default = listed["default"]
    runtimes = ["c2d/algorithm-python", "c2d/algorithm-node", "c2d/algorithm-shell"]
    assert default["images"] == runtimes and default["runtimes"] == runtimes
    assert (default["pullPolicy"], default["startTimeout"], default["gpus"]) == ("never", 300, 0)
    assert listed["julia"]["images"] == ["example.org/julia"]
    assert all("pullSecret" not in env for env in listed.values())
    assert "secret-registry-config" not in str(listed)


@pytest.mark.parametrize(
    ("algorithm", "environment", "code", "said"),
    [
        (  # outside the environment's list
            {"meta": {"rawcode": "x", "container": {"entrypoint": "Rscript $ALGO", "image": "r-base", "tag": "4"}}},
            None,
            "image_not_allowed",
            "the environment default does not run the image r-base: it runs c2d/algorithm-python, ",
        ),
        (  # on the list, but the local executor has no interpreter for it
            {
                "meta": {
                    "rawcode": "x",
                    "container": {"entrypoint": "julia $ALGO", "image": "example.org/julia", "tag": "1"},
                }
            },
            "julia",
            "runtime_unavailable",
            "example.org/julia is not one of them",
        ),
        (  # pinned by digest: the local executor runs the host's interpreter, no image to compare
            raw_in("python", checksum="sha256:" + "ab" * 32),
            None,
            "runtime_unavailable",
            "cannot check an image digest",
        ),
    ],
)
def test_a_container_the_environment_cannot_run_is_refused_at_start_and_the_order_kept(
    consumer, consumer_api, make_dataset, algorithm, environment, code, said
):
    dataset = make_dataset("numbers.csv")
    order = dataset_order(consumer, dataset)
    with pytest.raises(ProviderRequestError) as info:
        consumer_api.compute_start(order, algorithm, environment=environment)
    assert (info.value.status, info.value.code) == (400, code)
    assert said in info.value.message
    (job,) = consumer_api.compute_start(order, raw_in("shell"))  # the order was given back
    assert wait_final(consumer_api, job["jobId"])["status"] == 70
