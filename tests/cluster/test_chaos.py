"""The chaos suite on the test cluster's executors (tests/chaos.py; `make chaos` runs 100 runs
per stack): the engine SIGKILLed or stopped, or a stage's container killed (docker kill) or its
pod deleted without grace, while jobs are under way; every job ends, once, nothing is left in
the cluster or under the jobs directory."""

import os
import random

import pytest
from chaos import CLUSTER_TARGETS, ChaosStack, schedule

pytestmark = pytest.mark.cluster
RUNS = int(os.environ.get("C2D_CHAOS_RUNS", "4"))


@pytest.mark.parametrize("executor", ["docker", "kubernetes"])
def test_no_job_is_stuck_lost_or_run_twice_when_the_engine_or_a_stage_dies(executor, tmp_path, request):
    seed = int(os.environ.get("C2D_CHAOS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    stack = ChaosStack(tmp_path, executor=executor)
    runs = []
    try:
        for target, how in schedule(RUNS, rng, CLUSTER_TARGETS):
            runs.append(stack.run(rng, target, how))
    finally:
        stack.close()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    for run in runs:
        reporter.write_line(
            f"{executor}: {run.how:>4} {run.target:<16} at {run.fault_at:.1f} s: final after {run.to_final:.1f} s, "
            f"{dict(run.retried)}, stages again {run.stage_repeats}, ended badly {dict(run.ended_badly)}"
        )
    failed = [(run.target, run.how, v) for run in runs for v in run.violations]
    assert not failed, f"seed {seed}: {failed}"
