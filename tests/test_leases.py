"""Engines sharing one job store: claims, leases, fencing and engine names, on SQLite and on a
real PostgreSQL (the two-engine run with a killed engine: tests/compute/test_engines.py)."""

import os
import subprocess
import threading
import time

import pytest

from c2d.job import Status
from c2d.operator.store import EngineNameTaken, JobStore, LeaseLost, _busy
from jobs import job_spec
from postgres import postgres_server


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'operator.db'}"
    base = request.getfixturevalue("postgres_url")
    name = f"leases_{os.getpid()}_{time.monotonic_ns()}"
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + f"/{name}"


def _stores(url, *holders):
    return JobStore(url), [JobStore(url, holder=h) for h in holders]


def _ids(found):
    return [job.id for job in found]


def test_claims_share_each_environments_slots_across_engines_in_arrival_order(url):
    service, (a, b) = _stores(url, "engine-a", "engine-b")
    for n in range(6):
        service.create(job_spec(f"job{n}", environment="default"))
    service.create(job_spec("other", environment="big"))
    capacity = {"default": 2, "big": 1}

    first = a.claim(capacity, ttl=30)
    assert _ids(first) == ["job0", "job1", "other"]
    assert all(job.status == Status.STARTED for job in first)
    assert b.claim(capacity, ttl=30) == []  # every slot is a's jobs'
    a.set_status("job0", Status.FINISHED)
    assert _ids(b.claim(capacity, ttl=30)) == ["job2"]  # the next in arrival order, on b
    assert a.claim(capacity, ttl=30) == []
    assert [t[0] for t in service.history("job2")] == [Status.WARMING_UP, Status.STARTED]


def test_concurrent_claims_never_take_one_job_twice_nor_exceed_the_slots(url):
    service, engines = _stores(url, *(f"engine-{n}" for n in range(4)))
    for n in range(40):
        service.create(job_spec(f"job{n:02}", environment="default"))
    taken: dict[str, list[str]] = {}
    lock = threading.Lock()
    errors = []

    def run(store):
        try:
            for _ in range(30):
                for job in store.claim({"default": 5}, ttl=30):
                    with lock:
                        taken.setdefault(job.id, []).append(store.holder)
                    time.sleep(0.01)  # it runs a little: claims overlap
                    store.set_status(job.id, Status.FINISHED)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    peak = 0
    done = threading.Event()

    def observe():  # the store's own count, each a consistent snapshot
        nonlocal peak
        with service.engine.connect() as conn:
            while not done.is_set():
                peak = max(peak, _busy(conn).get("default", 0))
                conn.rollback()

    threads = [threading.Thread(target=run, args=(store,)) for store in engines]
    observer = threading.Thread(target=observe)
    observer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    observer.join()
    assert not errors, errors
    assert all(len(holders) == 1 for holders in taken.values()), taken
    assert len(taken) == 40
    assert 1 <= peak <= 5, peak
    assert all(service.get(f"job{n:02}").status == Status.FINISHED for n in range(40))


def test_a_dead_engines_jobs_go_to_another_after_its_lease_and_it_can_write_no_more(url):
    service, (a, b) = _stores(url, "engine-a", "engine-b")
    service.create(job_spec("job", environment="default"))
    (job,) = a.claim({"default": 1}, ttl=1.0)
    a.set_status(job.id, Status.CONFIGURING)
    assert b.claim({"default": 1}, ttl=30) == []  # a's while its lease lasts
    time.sleep(1.2)  # a stalls (or died): its lease runs out
    (taken,) = b.claim({"default": 1}, ttl=30)
    assert (taken.id, taken.status) == ("job", Status.CONFIGURING)  # continued from its status
    with pytest.raises(LeaseLost):
        a.set_status(job.id, Status.PROVISIONED)
    with pytest.raises(LeaseLost):
        a.update(job.id, attempts=5)
    assert a.renew(["job"], ttl=30) == set()
    b.set_status(job.id, Status.PROVISIONED)
    assert service.get("job").status == Status.PROVISIONED and service.get("job").attempts == 0


def test_renewed_leases_stay_and_released_ones_go_at_once(url):
    service, (a, b) = _stores(url, "engine-a", "engine-b")
    service.create(job_spec("job", environment="default"))
    a.claim({"default": 1}, ttl=1.0)
    for _ in range(3):
        time.sleep(0.5)
        assert a.renew(["job"], ttl=1.0) == {"job"}
        assert b.claim({"default": 1}, ttl=30) == []
    a.release("job")
    assert _ids(b.claim({"default": 1}, ttl=30)) == ["job"]


def test_held_jobs_are_claimed_once_decided_and_hold_no_slot(url):
    service, (a,) = _stores(url, "engine-a")
    service.create(job_spec("held", environment="default"))
    service.create(job_spec("next", environment="default"))
    assert _ids(a.claim({"default": 1}, ttl=30)) == ["held"]
    a.update("held", held_until=time.time() + 3600)
    a.set_status("held", Status.HELD, "held")
    a.release("held")
    assert _ids(a.claim({"default": 1}, ttl=30)) == ["next"]  # the held job holds no slot
    assert a.claim({"default": 1}, ttl=30) == []  # undecided: not taken
    service.request_stop("held")
    assert _ids(a.claim({"default": 1}, ttl=30)) == ["held"]


def test_queued_jobs_asked_to_stop_or_of_unknown_environments_are_taken_to_be_ended(url):
    service, (a,) = _stores(url, "engine-a")
    service.create(job_spec("busy", environment="default"))
    service.create(job_spec("stopped", environment="default"))
    service.create(job_spec("elsewhere", environment="gone"))
    service.request_stop("stopped")
    assert sorted(_ids(a.claim({"default": 0}, ttl=30))) == ["elsewhere", "stopped"]


def test_an_engine_name_in_use_by_a_live_engine_is_refused_and_a_dead_ones_jobs_are_taken_back(url):
    service, (first, second) = _stores(url, "engine", "engine")
    service.create(job_spec("job", environment="default"))
    other = subprocess.Popen(["sleep", "30"])
    try:
        first.register(other.pid, ttl=30)  # an engine of that name, alive
        first.claim({"default": 1}, ttl=30)
        with pytest.raises(EngineNameTaken, match="C2D_ENGINE_ID"):
            second.register(os.getpid(), ttl=30)
    finally:
        other.kill()
        other.wait()
    second.register(os.getpid(), ttl=30)  # it died: its name is free, its jobs at once
    assert _ids(second.claim({"default": 1}, ttl=30)) == ["job"]
