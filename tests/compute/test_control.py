"""Stopping, deleting, queueing, and an engine killed mid-job."""

import subprocess
import time

from c2d.client import ProviderRequestError
from c2d.operator import JobStore, Status
from jobs import dataset_order, raw, wait_final, wait_status

SLOW = "import time, pathlib\ntime.sleep({seconds})\npathlib.Path('/data/outputs/done.txt').write_text('done')"


def start(consumer, consumer_api, dataset, code, environment=None):
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(code), environment=environment)
    return job["jobId"]


def test_stop_ends_a_running_job_within_5_seconds(consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    job_id = start(consumer, consumer_api, dataset, SLOW.format(seconds=30))
    wait_status(consumer_api, job_id, 40)
    asked = time.monotonic()
    (status,) = consumer_api.compute_stop(job_id)
    assert status["stopreq"] is True
    final = wait_final(consumer_api, job_id, timeout=5)
    assert time.monotonic() - asked < 5
    assert (final["status"], final["statusText"], final["reason"]) == (80, "Stopped by request", "stopped by request")


def test_delete_removes_the_jobs_data_and_results(stack, consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    job_id = start(consumer, consumer_api, dataset, "open('/data/outputs/r.txt', 'w').write('r')")
    assert wait_final(consumer_api, job_id)["status"] == 70
    assert (stack.jobs_dir / job_id / "data" / "results" / "r.txt").exists()  # published, kept
    assert not (stack.jobs_dir / job_id / "data" / "inputs").exists()  # inputs go when the job ends
    consumer_api.compute_delete(job_id)
    assert not (stack.jobs_dir / job_id).exists()
    assert consumer_api.compute_status(job_id) == []


def test_a_running_job_cannot_be_deleted(consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    job_id = start(consumer, consumer_api, dataset, SLOW.format(seconds=30))
    wait_status(consumer_api, job_id, 40)
    try:
        consumer_api.compute_delete(job_id)
        raise AssertionError("a running job was deleted")
    except ProviderRequestError as exc:
        assert (exc.status, exc.code) == (409, "job_running")
    consumer_api.compute_stop(job_id)
    assert wait_final(consumer_api, job_id)["status"] == 80


def test_queue_keeps_arrival_order_with_one_slot(stack, consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    ids = [start(consumer, consumer_api, dataset, SLOW.format(seconds=0.5), environment="single") for _ in range(3)]
    finals = [wait_final(consumer_api, job_id) for job_id in ids]
    assert [f["status"] for f in finals] == [70, 70, 70]
    store = JobStore(f"sqlite:///{stack.root / 'operator.db'}")
    started = [next(at for status, at, _ in store.history(job_id) if status == Status.STARTED) for job_id in ids]
    ended = [next(at for status, at, _ in store.history(job_id) if status == Status.FINISHED) for job_id in ids]
    assert started[0] < started[1] < started[2]
    assert started[1] >= ended[0] and started[2] >= ended[1]  # one at a time
    store.close()


def test_engine_killed_mid_job_and_restarted_finishes_the_job(stack, consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    job_id = start(consumer, consumer_api, dataset, SLOW.format(seconds=2))
    wait_status(consumer_api, job_id, 40)
    stack.engine.kill()  # SIGKILL: no cleanup
    time.sleep(0.5)
    (status,) = consumer_api.compute_status(job_id)
    assert status["status"] == 40  # recorded, not lost
    stack.engine.start()
    final = wait_final(consumer_api, job_id)
    assert final["status"] == 70, final
    index = next(r["index"] for r in final["results"] if r["filename"] == "done.txt")
    assert consumer_api.compute_result(job_id, index) == b"done"
    store = JobStore(f"sqlite:///{stack.root / 'operator.db'}")
    statuses = [int(s) for s, _, _ in store.history(job_id)]
    store.close()
    assert statuses.count(40) == 2  # the algorithm ran again after the restart
    assert statuses[-1] == 70


def test_engine_killed_while_queued_jobs_wait_loses_none(stack, consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    ids = [start(consumer, consumer_api, dataset, SLOW.format(seconds=0.3), environment="single") for _ in range(3)]
    wait_status(consumer_api, ids[0], 40)
    stack.engine.kill()
    stack.engine.start()
    assert [wait_final(consumer_api, job_id)["status"] for job_id in ids] == [70, 70, 70]


def test_engine_terminated_mid_job_leaves_no_process_and_resumes(stack, consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    job_id = start(consumer, consumer_api, dataset, SLOW.format(seconds=2))
    wait_status(consumer_api, job_id, 40)
    stack.engine.stop()  # SIGTERM: the engine kills its stages and leaves the job as recorded
    (status,) = consumer_api.compute_status(job_id)
    assert status["status"] == 40
    leftovers = subprocess.run(["pgrep", "-f", f"jobs/{job_id}"], capture_output=True, text=True).stdout.split()
    assert leftovers == []
    stack.engine.start()
    assert wait_final(consumer_api, job_id)["status"] == 70
