"""How a stage pod ended, read from its status (the kubernetes executor's polling)."""

import time
from typing import Any

from c2d.job import Outcome

START_ALLOWANCE = 60  # seconds a stage pod may take to start; its time limit counts from the container's start
CANNOT_START = {
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


def running_for(pod: Any) -> float:
    """Seconds the stage's container has been running (0 before it starts)."""
    for container in (pod.status and pod.status.container_statuses) or []:
        running = container.state and container.state.running
        if running and running.started_at:
            return max(0.0, time.time() - float(running.started_at.timestamp()))
    return 0.0


def pod_outcome(pod: Any, elapsed: float) -> Outcome | None:
    status = pod.status
    if status is None:
        return None
    if status.reason == "DeadlineExceeded":
        return Outcome.timeout(elapsed)
    if status.reason == "Evicted":
        return Outcome.failed(f"was evicted: {status.message or ''}".strip(), elapsed)
    for container in status.container_statuses or []:
        state = container.state
        if state and state.waiting and state.waiting.reason in CANNOT_START:
            waiting = state.waiting
            return Outcome.failed(f"could not start: {waiting.reason}: {waiting.message or ''}".strip(), elapsed)
        if state and state.terminated and status.phase in ("Succeeded", "Failed"):
            terminated = state.terminated
            oom = terminated.reason == "OOMKilled"
            return Outcome.exited(terminated.exit_code, elapsed, signal=terminated.signal, out_of_memory=oom)
    if status.phase == "Failed":
        return Outcome.failed(f"failed: {status.reason or 'pod failed'}", elapsed)
    if status.phase == "Pending" and elapsed > START_ALLOWANCE:
        for condition in status.conditions or []:
            if condition.type == "PodScheduled" and condition.status == "False":
                return Outcome.failed(f"could not be scheduled: {condition.message or condition.reason}", elapsed)
    return None
