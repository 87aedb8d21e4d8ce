"""A kubelet that stops reporting (SIGSTOP) while one job's algorithm runs and another's waits
for room on the node: each job still ends in a clear state, by the engine's own clock - the
waiting one at its start timeout (32: nothing of it ran), the running one at its deadline (its
end cannot be seen), its log read bounded in time, and then at the start bound of its output
policy's check, which the silent kubelet never starts (51: nothing leaves); and once the kubelet reports again,
nothing of either job is left in the cluster."""

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from chaos import JOBS_NS, ChaosStack, _core

from c2d.job import FINAL

pytestmark = pytest.mark.cluster
KUBELET_PID = Path("/var/lib/c2d-cluster/run/kubelet.pid")
MAX_DURATION, START_TIMEOUT = 20, 30
CHECK_NEVER_STARTED = (
    r"output policy: the results could not be checked \(the filter "
    r"(did not start within 60 s|could not be scheduled: .*node\.kubernetes\.io/unreachable.*)\)"
)
ENDLESS = "import time\nprint('begun', flush=True)\ntime.sleep(3600)\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("kubelet")
    environments = root / "environments.json"
    environments.write_text(
        json.dumps([{"id": "default", "maxDuration": MAX_DURATION, "startTimeout": START_TIMEOUT, "maxJobs": 2}])
    )
    stack = ChaosStack(root, {"C2D_ENVIRONMENTS_FILE": str(environments)}, executor="kubernetes")
    yield stack
    stack.close()


def _final(stack, job_id, timeout):
    deadline = time.monotonic() + timeout
    while (status := stack.api.compute_status(job_id)[0])["status"] not in {int(s) for s in FINAL}:
        assert time.monotonic() < deadline, (status["status"], status["reason"])
        time.sleep(0.2)
    return status


def _algorithm_pods(jobs):
    """{job id: its algorithm pod's phase}."""
    pods = _core().list_namespaced_pod(JOBS_NS, label_selector="workflow,component=algorithm").items
    return {
        pod.metadata.labels["workflow"]: pod.status.phase for pod in pods if pod.metadata.labels["workflow"] in jobs
    }


def _taints():
    """What the node controller put on the nodes while their kubelet was silent."""
    return [
        taint.key
        for node in _core().list_node().items
        for taint in node.spec.taints or []
        if taint.key in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")
    ]


def test_jobs_end_clearly_while_the_kubelet_reports_nothing(stack):
    orders = [stack.order(), stack.order()]
    jobs = [stack.start(order, ENDLESS) for order in orders]
    deadline = time.monotonic() + 120
    # the single node has room for one algorithm at a time: the other's pod waits, unscheduled
    while sorted(_algorithm_pods(jobs).values()) != ["Pending", "Running"]:
        assert time.monotonic() < deadline, _algorithm_pods(jobs)
        time.sleep(0.2)
    phases = _algorithm_pods(jobs)
    kubelet = int(KUBELET_PID.read_text())
    os.kill(kubelet, signal.SIGSTOP)
    try:
        # the deadline, a log follow's end (30 s) and a bounded read (40 s), the filter's start (60 s)
        ended = {job_id: _final(stack, job_id, timeout=MAX_DURATION + 40 + 60 + 60) for job_id in jobs}
    finally:
        os.kill(kubelet, signal.SIGCONT)
    for job_id, status in ended.items():
        said = (status["status"], status["reason"])
        if phases[job_id] == "Pending":  # nothing of it ran
            assert said == (32, f"the algorithm's image did not start within {START_TIMEOUT} s"), status
        else:  # it ran past its deadline; the output policy's check then never started: nothing left
            # unstarted, or unscheduled once the node controller marked the node unreachable (40 s)
            assert said[0] == 51, status
            assert re.fullmatch(CHECK_NEVER_STARTED, said[1]), status
    deadline = time.monotonic() + 120
    while left := stack.held_by_executor(set(jobs)) + _taints():
        assert time.monotonic() < deadline, left
        time.sleep(1)
    for job_id in jobs:
        stack.api.compute_delete(job_id)
