"""The output policy on the embedded stack (local executor): algorithms that try to take the
dataset out through their outputs, names and log end as 51 with nothing of theirs released;
honest results pass; status 50 is a real stage, its decision recorded, the log held."""

import json
import threading
import time

import pytest
from attacks import ATTACKS, CSV, HONEST, READ, ROWS

from c2d.job import Status
from c2d.operator.store import JobStore
from jobs import dataset_order, raw, wait_final, wait_status


@pytest.fixture(scope="module")
def table(stack, make_dataset):
    (stack.data_root / "people.csv").write_text(CSV)
    return make_dataset("people.csv")  # the default policy


def _run(consumer, consumer_api, dataset, code):
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(READ + code))
    return job["jobId"], wait_final(consumer_api, job["jobId"], timeout=120)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attacks_end_as_51_with_nothing_released(stack, consumer, consumer_api, table, name):
    job_id, final = _run(consumer, consumer_api, table, ATTACKS[name])
    assert final["status"] == 51 and final["statusText"] == "Results withheld by the output policy", final
    assert final["reason"].startswith("output policy, "), final
    assert {r["type"] for r in final["results"]} <= {"configurationLog", "filterLog"}, final["results"]
    for row in ROWS[:20]:
        assert row not in final["reason"]
    assert not (stack.jobs_dir / job_id / "data" / "logs" / "algorithm.log").exists()
    assert consumer_api.compute_logs(job_id) == b""


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_results_pass(stack, consumer, consumer_api, table, name):
    job_id, final = _run(consumer, consumer_api, table, HONEST[name])
    assert final["status"] == 70, final
    assert any(r["type"] == "output" for r in final["results"])
    store = JobStore(f"sqlite:///{stack.root / 'operator.db'}")
    statuses = [int(s) for s, _, _ in store.history(job_id)]
    store.close()
    assert statuses[-4:] == [40, 50, 60, 70], statuses


def test_the_decision_is_recorded_and_the_log_held_until_accepted(stack, consumer, consumer_api, table):
    code = "import time\nprint('first line', flush=True)\ntime.sleep(1.5)\nopen('/data/outputs/n.txt', 'w').write('3')"
    (job,) = consumer_api.compute_start(dataset_order(consumer, table), raw(READ + code))
    job_id = job["jobId"]
    wait_status(consumer_api, job_id, 40)
    chunks: list[tuple[float, bytes]] = []

    def follow():
        for chunk in consumer_api.iter_logs(job_id):
            chunks.append((time.monotonic(), chunk))

    follower = threading.Thread(target=follow)
    follower.start()
    seen_running = None
    while seen_running is None or seen_running < 40:  # until the algorithm has printed and slept a while
        (status,) = consumer_api.compute_status(job_id)
        seen_running = status["status"]
        time.sleep(0.05)
    time.sleep(0.8)
    (status,) = consumer_api.compute_status(job_id)
    assert status["status"] == 40 and not chunks, "nothing of the log leaves while the algorithm runs"
    final = wait_final(consumer_api, job_id)
    follower.join(10)
    assert final["status"] == 70, final
    assert b"".join(c for _, c in chunks) == b"first line\n"
    store = JobStore(f"sqlite:///{stack.root / 'operator.db'}")
    from sqlalchemy import select

    from c2d.operator.store import jobs

    with store.engine.connect() as conn:
        report = conn.execute(select(jobs.c.report).where(jobs.c.id == job_id)).scalar()
    store.close()
    report = report if isinstance(report, dict) else json.loads(report)
    assert report["accepted"] and "verbatim" in report["checks"]
    assert [o["name"] for o in report["outputs"]] == ["n.txt", "algorithm.log"]
    assert all(len(o["sha256"]) == 64 for o in report["outputs"])
    filter_log = next(r for r in final["results"] if r["type"] == "filterLog")
    assert b"results accepted" in consumer_api.compute_result(job_id, filter_log["index"])
    assert Status.FILTERING == 50
