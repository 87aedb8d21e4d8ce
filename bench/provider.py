"""The provider's performance, each figure against a baseline measured in the same run.

    make bench            (or: .venv/bin/python -m bench.provider)

1. Requests per second on loopback with 16 concurrent connections (wrk) for
   GET /api/services/nonce and GET /api/services/initialize, against a bare FastAPI endpoint
   returning a constant; both served by one uvicorn worker.
2. Order verification latency (p50/p95): an order not seen before (read from the chain) and
   the same order again (remembered in the provider's database).
4. The same two routes on a second provider with metrics off (C2D_METRICS=false), in the same
   run: the rate with /metrics and its counters on, as a ratio to the rate without them.
3. Download of a 1 GiB file through the provider (curl) against `cat FILE > /dev/null`, median
   of three runs each, with the provider's peak RSS increase over the downloads.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from bench import figures
from c2d.assets import ACCESS_SERVICE_ID, PublishedFile, Services, publish
from c2d.chain import Chain, ChainClient, Wallet, order_amount
from c2d.client import ProviderClient
from c2d.localchain import REPO, Ganache, deploy_contracts, dev_keys, free_port
from c2d.provider.ddo import parse_ddo
from c2d.provider.orders import OrderChecker
from c2d.provider.store import Store
from c2d.stack import wait_http

ONE = 10**18
CONNECTIONS = 16
DURATION = os.environ.get("C2D_BENCH_SECONDS", "8")
GIB = 1 << 30
METRICS_TARGET = 0.9  # what counting each request and its latency may cost
RATE_TARGET = 0.5  # each route's request rate against the bare endpoint's
DOWNLOAD_TARGET = 0.3  # the download's rate against cat's
RSS_TARGET_MIB = 50  # the provider's memory growth over the downloads


def serve(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    # c2d's guarded protocol, as `c2d provider` serves (deadlines and limits per connection).
    cmd += ["--no-access-log", "--http", "c2d.serving:GuardedProtocol"]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wrk(url: str) -> float:
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{DURATION}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed requests to {url}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="c2d-bench-provider-"))
    data_root = work / "data"
    data_root.mkdir()
    keys = dev_keys(10)
    with Ganache(log_path=work / "ganache.log") as ganache:
        addresses = work / "addresses.json"
        deploy_contracts(ganache.url, addresses, keys[0])
        chain = Chain.at(ganache.url, addresses)
        publisher = ChainClient(chain, Wallet(chain.w3, keys[1]))
        consumer = ChainClient(chain, Wallet(chain.w3, keys[2]))

        publisher_dir = data_root / publisher.address.lower()  # the provider serves a publisher's own folder
        publisher_dir.mkdir()
        big = publisher_dir / "one-gib.bin"
        with big.open("wb") as handle:
            block = os.urandom(1 << 20)
            for _ in range(GIB >> 20):
                handle.write(block)

        port, bare_port = free_port(), free_port()
        env = {
            **os.environ,
            "C2D_RPC_URL": ganache.url,
            "C2D_CHAIN_ID": "1337",
            "C2D_PROVIDER_KEY": keys[9],
            "C2D_ADDRESSES_FILE": str(addresses),
            "C2D_OPERATOR_URL": f"http://127.0.0.1:{free_port()}",
            "C2D_DATA_ROOT": str(data_root),
            "C2D_PROVIDER_DATABASE_URL": f"sqlite:///{work / 'provider.db'}",
            "C2D_PROVIDER_URL": f"http://127.0.0.1:{port}",
            "C2D_RATE_LIMIT": "0",  # wrk is one client: the request rate, not the limit, is measured
        }
        provider = serve("bench.provider_app:app", port, env)
        bare = serve("bench.bare_app:app", bare_port, env)
        quiet_port = free_port()
        quiet_env = {
            **env,
            "C2D_METRICS": "false",
            "C2D_PROVIDER_DATABASE_URL": f"sqlite:///{work / 'quiet.db'}",
            "C2D_PROVIDER_URL": f"http://127.0.0.1:{quiet_port}",
        }
        quiet = serve("bench.provider_app:app", quiet_port, quiet_env)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/", "provider")
            wait_http(f"http://127.0.0.1:{bare_port}/constant", "bare endpoint")
            publisher_api = ProviderClient(base, keys[1])
            consumer_api = ProviderClient(base, keys[2])
            asset = publish(publisher, publisher_api, "Bench", [PublishedFile(big.as_uri())], Services(access_cost=ONE))
            publisher.wallet.send(chain.datatoken(asset.datatoken).functions.transfer(consumer.address, 500 * ONE))
            consumer_api.initialize(asset.did, ACCESS_SERVICE_ID)  # indexed before the load starts
            quiet_base = f"http://127.0.0.1:{quiet_port}"
            wait_http(quiet_base + "/", "provider without metrics")
            quiet_api = ProviderClient(quiet_base, keys[2])
            deadline = time.monotonic() + 60
            while True:  # its own index reaches the asset
                try:
                    quiet_api.initialize(asset.did, ACCESS_SERVICE_ID)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)

            # 1. request rate
            rates = {
                "bare FastAPI constant": wrk(f"http://127.0.0.1:{bare_port}/constant"),
                "GET /api/services/nonce": wrk(f"{base}/api/services/nonce?userAddress={consumer.address}"),
                "GET /api/services/initialize": wrk(
                    f"{base}/api/services/initialize?documentId={asset.did}&serviceId=1"
                    f"&consumerAddress={consumer.address}"
                ),
            }
            # 4. the same routes without metrics, right after
            quiet_rates = {
                "GET /api/services/nonce": wrk(f"{quiet_base}/api/services/nonce?userAddress={consumer.address}"),
                "GET /api/services/initialize": wrk(
                    f"{quiet_base}/api/services/initialize?documentId={asset.did}&serviceId=1"
                    f"&consumerAddress={consumer.address}"
                ),
            }

            # 3. download throughput and memory (median of three runs each)
            cat_runs, download_runs = [], []
            before = rss_kib(provider.pid)
            peak = [before]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], rss_kib(provider.pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)
                cat_runs.append(time.perf_counter() - t0)
                tx = consumer.start_order(asset.datatoken, order_amount(ONE), ACCESS_SERVICE_ID).tx_hash
                params = consumer_api.download_params(asset.did, ACCESS_SERVICE_ID, 0, tx)
                url = str(httpx.URL(base + "/api/services/download", params=params))
                t0 = time.perf_counter()
                curl = subprocess.run(
                    ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                download_runs.append(time.perf_counter() - t0)
                status, size = curl.stdout.split()
                if status != "200" or int(size) != GIB:
                    raise RuntimeError(f"download failed: {curl.stdout}")
            done.set()
            sampler.join()
            cat_seconds = statistics.median(cat_runs)
            download_seconds = statistics.median(download_runs)
        finally:
            for process in (provider, bare, quiet):
                process.terminate()
            for process in (provider, bare, quiet):
                process.wait()

        # 2. order verification latency, in-process against the same chain
        store = Store(f"sqlite:///{work / 'latency.db'}")
        checker = OrderChecker(chain, store)
        indexed = Store(f"sqlite:///{work / 'provider.db'}").asset(asset.did)
        assert indexed is not None
        service = parse_ddo(indexed.ddo).paid_service(ACCESS_SERVICE_ID, "access")
        cold: list[float] = []
        warm: list[float] = []
        for _ in range(40):
            tx = consumer.start_order(asset.datatoken, order_amount(ONE), ACCESS_SERVICE_ID).tx_hash
            for bucket in (cold, warm):
                t0 = time.perf_counter()
                checker.check(tx, indexed, service, consumer.address)
                bucket.append((time.perf_counter() - t0) * 1000)

    table = Table(title=f"Provider request rate (wrk, {CONNECTIONS} connections, {DURATION} s, one uvicorn worker)")
    for column in ("endpoint", "requests/s", "ratio to bare"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for name, rate in rates.items():
        table.add_row(name, f"{rate:,.0f}", f"{rate / rates['bare FastAPI constant']:.2f}")
    console.print(table)
    route_ratios = {name: rates[name] / rates["bare FastAPI constant"] for name in quiet_rates}
    for name, ratio in route_ratios.items():
        figures.record("provider", f"{name} / bare, requests/s", ratio, f"≥ {RATE_TARGET}", ratio >= RATE_TARGET)
    overhead = {name: rates[name] / quiet_rates[name] for name in quiet_rates}
    for name, ratio in overhead.items():
        console.print(
            f"Metrics on/off, {name}: {rates[name]:,.0f} / {quiet_rates[name]:,.0f} requests/s = ratio {ratio:.2f} "
            f"(target ≥ {METRICS_TARGET}){'' if ratio >= METRICS_TARGET else ' — MISSED'}"
        )
        figures.record("provider", f"{name}, metrics on / off", ratio, f"≥ {METRICS_TARGET}", ratio >= METRICS_TARGET)
    console.print(
        f"Order verification: not cached p50 {percentile(cold, 50):.2f} ms, p95 {percentile(cold, 95):.2f} ms; "
        f"cached p50 {percentile(warm, 50):.2f} ms, p95 {percentile(warm, 95):.2f} ms ({len(cold)} orders)"
    )
    figures.record("provider", "order check p50, not cached, ms", percentile(cold, 50), "", None)
    figures.record("provider", "order check p50, cached, ms", percentile(warm, 50), "", None)
    through = GIB / download_seconds / 1e6
    baseline = GIB / cat_seconds / 1e6
    download = through / baseline
    grown = (peak[0] - before) / 1024
    console.print(
        f"1 GiB download: provider {through:,.0f} MB/s, cat {baseline:,.0f} MB/s, ratio {download:.2f} "
        f"(target ≥ {DOWNLOAD_TARGET}); provider RSS {before / 1024:.0f} MiB → peak {peak[0] / 1024:.0f} MiB "
        f"(+{grown:.1f} MiB, target < {RSS_TARGET_MIB})"
    )
    figures.record("provider", "1 GiB download / cat", download, f"≥ {DOWNLOAD_TARGET}", download >= DOWNLOAD_TARGET)
    figures.record("provider", "RSS growth over downloads, MiB", grown, f"< {RSS_TARGET_MIB}", grown < RSS_TARGET_MIB)
    shutil.rmtree(work, ignore_errors=True)
    ok = all(ratio >= RATE_TARGET for ratio in route_ratios.values())
    ok = ok and all(ratio >= METRICS_TARGET for ratio in overhead.values())
    return 0 if ok and download >= DOWNLOAD_TARGET and grown < RSS_TARGET_MIB else figures.MISSED


if __name__ == "__main__":
    sys.exit(main())
