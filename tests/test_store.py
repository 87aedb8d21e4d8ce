"""The operator's job store reads what earlier versions wrote, and a row that is not a job
neither stops the engine nor waits for ever."""

import time

from sqlalchemy import insert

from c2d.job import Status
from c2d.operator.store import JobStore, jobs
from jobs import CONTAINER, job_spec

OWNER = "0x" + "34" * 20


def _row(store, job_id, seq, spec, status=Status.WARMING_UP):
    now = time.time()
    with store.engine.begin() as conn:
        conn.execute(
            insert(jobs).values(
                id=job_id,
                seq=seq,
                owner=OWNER,
                environment="default",
                spec=spec,
                status=int(status),
                reason="",
                created=now,
                updated=now,
                stop_requested=False,
                attempts=0,
                results=[],
            )
        )


def test_rows_of_the_untyped_job_load_and_unreadable_ones_end(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'operator.db'}")
    old = job_spec().model_dump(mode="json", exclude={"jobId", "owner", "environment"})
    # what 0.1 stored: no jobId/owner/environment in the spec, the DDO's container section whole
    old["algorithm"] = {"rawcode": "print(1)", "container": {**CONTAINER, "format": "docker"}}
    _row(store, "old", 1, old)
    _row(store, "broken", 2, {"datasets": "not a list", "algorithm": {}})
    _row(store, "next", 3, job_spec("next").model_dump(mode="json"))
    loaded = store.get("old")
    assert loaded is not None and (loaded.spec.jobId, loaded.spec.owner, loaded.spec.environment) == (
        "old",
        OWNER,
        "default",
    )
    assert loaded.spec.algorithm.container.model_dump(exclude_none=True) == CONTAINER
    assert [job.id for job in store.unfinished()] == ["old", "next"]
    assert store.history("broken")[-1][0] == Status.DATA_PROVISIONING_FAILED  # ended, not skipped for ever
    assert store.get("broken") is None and [j.id for j in store.of_owner(OWNER)] == ["old", "next"]
    assert [job.id for job in store.unfinished()] == ["old", "next"]

    assert [s.jobId for s in store.statuses(OWNER)] == ["old", "next"]


def test_a_consumers_statuses_are_its_jobs_as_status_with_each_spec_read_once(tmp_path, monkeypatch):
    """The status poll's own read (a poll lists every job of its owner): the same statuses as
    the jobs read whole, each spec validated once, and an id deleted and used again is read anew."""
    import c2d.operator.store as store_module
    from c2d.job import ResultFile

    store = JobStore(f"sqlite:///{tmp_path / 'operator.db'}")
    second = "did:op:" + "56" * 20
    store.create(job_spec("one"))
    two = job_spec("two")
    store.create(
        two.model_copy(update={"datasets": [*two.datasets, two.datasets[0].model_copy(update={"did": second})]})
    )
    store.set_status(
        "one",
        Status.FINISHED,
        results=[ResultFile(filename="out.txt", path="outputs/out.txt", filesize=3, type="output")],
    )
    _row(store, "broken", 3, {"datasets": "not a list", "algorithm": {}})
    expected = [job.as_status() for job in store.of_owner(OWNER)]
    assert [s.jobId for s in expected] == ["one", "two"] and expected[0].results[0].filename == "out.txt"
    validated = []
    real = store_module._stored_spec
    monkeypatch.setattr(store_module, "_stored_spec", lambda stored: validated.append(stored["jobId"]) or real(stored))
    for _ in range(3):
        assert store.statuses(OWNER) == expected
    assert sorted(validated) == ["broken", "broken", "broken", "one", "two"]  # a broken row is never kept
    assert store.statuses(OWNER, "two") == expected[1:]
    assert [s.jobId for s in store.statuses(OWNER, did=second)] == ["two"]
    assert store.statuses("0x" + "35" * 20) == []
    store.remove("two")
    time.sleep(0.01)
    store.create(job_spec("two"))  # the same id, another job: one dataset
    assert [s.inputDID for s in store.statuses(OWNER, "two")] == [[job_spec().datasets[0].did]]


def test_admissions_that_lose_their_arrival_number_again_and_again_are_still_stored(tmp_path, monkeypatch):
    """Found by the load benchmark: 20 consumers at once, and an operator service's admission
    lost its arrival number to another one five times running; it answered 500 and the job was
    refused. Another service on the same database makes this one's reads of the last number
    stale: the inserts collide for real, and the job is stored once the read is fresh; past the
    store's bound, a clear StoreBusy and nothing stored."""
    import threading

    import pytest

    import c2d.operator.store as store_module
    from c2d.operator.store import StoreBusy

    url = f"sqlite:///{tmp_path / 'operator.db'}"
    this, other = JobStore(url), JobStore(url)
    other.create(job_spec("other"))
    stale = {"reads": 0}
    real = JobStore._last_seq

    def behind(conn):  # the read before the other service's insert, eight times running
        stale["reads"] += 1
        return 0 if stale["reads"] <= 8 else real(conn)

    monkeypatch.setattr(JobStore, "_last_seq", staticmethod(behind))
    job = this.create(job_spec("this"))
    assert stale["reads"] == 9 and (job.id, job.seq) == ("this", 2)

    monkeypatch.setattr(JobStore, "_last_seq", staticmethod(lambda conn: 0))
    monkeypatch.setattr(store_module, "INSERT_SECONDS", 0.2)
    with pytest.raises(StoreBusy):
        this.create(job_spec("never"))
    assert this.get("never") is None

    monkeypatch.setattr(JobStore, "_last_seq", staticmethod(real))
    ids = [f"t{n:02d}x{m:02d}" for n in range(12) for m in range(10)]
    threads = [
        threading.Thread(target=lambda n=n: [this.create(job_spec(i)) for i in ids[n * 10 : n * 10 + 10]])
        for n in range(12)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seqs = sorted(job.seq for job in this.of_owner(OWNER))
    assert seqs == list(range(1, 3 + len(ids)))  # every job, each its own number


def test_the_store_url_may_come_from_a_file_the_owner_only_reads(tmp_path):
    """A PostgreSQL URL carries a password: a Secret's file, never the environment."""
    import pytest

    from c2d.operator import load_settings
    from c2d.settings import SettingsError

    url_file = tmp_path / "url"
    url_file.write_text("postgresql+psycopg://c2d_operator:pw@db:5432/c2d_operator\n")
    base = {
        "jobs_dir": tmp_path / "jobs",
        "operator_providers": "0x" + "34" * 20,
        "provider_url": "http://127.0.0.1:9",
        "operator_database_url_file": url_file,
    }
    url_file.chmod(0o644)
    with pytest.raises(SettingsError, match="readable by its owner only") as raised:
        load_settings(**base)
    assert "pw@" not in str(raised.value)
    url_file.chmod(0o600)
    assert load_settings(**base).operator_database_url == "postgresql+psycopg://c2d_operator:pw@db:5432/c2d_operator"
