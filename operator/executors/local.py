"""The local executor: each stage a sandboxed process tree on this machine (c2d.operator.executors.sandbox)."""

import os
import sys
from collections.abc import Callable
from pathlib import Path

from c2d.job import Outcome, layout
from c2d.operator.environments import Environment
from c2d.operator.executors import sandbox
from c2d.operator.executors.base import (
    FILTER_MEMORY_MB,
    FILTER_SECONDS,
    STAGE_SECONDS,
    ExecutorUnavailable,
    IsolationUnavailable,
    JobDirectories,
    _empty_folder,
    review_plan,
)
from c2d.operator.executors.relay import SOCKET_NAME, ProviderRelay, RelayUnavailable, relay_folder
from c2d.operator.executors.sandbox import Limits
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import Job


class LocalExecutor(JobDirectories):
    """Stages as sandboxed OS processes on this machine (see c2d.operator.executors.sandbox)."""

    def __init__(self, settings: OperatorSettings) -> None:
        super().__init__(settings)
        settings.signing_key()  # configure signs its input requests: no engine without the key
        os.chmod(self.jobs_dir, 0o711)  # algorithms run as other users: they may pass, not list

    def halt(self) -> None:
        sandbox.kill_all_stages()

    def check(self) -> None:
        try:
            sandbox.bwrap()
        except IsolationUnavailable as exc:
            raise ExecutorUnavailable(f"the local executor cannot isolate stages: {exc}") from None

    def _prepare(self, job: Job) -> Path:
        """The job's directory; when the engine is root, configure's and publish's user owns it
        (they run as that user, without capabilities), job.json readable by that user only."""
        job_dir = self.job_dir(job)
        data = layout.data(job_dir)
        for name in layout.DATA_DIRS:
            (data / name).mkdir(parents=True, exist_ok=True)
        os.chmod(job_dir, 0o711)
        os.chmod(data, 0o711)
        spec = layout.write_spec(job_dir, job.spec)
        if self.trusted_uid is not None:
            for path in (job_dir, data, spec, *(data / name for name in ("inputs", "ddos", "transformations"))):
                os.lchown(path, self.trusted_uid, self.trusted_uid)
        return job_dir

    @property
    def trusted_uid(self) -> int | None:
        return sandbox.TRUSTED_UID if os.geteuid() == 0 else None

    def _trusted(
        self,
        job: Job,
        argv: list[str],
        relay: Path | None,
        log: str,
        env: dict[str, str],
        stop: Callable[[], bool],
        limits: Limits | None = None,
        writable: str | None = None,
    ) -> Outcome:
        job_dir = self._prepare(job)
        limits = limits or Limits(memory_mb=1024, cpu=1.0, processes=256, file_size_mb=1 << 20, seconds=STAGE_SECONDS)
        base_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        return sandbox.run(
            lambda fd: sandbox.trusted_command(job_dir, argv, relay, self.trusted_uid, fd, writable),
            limits,
            f"{job.id}-{log.removesuffix('.log')}",
            layout.log(job_dir, log.removesuffix(".log")),
            {**base_env, **env},
            stop,
        )

    def configure(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        secrets = {
            "C2D_OPERATOR_KEY": self.settings.signing_key(),
            "C2D_PROVIDER_URL": self.settings.provider_url,
            "C2D_PROVIDER_SOCKET": f"{sandbox.RELAY_MOUNT}/{SOCKET_NAME}",
        }
        argv = [sys.executable, "-m", "c2d.pods.configure", sandbox.STAGE_MOUNT]
        try:
            folder = relay_folder(job.id)
        except RelayUnavailable as exc:
            raise IsolationUnavailable(str(exc)) from None
        with ProviderRelay(folder, self.settings.provider_url, self.trusted_uid):
            return self._trusted(job, argv, folder, "configure.log", secrets, should_stop)

    def algorithm(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        if env.runtime != "runc":
            raise IsolationUnavailable(f"the environment's runtime {env.runtime} is the container executors' only")
        job_dir = self._prepare(job)
        data = layout.data(job_dir)
        outputs = layout.outputs(job_dir)
        self.drop_outputs(job)  # a restarted algorithm starts from no outputs
        outputs.mkdir(exist_ok=True)
        if outputs.is_symlink() or not outputs.is_dir():
            raise IsolationUnavailable("the job's outputs folder is not a plain folder")
        uid = None
        if os.geteuid() == 0:
            uid = sandbox.ALGORITHM_UID_BASE + job.seq % 60_000  # its own user: no job reaches another's files
            os.lchown(outputs, uid, uid)
        self.mount_outputs(job, env, uid)
        _readable(data)
        network = job.spec.allowNetworkAccess and env.network
        limits = Limits(
            memory_mb=env.memory_mb,
            cpu=env.cpu,
            processes=env.max_processes,
            file_size_mb=env.disk_mb,
            seconds=env.max_duration,
            log_bytes=env.max_log_mb << 20,
        )
        spec = job.spec
        return sandbox.run(
            lambda fd: sandbox.algorithm_command(
                data, layout.entrypoint(spec), layout.algorithm_env(spec), network, uid, fd
            ),
            limits,
            f"{job.id}-algorithm",
            layout.log(job_dir, "algorithm"),
            {},
            should_stop,
            user_network=network,
        )

    def review(self, job: Job, env: Environment, index: int, should_stop: Callable[[], bool]) -> Outcome:
        """A publisher's own filter in the algorithm's sandbox: the inputs, DDOs, logs and
        outputs read-only, its code as /data/transformations, /data/verdict writable."""
        job_dir = self._prepare(job)
        data = layout.data(job_dir)
        verdict = self.empty_verdict(job, index)
        p = review_plan(job, env, index)
        uid = None
        if os.geteuid() == 0:  # the job's own user, as its algorithm's (whose processes are gone)
            uid = sandbox.ALGORITHM_UID_BASE + job.seq % 60_000
            _hand_over(layout.outputs(job_dir), uid)  # (an earlier filter stage may have taken them)
            os.lchown(verdict, uid, uid)
        _readable(data)
        _readable(layout.publisher_filter(job_dir, index), ("transformations",))
        binds = [
            (data / "inputs", "/data/inputs", True),
            (data / "ddos", "/data/ddos", True),
            (data / "logs", "/data/logs", True),
            (layout.outputs(job_dir), "/data/outputs", True),
            (layout.publisher_filter(job_dir, index) / "transformations", "/data/transformations", True),
            (verdict, "/data/verdict", False),
        ]
        limits = Limits(memory_mb=p.memory_mb, cpu=p.cpu, processes=p.processes, file_size_mb=64, seconds=p.seconds)
        entrypoint = p.command[-1]
        env_vars = {k: v for k, v in p.env.items() if k != "HOME"}  # the sandbox's HOME is /data
        return sandbox.run(
            lambda fd: sandbox.algorithm_command(data, entrypoint, env_vars, False, uid, fd, binds=binds),
            limits,
            f"{job.id}-{p.stage}",
            layout.log(job_dir, p.stage),
            {},
            should_stop,
        )

    def filter(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        """The job's directory read-only but for data/../filter/ (its scratch space and report)."""
        job_dir = self._prepare(job)
        folder = job_dir / layout.FILTER_DIR
        folder.mkdir(exist_ok=True)
        _empty_folder(folder)
        if self.trusted_uid is not None:
            os.lchown(folder, self.trusted_uid, self.trusted_uid)
            _hand_over(layout.outputs(job_dir), self.trusted_uid)
        argv = [sys.executable, "-m", "c2d.pods.filter", sandbox.STAGE_MOUNT]
        limits = Limits(memory_mb=FILTER_MEMORY_MB, cpu=1.0, processes=64, file_size_mb=1 << 20, seconds=FILTER_SECONDS)
        return self._trusted(job, argv, None, "filter.log", {}, should_stop, limits, writable=layout.FILTER_DIR)

    def publish(self, job: Job, env: Environment, should_stop: Callable[[], bool]) -> Outcome:
        if self.trusted_uid is not None:
            _hand_over(layout.outputs(self.job_dir(job)), self.trusted_uid)
        argv = [sys.executable, "-m", "c2d.pods.publish", sandbox.STAGE_MOUNT, str(env.max_output_mb << 20)]
        outcome = self._trusted(job, argv, None, "publish.log", {}, should_stop)
        if outcome.ok:  # the published outputs are in data/results now: the volume goes
            self.drop_outputs(job)
        return outcome


def _hand_over(outputs: Path, uid: int) -> None:
    """The algorithm's outputs to publish's user, so that publish needs no privilege to read
    and rename them. The algorithm's processes are gone (its PID namespace ended with it), so
    the tree holds still; nothing here follows a link (lchown; links keep their mode)."""
    if not outputs.is_dir() or outputs.is_symlink():
        return
    for root, dirs, files in os.walk(outputs):
        os.lchown(root, uid, uid)
        os.chmod(root, 0o700)
        for name in dirs + files:
            path = os.path.join(root, name)
            os.lchown(path, uid, uid)
            if not os.path.islink(path) and name in files:
                os.chmod(path, 0o600)


def _readable(data: Path, names: tuple[str, ...] = ("inputs", "ddos", "transformations", "logs")) -> None:
    """Inputs, DDOs and the algorithm readable by the algorithm's user (written by configure as
    the engine's user)."""
    for name in names:
        for root, dirs, files in os.walk(data / name):
            os.chmod(root, 0o755)
            for entry in files:
                os.chmod(os.path.join(root, entry), 0o644)
            for entry in dirs:
                os.chmod(os.path.join(root, entry), 0o755)
