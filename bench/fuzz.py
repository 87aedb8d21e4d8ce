"""Stateful fuzzing at full size (tests/fuzz.py; tests/compute/test_fuzz_stateful.py runs 1,500
requests in `make test`): schemathesis's state machines of the provider's and the operator
service's OpenAPI documents on a whole embedded stack, most requests signed and many naming a
real dataset, order, job or owner.

    .venv/bin/python -m bench.fuzz [PROVIDER_REQUESTS] [OPERATOR_REQUESTS] [SEED]   default 7000 4000

Prints the answers by service and status, and each one that broke a rule: a 5xx, a 4xx that is
not exactly {"error", "message"}, a service that died (target 0).
"""

import random
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench import figures

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chaos import ChaosStack
from fuzz import fuzz

TARGET_REQUESTS = 10_000


def main(argv: list[str]) -> int:
    provider = int(argv[0]) if argv else 7000
    operator = int(argv[1]) if len(argv) > 1 else 4000
    seed = int(argv[2]) if len(argv) > 2 else random.randrange(1 << 32)  # noqa: S311
    console = Console()
    console.print(f"stateful fuzzing: {provider} requests to the provider, {operator} to the operator, seed {seed}")
    started = time.monotonic()
    stack = ChaosStack(Path(tempfile.mkdtemp(prefix="c2d-bench-fuzz-")))
    try:
        tally = fuzz(stack, provider, operator, seed)
    finally:
        stack.close()
    elapsed = time.monotonic() - started
    five = sum(n for status, n in tally.statuses.items() if status.split()[1].startswith("5"))
    console.print(
        f"{tally.requests} requests in {elapsed:.0f} s, {len(tally.jobs)} jobs started, "
        f"{tally.flaky_suites} suites ended as flaky"
    )
    console.print({status: tally.statuses[status] for status in sorted(tally.statuses)})
    for failure in tally.failures[:50]:
        console.print(f"  [bold red]{failure}[/]")
    figures.record("fuzz", "requests", tally.requests, f">= {TARGET_REQUESTS:,}", tally.requests >= TARGET_REQUESTS)
    figures.record("fuzz", "5xx answers", five, "0", five == 0)
    figures.record("fuzz", "answers breaking a rule", len(tally.failures), "0", not tally.failures)
    return 0 if not tally.failures and tally.requests >= TARGET_REQUESTS else figures.MISSED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
