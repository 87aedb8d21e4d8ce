"""Metrics: a real Prometheus (Debian's) scrapes the embedded stack's provider, operator service
and engine while jobs run through the command line; PromQL over what it stored counts the
finished jobs, the requests and the order checks. Labels stay bounded whatever clients send."""

import json
import re
import secrets
import shutil
import subprocess
import time
import urllib.parse

import httpx
import pytest

from c2d.localchain import free_port
from commands import SUM_ALGORITHM, c2d

PROMETHEUS = shutil.which("prometheus")
JOBS = 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data = tmp_path_factory.mktemp("metrics-stack")
    ports = ["--chain-port", str(free_port()), "--provider-port", str(free_port()), "--operator-port", str(free_port())]
    c2d("stack", "up", "--data-dir", str(data), *ports)
    try:
        yield data, json.loads((data / "stack.json").read_text())
    finally:
        c2d("stack", "down", "--data-dir", str(data))


@pytest.fixture
def prometheus(tmp_path, stack):
    """Prometheus on loopback, scraping the three services every second."""
    assert PROMETHEUS, "Debian's prometheus is not installed (make setup installs it)"
    _, state = stack
    targets = {
        "provider": state["provider_url"],
        "operator-service": state["operator_url"],
        "operator-engine": state["engine_metrics_url"].removesuffix("/metrics"),
    }
    jobs = "\n".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: ['{url.removeprefix('http://')}']"
        for name, url in targets.items()
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}\n")
    port = free_port()
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-2000:]
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def query(url: str, promql: str) -> list[dict]:
    answer = httpx.get(url + "/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def value(url: str, promql: str) -> float | None:
    result = query(url, promql)
    return float(result[0]["value"][1]) if result else None


def eventually(url: str, promql: str, expected: float, seconds: float = 60) -> float | None:
    deadline = time.monotonic() + seconds
    while (found := value(url, promql)) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def test_prometheus_scrapes_the_stack_and_counts_the_finished_jobs(stack, prometheus):
    data, _ = stack
    published = data / "published"
    (published / "n.csv").write_text("1\n2\n3\n")
    (published / "sum.py").write_text(SUM_ALGORITHM)
    dataset = c2d("publish", "dataset", str(published / "n.csv"), "--allow-raw", "--data-dir", str(data)).stdout
    did = re.search(r"did:op:[0-9a-fA-F]{40}", dataset).group(0)
    c2d("tokens", "buy", did, "--amount", str(JOBS + 0.1), "--data-dir", str(data))
    for _ in range(JOBS):
        job = c2d("compute", "start", did, "--raw", str(published / "sum.py"), "--data-dir", str(data)).stdout
        assert "70 Job finished" in job, job

    # Every target is up, and the store's finished jobs are what PromQL counts.
    for name in ("provider", "operator-service", "operator-engine"):
        assert eventually(prometheus, f'up{{job="{name}"}}', 1.0) == 1.0, name
    assert eventually(prometheus, 'sum(c2d_jobs{status="70"})', JOBS) == JOBS
    assert eventually(prometheus, 'sum(c2d_jobs_ended_total{status="70"})', JOBS) == JOBS
    assert eventually(prometheus, 'sum(c2d_stage_duration_seconds_count{stage="algorithm",result="ok"})', JOBS) == JOBS
    assert eventually(prometheus, 'sum(c2d_order_checks_total{result="verified"})', JOBS) == JOBS
    started = 'sum(c2d_http_requests_total{job="provider",route="/api/services/compute",method="POST",status="200"})'
    assert eventually(prometheus, started, JOBS) == JOBS
    assert eventually(prometheus, 'sum(c2d_queue_length{environment="default"})', 0.0) == 0.0
    assert eventually(prometheus, 'sum(c2d_busy_slots{environment="default"})', 0.0) == 0.0
    assert value(prometheus, 'sum(c2d_slots{environment="default"})') >= 1
    latency = (
        'histogram_quantile(0.99, sum by (le) (rate(c2d_http_request_duration_seconds_bucket{job="provider"}[1m])))'
    )
    assert query(prometheus, latency), "no latency histogram"


def test_labels_stay_bounded_whatever_clients_send(stack):
    _, state = stack
    sent = []
    for i in range(50):
        junk = urllib.parse.quote(secrets.token_hex(8))
        sent.append(junk)
        httpx.request("BREW" if i % 2 else "GET", f"{state['provider_url']}/{junk}?nonce={junk}", timeout=5)
    exposed = httpx.get(state["provider_url"] + "/metrics", timeout=5).text
    routes = set(re.findall(r'c2d_http_requests_total\{[^}]*route="([^"]*)"', exposed))
    methods = set(re.findall(r'c2d_http_requests_total\{[^}]*method="([^"]*)"', exposed))
    assert "other" in routes and all(r == "other" or r.startswith("/") for r in routes)
    assert len(routes) < 30, routes
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "other"}, methods
    assert not any(junk in exposed for junk in sent)  # neither a path nor a query string is a label
