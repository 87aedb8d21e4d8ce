"""What a container executor (docker, kubernetes) runs for each stage: image, command,
environment, mounts of the job directory, network and limits. One plan, two translations, so
both executors give every stage the same /data layout as the local executor.

Stage containers run as STAGE_UID with a read-only root filesystem and a private /tmp; the job
directory is the only storage they share:

    configure   <job dir>                        → /job        (writes inputs, DDOs, algorithm)
    algorithm   <job dir>/data/{inputs,ddos,transformations} → /data/...  read-only
                <job dir>/data/outputs           → /data/outputs  read-write
    publish     <job dir>                        → /job        (reads outputs, writes results.json)

Each stage's output (stdout and stderr) is its log: the executor copies it to
<job dir>/data/logs/<stage>.log when the container ends.
"""

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from c2d.job import Container, Outcome, ResultFile, layout
from c2d.job.results import RESULT_FILES
from c2d.operator.environments import Environment
from c2d.operator.executors import quota
from c2d.operator.executors.logs import LogWriter
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import Job

STAGE_UID = 10001
STAGE_SECONDS = 600  # configure and publish: bounded too
STAGE_MEMORY_MB = 512
STAGE_LOG_BYTES = 1 << 20  # configure and publish
STAGES = ("configure", "algorithm", "publish")
OPERATOR_KEY_ENV = "C2D_OPERATOR_KEY"


@dataclass(frozen=True)
class Mount:
    source: str  # relative to the job directory
    target: str
    read_only: bool


@dataclass(frozen=True)
class StagePlan:
    stage: str
    image: str
    command: list[str]
    env: dict[str, str]
    mounts: list[Mount]
    network: bool
    cpu: float
    memory_mb: int
    processes: int
    tmp_mb: int
    seconds: int
    workdir: str = "/"
    secret_env: list[str] = field(default_factory=list)  # names whose values are the operator's key
    log_bytes: int = STAGE_LOG_BYTES  # the stage's log beyond this is cut (and says so)
    # Reaches the provider through the engine's relay (docker) rather than a network; the
    # kubernetes executor gives it the pod network, where a NetworkPolicy lets only the provider in.
    relay: bool = False
    # The algorithm's image, as its job declares it (None: one of c2d's own images), and how the
    # environment lets the executor get it: pulls, credentials, and the time that may take
    # (not part of `seconds`).
    container: Container | None = None
    pull: str = "never"
    pull_secret: str = ""
    start_seconds: int = 60
    gpus: int = 0
    gpu_resource: str = "nvidia.com/gpu"

    @property
    def shm_mb(self) -> int:
        """The size of the stage's shared-memory tmpfs (its pages count as its memory too)."""
        return max(1, min(64, self.memory_mb // 4))

    @property
    def scratch_mb(self) -> int:
        """What the container may write besides the job's directory: /tmp and its log (the
        kubelet's ephemeral-storage limit; docker bounds each by itself)."""
        return self.tmp_mb + 2 * (self.log_bytes >> 20) + 16


def plan(stage: str, job: Job, env: Environment, settings: OperatorSettings) -> StagePlan:
    if stage == "configure":
        return StagePlan(
            stage=stage,
            image=settings.image("configure"),
            command=["python", "-m", "c2d.pods.configure", "/job"],
            env={"C2D_PROVIDER_URL": settings.provider_url},
            secret_env=[OPERATOR_KEY_ENV],
            mounts=[Mount("", "/job", False)],
            network=True,  # fetches the inputs from the provider
            relay=True,
            cpu=1.0,
            memory_mb=STAGE_MEMORY_MB,
            processes=64,
            tmp_mb=64,
            seconds=STAGE_SECONDS,
        )
    if stage == "publish":
        return StagePlan(
            stage=stage,
            image=settings.image("publish"),
            command=["python", "-m", "c2d.pods.publish", "/job", str(env.max_output_mb << 20)],
            env={},
            mounts=[Mount("", "/job", False)],
            network=False,
            cpu=1.0,
            memory_mb=STAGE_MEMORY_MB,
            processes=64,
            tmp_mb=64,
            seconds=STAGE_SECONDS,
        )
    spec = job.spec
    return StagePlan(
        stage="algorithm",
        image=spec.algorithm.container.reference,
        command=["/bin/sh", "-c", layout.entrypoint(spec)],
        env={"HOME": "/tmp", "LANG": "C.UTF-8", **layout.algorithm_env(spec)},  # noqa: S108 (in the container)
        mounts=[
            Mount("data/inputs", "/data/inputs", True),
            Mount("data/ddos", "/data/ddos", True),
            Mount("data/transformations", "/data/transformations", True),
            Mount(layout.OUTPUTS, "/data/outputs", False),
        ],
        network=spec.allowNetworkAccess and env.network,
        cpu=env.cpu,
        memory_mb=env.memory_mb,
        processes=env.max_processes,
        tmp_mb=min(env.disk_mb, 1024),
        seconds=env.max_duration,
        workdir="/data",
        log_bytes=env.max_log_mb << 20,
        container=spec.algorithm.container,
        pull=env.pull_policy,
        pull_secret=env.pull_secret,
        start_seconds=env.start_timeout,
        gpus=env.gpus,
        gpu_resource=env.gpu_resource,
    )


class IsolationUnavailable(Exception):
    """A stage's isolation (sandbox, volume) could not be set up; nothing ran."""


class ExecutorUnavailable(Exception):
    """The executor cannot run stages here (no Docker daemon, no cluster, no bubblewrap): the
    engine does not start, with this reason, rather than failing every job."""


class Executor(Protocol):
    """All the engine asks of an executor. Each stage answers how it ended (c2d.job.Outcome) and
    raises IsolationUnavailable when it cannot be isolated, so that it does not run."""

    jobs_dir: Path  # one folder per job (c2d.job.layout), on storage the stages share

    def check(self) -> None:
        """Raises ExecutorUnavailable, saying why, when no stage could run."""

    def configure(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome: ...

    def algorithm(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome: ...

    def publish(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome: ...

    def job_dir(self, job: Job) -> Path: ...

    def results(self, job: Job) -> list[ResultFile]:
        """What publish listed (results.json), with the logs' sizes as they are now."""

    def clean_inputs(self, job: Job) -> None:
        """After the job, well or badly: everything but its results and logs goes."""

    def remove(self, job: Job) -> None:
        """The job's directory, and whatever of it the executor holds, goes."""

    def halt(self) -> None:
        """The engine stops: stages that would not outlive it are ended (their jobs continue at
        the next start); container stages go on and are followed again."""


class JobDirectories:
    """The job directory on storage that the engine and the stage containers share."""

    volumes = True  # outputs on a volume of diskMb (the kubernetes executor's: the cluster's volume)

    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        self.jobs_dir = settings.jobs_dir
        with contextlib.suppress(OSError):  # a volume's root owned by another user stays as it is
            os.chmod(self.jobs_dir, 0o711)  # noqa: S103 (jobs may be passed through, not listed)

    def job_dir(self, job: Job) -> Path:
        return self.jobs_dir / job.id

    def prepare(self, job: Job) -> Path:
        """The job's directory, private to the stage user (0700, job.json 0600): the stages
        run as that user, nobody else on the machine reads a job's algorithm, orders or DDOs."""
        job_dir = self.job_dir(job)
        data = layout.data(job_dir)
        for name in layout.DATA_DIRS:
            (data / name).mkdir(parents=True, exist_ok=True)
        os.chmod(job_dir, 0o700)
        layout.write_spec(job_dir, job.spec)
        _own(job_dir)
        return job_dir

    def reset_outputs(self, job: Job) -> None:
        """A restarted algorithm starts from no outputs."""
        outputs = layout.outputs(self.job_dir(job))
        for root, dirs, files in os.walk(outputs, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                path = os.path.join(root, name)
                os.unlink(path) if os.path.islink(path) else os.rmdir(path)

    def write_log(self, job: Job, stage: str, text: bytes) -> None:
        path = layout.log(self.job_dir(job), stage)
        path.write_bytes(text)

    def copy_log(self, job: Job, stage: str, stream: Any, limit: int, counted: bool = True) -> int:
        """Copies a stage's output stream into its log, at most `limit` bytes; the bytes cut."""
        path = layout.log(self.job_dir(job), stage)
        path.write_bytes(b"")
        return LogWriter(path, limit, counted).copy(stream)

    def results(self, job: Job) -> list[ResultFile]:
        job_dir = self.job_dir(job)
        path = job_dir / layout.RESULTS_FILE
        if not path.exists():
            return []
        results = []
        for result in RESULT_FILES.validate_json(path.read_bytes()):  # logs grew after publish listed them
            file = job_dir / result.path
            results.append(result.model_copy(update={"filesize": file.stat().st_size}) if file.exists() else result)
        return results

    def clean_inputs(self, job: Job) -> None:
        """After a job, well or badly: its inputs, its algorithm and whatever the algorithm wrote
        go (with its disk volume); the published results (data/results) and logs stay until
        they expire."""
        self.drop_outputs(job)
        data = layout.data(self.job_dir(job))
        for name in ("inputs", "transformations"):
            shutil.rmtree(data / name, ignore_errors=True)

    def mount_outputs(self, job: Job, env: Environment, owner: int | None) -> None:
        """The algorithm's writable space: a volume of the environment's diskMb (c2d.operator.executors.quota)."""
        if self.volumes:
            outputs = layout.outputs(self.job_dir(job))
            quota.mount(self.job_dir(job), outputs, env.disk_mb, owner)

    def drop_outputs(self, job: Job) -> None:
        outputs = layout.outputs(self.job_dir(job))
        quota.unmount(self.job_dir(job), outputs)
        if outputs.is_dir() and not outputs.is_symlink():
            self.reset_outputs(job)

    def remove(self, job: Job) -> None:
        quota.unmount(self.job_dir(job), layout.outputs(self.job_dir(job)))
        shutil.rmtree(self.job_dir(job), ignore_errors=True)

    def halt(self) -> None:
        """Container stages outlive the engine: nothing to end."""


class ContainerExecutor(JobDirectories):
    """The three stages of the container executors: prepare the job directory, plan the stage,
    run it (`_run`, per executor). A stage already under way (`_under_way`: an engine restarted)
    is followed as it is, so only a new algorithm run starts from no outputs."""

    def configure(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        self.prepare(job)
        return self._run(job, plan("configure", job, env, self.settings), should_stop)

    def algorithm(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        self.prepare(job)
        if not self._under_way(job, "algorithm"):
            self.drop_outputs(job)
            self.mount_outputs(job, env, STAGE_UID if os.geteuid() == 0 else None)
        return self._run(job, plan("algorithm", job, env, self.settings), should_stop)

    def publish(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        self.prepare(job)
        self.write_log(job, "publish", b"")  # listed by publish, filled when it ends
        outcome = self._run(job, plan("publish", job, env, self.settings), should_stop)
        if outcome.ok:  # the published outputs are in data/results now: the volume goes
            self.drop_outputs(job)
        return outcome

    def _under_way(self, job: Job, stage: str) -> bool:
        raise NotImplementedError

    def _run(self, job: Job, p: StagePlan, should_stop: Callable[[], bool]) -> Outcome:
        raise NotImplementedError


def _own(job_dir: Path) -> None:
    """The stage user owns the job directory (when the engine runs as root; in a cluster the
    engine runs as that user already)."""
    if os.geteuid() != 0:
        return
    outputs = str(layout.outputs(job_dir))
    for root, dirs, files in os.walk(job_dir):
        # Never the algorithm's own tree: it may be running still (an engine that restarted
        # follows it), swapping folders for links under a walk; its root is owned when made.
        dirs[:] = [d for d in dirs if os.path.join(root, d) != outputs]
        os.lchown(root, STAGE_UID, STAGE_UID)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), STAGE_UID, STAGE_UID)
    if os.path.isdir(outputs) and not os.path.islink(outputs):
        os.lchown(outputs, STAGE_UID, STAGE_UID)
