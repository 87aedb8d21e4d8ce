"""The chaos suite at full size (tests/chaos.py; tests/compute/test_chaos.py runs a few runs in
`make test`): RUNS runs on one embedded stack (local executor), each with a few jobs under way
while one of Ganache, the provider, the operator service or the engine is SIGKILLed or stopped,
then started again; every target and both ways in turn, shuffled.

    make chaos    (or: .venv/bin/python -m bench.chaos [RUNS] [EXECUTOR ...])   default 100 runs, local

The docker and kubernetes executors run on the test cluster (make cluster-up images; in make
bench: bench/chaos_cluster.py): there the faults are the engine's death and a stage's container
killed or pod deleted (CLUSTER_TARGETS). C2D_CHAOS_SEED repeats a run's schedule.

Prints each run, then the figures: runs, runs with a violated invariant (target 0, each listed),
jobs checked, the longest time from a restart to the last job's final status (bound
chaos.FINAL_BOUND), stages started again after an engine's death, and what made consumers send
a request again.
"""

import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import figures

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chaos import CLUSTER_TARGETS, FINAL_BOUND, TARGETS, ChaosStack, Run, describe, schedule

RUNS = 100
JOBS_PER_RUN = 3
EXECUTORS = ("local", "docker", "kubernetes")


def on(executor: str, runs: int, rng: random.Random, console: Console, bench: str = "chaos") -> bool:
    """`runs` runs on a stack with `executor`; prints them and their figures; True when every
    invariant held."""
    done: list[Run] = []
    started = time.monotonic()
    targets = TARGETS if executor == "local" else CLUSTER_TARGETS
    stack = ChaosStack(Path(tempfile.mkdtemp(prefix=f"c2d-bench-chaos-{executor}-")), executor=executor)
    try:
        for n, (target, how) in enumerate(schedule(runs, rng, targets), 1):
            run = stack.run(rng, target, how, JOBS_PER_RUN)
            done.append(run)
            mark = "[green]ok[/]" if not run.violations else f"[bold red]{len(run.violations)} violated[/]"
            console.print(f"{executor} {n:>3} {describe(run)}; {mark}")
            for violation in run.violations:
                console.print(f"      {violation}")
    finally:
        stack.close()
    failed = [run for run in done if run.violations]
    longest = max(run.to_final for run in done)
    repeats = sum(run.stage_repeats for run in done)
    resent: Counter[str] = sum((run.retried for run in done), Counter())
    badly: Counter[str] = sum((run.ended_badly for run in done), Counter())
    by_target = Counter(f"{run.how} {run.target}" for run in failed)
    table = Table(title=f"Chaos, {executor} executor: {len(done)} runs in {time.monotonic() - started:.0f} s")
    for column in ("figure", "value", "target"):
        table.add_column(column)
    table.add_row("runs with a violated invariant", f"{len(failed)} {dict(by_target) or ''}", "0")
    table.add_row("jobs checked", str(len(done) * JOBS_PER_RUN), "")
    table.add_row("longest fault -> last job final", f"{longest:.1f} s", f"<= {FINAL_BOUND:.0f} s")
    table.add_row("stages started again", str(repeats), "")
    table.add_row("jobs a killed stage ended (status, reason)", str(dict(badly) or "none"), "")
    table.add_row("what the consumers met", str(dict(resent)), "")
    console.print(table)
    figures.record(bench, f"{executor}: runs with a violated invariant", len(failed), "0", not failed)
    figures.record(bench, f"{executor}: runs", len(done), "", None)
    bound = f"<= {FINAL_BOUND:.0f} s"
    figures.record(bench, f"{executor}: fault -> last job final, s", longest, bound, longest <= FINAL_BOUND)
    figures.record(bench, f"{executor}: stages started again", repeats, "", None)
    return not failed


def main(argv: list[str]) -> int:
    runs = next((int(a) for a in argv if a.isdigit()), RUNS)
    executors = [a for a in argv if not a.isdigit()] or ["local"]
    unknown = set(executors) - set(EXECUTORS)
    if unknown:
        raise SystemExit(f"no executor {', '.join(sorted(unknown))}; there are: {' '.join(EXECUTORS)}")
    seed = int(os.environ.get("C2D_CHAOS_SEED", random.randrange(1 << 32)))  # noqa: S311 (a schedule, not a secret)
    rng = random.Random(seed)  # noqa: S311
    console = Console()
    console.print(f"chaos: {runs} runs on each of {', '.join(executors)}, seed {seed}")
    held = [on(executor, runs, rng, console) for executor in executors]
    return 0 if all(held) else figures.MISSED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
