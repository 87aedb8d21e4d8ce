"""Job throughput and overhead of the embedded stack (local executor), against a baseline
measured in the same run: the same algorithm run directly as a process.

    make bench            (or: .venv/bin/python -m bench.jobs)

1. Overhead: time from POST /api/services/compute to status 70 for an algorithm that exits at
   once, minus that algorithm's own run time (the baseline), over 20 jobs one after another.
2. 50 jobs submitted at once to an environment that runs 2 at a time: all must reach 70, none
   lost; jobs per minute.
"""

import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import figures
from c2d import stack as embedded
from c2d.assets import COMPUTE_SERVICE_ID, Privacy, PublishedFile, Services, publish
from c2d.chain import order_amount
from c2d.compute import DEFAULT_CONTAINER, FINAL_STATUSES
from c2d.localchain import free_port

ONE = 10**18
NOOP = "pass\n"
SEQUENTIAL, BURST = 20, 50
OVERHEAD_TARGET = 1.0  # seconds, the median job's overhead


def main() -> int:
    console = Console()
    data_dir = Path(tempfile.mkdtemp(prefix="c2d-bench-jobs-"))
    state = embedded.up(data_dir, free_port(), free_port(), free_port())
    try:
        publisher, consumer = state.chain_client(embedded.PUBLISHER), state.chain_client(embedded.CONSUMER)
        publisher_api = state.client(embedded.PUBLISHER)
        consumer_api = state.client(embedded.CONSUMER)
        root = state.publisher_dir(embedded.PUBLISHER)
        (root / "data.txt").write_text("42\n")
        (root / "noop.py").write_text(NOOP)
        dataset = publish(
            publisher, publisher_api, "Bench", [PublishedFile.local(root / "data.txt")],
            Services(compute_cost=ONE, privacy=Privacy(allowRawAlgorithm=True)),
        )  # fmt: skip
        publisher.wallet.send(
            publisher.chain.datatoken(dataset.datatoken).functions.transfer(consumer.address, 500 * ONE)
        )
        amount = order_amount(ONE)
        orders = [
            consumer.start_order(dataset.datatoken, amount, COMPUTE_SERVICE_ID).tx_hash
            for _ in range(SEQUENTIAL + BURST)
        ]
        algorithm = {"meta": {"rawcode": NOOP, "container": DEFAULT_CONTAINER}}

        def start(tx: str) -> str:
            job_input = {"documentId": dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": tx}
            return str(consumer_api.compute_start(job_input, algorithm)[0]["jobId"])

        def final(job_id: str, poll: float = 0.02) -> dict[str, Any]:
            while True:
                (status,) = consumer_api.compute_status(job_id)
                if status["status"] in FINAL_STATUSES:
                    return status
                time.sleep(poll)

        direct = []
        for _ in range(SEQUENTIAL):
            t0 = time.perf_counter()
            subprocess.run(["/usr/bin/python3", str(root / "noop.py")], check=True)
            direct.append(time.perf_counter() - t0)
        baseline = statistics.median(direct)

        overheads = []
        for tx in orders[:SEQUENTIAL]:
            t0 = time.perf_counter()
            status = final(start(tx))
            assert status["status"] == 70, status
            overheads.append(time.perf_counter() - t0 - baseline)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(start, orders[SEQUENTIAL:]))
        submitted = time.perf_counter() - t0
        with ThreadPoolExecutor(4) as pool:
            finals = list(pool.map(lambda j: final(j, 0.2), ids))
        elapsed = time.perf_counter() - t0
    finally:
        embedded.down(data_dir)

    done = sum(1 for f in finals if f["status"] == 70)
    p50, p95 = statistics.median(overheads), statistics.quantiles(overheads, n=20)[-1]
    console.print(
        f"Job overhead (POST compute → 70, minus the algorithm's own {baseline * 1000:.0f} ms), {SEQUENTIAL} jobs: "
        f"p50 {p50:.2f} s, p95 {p95:.2f} s (target p50 ≤ {OVERHEAD_TARGET} s)"
    )
    figures.record("jobs", "job overhead p50, s", p50, f"≤ {OVERHEAD_TARGET}", p50 <= OVERHEAD_TARGET)
    figures.record("jobs", "job overhead p95, s", p95, "", None)
    console.print(
        f"{BURST} jobs at once (submitted in {submitted:.1f} s), 2 at a time: {done}/{BURST} reached 70, "
        f"{len(ids) - len(set(ids))} lost or duplicated; {BURST / elapsed * 60:.0f} jobs per minute"
    )
    figures.record("jobs", f"{BURST} jobs at once, reached 70", f"{done}/{BURST}", "all", done == BURST)
    figures.record("jobs", f"{BURST} jobs at once, jobs per minute", BURST / elapsed * 60, "", None)
    return 0 if done == BURST and p50 <= OVERHEAD_TARGET else figures.MISSED


if __name__ == "__main__":
    sys.exit(main())
