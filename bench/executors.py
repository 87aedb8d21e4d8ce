"""Job overhead per executor, in the same run: local (the baseline), docker, kubernetes.

    make bench   (needs the test cluster and the images: make images cluster-up)
    .venv/bin/python -m bench.executors [JOBS]

For each executor, an embedded stack (Ganache, provider, operator service, engine) with that
executor; JOBS paid jobs one after another (default 10) with an algorithm that exits at once;
the time from POST /api/services/compute to status 70, as p50/p95 and as a ratio of the local
executor's p50. Target on kubernetes: p50 ≤ 5 s.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from c2d import stack as embedded
from c2d.assets import COMPUTE_SERVICE_ID, Privacy, PublishedFile, Services, publish
from c2d.chain import order_amount
from c2d.compute import DEFAULT_CONTAINER, FINAL_STATUSES
from c2d.localchain import free_port

ONE = 10**18
NOOP = "pass\n"
KUBECONFIG = Path("/var/lib/c2d-cluster/kubeconfig")
DOCKER_HOST = "unix:///run/c2d-docker/docker.sock"


def executor_env(name: str, data_dir: Path) -> dict[str, str]:
    if name == "docker":
        return {"C2D_EXECUTOR": "docker", "C2D_DOCKER_HOST": DOCKER_HOST}
    if name == "kubernetes":
        from c2d.operator import bootstrap

        # the stack's own operator key (made here first; `stack up` keeps it), for configure pods
        key = embedded.service_key(data_dir, "operator").read_text().strip()
        bootstrap.install(bootstrap.admin(KUBECONFIG), key)
        return {
            "C2D_EXECUTOR": "kubernetes",
            "C2D_KUBECONFIG": str(KUBECONFIG),
            "C2D_KUBE_NAMESPACE": bootstrap.JOBS_NS,
            "C2D_KUBE_LOOPBACK": "true",
        }
    return {}


def overheads(name: str, jobs: int) -> list[float]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"c2d-bench-{name}-"))
    state = embedded.up(data_dir, free_port(), free_port(), free_port(), operator_env=executor_env(name, data_dir))
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
        for i, tx in enumerate(orders):
            job_input = {"documentId": dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": tx}
            t0 = time.perf_counter()
            job_id = consumer_api.compute_start(job_input, algorithm)[0]["jobId"]
            status: dict[str, Any] = {}
            while status.get("status") not in FINAL_STATUSES:
                time.sleep(0.02)
                (status,) = consumer_api.compute_status(job_id)
            assert status["status"] == 70, (name, status)
            if i:  # the first job warms caches (images, imports): not counted
                measured.append(time.perf_counter() - t0)
        return measured
    finally:
        embedded.down(data_dir)


def main() -> int:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    console = Console()
    results = {name: overheads(name, jobs) for name in ("local", "docker", "kubernetes")}
    base = statistics.median(results["local"])
    table = Table(title=f"Job overhead: POST compute → 70, no-op algorithm, {jobs} jobs each (first one not counted)")
    for column in ("executor", "p50", "p95", "p50 / local"):
        table.add_column(column, justify="right")
    for name, values in results.items():
        p50, p95 = statistics.median(values), statistics.quantiles(values, n=20)[-1]
        table.add_row(name, f"{p50:.2f} s", f"{p95:.2f} s", f"{p50 / base:.1f}")
    console.print(table)
    kube_p50 = statistics.median(results["kubernetes"])
    console.print(f"kubernetes p50 {kube_p50:.2f} s (target ≤ 5 s)")
    return 0 if kube_p50 <= 5.0 else 1


if __name__ == "__main__":
    sys.exit(main())
