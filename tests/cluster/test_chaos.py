"""The chaos suite on the test cluster's executors (tests/chaos.py; `make chaos` runs 100 runs
per stack): the engine SIGKILLed or stopped, or a stage's container killed (docker kill) or its
pod deleted without grace, while jobs are under way; every job ends, once, nothing is left in
the cluster or under the jobs directory."""

import os

import pytest
from chaos import CLUSTER_TARGETS, suite

pytestmark = pytest.mark.cluster
RUNS = int(os.environ.get("C2D_CHAOS_RUNS", "4"))  # the engine killed and stopped, a stage killed twice


@pytest.mark.parametrize("executor", ["docker", "kubernetes"])
def test_no_job_is_stuck_lost_or_run_twice_when_the_engine_or_a_stage_dies(executor, tmp_path, request):
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    suite(tmp_path, RUNS, CLUSTER_TARGETS, executor, say=reporter.write_line)


def test_an_engine_started_again_removes_the_operator_key_files_a_killed_one_left(tmp_path):
    """Found by the chaos suite: an engine SIGKILLed while it started a configure container
    left that container's env file, the operator's signing key in it, under the jobs directory."""
    import time

    from chaos import DOCKER_HOST

    from c2d.operator.executors.docker import DockerExecutor
    from c2d.operator.settings import OperatorSettings

    jobs = tmp_path / "jobs"
    jobs.mkdir()
    stale, fresh = jobs / ".c2d-a-configure.env", jobs / ".c2d-b-configure.env"
    for path in (stale, fresh):
        path.write_text("C2D_OPERATOR_KEY=0x" + "08" * 32 + "\n")
    os.utime(stale, (time.time() - 120, time.time() - 120))
    settings = OperatorSettings(
        jobs_dir=jobs, operator_providers="0x" + "11" * 20, operator_key="0x" + "08" * 32,
        provider_url="http://127.0.0.1:8030", executor="docker", docker_host=DOCKER_HOST,
    )  # fmt: skip
    DockerExecutor(settings).check()  # what an engine does before it starts
    assert not stale.exists() and fresh.exists()  # a fresh one may be another engine's, being read


def test_an_engine_that_takes_up_a_container_a_killed_one_started_removes_its_key_file(tmp_path):
    """Found by the chaos suite (docker): an engine SIGKILLed just after `docker run` made a
    configure container left its env file; the next engine took that container up (it was not
    started again, so the file was not written and removed again) and the file stayed for good,
    younger than the stale files' minute at that engine's start."""
    import subprocess
    import time

    from chaos import DOCKER_HOST

    from c2d.job.status import Status
    from c2d.operator.executors.base import StagePlan
    from c2d.operator.executors.docker import DockerExecutor
    from c2d.operator.settings import OperatorSettings
    from c2d.operator.store import Job
    from jobs import job_spec

    settings = OperatorSettings(
        jobs_dir=tmp_path / "jobs", operator_providers="0x" + "11" * 20, operator_key="0x" + "08" * 32,
        provider_url="http://127.0.0.1:8030", executor="docker", docker_host=DOCKER_HOST,
    )  # fmt: skip
    executor = DockerExecutor(settings)
    spec = job_spec("keyleft")
    now = time.time()
    job = Job(
        id="keyleft", seq=1, owner=spec.owner, environment="default", spec=spec, status=Status.CONFIGURING,
        reason="", created=now, updated=now, finished=None, stop_requested=False, attempts=0,
    )  # fmt: skip
    executor.prepare(job)
    name = "c2d-keyleft-configure"
    docker = ["docker", "--host", DOCKER_HOST]
    subprocess.run([*docker, "rm", "--force", name], capture_output=True, check=False)
    subprocess.run(
        [*docker, "run", "--detach", "--name", name, "--entrypoint", "true", "c2d/configure:dev"],
        capture_output=True, check=True,
    )  # fmt: skip
    key_file = settings.jobs_dir / f".{name}.env"
    key_file.write_text("C2D_OPERATOR_KEY=0x" + "08" * 32 + "\n")  # what the killed engine left
    try:
        plan = StagePlan(
            stage="configure", image="c2d/configure:dev", command=["true"], env={}, mounts=[], network=False,
            cpu=1, memory_mb=64, processes=16, tmp_mb=1, seconds=30,
        )  # fmt: skip
        outcome = executor._run_container(job, plan, lambda: False, None)
        assert outcome.ok, outcome
        assert not key_file.exists()
        key_file.write_text("C2D_OPERATOR_KEY=0x" + "08" * 32 + "\n")
    finally:
        executor.remove(job)  # and a job removed takes any of its stages' files with it
    assert not key_file.exists()


def test_an_algorithm_started_after_publish_was_started_ahead_has_its_outputs_published(tmp_path):
    """Found by the chaos suite (docker, seed 1319022209, run 73): an engine SIGKILLed after it
    had started a job's publish ahead but before its algorithm left that publish container with
    the outputs' volume of the moment; the next engine mounted a fresh volume for the algorithm,
    whose outputs that publish never saw: the job finished 70 with no results. A publish started
    ahead now goes with the volume it saw, and is started again in its own stage."""
    import time

    from chaos import DOCKER_HOST

    from c2d.job import layout
    from c2d.job.status import Status
    from c2d.operator.environments import Environment
    from c2d.operator.executors import quota
    from c2d.operator.executors.base import STAGE_UID, plan
    from c2d.operator.executors.docker import DockerExecutor
    from c2d.operator.settings import OperatorSettings
    from c2d.operator.store import Job
    from jobs import job_spec

    assert quota.available()  # the outputs on a volume of their own, as in the suite
    settings = OperatorSettings(
        jobs_dir=tmp_path / "jobs", operator_providers="0x" + "11" * 20, operator_key="0x" + "08" * 32,
        provider_url="http://127.0.0.1:8030", executor="docker", docker_host=DOCKER_HOST,
    )  # fmt: skip
    env = Environment(id="default", diskMb=16)
    spec = job_spec("aheadpublish")  # its algorithm is written below, as configure would
    now = time.time()
    job = Job(
        id="aheadpublish", seq=1, owner=spec.owner, environment="default", spec=spec, status=Status.PROVISIONED,
        reason="", created=now, updated=now, finished=None, stop_requested=False, attempts=0,
    )  # fmt: skip
    killed = DockerExecutor(settings)  # what the engine did before its SIGKILL: configure had run,
    job_dir = killed.prepare(job)  # its outputs' volume made, publish started ahead, not the algorithm
    algorithm = layout.data(job_dir) / layout.ALGORITHM
    algorithm.write_text("open('/data/outputs/sum.txt', 'w').write('5050')\n")
    os.chown(algorithm, STAGE_UID, STAGE_UID)
    killed.mount_outputs(job, env, STAGE_UID)
    assert killed._start(job, plan("publish", job, env, settings, ahead=True)) is None
    again = DockerExecutor(settings)  # the engine started again
    try:
        assert again.algorithm(job, env, lambda: False).ok
        assert again.publish(job, env, lambda: False).ok
        outputs = [r for r in again.results(job) if r.type == "output"]
        assert [(r.filename, r.filesize) for r in outputs] == [("sum.txt", 4)], again.results(job)
        assert (job_dir / outputs[0].path).read_text() == "5050"
    finally:
        again.clean_inputs(job)
        again.remove(job)
