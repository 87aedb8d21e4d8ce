"""A kubelet that stops reporting (SIGSTOP) while a job's algorithm pod runs: the job still ends
in a clear state - its stages' own signals reach the engine through the jobs volume, and an
algorithm past its time is ended by the engine's own clock - and once the kubelet reports again,
nothing of the jobs is left in the cluster."""

import json
import os
import signal
import time
from pathlib import Path

import pytest
from chaos import ChaosStack

from c2d.job import FINAL

pytestmark = pytest.mark.cluster
KUBELET_PID = Path("/var/lib/c2d-cluster/run/kubelet.pid")
MAX_DURATION = 15
BRIEF = "import pathlib, time\ntime.sleep(4)\npathlib.Path('/data/outputs/done.txt').write_text('done')\n"
ENDLESS = "import time\ntime.sleep(3600)\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("kubelet")
    environments = root / "environments.json"
    environments.write_text(json.dumps([{"id": "default", "maxDuration": MAX_DURATION, "maxJobs": 2}]))
    stack = ChaosStack(root, {"C2D_ENVIRONMENTS_FILE": str(environments)}, executor="kubernetes")
    yield stack
    stack.close()


def _final(stack, job_id, timeout):
    deadline = time.monotonic() + timeout
    while (status := stack.api.compute_status(job_id)[0])["status"] not in {int(s) for s in FINAL}:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    return status


def test_jobs_end_clearly_while_the_kubelet_reports_nothing(stack):
    brief, endless = stack.start(stack.order(), BRIEF), stack.start(stack.order(), ENDLESS)
    deadline = time.monotonic() + 120
    while {job for job, stage, _ in stack.stages_running({brief, endless}) if stage == "algorithm"} != {brief, endless}:
        assert time.monotonic() < deadline, "the algorithms did not start"
        time.sleep(0.2)
    kubelet = int(KUBELET_PID.read_text())
    os.kill(kubelet, signal.SIGSTOP)
    try:
        done = _final(stack, brief, timeout=120)
        ended = _final(stack, endless, timeout=MAX_DURATION + 120)
    finally:
        os.kill(kubelet, signal.SIGCONT)
    assert done["status"] == 70, done  # its end came through the jobs volume, not the kubelet
    index = next(r["index"] for r in done["results"] if r["filename"] == "done.txt")
    assert stack.api.compute_result(brief, index) == b"done"
    assert (ended["status"], ended["statusText"]) == (42, "Algorithm timed out"), ended
    deadline = time.monotonic() + 120
    while left := stack.held_by_executor({brief, endless}):
        assert time.monotonic() < deadline, left
        time.sleep(1)
    for job_id in (brief, endless):
        stack.api.compute_delete(job_id)
