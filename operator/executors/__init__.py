"""Executors run a job's stages; the engine drives every executor through the same state machine.

base        the Executor protocol (all the engine uses), the job directories, stage plans
local       stages as sandboxed processes on this machine: sandbox, seccomp, quota, usernet, relay
docker      a container per stage on a Docker daemon
kubernetes  a batch/v1 Job per stage in the jobs namespace
"""

from c2d.operator.executors.base import Executor, ExecutorUnavailable, IsolationUnavailable
from c2d.operator.executors.local import LocalExecutor
from c2d.operator.settings import OperatorSettings


def make_executor(settings: OperatorSettings) -> Executor:
    if settings.executor == "local":
        return LocalExecutor(settings)
    if settings.executor == "docker":
        from c2d.operator.executors.docker import DockerExecutor

        return DockerExecutor(settings)
    if settings.executor == "kubernetes":
        from c2d.operator.executors.kubernetes import KubernetesExecutor

        return KubernetesExecutor(settings)
    raise ValueError(f"unknown executor {settings.executor}")


__all__ = ["Executor", "ExecutorUnavailable", "IsolationUnavailable", "LocalExecutor", "make_executor"]
