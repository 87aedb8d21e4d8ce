"""The Pulumi program's manifests (rendered under Pulumi's mocks, `make render`) are accepted by
the real API server of the test cluster (server-side dry run: admission, schemas, RBAC rules)."""

import json
import subprocess

from c2d.infra.render import run, stack_config
from stacks import REPO
from variants import PREBUILT

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


def test_a_gvisor_environments_runtime_class_is_what_admits_its_algorithm_pods(kubeconfig, kube, tmp_path):
    """The RuntimeClass the program declares for a gvisor environment is accepted by the API
    server, and it is what lets a pod naming it (as the engine's algorithm pods do) be admitted:
    without it the RuntimeClass admission refuses the pod. (Whether the node can run it is the
    node's: this cluster's dockershim cannot, README.)"""
    name = "c2d-render-gvisor"
    environments = json.dumps([{"id": "default"}, {"id": "sandboxed", "runtime": "gvisor"}])
    # an existing cluster of nodes that run gVisor (the loopback one's kubelet cannot: refused)
    config = {**PREBUILT, "c2d:environments": environments, "c2d:gvisorRuntimeClass": name}
    rendered = run(config)
    (runtime_class,) = rendered.of_kind("RuntimeClass")
    engine = next(m for m in rendered.of_kind("Deployment") if m["metadata"]["name"] == "c2d-operator-engine")
    env = {e["name"]: e.get("value") for e in engine["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["C2D_KUBE_GVISOR_CLASS"] == name
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "c2d-render-sandboxed", "namespace": "default"},
        "spec": {"runtimeClassName": name, "containers": [{"name": "algorithm", "image": "c2d/algorithm-shell:dev"}]},
    }
    kubectl(kubeconfig, "delete", "runtimeclass", name, "--ignore-not-found")
    try:
        refused = kubectl(kubeconfig, "create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod))
        assert refused.returncode != 0 and f'RuntimeClass "{name}" not found' in refused.stderr, refused
        created = kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(runtime_class))
        assert created.returncode == 0, created.stderr
        got = json.loads(kubectl(kubeconfig, "get", "runtimeclass", name, "-o", "json").stdout)
        assert got["handler"] == "runsc"
        admitted = kubectl(kubeconfig, "create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod))
        assert admitted.returncode == 0, admitted.stderr
    finally:
        kubectl(kubeconfig, "delete", "runtimeclass", name, "--ignore-not-found")
