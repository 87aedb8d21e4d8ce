"""How a stage pod ended, read from its status (the kubernetes executor's polling)."""

import time
from typing import Any

from c2d.job import Outcome

START_ALLOWANCE = 60  # seconds c2d's own stage pods may take to start; time limits count from the container's start
# Waiting reasons of a container that will not start: at once, or (a pull that may still work:
# the kubelet retries) once the stage's start time is over.
CANNOT_START = {
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
PULLING = {"ErrImagePull", "ImagePullBackOff"}


def running_for(pod: Any) -> float:
    """Seconds the stage's container has been running (0 before it starts)."""
    for container in (pod.status and pod.status.container_statuses) or []:
        running = container.state and container.state.running
        if running and running.started_at:
            return max(0.0, time.time() - float(running.started_at.timestamp()))
    return 0.0


def pod_outcome(pod: Any, elapsed: float, start_seconds: float | None = None) -> Outcome | None:
    """How the stage's pod ended, or None while it runs or may still start. A pod whose
    container never started is not provisioned (nothing of it ran). `start_seconds`: the
    algorithm's time to be pulled and started; c2d's own stages (None) are never pulled for
    long, and fail at a pull error at once."""
    pulls = start_seconds is not None
    start_seconds = START_ALLOWANCE if start_seconds is None else start_seconds
    status = pod.status
    if status is None:
        return None
    if status.reason == "DeadlineExceeded":
        return Outcome.timeout(elapsed)
    if status.reason == "Evicted":
        return Outcome.failed(f"was evicted: {status.message or ''}".strip(), elapsed)
    for container in status.container_statuses or []:
        state = container.state
        waiting = state and state.waiting
        if waiting and (
            waiting.reason in CANNOT_START or (waiting.reason in PULLING and (not pulls or elapsed > start_seconds))
        ):
            said = f"could not start: {waiting.reason}: {waiting.message or ''}".strip()
            return Outcome.not_provisioned(said[:500], elapsed)
        if state and state.terminated and status.phase in ("Succeeded", "Failed"):
            terminated = state.terminated
            oom = terminated.reason == "OOMKilled"
            return Outcome.exited(terminated.exit_code, elapsed, signal=terminated.signal, out_of_memory=oom)
    if status.phase == "Failed":
        return Outcome.failed(f"failed: {status.reason or 'pod failed'}", elapsed)
    if status.phase == "Pending" and elapsed > start_seconds:
        for condition in status.conditions or []:
            if condition.type == "PodScheduled" and condition.status == "False":
                said = f"could not be scheduled: {condition.message or condition.reason}"
                return Outcome.not_provisioned(said[:500], elapsed)
        if not running_for(pod):  # scheduled, never started: a kubelet that stopped reporting, a volume never mounted
            return Outcome.not_provisioned(f"did not start within {start_seconds:.0f} s", elapsed)
    return None
