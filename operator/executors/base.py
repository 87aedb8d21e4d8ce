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

Started ahead: when configure starts, the algorithm's and publish's containers start too, each
waiting for its signal in <job dir>/signals (c2d.job.layout): the algorithm's shell for
`configured` (signals/ read-only at /run/c2d), publish for the engine's `publish`, given once the
algorithm has ended and its log is copied. A job so pays one container start, not three in a
row; each container keeps its own mounts, user, limits and network. A stage whose container
is not there (an engine restart, a start that failed) is started as before, its signal given.
"""

import contextlib
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from c2d.job import Container, Outcome, PublishExit, ResultFile, Status, layout
from c2d.job.policy import REPORT_BYTES, FilterReport
from c2d.job.results import RESULT_FILES
from c2d.operator.environments import Environment
from c2d.operator.executors import quota
from c2d.operator.executors.logs import LogWriter
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import Job

log = logging.getLogger("c2d.operator.executors")

STAGE_UID = 10001
STAGE_SECONDS = 600  # configure and publish: bounded too
STAGE_MEMORY_MB = 512
STAGE_LOG_BYTES = 1 << 20  # configure, filter and publish
STAGES = ("configure", "algorithm", "filter", "publish")
FILTER_SECONDS = 1800  # the filter reads every input and output: it may take longer than the others
FILTER_MEMORY_MB = STAGE_MEMORY_MB  # within the deployment's LimitRange (512 Mi per container)
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
    runtime: str = "runc"  # the container's runtime (c2d.operator.environments.Environment.runtime)
    # Started ahead: how long it may wait for its signal (not part of `seconds`).
    wait_seconds: int = 0

    @property
    def shm_mb(self) -> int:
        """The size of the stage's shared-memory tmpfs (its pages count as its memory too)."""
        return max(1, min(64, self.memory_mb // 4))

    @property
    def scratch_mb(self) -> int:
        """What the container may write besides the job's directory: /tmp and its log (the
        kubelet's ephemeral-storage limit; docker bounds each by itself)."""
        return self.tmp_mb + 2 * (self.log_bytes >> 20) + 16


def wait_seconds(stage: str, env: Environment) -> int:
    """How long a stage started ahead may wait for its signal: the stages before it."""
    waits = STAGE_SECONDS + WAIT_MARGIN
    if stage == "publish":
        waits += env.start_timeout + env.max_duration + FILTER_SECONDS
    return waits


WAIT_MARGIN = 60
WAIT_POLL = 0.02  # the algorithm's shell, between two looks for `configured`


def signal_wait(seconds: int) -> str:
    """The algorithm's wait for `configured`, in any POSIX shell; 125 if it never comes (the
    job is then configured again, and this container is no longer asked for)."""
    marker = f"{layout.SIGNALS_MOUNT}/{layout.CONFIGURED}"
    most = int(seconds / WAIT_POLL)
    return (
        f"n=0; until [ -e {marker} ]; do n=$((n+1)); [ $n -lt {most} ] || exit 125; "
        f"sleep {WAIT_POLL} 2>/dev/null || sleep 1; done; "
    )


def plan(stage: str, job: Job, env: Environment, settings: OperatorSettings, ahead: bool = False) -> StagePlan:
    """The stage's container; `ahead`: started with configure, waiting for its signal."""
    p = _plan(stage, job, env, settings)
    if not ahead or stage == "configure":
        return p
    waits = wait_seconds(stage, env)
    if stage == "publish":
        return replace(p, command=[*p.command, "--wait", str(waits)], wait_seconds=waits)
    mounts = [*p.mounts, Mount(layout.SIGNALS, layout.SIGNALS_MOUNT, True)]
    command = [*p.command[:-1], signal_wait(waits) + p.command[-1]]
    return replace(p, command=command, mounts=mounts, wait_seconds=waits)


def stages_of(job: Job) -> list[str]:
    """Every stage a job may have: the four, and one per publisher's filter."""
    return [*STAGES, *(layout.review_stage(i) for i in range(len(job.spec.filters)))]


def review_plan(job: Job, env: Environment, index: int) -> StagePlan:
    """A publisher's own filter (the job's index-th): its container, like the algorithm's but
    with the inputs, the DDOs, the logs and the outputs read-only, its own code as
    /data/transformations/algorithm, and /data/verdict its only writable place; no network,
    the environment's limits, at most FILTER_SECONDS."""
    publisher_filter = job.spec.filters[index]
    folder = f"{layout.FILTERS}/{index}"
    container = publisher_filter.container
    return StagePlan(
        stage=layout.review_stage(index),
        image=container.reference,
        command=["/bin/sh", "-c", container.entrypoint.replace("$ALGO", f"{layout.DATA_MOUNT}/{layout.ALGORITHM}")],
        env={"HOME": "/tmp", "LANG": "C.UTF-8", **layout.algorithm_env(job.spec), "VERDICT": "/data/verdict"},  # noqa: S108
        mounts=[
            Mount("data/inputs", "/data/inputs", True),
            Mount("data/ddos", "/data/ddos", True),
            Mount("data/logs", "/data/logs", True),
            Mount(layout.OUTPUTS, "/data/outputs", True),
            Mount(f"{folder}/transformations", "/data/transformations", True),
            Mount(f"{folder}/verdict", "/data/verdict", False),
        ],
        network=False,
        cpu=env.cpu,
        memory_mb=env.memory_mb,
        processes=env.max_processes,
        tmp_mb=min(env.disk_mb, 1024),
        seconds=min(env.max_duration, FILTER_SECONDS),
        workdir="/data",
        container=container,
        pull=env.pull_policy,
        pull_secret=env.pull_secret,
        start_seconds=env.start_timeout,
    )


def _plan(stage: str, job: Job, env: Environment, settings: OperatorSettings) -> StagePlan:
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
    if stage == "filter":
        return StagePlan(
            stage=stage,
            image=settings.image("publish"),  # publish's image holds the filter's program too
            command=["python", "-m", "c2d.pods.filter", "/job"],
            env={},
            mounts=[Mount("", "/job", True), Mount(layout.FILTER_DIR, f"/job/{layout.FILTER_DIR}", False)],
            network=False,
            cpu=1.0,
            memory_mb=FILTER_MEMORY_MB,
            processes=64,
            tmp_mb=64,
            seconds=FILTER_SECONDS,
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
        runtime=env.runtime,
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

    def review(self, job: Job, env: Environment, index: int, should_stop: Callable[[], bool]) -> Outcome:
        """The job's index-th publisher's filter (review_plan), its verdict folder emptied first."""

    def filter(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        """The output policy's checks (c2d.pods.filter), inputs and outputs read-only."""

    def filter_report(self, job: Job) -> FilterReport | None:
        """The filter stage's decision, or None if it left none that reads."""

    def withhold(self, job: Job) -> None:
        """The algorithm's outputs and log go unreleased: removed."""

    def publish(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome: ...

    def job_dir(self, job: Job) -> Path: ...

    def results(self, job: Job) -> list[ResultFile]:
        """What publish listed (results.json), with the logs' sizes as they are now."""

    def release_inputs(self, job: Job) -> None:
        """Results held for approval: the inputs, the algorithm and the filters go (publish
        needs only the outputs)."""

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
        layout.signals(job_dir).mkdir(exist_ok=True)
        (job_dir / layout.FILTER_DIR).mkdir(exist_ok=True)
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

    def filter_report(self, job: Job) -> FilterReport | None:
        path = self.job_dir(job) / layout.FILTER_DIR / "report.json"
        try:
            with path.open("rb") as handle:
                data = handle.read(REPORT_BYTES + 1)
            if len(data) > REPORT_BYTES:
                return None
            return FilterReport.model_validate_json(data)
        except (OSError, ValueError):
            return None

    def empty_verdict(self, job: Job, index: int) -> Path:
        """The index-th publisher's filter's verdict folder (configure made it), emptied."""
        folder = layout.publisher_filter(self.job_dir(job), index) / "verdict"
        if folder.is_symlink() or not folder.is_dir():
            raise IsolationUnavailable("a publisher's filter's verdict folder is not a plain folder")
        _empty_folder(folder)
        return folder

    def withhold(self, job: Job) -> None:
        self.drop_outputs(job)
        layout.log(self.job_dir(job), "algorithm").unlink(missing_ok=True)
        shutil.rmtree(layout.data(self.job_dir(job)) / layout.RESULTS, ignore_errors=True)

    def clean_inputs(self, job: Job) -> None:
        """After a job, well or badly: its inputs, its algorithm and whatever the algorithm wrote
        go (with its disk volume); the published results (data/results) and logs stay until
        they expire."""
        self.drop_outputs(job)
        self.release_inputs(job)

    def release_inputs(self, job: Job) -> None:
        data = layout.data(self.job_dir(job))
        for name in ("inputs", "transformations"):
            shutil.rmtree(data / name, ignore_errors=True)
        shutil.rmtree(self.job_dir(job) / layout.FILTERS, ignore_errors=True)

    def mount_outputs(self, job: Job, env: Environment, owner: int | None) -> None:
        """The algorithm's writable space: a volume of the environment's diskMb (c2d.operator.executors.quota)."""
        if self.volumes:
            outputs = layout.outputs(self.job_dir(job))
            try:
                quota.mount(self.job_dir(job), outputs, env.disk_mb, owner)
            except quota.NoRoom as exc:
                raise IsolationUnavailable(str(exc)) from None

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
    run it (`_start` and `_follow`, per executor). Configure starts the algorithm and publish
    ahead (see above). A stage already under way (`_under_way`: started ahead, or an engine
    restarted) is followed as it is, so only a new algorithm run starts from no outputs."""

    def __init__(self, settings: OperatorSettings) -> None:
        super().__init__(settings)
        self._ahead_problems: dict[str, Outcome] = {}  # an algorithm that could not start ahead
        self._ahead: dict[str, _Ahead] = {}  # starting the stages ahead, by job

    def configure(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        job_dir = self.prepare(job)
        p = plan("configure", job, env, self.settings)
        fresh = job.status == Status.WARMING_UP  # as scheduled: nothing of it was ever started
        if not fresh and self._under_way(job, "configure"):
            return self._run(job, p, should_stop)
        if not fresh:  # configured again from the start: so are the stages after it
            self._ahead_started(job, "publish")
            self._discard(job, ("algorithm", "publish"))
        self._ahead_problems.pop(job.id, None)
        layout.clear_signals(job_dir)
        return self._run(job, p, should_stop, lambda: self._start_ahead(job, env))

    def _start_ahead(self, job: Job, env: Environment) -> None:
        """Beside configure, which is followed meanwhile (container starts at once, not after
        each other)."""
        ahead = _Ahead(target=lambda: self._start_stages_ahead(job, env, ahead))
        self._ahead[job.id] = ahead
        ahead.thread.start()

    def _ahead_started(self, job: Job, stage: str) -> None:
        """Waits until the stage ahead is started (or found not to start)."""
        ahead = self._ahead.get(job.id)
        if ahead is None:
            return
        ahead.started[stage].wait()
        if stage == "publish":
            ahead.thread.join()
            self._ahead.pop(job.id, None)

    def _start_stages_ahead(self, job: Job, env: Environment, ahead: "_Ahead") -> None:
        """The algorithm's outputs volume, then the algorithm's and publish's containers,
        waiting for their signals. One that cannot start now is started in its stage (the
        algorithm's image problem is kept: it is that stage's outcome, and the image is not
        looked for twice)."""
        try:
            self.drop_outputs(job)
            self.mount_outputs(job, env, STAGE_UID if os.geteuid() == 0 else None)
        except Exception as exc:  # the algorithm's stage mounts it again, and says what fails
            log.warning("job %s: outputs not mounted ahead: %s", job.id, type(exc).__name__)
            for event in ahead.started.values():
                event.set()
            return
        publish = threading.Thread(target=self._start_one_ahead, args=(job, env, "publish", ahead), daemon=True)
        publish.start()  # both at once: publish, a Python program, has the longer way to be ready
        self._start_one_ahead(job, env, "algorithm", ahead)
        publish.join()

    def _start_one_ahead(self, job: Job, env: Environment, stage: str, ahead: "_Ahead") -> None:
        try:
            problem = self._start(job, plan(stage, job, env, self.settings, ahead=True))
            if problem is not None and stage == "algorithm" and problem.unprovisioned:
                self._ahead_problems[job.id] = problem
        except Exception as exc:  # the stage itself starts it again, and says what fails
            log.warning("job %s: %s not started ahead: %s", job.id, stage, type(exc).__name__)
        finally:
            ahead.started[stage].set()

    def algorithm(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        self.prepare(job)
        self._ahead_started(job, "algorithm")
        if problem := self._ahead_problems.pop(job.id, None):
            return problem
        if not self._under_way(job, "algorithm"):
            # A fresh outputs volume: a publish started ahead (by an engine that died before it
            # started the algorithm, or beside an algorithm that could not start ahead) keeps
            # the volume it was started with and would publish none of these outputs; it goes,
            # and is started in its own stage (once its start ahead is over: not made after this).
            self._ahead_started(job, "publish")
            self._discard(job, ("publish",))
            self.drop_outputs(job)
            self.mount_outputs(job, env, STAGE_UID if os.geteuid() == 0 else None)
        return self._run(job, plan("algorithm", job, env, self.settings), should_stop)

    def review(self, job: Job, env: Environment, index: int, should_stop: Callable[[], bool]) -> Outcome:
        """Always from the start, like the filter: an earlier run's verdict and container go."""
        self.prepare(job)
        stage = layout.review_stage(index)
        self._discard(job, (stage,))
        self.empty_verdict(job, index)
        return self._run(job, review_plan(job, env, index), should_stop)

    def filter(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        """Always from the start (an earlier run's decision and container go): it is only a check."""
        self.prepare(job)
        self._discard(job, ("filter",))
        _empty_folder(self.job_dir(job) / layout.FILTER_DIR)
        return self._run(job, plan("filter", job, env, self.settings), should_stop)

    def publish(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        job_dir = self.prepare(job)
        self._ahead_started(job, "publish")
        self._settle(job)
        self.write_log(job, "publish", b"")  # listed by publish, filled when it ends
        layout.signal(job_dir, layout.PUBLISH)  # the algorithm has ended, its log is in place
        outcome = self._run(job, plan("publish", job, env, self.settings), should_stop)
        if outcome.exit_code == PublishExit.NOT_ASKED:  # started ahead, it waited past its time
            self._discard(job, ("publish",))
            outcome = self._run(job, plan("publish", job, env, self.settings), should_stop)
        if outcome.ok:  # the published outputs are in data/results now: the volume goes
            self.drop_outputs(job)
        return outcome

    def clean_inputs(self, job: Job) -> None:
        self._ahead_started(job, "publish")
        self._discard(job, stages_of(job))  # stages started ahead that were not needed
        self._ahead_problems.pop(job.id, None)
        super().clean_inputs(job)

    def since(self, job: Job, stage: str) -> float | None:
        """When a stage started ahead was let go (its signal's time, wall clock): its own time
        counts from then, not from its container's start."""
        signal = {"algorithm": layout.CONFIGURED, "publish": layout.PUBLISH}.get(stage)
        try:
            return (layout.signals(self.job_dir(job)) / signal).stat().st_mtime if signal else None
        except OSError:
            return None

    def _settle(self, job: Job) -> None:
        """Before publish: whatever of the earlier stages is still to be collected."""

    def _under_way(self, job: Job, stage: str) -> bool:
        raise NotImplementedError

    def _discard(self, job: Job, stages: Iterable[str]) -> None:
        raise NotImplementedError

    def _start(self, job: Job, p: StagePlan) -> Outcome | None:
        """Starts the stage's container; how that failed (nothing of it ran), or None."""
        raise NotImplementedError

    def _run(
        self, job: Job, p: StagePlan, should_stop: Callable[[], bool], started: Callable[[], None] | None = None
    ) -> Outcome:
        """Starts the stage unless it is under way, then calls `started`, follows it to its end."""
        raise NotImplementedError


class _Ahead:
    """The stages started ahead of one job: the thread that starts them, and when each is."""

    def __init__(self, target: Callable[[], None]) -> None:
        self.thread = threading.Thread(target=target, name="stages-ahead", daemon=True)
        self.started = {"algorithm": threading.Event(), "publish": threading.Event()}


def _empty_folder(folder: Path) -> None:
    """A stage's folder emptied in place (a stage run again starts from nothing); links removed,
    never followed."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


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
