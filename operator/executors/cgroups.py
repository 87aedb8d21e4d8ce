"""cgroup v1 limits (memory, CPU, processes) for one stage's process tree, when the engine
may make them (root, and a cgroup v1 host); otherwise the sandbox falls back to rlimits."""

import contextlib
import os
import shlex
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from c2d.operator.executors.sandbox import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")


class Cgroups:
    """cgroup v1 memory, cpu and pids groups for one process tree, when this engine may make them."""

    CONTROLLERS = ("memory", "cpu", "pids")

    def __init__(self, name: str, limits: "Limits") -> None:
        self.paths: dict[str, Path] = {}
        if os.geteuid() != 0 or not all((CGROUP_ROOT / c / "cgroup.procs").exists() for c in self.CONTROLLERS):
            return
        for controller in self.CONTROLLERS:
            path = CGROUP_ROOT / controller / "c2d" / name
            path.mkdir(parents=True, exist_ok=True)
            self.paths[controller] = path
        memory = limits.memory_mb << 20
        (self.paths["memory"] / "memory.limit_in_bytes").write_text(str(memory))
        swap = self.paths["memory"] / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(memory))
        (self.paths["cpu"] / "cpu.cfs_period_us").write_text("100000")
        (self.paths["cpu"] / "cpu.cfs_quota_us").write_text(str(max(1000, int(limits.cpu * 100_000))))
        (self.paths["pids"] / "pids.max").write_text(str(limits.processes))

    @property
    def active(self) -> bool:
        return bool(self.paths)

    def enter_command(self) -> str:
        """Shell words that move the shell running them into every group."""
        return " && ".join(f"echo $$ > {shlex.quote(str(p / 'cgroup.procs'))}" for p in self.paths.values())

    def out_of_memory(self) -> bool:
        path = self.paths.get("memory")
        if not path:
            return False
        control = (path / "memory.oom_control").read_text()
        for line in control.splitlines():
            if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                return True
        return int((path / "memory.failcnt").read_text() or 0) > 0 and "under_oom 1" in control

    def kill_all(self) -> None:
        for path in self.paths.values():
            try:
                pids = (path / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)

    def remove(self) -> None:
        for path in self.paths.values():
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except OSError:
                    self.kill_all()
                    time.sleep(0.02)
