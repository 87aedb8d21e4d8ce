"""The Pulumi program's manifests (rendered under Pulumi's mocks, `make render`) are accepted by
the real API server of the test cluster (server-side dry run: admission, schemas, RBAC rules)."""

import json
import subprocess

from c2d.infra.render import run, stack_config
from stacks import REPO

SYSTEM, JOBS = "c2d-render-system", "c2d-render-jobs"


def kubectl(kubeconfig, *args, stdin=None):
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args], input=stdin, capture_output=True, text=True
    )


def test_the_dev_stack_is_accepted_by_the_api_server(kubeconfig, kube, tmp_path):
    config = stack_config(REPO / "Pulumi.dev.yaml", [f"c2d:systemNamespace={SYSTEM}", f"c2d:jobsNamespace={JOBS}"])
    manifests = run(config).manifests()
    namespaces = [m for m in manifests if m["kind"] == "Namespace"]
    listing = json.dumps({"apiVersion": "v1", "kind": "List", "items": namespaces})
    created = kubectl(kubeconfig, "apply", "-f", "-", stdin=listing)
    assert created.returncode == 0, created.stderr
    try:
        everything = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests})
        done = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=everything)
        assert done.returncode == 0, done.stderr
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        assert len(lines) == len(manifests) and all(line.endswith("(server dry run)") for line in lines), done.stdout
        assert {m["kind"] for m in manifests} >= {"Deployment", "Job", "NetworkPolicy", "Role", "PersistentVolume"}
    finally:
        kubectl(kubeconfig, "delete", "namespace", SYSTEM, JOBS, "--wait=false")
