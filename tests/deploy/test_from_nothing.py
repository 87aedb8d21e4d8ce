"""One command from no cluster to a first finished job, and one back to nothing: the program's
`local` cluster (c2d:cluster local) through c2d.infra.loopback. Runs after the cluster tests,
with the test cluster down (make test-cluster); marker `from_nothing`."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from egress import egress_packets

REPO = Path(__file__).resolve().parents[2]
API_SERVER = "https://127.100.0.1:443/healthz"
RUNNING = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "c2d-docker"]

pytestmark = pytest.mark.from_nothing


def _running() -> list[str]:
    """The test cluster's processes still running."""
    found = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [name for name in RUNNING if any(name in line and "ps -eo" not in line for line in found.splitlines())]


def _loopback(*args: str, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "c2d.infra.loopback", *args, "c2d:cluster=local"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_one_command_brings_up_the_cluster_its_images_the_stack_and_a_first_job_and_one_takes_it_all_down():
    subprocess.run([str(REPO / "scripts/cluster/down.sh")], check=True, capture_output=True)
    assert _running() == [], "the test cluster should be down before this test"

    up = _loopback("up", timeout=1800)
    print(up.stdout)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    # "  35.5 s  cluster", " 157.9 s  images": right-aligned seconds, two spaces, the step
    steps = [m.group(1) for line in up.stdout.splitlines() if (m := re.match(r"\s*[\d.]+ s  (\S.*)$", line))]
    assert steps[:3] == ["cluster", "images", "applied"], steps
    assert steps[-1] == "first job finished (70)", steps
    assert egress_packets() == 0, "the cluster tried to reach a non-loopback address (dmesg | grep c2d-egress)"

    down = _loopback("down", timeout=600)
    assert down.returncode == 0, down.stderr[-3000:]
    assert _running() == [], _running()
    assert not Path("/var/lib/c2d-volumes/c2d-system").exists() and not Path("/var/lib/c2d-volumes/c2d-jobs").exists()
    assert (
        not Path("/var/lib/c2d-cluster/kubeconfig").exists()
        or subprocess.run(["curl", "-sk", "--max-time", "2", API_SERVER], capture_output=True, check=False).returncode
        != 0
    )
