"""The test cluster itself: loopback only (the egress guard), least-privilege RBAC, and stage
failures the cluster reports (an image that cannot be pulled)."""

import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client

from c2d.job.status import Status
from c2d.operator.environments import Environment
from c2d.operator.executors.kubernetes import KubernetesExecutor
from c2d.operator.settings import load_settings
from c2d.operator.store import Job
from egress import egress_packets
from jobs import job_spec

REPO = Path(__file__).resolve().parents[2]
JOBS_NS, SYSTEM_NS = "c2d-jobs", "c2d-system"
NET_CLS = Path("/sys/fs/cgroup/net_cls/c2d-cluster")


def kubectl(kubeconfig, *args) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True)


def test_the_guard_catches_a_cluster_process_going_off_loopback(kubeconfig):
    before = egress_packets()
    probe = (
        "import socket\n"
        "s = socket.socket(); s.settimeout(2)\n"
        "print(s.connect_ex(('10.255.255.1', 80)))\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n"
        "    u.sendto(b'x', ('192.0.2.53', 53))\n"
        "except OSError as exc:\n"
        "    print('udp', exc.errno)\n"
    )
    # A process in the cluster's cgroup, as every cluster component and container is.
    shell = f'echo $$ > {NET_CLS}/cgroup.procs && exec python3 -c "$PROBE"'
    done = subprocess.run(
        ["sh", "-c", shell], env={"PROBE": probe, "PATH": "/usr/bin:/bin"}, cwd="/", capture_output=True, text=True
    )
    assert done.stdout.split() == ["111", "udp", "1"], done  # refused (REJECT), not sent
    assert egress_packets() == before + 2
    subprocess.run(["iptables", "-Z", "C2D-EGRESS"], check=True)


def test_a_host_network_pod_cannot_leave_loopback(kube, kubeconfig):
    core = client.CoreV1Api(kube)
    name = "egress-probe"
    code = "import socket; s = socket.socket(); s.settimeout(2); print('result', s.connect_ex(('10.255.255.1', 80)))"
    pod = {
        "metadata": {"name": name},
        "spec": {
            "hostNetwork": True,
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "containers": [
                {
                    "name": "probe",
                    "image": "c2d/algorithm-python:dev",
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", code],
                }
            ],
        },
    }
    core.create_namespaced_pod(JOBS_NS, pod)
    try:
        deadline = time.monotonic() + 30
        while core.read_namespaced_pod(name, JOBS_NS).status.phase not in ("Succeeded", "Failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert "result 111" in core.read_namespaced_pod_log(name, JOBS_NS)
        assert egress_packets() >= 1
    finally:
        core.delete_namespaced_pod(name, JOBS_NS, grace_period_seconds=0)
        subprocess.run(["iptables", "-Z", "C2D-EGRESS"], check=True)


def can_i(kubeconfig, account, verb, resource, namespace):
    """What the API server says the program's service account may do (kubectl auth can-i)."""
    scope = ["-n", namespace] if namespace else []
    who = f"system:serviceaccount:{JOBS_NS}:{account}"
    return kubectl(kubeconfig, "auth", "can-i", verb, resource, *scope, "--as", who).stdout.strip() == "yes"


@pytest.mark.parametrize(
    ("verb", "resource", "namespace", "allowed"),
    [
        ("create", "jobs.batch", JOBS_NS, True),
        ("delete", "jobs.batch", JOBS_NS, True),
        ("list", "pods", JOBS_NS, True),
        ("delete", "pods", JOBS_NS, True),
        ("get", "pods/log", JOBS_NS, True),
        ("patch", "workflows.c2d.dev", JOBS_NS, True),
        ("patch", "workflows.c2d.dev/status", JOBS_NS, True),
        ("create", "persistentvolumeclaims", JOBS_NS, True),  # outputs claims (the tests' class is set)
        ("delete", "persistentvolumeclaims", JOBS_NS, True),
        ("get", "persistentvolumeclaims", JOBS_NS, True),
        ("list", "persistentvolumeclaims", JOBS_NS, False),
        ("create", "pods", JOBS_NS, False),  # only through Jobs
        ("create", "jobs.batch", "default", False),
        ("create", "jobs.batch", SYSTEM_NS, False),
        ("list", "pods", "default", False),
        ("get", "secrets", JOBS_NS, False),
        ("create", "workflows.c2d.dev", JOBS_NS, False),  # the operator service's, not the engine's
        ("list", "nodes", "", False),
        ("create", "clusterrolebindings", "", False),
    ],
)
def test_engine_rbac(kube, kubeconfig, verb, resource, namespace, allowed):
    assert can_i(kubeconfig, "c2d-operator-engine", verb, resource, namespace) is allowed, (verb, resource, namespace)


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [("create", "workflows.c2d.dev", True), ("patch", "workflows.c2d.dev", True), ("create", "jobs.batch", False)],
)
def test_operator_service_rbac(kube, kubeconfig, verb, resource, allowed):
    assert can_i(kubeconfig, "c2d-operator-service", verb, resource, JOBS_NS) is allowed, (verb, resource)


def test_an_image_that_cannot_be_pulled_fails_the_stage(kube, kubeconfig, tmp_path, keys):
    settings = load_settings(
        jobs_dir=tmp_path / "jobs",
        operator_providers="0x" + "1" * 40,
        operator_key=keys[8],
        provider_url="http://127.0.0.1:9",
        executor="kubernetes",
        kubeconfig=kubeconfig,
        kube_namespace=JOBS_NS,
        kube_loopback=True,
    )
    executor = KubernetesExecutor(settings)
    now = time.time()
    container = {"entrypoint": "python $ALGO", "image": "c2d/not-built", "tag": "anywhere"}
    spec = job_spec("pullfailure", algorithm={"rawcode": "print(1)", "container": container})
    job = Job(
        id="pullfailure",
        seq=1,
        owner=spec.owner,
        environment="default",
        spec=spec,
        status=Status.PROVISIONED,
        reason="",
        created=now,
        updated=now,
        finished=None,
        stop_requested=False,
        attempts=0,
    )
    try:
        outcome = executor.algorithm(job, Environment(id="default", maxDuration=60), lambda: False)
    finally:
        executor.remove(job)  # as the engine does when the job expires: its outputs volume too
    assert outcome.unprovisioned and outcome.exit_code is None, outcome
    assert outcome.detail.startswith('could not start: ErrImageNeverPull: Container image "c2d/not-built:anywhere"')
    assert outcome.seconds < 20
    core, deadline = client.CoreV1Api(kube), time.monotonic() + 10
    while core.list_namespaced_pod(JOBS_NS, label_selector="workflow=pullfailure").items:
        assert time.monotonic() < deadline, "the failed stage's pod was not deleted"
        time.sleep(0.2)
