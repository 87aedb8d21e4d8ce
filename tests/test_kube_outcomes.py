"""How the kubernetes executor reads a stage pod's status (the cluster tests cover exit codes,
OOMKilled, deadlines and images that cannot be pulled on the real cluster; a kubelet eviction
cannot be provoked on the test cluster, whose kubelet has no per-pod disk statistics)."""

from datetime import UTC, datetime

from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1Pod,
    V1PodStatus,
)

from c2d.operator.executors.pods import START_ALLOWANCE, pod_outcome


def pod(phase, reason=None, message=None, state=None):
    statuses = None
    if state is not None:
        statuses = [
            V1ContainerStatus(name="algorithm", image="i", image_id="", ready=False, restart_count=0, state=state)
        ]
    return V1Pod(status=V1PodStatus(phase=phase, reason=reason, message=message, container_statuses=statuses))


def terminated(code, reason):
    return V1ContainerState(
        terminated=V1ContainerStateTerminated(exit_code=code, reason=reason, finished_at=datetime.now(UTC))
    )


def test_an_evicted_pod_fails_the_stage_with_the_kubelet_message():
    outcome = pod_outcome(pod("Failed", "Evicted", 'Usage of EmptyDir volume "tmp" exceeds the limit "8Mi".'), 3.0)
    assert outcome is not None and not outcome.ok
    assert outcome.detail == 'was evicted: Usage of EmptyDir volume "tmp" exceeds the limit "8Mi".'


def test_terminated_containers():
    ok = pod_outcome(pod("Succeeded", state=terminated(0, "Completed")), 1.0)
    assert ok is not None and ok.ok
    oom = pod_outcome(pod("Failed", state=terminated(137, "OOMKilled")), 1.0)
    assert oom is not None and oom.out_of_memory and oom.exit_code == 137
    crash = pod_outcome(pod("Failed", state=terminated(1, "Error")), 1.0)
    assert crash is not None and crash.exit_code == 1 and not crash.out_of_memory


def test_deadline_and_images_that_cannot_be_pulled():
    late = pod_outcome(pod("Failed", "DeadlineExceeded"), 9.0)
    assert late is not None and late.timed_out
    waiting = V1ContainerState(waiting=V1ContainerStateWaiting(reason="ImagePullBackOff", message="no such image"))
    stuck = pod_outcome(pod("Pending", state=waiting), 2.0)
    assert stuck is not None and stuck.detail == "could not start: ImagePullBackOff: no such image"


def test_a_pod_still_running_or_starting_has_no_outcome_yet():
    assert pod_outcome(pod("Pending"), 0.1) is None
    creating = V1ContainerState(waiting=V1ContainerStateWaiting(reason="ContainerCreating"))
    assert pod_outcome(pod("Pending", state=creating), 0.5) is None
    assert pod_outcome(pod("Running", state=V1ContainerState()), 0.5) is None


def test_one_of_c2ds_own_stage_pods_that_never_starts_ends_at_its_allowance():
    """A started-ahead publish pod the kubelet never reported as started (it had stopped
    reporting): the stage ends at c2d's start allowance instead of its much later time bound."""
    creating = V1ContainerState(waiting=V1ContainerStateWaiting(reason="ContainerCreating"))
    assert pod_outcome(pod("Pending", state=creating), START_ALLOWANCE - 1) is None
    late = pod_outcome(pod("Pending", state=creating), START_ALLOWANCE + 1)
    assert late is not None and late.unprovisioned and late.detail == f"did not start within {START_ALLOWANCE} s"
