"""The stateful fuzzing's small size (tests/fuzz.py; bench/fuzz.py runs more than 10,000
requests): on a whole embedded stack, no generated request gets a 5xx, every 4xx is
{"error", "message"}, and every service stays up."""

import os
import random

from chaos import ChaosStack
from fuzz import fuzz


def test_no_generated_request_gets_a_5xx_or_an_error_without_its_code(tmp_path, request):
    seed = int(os.environ.get("C2D_FUZZ_SEED", random.randrange(1 << 32)))
    stack = ChaosStack(tmp_path)
    try:
        tally = fuzz(stack, provider_requests=1000, operator_requests=500, run_seed=seed)
    finally:
        stack.close()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    reporter.write_line(
        f"\nstateful fuzzing: {tally.requests} requests, {len(tally.jobs)} jobs started; {dict(tally.statuses)}"
    )
    assert not tally.failures, f"seed {seed}: {tally.failures[:20]}"
    started = sum(n for status, n in tally.statuses.items() if status.startswith("provider 2"))
    assert tally.requests >= 1500 and started and tally.jobs, tally.statuses  # it reached past the signatures
