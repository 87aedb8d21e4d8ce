"""The whole system deployed from the Pulumi program's manifests (dev stack, rendered under
Pulumi's mocks) on the real test cluster: Ganache, the contracts Job, provider, operator
service and engine come up, then a paid compute job goes through the command line and the
in-cluster provider and runs on the kubernetes executor of the in-cluster engine.

The stack gets namespaces of its own, so it does not meet the other cluster tests' objects.
Timings (apply → each part ready → first job finished) are written to build/deploy-timings.json.
"""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from c2d.infra.render import run, stack_config
from stacks import REPO

SYSTEM, JOBS = "c2d-deploy-system", "c2d-deploy-jobs"
VOLUMES = Path("/var/lib/c2d-volumes")
C2D = str(Path(sys.executable).parent / "c2d")
PROVIDER, RPC = "http://127.0.0.1:8030", "http://127.0.0.1:8545"
SUM = (
    "import os, pathlib\n"
    "total = sum(int(x) for p in pathlib.Path(os.environ['INPUTS']).rglob('*') if p.is_file() for x in p.read_text().split())\n"
    "pathlib.Path(os.environ['OUTPUTS'], 'sum.txt').write_text(str(total))\n"
)


def kubectl(kubeconfig, *args, stdin=None, check=True):
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args], input=stdin, capture_output=True, text=True
    )
    if check:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def c2d(*args):
    done = subprocess.run([C2D, *args], capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def remove(kubeconfig):
    kubectl(kubeconfig, "delete", "namespace", SYSTEM, JOBS, "--ignore-not-found", "--timeout=120s", check=False)
    volumes = [f"pv/c2d-{part}-{ns}" for part, ns in (("provider", SYSTEM), ("jobs", JOBS))]
    kubectl(kubeconfig, "delete", *volumes, "--ignore-not-found", "--timeout=60s", check=False)
    for ns in (SYSTEM, JOBS):
        shutil.rmtree(VOLUMES / ns, ignore_errors=True)


@pytest.fixture
def manifests():
    config = stack_config(REPO / "Pulumi.dev.yaml", [f"c2d:systemNamespace={SYSTEM}", f"c2d:jobsNamespace={JOBS}"])
    return run(config).manifests()


def describe(kubeconfig):
    """What a failed wait shows: the pods and the recent events of both namespaces."""
    out = []
    for ns in (SYSTEM, JOBS):
        out.append(kubectl(kubeconfig, "get", "pods", "-n", ns, "-o", "wide", check=False).stdout)
        out.append(
            kubectl(kubeconfig, "get", "events", "-n", ns, "--sort-by=.lastTimestamp", check=False).stdout[-3000:]
        )
    return "\n".join(out)


def test_the_rendered_stack_comes_up_and_runs_a_paid_job(kubeconfig, kube, manifests, tmp_path):
    remove(kubeconfig)  # leftovers of an interrupted run
    timings: dict[str, float] = {}
    start = time.monotonic()

    def mark(name):
        timings[name] = round(time.monotonic() - start, 1)

    namespaces = [m for m in manifests if m["kind"] == "Namespace"]
    try:
        kubectl(
            kubeconfig, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": namespaces})
        )
        kubectl(
            kubeconfig, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests})
        )
        mark("applied")
        waits = [
            (SYSTEM, "deployment/c2d-ganache", "ganache"),
            (SYSTEM, "job/c2d-contracts", "contracts"),
            (SYSTEM, "deployment/c2d-provider", "provider"),
            (JOBS, "deployment/c2d-operator-service", "operator-service"),
            (JOBS, "deployment/c2d-operator-engine", "operator-engine"),
        ]
        for ns, what, name in waits:
            condition = "complete" if what.startswith("job/") else "available"
            waited = kubectl(
                kubeconfig, "wait", "-n", ns, what, f"--for=condition={condition}", "--timeout=240s", check=False
            )
            assert waited.returncode == 0, f"{what} is not {condition}:\n{waited.stderr}\n{describe(kubeconfig)}"
            mark(name)

        # The addresses the contracts Job recorded, as a publisher reads them.
        recorded = kubectl(
            kubeconfig, "get", "configmap", "c2d-contracts", "-n", SYSTEM, "-o", "jsonpath={.data.addresses\\.json}"
        )
        addresses = tmp_path / "addresses.json"
        addresses.write_text(recorded.stdout)
        assert set(json.loads(recorded.stdout)["1337"]["contracts"]) >= {"DataTokenFactory", "Metadata", "BaseToken"}

        stack = str(tmp_path / "stack")
        data_root = VOLUMES / SYSTEM / "provider" / "data"
        c2d("stack", "connect", "--provider-url", PROVIDER, "--rpc-url", RPC, "--addresses", str(addresses),
            "--data-root", str(data_root), "--served-root", "/var/lib/c2d/data", "--data-dir", stack)  # fmt: skip
        (tmp_path / "n.csv").write_text("1\n2\n3\n")
        (tmp_path / "sum.py").write_text(SUM)
        did = re.search(
            r"did:op:[0-9a-fA-F]{40}",
            c2d("publish", "dataset", str(tmp_path / "n.csv"), "--allow-raw", "--data-dir", stack),
        ).group(0)
        assert "bought" in c2d("tokens", "buy", did, "--data-dir", stack)
        job = c2d("compute", "start", did, "--raw", str(tmp_path / "sum.py"), "--data-dir", stack)
        mark("first job finished")
        assert "70 Job finished" in job, job + describe(kubeconfig)
        job_id = re.search(r"job ([0-9a-f]{32})", job).group(1)
        index = re.search(r"\[(\d+)\] sum.txt", job).group(1)
        assert c2d("compute", "result", job_id, index, "--data-dir", stack) == "6"

        # The engine in the cluster ran it: its WorkFlow carries the final status.
        workflow = json.loads(kubectl(kubeconfig, "get", "workflow", job_id, "-n", JOBS, "-o", "json").stdout)
        assert workflow["status"]["statusCode"] == 70, workflow["status"]

        # Idempotent: the contracts Job run again sends no transaction and keeps the ConfigMap.
        job_manifest = next(m for m in manifests if m["kind"] == "Job")
        kubectl(kubeconfig, "delete", "job", "c2d-contracts", "-n", SYSTEM, "--wait=true")
        kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(job_manifest))
        kubectl(kubeconfig, "wait", "-n", SYSTEM, "job/c2d-contracts", "--for=condition=complete", "--timeout=180s")
        log = kubectl(kubeconfig, "logs", "-n", SYSTEM, "job/c2d-contracts").stdout
        assert "deployed nothing" in log and "configmap c2d-contracts unchanged" in log, log
        again = kubectl(
            kubeconfig, "get", "configmap", "c2d-contracts", "-n", SYSTEM, "-o", "jsonpath={.data.addresses\\.json}"
        )
        assert again.stdout == recorded.stdout
    finally:
        (REPO / "build").mkdir(exist_ok=True)
        (REPO / "build" / "deploy-timings.json").write_text(json.dumps(timings, indent=2) + "\n")
        print(f"deploy timings (s from apply): {timings}")
        remove(kubeconfig)
