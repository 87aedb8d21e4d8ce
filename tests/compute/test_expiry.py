"""Results expire: the engine removes a finished job's directory and record after the TTL."""

import time

from c2d.localchain import dev_keys
from c2d.operator import Engine, JobStore, Status, load_environments, load_settings
from c2d.operator.executors import LocalExecutor
from c2d.signing import address_of
from jobs import job_spec


def test_finished_jobs_expire_after_the_ttl_and_others_stay(tmp_path):
    key = dev_keys(1)[0]
    settings = load_settings(
        jobs_dir=tmp_path / "jobs",
        operator_database_url=f"sqlite:///{tmp_path / 'operator.db'}",
        operator_providers=address_of(key),
        operator_key=key,
        provider_url="http://127.0.0.1:9",
        results_ttl=60,
    )
    store = JobStore(settings.operator_database_url)  # the service's, unfenced: sets the scene
    executor = LocalExecutor(settings)
    engine_store = JobStore(settings.operator_database_url, holder="engine-1")
    engine = Engine(engine_store, executor, load_environments(None), settings.results_ttl)
    old, recent, running = (store.create(job_spec(name)) for name in ("old", "recent", "running"))
    for job in (old, recent, running):
        (settings.jobs_dir / job.id / "data" / "outputs").mkdir(parents=True)
    store.set_status(old.id, Status.FINISHED)
    store.update(old.id, finished=time.time() - 120)
    store.set_status(recent.id, Status.FINISHED)
    store.set_status(running.id, Status.RUNNING)

    engine.expire()

    assert store.get(old.id) is None and not (settings.jobs_dir / old.id).exists()
    for job in (recent, running):
        assert store.get(job.id) is not None and (settings.jobs_dir / job.id).exists()
