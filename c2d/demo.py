"""The demo: the whole paid compute flow on a fresh embedded stack, each step printed with its
time. Nothing is left running: the stack is stopped at the end, also on failure."""

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from c2d import stack as embedded
from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.chain import order_amount
from c2d.compute import DEFAULT_CONTAINER, Consumer
from c2d.localchain import free_port

ONE = 10**18

ALGORITHM = '''"""Average temperature per city of the weather readings it is given."""
import json, os, pathlib, statistics
readings = {}
for did in json.loads(os.environ["DIDS"]):
    for path in sorted(pathlib.Path(os.environ["INPUTS"], did).iterdir()):
        for line in path.read_text().splitlines()[1:]:
            city, temp = line.split(",")
            readings.setdefault(city, []).append(float(temp))
summary = {city: round(statistics.mean(temps), 2) for city, temps in sorted(readings.items())}
pathlib.Path(os.environ["OUTPUTS"], "averages.json").write_text(json.dumps(summary, indent=1))
print(f"averaged {sum(map(len, readings.values()))} readings of {len(readings)} cities")
'''


def _weather() -> str:
    rows = ["city,temp"]
    for day in range(365):
        for offset, city in enumerate(("Berlin", "Lisbon", "Oslo")):
            rows.append(f"{city},{(day * 7 + offset * 13) % 30 - 5 + offset * 4}")
    return "\n".join(rows) + "\n"


class _Steps:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.perf_counter()

    @contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        details: list[str] = []
        t0 = time.perf_counter()
        with self.console.status(title):
            yield details
        self.console.print(f"[green]✔[/] {title} [dim]({time.perf_counter() - t0:.2f} s)[/]")
        for line in details:
            self.console.print(f"    {line}")


def run(console: Console | None = None) -> float:
    """Runs the demo; returns the seconds from start to the job's result."""
    console = console or Console()
    steps = _Steps(console)
    data_dir = Path(tempfile.mkdtemp(prefix="c2d-demo-"))
    with steps.step("Bring up c2d: Ganache, contracts, provider, operator service, engine") as out:
        state = embedded.up(data_dir, free_port(), free_port(), free_port())
        out.append(f"provider {state.provider_url}, chain {state.rpc_url}")
    try:
        publisher = Consumer(state.chain_client(embedded.PUBLISHER), state.client(embedded.PUBLISHER))
        consumer = Consumer(state.chain_client(embedded.CONSUMER), state.client(embedded.CONSUMER))
        root = state.publisher_dir(embedded.PUBLISHER)
        (root / "weather.csv").write_text(_weather())
        (root / "average.py").write_text(ALGORITHM)

        with steps.step("Publisher publishes an algorithm") as out:
            algorithm = publish(
                publisher.chain, publisher.provider, "Average temperature",
                [PublishedFile.local(root / "average.py", "text/x-python")], Services(access_cost=ONE),
                kind="algorithm", container=DEFAULT_CONTAINER,
            )  # fmt: skip
            publisher.chain.create_exchange(algorithm.datatoken, 2 * ONE, 100 * ONE)
            out.append(f"{algorithm.did}, 100 datatokens listed at 2 base tokens")
        with steps.step("Publisher publishes weather data, trusting its own algorithms") as out:
            privacy = Privacy(publisherTrustedAlgorithmPublishers=[publisher.chain.address])
            dataset = publish(
                publisher.chain, publisher.provider, "Weather 2026",
                [PublishedFile.local(root / "weather.csv", "text/csv")], Services(compute_cost=ONE, privacy=privacy),
            )  # fmt: skip
            publisher.chain.create_exchange(dataset.datatoken, 5 * ONE, 100 * ONE)
            out.append(f"{dataset.did}: compute only, the data never leaves; 100 listed at 5 base tokens")
        with steps.step("Consumer buys datatokens of both with base tokens") as out:
            before = consumer.chain.base_balance()
            consumer.buy(dataset.did, order_amount(ONE))
            consumer.buy(algorithm.did, order_amount(ONE))
            out.append(f"paid {(before - consumer.chain.base_balance()) / ONE:.4f} base tokens")
        with steps.step("Consumer orders both and starts the job through the provider") as out:
            job = consumer.start([dataset.did], algorithm.did)
            out.append(f"job {job['jobId']}: {job['statusText']}")
        with steps.step("The engine runs it: configure → algorithm (sandboxed) → publish") as out:
            final = consumer.wait(
                job["jobId"], timeout=120, on_status=lambda s: out.append(f"{s['status']:>2} {s['statusText']}")
            )
            if final["status"] != 70:
                raise RuntimeError(f"the job ended {final['status']} {final['statusText']}: {final['reason']}")
        with steps.step("Consumer fetches the result through the provider") as out:
            averages = consumer.result(final, "averages.json").decode()
            out.extend(averages.strip().splitlines())
            out.append(consumer.result(final, "algorithm.log").decode().strip())
        total = time.perf_counter() - steps.started
    finally:
        embedded.down(data_dir)
        console.print("[dim]stack stopped[/]")
    console.print(f"[bold]Paid compute job done: {total:.1f} s from start to result.[/]")
    return total
