"""The docker executor: one container per stage on the local Docker daemon (through its CLI).

Every container: the stage user (non-root), `--cap-drop ALL`, no-new-privileges, read-only root
filesystem with a private /tmp, memory (no swap), CPU and process limits, and `--network none`
unless the stage needs the network (configure reaches the provider through the host's loopback;
an algorithm only when both its asset and its environment allow it). Containers are named
after the job and stage, so an engine that restarts finds and follows the ones under way.

The algorithm runs in its own image (its job's container section, c2d.operator.images): looked
up, pulled as its environment allows within its start time, compared with the digest it
declares, and run by id, so the image checked is the image that runs. Its time limit counts from
its container's start.
"""

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from c2d.job import Outcome
from c2d.operator.executors import usernet
from c2d.operator.executors.base import STAGE_UID, ContainerExecutor, ExecutorUnavailable, StagePlan, stages_of
from c2d.operator.executors.logs import FollowedLog
from c2d.operator.executors.relay import MOUNT as RELAY_MOUNT
from c2d.operator.executors.relay import SOCKET_NAME, ProviderRelay, RelayUnavailable, relay_folder
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import Job

POLL = 0.05
STOP_TIMEOUT = 2  # seconds between SIGTERM and SIGKILL when a stage is stopped
FOLLOW_END_SECONDS = 30  # for a followed log to end once its container has


# gVisor's own threads on the host (its kernel, Sentry, and one file server per mount): they
# count against the container's pids limit, and 64 was measured to be too few for an algorithm's
# five mounts (it exited 2 at its start). The algorithm's processes live inside gVisor.
GVISOR_HOST_THREADS = 256
KEY_FILE_SECONDS = 60  # a `docker run` has read its env file long before


def _host_pids(p: StagePlan) -> int:
    """The container's pids limit: the environment's processes, and gVisor's threads under gVisor."""
    return p.processes + (GVISOR_HOST_THREADS if p.runtime == "gvisor" else 0)


class DockerExecutor(ContainerExecutor):
    def __init__(self, settings: OperatorSettings) -> None:
        super().__init__(settings)
        settings.signing_key()  # configure signs its input requests: no engine without the key
        self.env = {k: v for k, v in os.environ.items() if k not in ("C2D_OPERATOR_KEY", "C2D_PROVIDER_KEY")}
        self._networks: dict[str, usernet.UserNetwork] = {}  # containers' slirp4netns, by container
        if settings.docker_host:
            self.env["DOCKER_HOST"] = settings.docker_host

    def _docker(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, check=check, timeout=timeout
        )

    def check(self) -> None:
        try:
            done = self._docker("version", "--format", "{{.Server.Version}}", check=False, timeout=30)
        except FileNotFoundError:
            raise ExecutorUnavailable("the docker executor needs the docker command, which is not installed") from None
        except subprocess.TimeoutExpired:
            raise ExecutorUnavailable("the Docker daemon did not answer within 30 s") from None
        if done.returncode != 0 or not done.stdout.strip():
            raise ExecutorUnavailable(f"the docker executor cannot reach Docker: {_first_line(done.stderr)}")
        self._forget_key_files()

    def _forget_key_files(self) -> None:
        """The operator key's files that an engine killed while it started a container left
        (each lives only while `docker run` reads it): found by the chaos suite. Only those older
        than a minute: another engine on these jobs may be starting a container right now."""
        for stale in self.jobs_dir.glob(".c2d-*.env"):
            with contextlib.suppress(OSError):
                if time.time() - stale.lstat().st_mtime > KEY_FILE_SECONDS:
                    stale.unlink()

    def _under_way(self, job: Job, stage: str) -> bool:
        return self._state(self._name(job, stage)) is not None

    # ---- one container ----

    @staticmethod
    def _name(job: Job, stage: str) -> str:
        return f"c2d-{job.id}-{stage}"

    def _state(self, name: str) -> dict[str, Any] | None:
        done = self._docker("inspect", "--type", "container", "--format", "{{json .State}}", name, check=False)
        if done.returncode != 0:
            return None
        state: dict[str, Any] = json.loads(done.stdout)
        return state

    # ---- the algorithm's image ----

    def _image(self, reference: str) -> dict[str, Any] | None:
        done = self._docker("image", "inspect", "--format", "{{json .}}", reference, check=False)
        if done.returncode != 0:
            return None
        image: dict[str, Any] = json.loads(done.stdout)
        return image

    def _pull(self, reference: str, p: StagePlan, deadline: float) -> str | None:
        """Pulls an image within the stage's start time; what went wrong, or None."""
        config = ["--config", p.pull_secret] if p.pull_secret else []  # credentials, never on the command's output
        try:
            done = self._docker(
                *config, "pull", "--quiet", reference, check=False, timeout=max(1.0, deadline - time.monotonic())
            )
        except subprocess.TimeoutExpired:
            return f"{reference} was not pulled within {p.start_seconds} s"
        if done.returncode != 0:
            return f"{reference} could not be pulled: {_first_line(done.stderr)}"
        return None

    def provide(self, p: StagePlan) -> tuple[str, str | None]:
        """The id of the image the algorithm is to run in, got as its environment allows and
        checked against the digest its container declares; or why there is none (nothing runs).
        Run by id, the image checked is the image that runs."""
        container = p.container
        assert container is not None
        tagged = f"{container.image}:{container.tag}"
        deadline = time.monotonic() + p.start_seconds
        if p.pull == "always" and (problem := self._pull(container.reference, p, deadline)):
            return "", problem
        # Pinned images are looked up by digest first: docker names a pulled image that way.
        found = (container.checksum and self._image(container.reference)) or self._image(tagged)
        if found is None and p.pull == "if-not-present":
            if problem := self._pull(container.reference, p, deadline):
                return "", problem
            found = self._image(container.reference)
        if found is None:
            never = " (its environment never pulls)" if p.pull == "never" else ""
            return "", f"{container.reference} is not on this host{never}"
        if container.checksum:
            digests = {str(found.get("Id")), *(str(d).partition("@")[2] for d in found.get("RepoDigests") or [])}
            if container.checksum not in digests:
                return "", f"{tagged} is not the declared image: expected {container.checksum}, found {found.get('Id')}"
        return str(found["Id"]), None

    def _create(self, job: Job, p: StagePlan, name: str, image: str) -> str | None:
        root = self.job_dir(job)
        args = [
            "run", "--detach", "--name", name,
            "--label", f"c2d.job={job.id}", "--label", f"c2d.stage={p.stage}",
            "--user", f"{STAGE_UID}:{STAGE_UID}",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--read-only", "--tmpfs", f"/tmp:rw,nosuid,nodev,size={p.tmp_mb}m,mode=1777",  # noqa: S108
            "--memory", f"{p.memory_mb}m", "--memory-swap", f"{p.memory_mb}m",
            "--cpus", str(p.cpu), "--pids-limit", str(_host_pids(p)), "--shm-size", f"{p.shm_mb}m",
            # No container gets the host's network: configure reaches the provider through the
            # relay's socket (p.relay); a network-allowed algorithm gets slirp4netns (usernet).
            "--network", "none",
            "--workdir", p.workdir, "--log-driver", "json-file",
            # Docker's own copy bounded too (JSON lines take about twice the text).
            "--log-opt", f"max-size={2 * (p.log_bytes >> 20) + 1}m", "--log-opt", "max-file=1",
        ]  # fmt: skip
        for mount in p.mounts:
            source = root / mount.source if mount.source else root
            args += [
                "--mount",
                f"type=bind,source={source},target={mount.target}" + (",readonly" if mount.read_only else ""),
            ]
        if p.relay:
            folder = relay_folder(job.id)
            args += ["--mount", f"type=bind,source={folder},target={RELAY_MOUNT},readonly"]
            args += ["--env", f"C2D_PROVIDER_SOCKET={RELAY_MOUNT}/{SOCKET_NAME}"]
        for key, value in p.env.items():
            args += ["--env", f"{key}={value}"]
        secret_file = None
        if p.secret_env:  # never on a command line: through a file only root can read
            secret_file = self._key_file(job, name)
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                for key in p.secret_env:
                    out.write(f"{key}={self.settings.signing_key()}\n")
            args += ["--env-file", str(secret_file)]
        if p.gpus:
            args += ["--gpus", str(p.gpus)]
        if p.runtime == "gvisor":
            args += ["--runtime", self.settings.docker_gvisor_runtime]
        command = p.command
        user_network = p.stage == "algorithm" and p.network
        if user_network:
            resolv = root / "resolv.conf"  # the user-mode network's DNS, not the host's
            resolv.write_text(usernet.RESOLV_CONF)
            resolv.chmod(0o644)
            args += ["--mount", f"type=bind,source={resolv},target=/etc/resolv.conf,readonly"]
            # the algorithm starts once its network is up (slirp4netns attaches after the start)
            command = ["/bin/sh", "-c", f"{NETWORK_WAIT}{p.command[-1]}"]
        try:
            done = self._docker(*args, "--entrypoint", command[0], image, *command[1:], check=False)
        finally:
            if secret_file:
                secret_file.unlink(missing_ok=True)
        if done.returncode != 0:
            return _first_line(done.stderr) or f"docker run exited with {done.returncode}"
        if user_network:
            return self._attach_network(name)
        return None

    def _waiter(self, name: str) -> "subprocess.Popen[bytes]":
        return subprocess.Popen(
            ["docker", "wait", name], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def _attach_network(self, name: str) -> str | None:
        """slirp4netns into the container's network namespace, guarded as on the local executor."""
        pid = self._docker("inspect", "--format", "{{.State.Pid}}", name, check=False).stdout.strip()
        try:
            if not pid.isdigit() or pid == "0":
                raise usernet.UserNetworkUnavailable("the container is not running")
            net = usernet.UserNetwork()
            net.attach(int(pid))
        except usernet.UserNetworkUnavailable as exc:
            return f"the algorithm may use the network, but its network {exc}"
        self._networks[name] = net
        return None

    def _run(
        self, job: Job, p: StagePlan, should_stop: Callable[[], bool], started: Callable[[], None] | None = None
    ) -> Outcome:
        if not p.relay:
            return self._run_container(job, p, should_stop, started)
        # Configure has no network: the provider only, through the relay's socket (its folder
        # is the same across engine restarts, so a container under way finds the new socket).
        owner = STAGE_UID if os.geteuid() == 0 else None
        try:
            folder = relay_folder(job.id)
        except RelayUnavailable as exc:
            return Outcome.failed(f"could not start: {exc}")
        with ProviderRelay(folder, self.settings.provider_url, owner):
            return self._run_container(job, p, should_stop, started)

    def _start(self, job: Job, p: StagePlan) -> Outcome | None:
        name = self._name(job, p.stage)
        image, problem = self.provide(p) if p.container else (p.image, None)
        if problem:
            return Outcome.not_provisioned(problem)
        problem = self._create(job, p, name, image)
        if problem:
            self._docker("rm", "--force", name, check=False)
            if p.container:  # nothing of the algorithm ran
                return Outcome.not_provisioned(f"could not be started: {problem}")
            return Outcome.failed(f"could not start: {problem}")
        return None

    def _key_file(self, job: Job, name: str) -> Path:
        """The operator key's file for the `docker run` of container `name` (outside the job's
        directory, which its stages mount)."""
        return self.job_dir(job).parent / f".{name}.env"

    def _discard(self, job: Job, stages: Iterable[str]) -> None:
        names = [self._name(job, stage) for stage in stages]
        self._docker("rm", "--force", *names, check=False)
        for name in names:
            self._key_file(job, name).unlink(missing_ok=True)
            if name in self._networks:
                self._networks.pop(name).close()

    def _run_container(
        self, job: Job, p: StagePlan, should_stop: Callable[[], bool], started_hook: Callable[[], None] | None
    ) -> Outcome:
        name = self._name(job, p.stage)
        state = self._state(name)
        if state is None:
            if failed := self._start(job, p):
                return failed
            started = time.monotonic()  # the algorithm's time counts from here, not the pull's
            state = self._state(name) or {}
        else:  # started ahead, or under way before an engine restart: its own time so far
            started = time.monotonic() - _age(state, self.since(job, p.stage))
            # its `docker run` has read the key's file: an engine killed during that run left it
            self._key_file(job, name).unlink(missing_ok=True)
        if started_hook:
            started_hook()
        followed = self._follow(job, p, name)
        outcome = None
        # `docker wait` returns when the container ends: no inspect per poll, and the end is
        # seen within one short sleep; the state is read again only when it has returned.
        waiter = self._waiter(name)
        try:
            while outcome is None:
                if state.get("Status") == "exited" or state.get("Status") == "dead":
                    code = int(state.get("ExitCode", -1))
                    oom = bool(state.get("OOMKilled"))
                    outcome = Outcome.exited(code, time.monotonic() - started, out_of_memory=oom)
                    break
                if should_stop():
                    self._docker("stop", "--time", str(STOP_TIMEOUT), name, check=False)
                    outcome = Outcome.stop(time.monotonic() - started)
                    break
                if time.monotonic() - started > p.seconds:
                    self._docker("kill", name, check=False)
                    outcome = Outcome.timeout(time.monotonic() - started)
                    break
                time.sleep(POLL)
                if waiter.poll() is not None:
                    state = self._state(name) or {"Status": "dead", "ExitCode": -1}
                    if state.get("Status") not in ("exited", "dead"):  # the wait broke off: wait again
                        waiter = self._waiter(name)
        finally:
            waiter.kill()
            waiter.wait()
        # Followed while it ran; the follow ends with the container (a stopped or killed one too).
        if followed.finish(FOLLOW_END_SECONDS):
            cut = followed.cut
        else:  # the follow broke off: the whole log again, streamed into the bounded log
            logs = subprocess.Popen(
                ["docker", "logs", name], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            assert logs.stdout is not None
            cut = self.copy_log(job, p.stage, logs.stdout, p.log_bytes)
            logs.wait()
        # The ended container stays until the job's end (clean_inputs: all in one call), so
        # that no stage waits for another's removal; an engine that restarts finds it ended.
        if name in self._networks:
            self._networks.pop(name).close()
        return outcome.with_log_cut(cut)

    def _follow(self, job: Job, p: StagePlan, name: str) -> FollowedLog:
        """The container's log copied into the stage's log as it comes (`docker logs --follow`)."""
        follower = subprocess.Popen(
            ["docker", "logs", "--follow", name], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert follower.stdout is not None
        stream = follower.stdout

        def copy() -> int:
            try:
                return self.copy_log(job, p.stage, stream, p.log_bytes)
            finally:
                if follower.wait() != 0:
                    raise OSError(f"docker logs --follow ended with {follower.returncode}")

        return FollowedLog(copy, follower.kill)

    def remove(self, job: Job) -> None:
        self._discard(job, stages_of(job))
        super().remove(job)


NETWORK_WAIT = "until grep -q tap0 /proc/net/dev; do sleep 0.05; done; "


def _age(state: dict[str, Any], since: float | None = None) -> float:
    """Seconds the container has been running, or (`since`, a wall time) since then if later:
    an algorithm started ahead counts from its signal."""
    from datetime import datetime

    try:
        started = datetime.fromisoformat(str(state["StartedAt"])[:26].rstrip("Z") + "+00:00").timestamp()
    except (KeyError, ValueError):
        started = time.time()
    return max(0.0, time.time() - max(started, since or 0.0))


def _first_line(text: str) -> str:
    """What docker's stderr says went wrong: its first line that is not a usage hint."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("Run '")]
    return lines[0].removeprefix("docker: ")[:300] if lines else ""
