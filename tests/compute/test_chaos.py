"""The chaos suite's small size (tests/chaos.py; `make chaos` runs the full size): on one
embedded stack, each of Ganache, the provider, the operator service and the engine is SIGKILLed
or stopped while jobs are under way, then started again; every invariant holds after each run."""

import os
import random

from chaos import HOWS, TARGETS, ChaosStack

RUNS = int(os.environ.get("C2D_CHAOS_RUNS", "8"))


def test_no_job_is_stuck_lost_or_run_twice_when_a_process_of_the_stack_dies(tmp_path, request):
    seed = int(os.environ.get("C2D_CHAOS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    stack = ChaosStack(tmp_path)
    runs = []
    try:
        for n in range(RUNS):  # every target, killed and stopped
            runs.append(stack.run(rng, TARGETS[n % len(TARGETS)], HOWS[(n // len(TARGETS)) % len(HOWS)]))
    finally:
        stack.close()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    for run in runs:
        reporter.write_line(
            f"{run.how:>4} {run.target:<16} at {run.fault_at:.1f} s, down {run.pause:.1f} s: "
            f"final after {run.to_final:.1f} s, resent {dict(run.retried)}, stages again {run.stage_repeats}"
        )
    failed = [(run.target, run.how, v) for run in runs for v in run.violations]
    assert not failed, f"seed {seed}: {failed}"
