"""1,000 no-op jobs from 20 consumers on the embedded stack (local executor, enough slots).

    .venv/bin/python -m bench.load [JOBS] [CONSUMERS] [SLOTS]     default 1000 20 16

Before the clock starts: 20 fresh accounts get gas money and datatokens and each buys its
orders (one per job). Then each consumer sends its jobs one after another, as fast as the
provider admits them, while a poller per consumer asks for the status of its jobs (one list call
every 0.5 s) until all are final. Printed:

- lost or duplicated: each order has exactly one job in the operator's records, every job
  finished (70), no job id twice (target 0);
- throughput: jobs per second from the first POST to the last final status, and sustained
  (between the 10th and the 90th percentile of the final statuses) (target ≥ 10 jobs/s);
- admission: POST /api/services/compute latency p50/p99 (target p99 ≤ 200 ms);
- status calls under load: p50/p99;
- leaks: bytes under the jobs directory, the provider's and the engine's RSS after the first 10
  jobs and after all of them, and what the stages left (processes, mounts, loop devices,
  cgroups: tests/chaos.py's check).
"""

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from eth_account import Account
from rich.console import Console
from rich.table import Table
from web3.types import Wei

from bench import figures
from c2d import stack as embedded
from c2d.assets import COMPUTE_SERVICE_ID, Privacy, PublishedFile, Services, publish
from c2d.chain import ChainClient, Wallet, order_amount
from c2d.client import ProviderClient
from c2d.compute import DEFAULT_CONTAINER, FINAL_STATUSES
from c2d.localchain import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chaos import leftovers, operator_jobs

ONE = 10**18
NOOP = "pass\n"
THROUGHPUT_TARGET = 10.0  # jobs/s
ADMISSION_P99_TARGET = 0.200  # s


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children it has waited for (the engine's stages)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _bytes_under(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file() and not entry.is_symlink():
                total += entry.stat().st_blocks * 512
        except OSError:
            pass
    return total


def _quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main(argv: list[str]) -> int:
    jobs = int(argv[0]) if argv else 1000
    consumers = int(argv[1]) if len(argv) > 1 else 20
    slots = int(argv[2]) if len(argv) > 2 else 16
    console = Console()
    data_dir = Path(tempfile.mkdtemp(prefix="c2d-bench-load-"))
    environments = data_dir / "environments.json"
    environments.write_text(json.dumps([{"id": "load", "maxJobs": slots, "maxDuration": 60, "memoryMb": 256}]))
    # every consumer is this machine: no per-client rate limit (the limit is test_hostile.py's)
    env = {"C2D_ENVIRONMENTS_FILE": str(environments), "C2D_RATE_LIMIT": "0"}
    state = embedded.up(data_dir, free_port(), free_port(), free_port(), operator_env=env)
    try:
        return _run(console, state, data_dir, jobs, consumers, slots)
    finally:
        embedded.down(data_dir)


def _run(console: Console, state: embedded.StackState, data_dir: Path, jobs: int, consumers: int, slots: int) -> int:
    publisher = state.chain_client(embedded.PUBLISHER)
    deployer = state.chain_client(embedded.DEPLOYER)
    publisher_api = state.client(embedded.PUBLISHER)
    root = state.publisher_dir(embedded.PUBLISHER)
    (root / "data.txt").write_text("42\n")
    dataset = publish(
        publisher, publisher_api, "Load", [PublishedFile.local(root / "data.txt")],
        Services(compute_cost=ONE, privacy=Privacy(allowRawAlgorithm=True)), supply=10 * jobs * ONE,
    )  # fmt: skip
    publisher_api.close()
    each = [jobs // consumers + (1 if n < jobs % consumers else 0) for n in range(consumers)]
    keys = ["0x" + bytes(Account.create().key).hex() for _ in range(consumers)]
    token = publisher.chain.datatoken(dataset.datatoken)
    console.print(f"load: {jobs} jobs from {consumers} consumers, {slots} slots; funding and buying the orders")
    for key, count in zip(keys, each, strict=True):
        address = Account.from_key(key).address
        w3 = deployer.wallet.w3
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"to": address, "value": Wei(ONE), "from": deployer.address})
        )
        publisher.wallet.send(token.functions.transfer(address, 2 * count * ONE))

    def buy(key_count: tuple[str, int]) -> list[str]:
        key, count = key_count
        chain = state.chain()
        client = ChainClient(chain, Wallet(chain.w3, key))
        amount = order_amount(ONE)
        return [client.start_order(dataset.datatoken, amount, COMPUTE_SERVICE_ID).tx_hash for _ in range(count)]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        orders = list(pool.map(buy, zip(keys, each, strict=True)))
    console.print(f"{jobs} orders bought in {time.perf_counter() - t0:.0f} s")

    admissions: list[float] = []
    status_calls: list[float] = []
    finals: dict[str, float] = {}  # job id → when the poller saw it final
    answered: list[str] = []
    refused: list[str] = []
    status_errors: list[str] = []
    lock = threading.Lock()
    engine_pid, provider_pid = state.pids["operator-engine"], state.pids["provider"]
    early: dict[str, float] = {}
    algorithm = {"meta": {"rawcode": NOOP, "container": DEFAULT_CONTAINER}}

    def consumer(key: str, own: list[str]) -> None:
        api = ProviderClient(state.provider_url, key, provider_address=state.provider_address)
        sent: list[str] = []
        done = threading.Event()

        def poll() -> None:
            while True:
                t = time.perf_counter()
                try:
                    listed = api.compute_status()
                except Exception as exc:  # counted; the poller goes on as a client would
                    with lock:
                        status_errors.append(str(exc))
                    time.sleep(0.5)
                    continue
                with lock:
                    status_calls.append(time.perf_counter() - t)
                    for job in listed:
                        if job["status"] in FINAL_STATUSES and job["jobId"] not in finals:
                            finals[job["jobId"]] = time.perf_counter()
                            if len(finals) == 10:  # the first 10 jobs: the leak figures' baseline
                                early["jobs bytes"] = _bytes_under(data_dir / "jobs")
                                early["provider"], early["engine"] = _rss_mb(provider_pid), _rss_mb(engine_pid)
                    finished = done.is_set() and all(j in finals for j in sent)
                if finished:
                    return
                time.sleep(0.5)

        poller = threading.Thread(target=poll)
        poller.start()
        for tx in own:
            job_input = {"documentId": dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": tx}
            t = time.perf_counter()
            try:
                (job,) = api.compute_start(job_input, algorithm)
            except Exception as exc:
                with lock:
                    refused.append(f"{tx}: {exc}")
                continue
            with lock:
                admissions.append(time.perf_counter() - t)
                answered.append(job["jobId"])
            sent.append(job["jobId"])
        done.set()  # the poller ends once every admitted job is final
        poller.join()
        api.close()

    services = {name: state.pids[name] for name in ("provider", "operator-service", "operator-engine", "ganache")}
    cpu_before = {name: _cpu_seconds(pid) for name, pid in services.items()}
    start = time.perf_counter()
    threads = [threading.Thread(target=consumer, args=(k, o)) for k, o in zip(keys, orders, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(finals.values(), default=start) - start
    cpu = {name: (_cpu_seconds(pid) - cpu_before[name]) / max(1, len(finals)) for name, pid in services.items()}
    ends = sorted(t - start for t in finals.values())

    from c2d.operator.store import JobStore

    store = JobStore(f"sqlite:///{data_dir / 'operator.db'}")
    try:
        every_order = [tx for own in orders for tx in own]
        by_order = operator_jobs(store, every_order)
        lost = sum(1 for tx in every_order if len(by_order.get(tx, [])) == 0)
        duplicated = sum(len(ids) - 1 for ids in by_order.values() if len(ids) > 1) + len(answered) - len(set(answered))
        unfinished = [j for j in set(answered) if (job := store.get(j)) is None or int(job.status) != 70]
    finally:
        store.close()
    after = {
        "jobs bytes": _bytes_under(data_dir / "jobs"),
        "provider": _rss_mb(provider_pid),
        "engine": _rss_mb(engine_pid),
    }
    left = leftovers(data_dir / "jobs", engine_pid)

    throughput = len(finals) / elapsed if elapsed else 0.0
    low, high = ends[len(ends) // 10], ends[(len(ends) * 9) // 10]
    sustained = (len(ends) * 8 // 10) / (high - low) if high > low else 0.0
    p50, p99 = _quantile(admissions, 50), _quantile(admissions, 99)
    s50, s99 = _quantile(status_calls, 50), _quantile(status_calls, 99)
    bad = lost + duplicated + len(unfinished) + len(refused)
    mib = 2**20
    rows: list[tuple[str, str, float | str, str, bool | None]] = [  # figure, shown, recorded, target, met
        ("lost + duplicated + unfinished + refused", f"{lost} + {duplicated} + {len(unfinished)} + {len(refused)}",
         bad, "0", bad == 0),
        ("jobs/s, first POST to last final", f"{throughput:.1f} ({elapsed:.0f} s)", throughput, "", None),
        ("jobs/s sustained (10th to 90th percentile of finals)", f"{sustained:.1f}", sustained,
         f">= {THROUGHPUT_TARGET:.0f}", sustained >= THROUGHPUT_TARGET),
        ("admission (POST compute) p99, s", f"{p99:.3f} (p50 {p50:.3f})", p99, f"<= {ADMISSION_P99_TARGET}",
         p99 <= ADMISSION_P99_TARGET),
        ("status call (a consumer's list) p99, s", f"{s99:.3f} (p50 {s50:.3f})", s99, "", None),
        ("status calls refused", str(len(status_errors)), len(status_errors), "0", not status_errors),
        ("MiB under the jobs directory, after 10 -> all",
         f"{early.get('jobs bytes', 0) / mib:.1f} -> {after['jobs bytes'] / mib:.1f}",
         after["jobs bytes"] / mib, "", None),
        ("provider RSS MiB, after 10 -> all", f"{early.get('provider', 0):.0f} -> {after['provider']:.0f}",
         after["provider"], "", None),
        ("engine RSS MiB, after 10 -> all", f"{early.get('engine', 0):.0f} -> {after['engine']:.0f}",
         after["engine"], "", None),
        ("CPU s per job: " + ", ".join(cpu), " / ".join(f"{v:.3f}" for v in cpu.values()), sum(cpu.values()), "", None),
        ("left by the stages", "; ".join(left) or "nothing", len(left), "0", not left),
    ]  # fmt: skip
    table = Table(title=f"{jobs} no-op jobs from {consumers} consumers, {slots} slots, local executor")
    for column in ("figure", "value", "target"):
        table.add_column(column)
    for figure, shown, recorded, target, met in rows:
        table.add_row(figure, shown, target)
        figures.record("load", figure, recorded, target, met)
    console.print(table)
    for line in refused[:10] + status_errors[:10]:
        console.print(f"  refused: {line}")
    return 0 if all(met is not False for *_, met in rows) else figures.MISSED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
