"""Job overhead per executor, in the same run: local (the baseline), docker, kubernetes.

    make bench   (needs the test cluster and the images: make images cluster-up)
    .venv/bin/python -m bench.executors [JOBS]

For each executor, an embedded stack (Ganache, provider, operator service, engine) with that
executor; JOBS paid jobs one after another (default 10) with an algorithm that exits at once;
the time from POST /api/services/compute to status 70, as p50/p95. Measured in the same run,
the bare cost of the same image: one `docker run --rm` of c2d/algorithm-python, and one bare
Kubernetes Job of it (create → succeeded → deleted); each container executor's p50 is printed
as a ratio to its bare run. Targets: docker ≤ 2x, kubernetes ≤ 1.5x, local p50 ≤ 0.2 s; a miss is
reported and the others still run. The first job of each executor (images, imports cold) is
shown apart. Then the gVisor tier: the bare run under runsc against runc's, and the docker
executor's jobs in an environment of runtime gvisor against its runc jobs.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import figures
from c2d import stack as embedded
from c2d.assets import COMPUTE_SERVICE_ID, Privacy, PublishedFile, Services, publish
from c2d.chain import order_amount
from c2d.compute import DEFAULT_CONTAINER, FINAL_STATUSES
from c2d.localchain import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chaos import DOCKER_HOST, KUBECONFIG, executor_env

ONE = 10**18
NOOP = "pass\n"
GVISOR_RUNTIME = "runsc"  # the test cluster's dockerd runtime of gVisor (scripts/cluster/common.sh)
LOCAL_TARGET = 0.2  # seconds, the local executor's p50
RATIO_TARGETS = {"docker": 2.0, "kubernetes": 1.5}  # each container executor's p50 over its bare run's


IMAGE = "c2d/algorithm-python:dev"


def bare_docker(runs: int, runtime: str = "") -> list[float]:
    """One `docker run --rm` of the algorithm image after another (`runtime`: the daemon's
    runtime, runsc for gVisor; its default otherwise)."""
    env = {**os.environ, "DOCKER_HOST": DOCKER_HOST}
    chosen = ["--runtime", runtime] if runtime else []
    args = ["docker", "run", "--rm", *chosen, "--network", "none", "--user", "10001:10001", IMAGE]
    args += ["python", "-c", "pass"]
    measured = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, env=env, check=True, capture_output=True)
        measured.append(time.perf_counter() - t0)
    return measured


def bare_kubernetes(runs: int) -> list[float]:
    from kubernetes import client

    from c2d.operator import bootstrap

    api = bootstrap.admin(KUBECONFIG)
    batch: Any = client.BatchV1Api(api)
    core: Any = client.CoreV1Api(api)
    measured = []
    for _ in range(runs):
        name = f"bench-bare-{uuid.uuid4().hex[:8]}"
        body = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": {"bench": "bare"}},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": {"bench": "bare"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                        "containers": [
                            {
                                "name": "bare",
                                "image": IMAGE,
                                "imagePullPolicy": "Never",
                                "command": ["python", "-c", "pass"],
                                "resources": {"limits": {"cpu": "1", "memory": "256Mi"}},
                            }
                        ],
                    },
                },
            },
        }
        t0 = time.perf_counter()
        batch.create_namespaced_job(bootstrap.JOBS_NS, body)
        while not (batch.read_namespaced_job(name, bootstrap.JOBS_NS).status.succeeded or 0):
            time.sleep(0.05)
        batch.delete_namespaced_job(name, bootstrap.JOBS_NS, propagation_policy="Background", grace_period_seconds=0)
        core.delete_collection_namespaced_pod(bootstrap.JOBS_NS, label_selector="bench=bare", grace_period_seconds=0)
        measured.append(time.perf_counter() - t0)
    return measured


def overheads(name: str, jobs: int, runtime: str = "runc") -> list[float]:
    """POST compute → 70 of `jobs` + 1 no-op jobs on executor `name`, the algorithms' container
    runtime `runtime` (runc, or gvisor)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"c2d-bench-{name}-"))
    env = executor_env(name, data_dir)
    if runtime != "runc":
        environments = data_dir / "environments.json"
        environments.write_text(json.dumps([{"id": "default", "runtime": runtime}]))
        env["C2D_ENVIRONMENTS_FILE"] = str(environments)
    state = embedded.up(data_dir, free_port(), free_port(), free_port(), operator_env=env)
    try:
        publisher, consumer = state.chain_client(embedded.PUBLISHER), state.chain_client(embedded.CONSUMER)
        publisher_api = state.client(embedded.PUBLISHER)
        consumer_api = state.client(embedded.CONSUMER)
        root = state.publisher_dir(embedded.PUBLISHER)
        (root / "data.txt").write_text("42\n")
        dataset = publish(
            publisher, publisher_api, "Bench", [PublishedFile.local(root / "data.txt")],
            Services(compute_cost=ONE, privacy=Privacy(allowRawAlgorithm=True)),
        )  # fmt: skip
        publisher.wallet.send(
            publisher.chain.datatoken(dataset.datatoken).functions.transfer(consumer.address, 100 * ONE)
        )
        orders = [
            consumer.start_order(dataset.datatoken, order_amount(ONE), COMPUTE_SERVICE_ID).tx_hash
            for _ in range(jobs + 1)
        ]
        algorithm = {"meta": {"rawcode": NOOP, "container": DEFAULT_CONTAINER}}
        measured = []
        for tx in orders:
            job_input = {"documentId": dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": tx}
            t0 = time.perf_counter()
            job_id = consumer_api.compute_start(job_input, algorithm)[0]["jobId"]
            status: dict[str, Any] = {}
            while status.get("status") not in FINAL_STATUSES:
                time.sleep(0.02)
                (status,) = consumer_api.compute_status(job_id)
            assert status["status"] == 70, (name, status)
            measured.append(time.perf_counter() - t0)  # [0]: the first job, caches cold
        return measured
    finally:
        embedded.down(data_dir)


def main() -> int:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    console = Console()
    results = {name: overheads(name, jobs) for name in ("local", "docker", "kubernetes")}
    bare = {"docker": bare_docker(jobs), "kubernetes": bare_kubernetes(jobs)}
    # The gVisor tier on docker, in the same run: its bare start and its jobs against runc's.
    gvisor_bare, gvisor_jobs = bare_docker(jobs, GVISOR_RUNTIME), overheads("docker", jobs, "gvisor")
    table = Table(title=f"Job overhead: POST compute → 70, no-op algorithm, {jobs} jobs each (the first apart)")
    for column in ("executor", "first job", "p50", "p95", "bare p50", "p50 / bare", "target"):
        table.add_column(column, justify="right")
    missed = []
    for name, values in results.items():
        first, rest = values[0], values[1:]
        p50, p95 = statistics.median(rest), statistics.quantiles(rest, n=20)[-1]
        if name == "local":
            table.add_row(name, f"{first:.2f} s", f"{p50:.2f} s", f"{p95:.2f} s", "", "", f"p50 ≤ {LOCAL_TARGET:.2f} s")
            figures.record("executors", "local p50, s", p50, f"≤ {LOCAL_TARGET}", p50 <= LOCAL_TARGET)
            if p50 > LOCAL_TARGET:
                missed.append(f"local p50 {p50:.2f} s > {LOCAL_TARGET:.2f} s")
            continue
        base = statistics.median(bare[name])
        ratio = p50 / base
        cells = (f"{first:.2f} s", f"{p50:.2f} s", f"{p95:.2f} s", f"{base:.2f} s", f"{ratio:.1f}x")
        target = RATIO_TARGETS[name]
        table.add_row(name, *cells, f"≤ {target}x")
        figures.record("executors", f"{name} p50 / bare run", ratio, f"≤ {target}", ratio <= target)
        if ratio > target:
            missed.append(f"{name} {ratio:.1f}x its bare run > {target}x")
    console.print(table)
    runc_bare, runsc_bare = statistics.median(bare["docker"]), statistics.median(gvisor_bare)
    runc_job, runsc_job = statistics.median(results["docker"][1:]), statistics.median(gvisor_jobs[1:])
    console.print(
        f"gVisor (runsc) on docker: bare run p50 {runsc_bare:.2f} s against runc's {runc_bare:.2f} s "
        f"({runsc_bare / runc_bare:.2f}x); a job p50 {runsc_job:.2f} s against {runc_job:.2f} s "
        f"({runsc_job / runc_job:.2f}x; first job {gvisor_jobs[0]:.2f} s)"
    )
    figures.record("executors", "gVisor bare run / runc bare run", runsc_bare / runc_bare, "", None)
    figures.record("executors", "docker job p50, gVisor / runc", runsc_job / runc_job, "", None)
    for miss in missed:
        console.print(f"[yellow]target missed:[/] {miss}")
    return figures.MISSED if missed else 0


if __name__ == "__main__":
    sys.exit(main())
