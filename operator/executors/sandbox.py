"""Running one stage of a job as an isolated OS process (the local executor).

Every stage runs under bubblewrap in its own mount, PID, IPC and UTS namespaces, in its own
session, dying with the engine. The algorithm stage also gets:

- its own network namespace with only `lo` (unless the job may use the network);
- a filesystem of /usr (read-only), its job's /data (inputs, DDOs and algorithm read-only,
  outputs writable) and nothing else of the host;
- when the engine runs as root: an unprivileged user of its own (uid 200000 + n) with no
  capabilities and no_new_privs, and cgroups for memory, CPU and processes;
- rlimits for CPU time, file size, open files and processes (and address space without cgroups);
- a wall-clock timeout; at the end the whole process group and cgroup are killed.

If the sandbox cannot be set up, the stage does not run (fail closed): bubblewrap reports the
sandbox's start on a status pipe, and a stage that never started is an isolation failure.
"""

import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from c2d.job import Outcome
from c2d.operator.executors import seccomp, usernet
from c2d.operator.executors.base import IsolationUnavailable
from c2d.operator.executors.cgroups import Cgroups
from c2d.operator.executors.logs import LogWriter

ALGORITHM_UID_BASE = 200_000


_live: set[int] = set()  # process groups of stages under way (see kill_all_stages)
_live_lock = threading.Lock()


def kill_all_stages() -> None:
    """Kills every stage under way in this process (the engine shutting down). Their jobs keep
    their recorded status and continue when the engine starts again."""
    with _live_lock:
        groups = list(_live)
    for group in groups:
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu: float
    processes: int
    file_size_mb: int
    seconds: float
    log_bytes: int = 1 << 20


def bwrap() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise IsolationUnavailable("bubblewrap (bwrap) is not installed")
    return path


def algorithm_command(
    job_data: Path,
    entrypoint: str,
    env: dict[str, str],
    network: bool,
    uid: int | None,
    status_fd: int,
    binds: list[tuple[Path, str, bool]] | None = None,
) -> list[str]:
    """bwrap arguments for the algorithm: /usr read-only, the job's /data, nothing else.
    `binds` (source, target, read-only) replace the algorithm's /data folders (a publisher's
    filter sees other ones)."""
    data = job_data
    if binds is None:
        binds = [
            (data / "inputs", "/data/inputs", True),
            (data / "ddos", "/data/ddos", True),
            (data / "transformations", "/data/transformations", True),
            (data / "logs", "/data/logs", True),
            (data / "outputs", "/data/outputs", False),
        ]
    folders = [a for source, target, ro in binds for a in ("--ro-bind" if ro else "--bind", str(source), target)]
    args = [
        bwrap(),
        "--die-with-parent",
        "--new-session",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--unshare-net",  # always its own; with the network, slirp4netns's (c2d.operator.executors.usernet)
        # No user namespace when root: the algorithm must be a real host user (setpriv below).
        *([] if uid is not None else ["--unshare-user"]),
        "--json-status-fd",
        str(status_fd),
        "--clearenv",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/sbin", "/sbin",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--proc", "/proc",
        "--dev", "/dev",
        "--dir", "/data",
        *folders,
        "--dir", "/opt/c2d/bin",
        "--symlink", "/usr/bin/python3", "/opt/c2d/bin/python",
        "--chdir", "/data",
    ]  # fmt: skip
    if network:
        resolv = data.parent / "resolv.conf"  # the user-mode network's DNS, not the host's
        resolv.write_text(usernet.RESOLV_CONF)
        resolv.chmod(0o644)
        args += ["--ro-bind", str(resolv), "/etc/resolv.conf"]
        for name in ("/etc/hosts", "/etc/ssl", "/etc/ca-certificates"):
            if os.path.exists(name):
                args += ["--ro-bind", name, name]
    for key, value in {"PATH": "/opt/c2d/bin:/usr/bin:/bin", "HOME": "/data", "LANG": "C.UTF-8", **env}.items():
        args += ["--setenv", key, value]
    return [*args, "--", *_as_user(uid, ["/bin/sh", "-c", entrypoint])]


def _as_user(uid: int | None, argv: list[str]) -> list[str]:
    """`argv` as an ordinary host user without capabilities (bwrap runs as root for its
    privileged namespaces; inside, the host's permission checks apply to the stage)."""
    if uid is None:
        return argv
    return [
        "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
        "--inh-caps=-all", "--bounding-set=-all", "--", *argv,
    ]  # fmt: skip


TRUSTED_UID = 10001  # configure and publish when the engine runs as root (STAGE_UID of the containers)
STAGE_MOUNT = "/job"  # where configure and publish see their job's directory
RELAY_MOUNT = "/run/c2d"  # the provider relay's folder (c2d.operator.executors.relay)


def code_paths() -> list[str]:
    """What c2d's stage programs need to run: the interpreter, its libraries, c2d's packages."""
    import c2d
    import c2d.pods

    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, *c2d.__path__, *c2d.pods.__path__}
    found |= {entry for entry in sys.path if entry and os.path.isdir(entry)}
    paths = sorted({os.path.realpath(p) for p in found if os.path.isdir(p)} | {os.path.realpath(sys.executable)})
    # Inside /usr: bound with it. Nested in another one: bound with that one.
    outer = [p for p in paths if not p.startswith("/usr/") and p != "/usr"]
    return [p for p in outer if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in outer)]


def trusted_command(
    job_dir: Path, argv: list[str], relay: Path | None, uid: int | None, status_fd: int, writable: str | None = None
) -> list[str]:
    """bwrap arguments for c2d's own stage programs (configure, publish): no network (configure
    reaches the provider through the relay's socket at /run/c2d only), /usr and c2d's code
    read-only, the job's directory at /job (`writable`: read-only but for that folder of it, the
    filter stage's) and nothing else of the host; as an ordinary user
    without capabilities when the engine runs as root (`uid`), else in a user namespace."""
    args = [
        bwrap(),
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--unshare-cgroup-try",
        *([] if uid is not None else ["--unshare-user"]),
        "--json-status-fd", str(status_fd),
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/sbin", "/sbin",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",  # noqa: S108 (the sandbox's own)
    ]  # fmt: skip
    made: set[str] = set()
    for path in code_paths():
        for parent in reversed(Path(path).parents[:-1]):  # bwrap would make them 0700: root's only
            if str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", path, path]
    if writable is None:
        args += ["--bind", str(job_dir), STAGE_MOUNT, "--chdir", STAGE_MOUNT]
    else:
        inner = f"{STAGE_MOUNT}/{writable}"
        args += ["--ro-bind", str(job_dir), STAGE_MOUNT, "--bind", str(job_dir / writable), inner, "--chdir", inner]
    if relay is not None:
        args += ["--perms", "0755", "--dir", str(Path(RELAY_MOUNT).parent), "--ro-bind", str(relay), RELAY_MOUNT]
    return [*args, "--", *_as_user(uid, argv)]


def _hide_options(command: list[str]) -> tuple[list[str], int]:
    """bwrap's options (its mounts name host paths) read from a memory file (`--args FD`)
    rather than its command line, which every process in the sandbox can read as
    /proc/1/cmdline. The command after `--` stays: it names only paths inside."""
    split = command.index("--")
    fd = os.memfd_create("bwrap-args", 0)
    os.write(fd, b"".join(arg.encode() + b"\0" for arg in command[1:split]))
    os.lseek(fd, 0, os.SEEK_SET)
    return [command[0], "--args", str(fd), *command[split:]], fd


def _seccomp_filter() -> int | None:
    """A memory file holding the sandbox's seccomp program (c2d.operator.executors.seccomp); no sandbox
    without it (fail closed on an architecture it has no table for)."""
    if not seccomp.supported():
        raise IsolationUnavailable(f"no seccomp filter for this architecture ({platform.machine()})")
    fd = os.memfd_create("c2d-seccomp", 0)
    os.write(fd, seccomp.program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def run(
    build: Callable[[int], list[str]],
    limits: Limits,
    name: str,
    log_path: Path,
    env: dict[str, str],
    should_stop: Callable[[], bool],
    user_network: bool = False,
) -> Outcome:
    """Runs the command `build(status_fd)` returns under rlimits and cgroups, kills it at the
    deadline or on a stop request, and says how it ended. `user_network`: the sandbox gets a
    guarded user-mode network (c2d.operator.executors.usernet) before its command starts."""
    net = None
    if user_network:
        try:
            net = usernet.UserNetwork()
        except usernet.UserNetworkUnavailable as exc:
            raise IsolationUnavailable(f"the algorithm may use the network, but its network {exc}") from None
    cgroups = Cgroups(name, limits)
    read_fd, write_fd = os.pipe()
    built = build(write_fd)
    filter_fd = _seccomp_filter()
    if filter_fd is not None:  # before the command: bwrap applies it just before it runs that
        built.insert(built.index("--"), "--seccomp")
        built.insert(built.index("--"), str(filter_fd))
    block_read = block_write = None
    if net is not None:  # the command waits until its network is up
        block_read, block_write = os.pipe()
        built.insert(built.index("--"), "--block-fd")
        built.insert(built.index("--"), str(block_read))
    command, args_fd = _hide_options(built)
    rlimits = [
        f"--cpu={max(1, int(limits.seconds * max(limits.cpu, 1.0)) + 5)}",
        f"--fsize={limits.file_size_mb << 20}",
        "--nofile=256:256",
        "--core=0",
        f"--nproc={limits.processes}",
    ]
    if not cgroups.active:
        rlimits.append(f"--as={(limits.memory_mb + 64) << 20}")
    prefix = f"{cgroups.enter_command()} && " if cgroups.active else ""
    shell = prefix + "exec " + shlex.join(["prlimit", *rlimits, "--", *command])
    started = time.monotonic()
    process = subprocess.Popen(
        ["/bin/sh", "-c", shell],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        pass_fds=(write_fd, args_fd, *(fd for fd in (filter_fd, block_read) if fd is not None)),
        start_new_session=True,
    )
    os.close(write_fd)
    os.close(args_fd)
    for fd in (filter_fd, block_read):
        if fd is not None:
            os.close(fd)
    assert process.stdout is not None
    log = _LogCopier(process.stdout, LogWriter(log_path, limits.log_bytes))
    with _live_lock:
        _live.add(process.pid)
    status = _StatusReader(read_fd)
    timed_out = stopped = False
    try:
        if net is not None and block_write is not None:
            _attach(net, status, process)
            os.write(block_write, b"1")
        while process.poll() is None:
            if time.monotonic() - started > limits.seconds:
                timed_out = True
                break
            if should_stop():
                stopped = True
                break
            time.sleep(0.05)
    finally:
        if block_write is not None:
            os.close(block_write)
        if net is not None:
            net.close()
        _kill_group(process)
        cgroups.kill_all()
        process.wait()
        with _live_lock:
            _live.discard(process.pid)
        status.join()
        log.join(10)  # the pipe ends with the sandbox's last process
        out_of_memory = cgroups.out_of_memory()
        cgroups.remove()
    if status.child_pid is None and not (timed_out or stopped):
        tail = log_path.read_bytes()[-400:].decode(errors="replace").strip()
        raise IsolationUnavailable(f"the sandbox could not be set up: {tail.splitlines()[-1] if tail else 'no output'}")
    code = status.exit_code
    signum = None
    if code is None and process.returncode is not None and process.returncode < 0:
        signum = -process.returncode
    elif code is not None and code > 128:
        signum = code - 128
    if not cgroups.active and code not in (None, 0):
        out_of_memory = _memory_error_logged(log_path)
    if signum in (signal.SIGXFSZ, signal.SIGXCPU):
        out_of_memory = True  # a resource limit killed it: reported with out-of-memory as "killed by limits"
    return Outcome(
        exit_code=code,
        signal=signum,
        timed_out=timed_out,
        stopped=stopped,
        out_of_memory=out_of_memory,
        seconds=time.monotonic() - started,
        log_cut=log.dropped,
    )


class _LogCopier(threading.Thread):
    """Copies a stage's output into its bounded log while it runs."""

    def __init__(self, stream: Any, writer: LogWriter) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.writer = writer
        self.dropped = 0
        self.start()

    def run(self) -> None:
        self.dropped = self.writer.copy(self.stream)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _memory_error_logged(log_path: Path) -> bool:
    """Without cgroups, an address-space limit surfaces as an allocation failure in the log."""
    tail = log_path.read_bytes()[-2000:]
    return b"MemoryError" in tail or b"Cannot allocate memory" in tail or b"std::bad_alloc" in tail


def _attach(net: "usernet.UserNetwork", status: "_StatusReader", process: subprocess.Popen[bytes]) -> None:
    """The user-mode network into the sandbox, once bwrap reports its child."""
    deadline = time.monotonic() + usernet.START_SECONDS
    while status.child_pid is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise IsolationUnavailable("the sandbox did not start")
        time.sleep(0.002)
    try:
        net.attach(status.child_pid)
    except usernet.UserNetworkUnavailable as exc:
        raise IsolationUnavailable(f"the algorithm's network: {exc}") from None


class _StatusReader(threading.Thread):
    """Reads bwrap's JSON status lines: the sandboxed child's pid once it runs, its exit code."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.child_pid: int | None = None
        self.exit_code: int | None = None
        self.start()

    def run(self) -> None:
        with os.fdopen(self.fd, "rb") as pipe:
            for line in pipe:
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if "child-pid" in data:
                    self.child_pid = int(data["child-pid"])
                if "exit-code" in data:
                    self.exit_code = int(data["exit-code"])
