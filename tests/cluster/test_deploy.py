"""The whole system deployed from the Pulumi program's manifests (dev stack, rendered under
Pulumi's mocks; c2d.infra.loopback) on the real test cluster: Ganache, the contracts Job,
provider, operator service and engine come up, then a paid compute job goes through the command
line and the in-cluster provider and runs on the kubernetes executor of the in-cluster engine.

The stack gets namespaces of its own, so it does not meet the other cluster tests' objects.
Timings (apply → each part ready → first job finished) are written to build/deploy-timings.json
(`make bench` measures them against the embedded stack: bench.deploy).
"""

import json
import re
import time

import pytest

from c2d.chain import Chain
from c2d.infra.loopback import LoopbackStack
from commands import SUM_ALGORITHM
from commands import c2d as run_c2d
from stacks import REPO


def c2d(*args):
    return run_c2d(*args).stdout


def code_after_restart(rpc_url, addresses, address, seconds=120):
    """The code at `address` once the restarted chain answers again."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return bytes(Chain.at(rpc_url, addresses).w3.eth.get_code(address))
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.fixture
def stack(kubeconfig, kube):
    deployed = LoopbackStack(["c2d:systemNamespace=c2d-deploy-system", "c2d:jobsNamespace=c2d-deploy-jobs"], kubeconfig)
    deployed.down()  # leftovers of an interrupted run
    yield deployed
    deployed.down()


def test_the_rendered_stack_comes_up_and_runs_a_paid_job(stack, tmp_path):
    start = time.monotonic()
    timings = stack.up()
    try:
        recorded = stack.addresses()
        addresses = tmp_path / "addresses.json"
        addresses.write_text(recorded)
        assert set(json.loads(recorded)["1337"]["contracts"]) >= {"DataTokenFactory", "Metadata", "BaseToken"}

        # What a publisher and a consumer type, against the in-cluster provider and chain.
        home = str(tmp_path / "stack")
        c2d("stack", "connect", "--provider-url", stack.provider_url, "--rpc-url", stack.rpc_url,
            "--addresses", str(addresses), "--data-root", str(stack.data_root), "--served-root", stack.served_root,
            "--data-dir", home)  # fmt: skip
        (tmp_path / "n.csv").write_text("1\n2\n3\n")
        (tmp_path / "sum.py").write_text(SUM_ALGORITHM)
        published = c2d("publish", "dataset", str(tmp_path / "n.csv"), "--allow-raw", "--data-dir", home)
        did = re.search(r"did:op:[0-9a-fA-F]{40}", published).group(0)
        assert "bought" in c2d("tokens", "buy", did, "--data-dir", home)
        job = c2d("compute", "start", did, "--raw", str(tmp_path / "sum.py"), "--data-dir", home)
        timings["first job finished"] = round(time.monotonic() - start, 1)
        assert "70 Job finished" in job, job + stack.describe()
        job_id = re.search(r"job ([0-9a-f]{32})", job).group(1)
        index = re.search(r"\[(\d+)\] sum.txt", job).group(1)
        assert c2d("compute", "result", job_id, index, "--data-dir", home) == "6"

        # The engine in the cluster ran it: its WorkFlow carries the final status.
        workflow = json.loads(stack.kubectl("get", "workflow", job_id, "-n", stack.jobs, "-o", "json").stdout)
        assert workflow["status"]["statusCode"] == 70, workflow["status"]

        # Idempotent: the contracts Job run again sends no transaction and keeps the ConfigMap.
        (job_manifest,) = [m for m in stack.manifests if m["kind"] == "Job"]
        stack.kubectl("delete", "job", "c2d-contracts", "-n", stack.system, "--wait=true")
        stack.kubectl("apply", "-f", "-", stdin=json.dumps(job_manifest))
        stack.kubectl("wait", "-n", stack.system, "job/c2d-contracts", "--for=condition=complete", "--timeout=180s")
        log = stack.kubectl("logs", "-n", stack.system, "job/c2d-contracts").stdout
        assert "deployed nothing" in log and "configmap c2d-contracts unchanged" in log, log
        assert stack.addresses() == recorded

        # The chain keeps its state on its volume: after a restart the contracts are still there.
        stack.kubectl("delete", "pod", "-n", stack.system, "-l", "app.kubernetes.io/name=ganache", "--wait=true")
        factory = json.loads(recorded)["1337"]["contracts"]["DataTokenFactory"]["address"]
        assert code_after_restart(stack.rpc_url, addresses, factory) != b""
        assert "Job finished" in c2d("compute", "status", job_id, "--data-dir", home)
    finally:
        (REPO / "build").mkdir(exist_ok=True)
        (REPO / "build" / "deploy-timings.json").write_text(json.dumps(timings, indent=2) + "\n")
        print(f"deploy timings (s from apply): {timings}")
