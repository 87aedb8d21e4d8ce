"""The gVisor tier on the docker executor: an environment of runtime gvisor runs its algorithms
under gVisor's runsc (the test cluster's dockerd has it as the runtime `runsc`), whose system
calls reach gVisor's own kernel, not the host's; other environments keep runc."""

import json
import os
import time

import pytest
from chaos import ChaosStack

from c2d.job import FINAL

pytestmark = pytest.mark.cluster
KERNEL = "import os, pathlib\npathlib.Path('/data/outputs/kernel.txt').write_text(os.uname().release)\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("gvisor")
    environments = root / "environments.json"
    environments.write_text(json.dumps([{"id": "default"}, {"id": "gvisor", "runtime": "gvisor"}]))
    stack = ChaosStack(root, {"C2D_ENVIRONMENTS_FILE": str(environments)}, executor="docker")
    yield stack
    stack.close()


def _kernel_seen(stack, environment):
    job_id = stack.start(stack.order(), KERNEL, environment)
    deadline = time.monotonic() + 120
    while (status := stack.api.compute_status(job_id)[0])["status"] not in {int(s) for s in FINAL}:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["status"] == 70, status
    index = next(r["index"] for r in status["results"] if r["filename"] == "kernel.txt")
    return stack.api.compute_result(job_id, index).decode()


def test_a_gvisor_environment_runs_its_algorithm_on_gvisors_kernel_and_the_others_on_the_hosts(stack):
    host = os.uname().release
    assert _kernel_seen(stack, "default") == host
    seen = _kernel_seen(stack, "gvisor")
    assert seen and seen != host, seen  # gVisor's Sentry answers uname itself
