"""Two engines on one real PostgreSQL: 50 paid jobs, one engine SIGKILLed midway. Each job is
run by one engine at a time, the survivor takes over the dead one's jobs once their leases run
out, and every job ends once, with its result."""

import time
from collections import Counter

import pytest

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderClient
from c2d.job import FINAL, Status
from c2d.operator import JobStore
from jobs import ONE, dataset_order, give, raw
from postgres import postgres_server
from servers import EngineProcess
from stacks import start_stack

JOBS = 50
LEASE = 3
SUM = (
    "import pathlib, time\n"
    "time.sleep(1)\n"
    "numbers = pathlib.Path('/data/inputs').rglob('0')\n"
    "total = sum(int(line) for path in numbers for line in path.read_text().split())\n"
    "pathlib.Path('/data/outputs/sum.txt').write_text(str(total))\n"
)
CANONICAL = [1, 10, 20, 30, 40, 50, 60, 70]


@pytest.fixture(scope="module")
def engines(ganache, addresses_file, keys, tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    with postgres_server() as url:
        lease = {"C2D_LEASE_SECONDS": str(LEASE)}
        stack = start_stack(
            root,
            root / "published",
            ganache,
            addresses_file,
            keys,
            environments=[{"id": "default", "memoryMb": 128, "maxDuration": 60, "maxJobs": 4}],
            database_url=url,
            engine_env={**lease, "C2D_ENGINE_ID": "engine-a"},
        )
        second = EngineProcess({**stack.engine.env, "C2D_ENGINE_ID": "engine-b"}, root / "engine-b.log").start()
        try:
            yield stack, second, url
        finally:
            second.stop()
            stack.stop()


def test_two_engines_run_each_of_50_jobs_once_and_a_killed_ones_jobs_end_on_the_other(
    engines, keys, publisher, consumer
):
    stack, second, url = engines
    publisher_api = ProviderClient(stack.provider.url, keys[1])
    consumer_api = ProviderClient(stack.provider.url, keys[2])
    privacy = Privacy(allowRawAlgorithm=True)
    files = [PublishedFile.local(stack.data_root / "numbers.csv", "text/plain")]
    dataset = publish(publisher, publisher_api, "Dataset", files, Services(compute_cost=ONE, privacy=privacy))
    give(publisher, consumer, dataset, amount=2 * JOBS * ONE)
    store = JobStore(url)

    ids = []
    for _ in range(JOBS):
        (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(SUM))
        ids.append(job["jobId"])

    def held_by(engine):
        return [j for j in (store.get(i) for i in ids) if j and not j.status.final and _owner(store, j.id) == engine]

    deadline = time.monotonic() + 120
    while not (len(_final(store, ids)) >= 12 and held_by("engine-a")):
        assert time.monotonic() < deadline, "the engines did not get going"
        time.sleep(0.1)
    interrupted = {j.id: j.status for j in held_by("engine-a")}
    stack.engine.kill()  # SIGKILL: its stages die with it, its leases stay until they run out
    killed_at = time.time()

    deadline = time.monotonic() + 300
    while len(_final(store, ids)) < JOBS:
        assert time.monotonic() < deadline, f"jobs left unfinished: {JOBS - len(_final(store, ids))}"
        time.sleep(0.2)
    assert second.alive()

    takeovers = []
    for job_id in ids:
        job = store.get(job_id)
        assert job is not None and job.status == Status.FINISHED, (job_id, job and job.reason)
        history = _history(store, job_id)
        statuses = [status for status, _, _ in history]
        # each stage once, in order; a stage the killed engine had under way is started again once
        assert _squeezed(statuses) == CANONICAL, (job_id, statuses)
        repeats = len(statuses) - len(CANONICAL)
        writers = [engine for _, _, engine in history if engine is not None]  # 1 is the service's
        changes = [n for n in range(1, len(writers)) if writers[n] != writers[n - 1]]
        if job_id in interrupted:
            # one engine at a time: a's part, then b's, never interleaved; b only after a's death
            assert writers[0] == "engine-a" and writers[-1] == "engine-b" and len(changes) == 1, (job_id, history)
            first_b = next(at for _, at, engine in history if engine == "engine-b")
            assert first_b > killed_at
            takeovers.append(first_b - killed_at)
            assert repeats <= 1, (job_id, statuses)
        else:
            assert len(set(writers)) == 1 and repeats == 0, (job_id, history)
        index = next(
            r["index"] for r in consumer_api.compute_status(job_id)[0]["results"] if r["filename"] == "sum.txt"
        )
        assert consumer_api.compute_result(job_id, index) == b"5050"
    by_engine = Counter(_history(store, i)[-1][2] for i in ids)
    assert by_engine["engine-a"] > 0 and by_engine["engine-b"] > 0, by_engine  # both ran jobs
    assert takeovers, "the killed engine held no job"
    print(
        f"\nfinished by engine: {dict(by_engine)}; taken over: {len(takeovers)} "
        f"after {min(takeovers):.1f}-{max(takeovers):.1f} s (lease {LEASE} s)"
    )
    assert "taken over by another engine" not in second.log_path.read_text()
    store.close()
    publisher_api.close()
    consumer_api.close()


def _final(store, ids):
    return [i for i in ids if (job := store.get(i)) is not None and job.status in FINAL]


def _owner(store, job_id):
    from sqlalchemy import select

    from c2d.operator.store import jobs

    with store.engine.connect() as conn:
        return conn.execute(select(jobs.c.lease_owner).where(jobs.c.id == job_id)).scalar()


def _history(store, job_id):
    from sqlalchemy import select

    from c2d.operator.store import transitions

    with store.engine.connect() as conn:
        rows = conn.execute(
            select(transitions.c.status, transitions.c.at, transitions.c.engine)
            .where(transitions.c.job_id == job_id)
            .order_by(transitions.c.id)
        )
        return [(int(r.status), r.at, r.engine) for r in rows]


def _squeezed(statuses):
    return [s for n, s in enumerate(statuses) if n == 0 or s != statuses[n - 1]]
