"""The chaos suite at full size (tests/chaos.py; tests/compute/test_chaos.py runs a few runs in
`make test`): RUNS runs on one embedded stack (local executor), each with a few jobs under way
while one of Ganache, the provider, the operator service or the engine is SIGKILLed or stopped,
then started again; every target and both ways in turn, shuffled.

    make chaos    (or: .venv/bin/python -m bench.chaos [RUNS] [SEED])    default 100 runs

Prints each run, then the figures: runs, runs with a violated invariant (target 0, each listed),
jobs checked, the longest time from a restart to the last job's final status (bound
chaos.FINAL_BOUND), stages started again after an engine's death, and what made consumers send
a request again.
"""

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
from chaos import FINAL_BOUND, ChaosStack, Run, schedule

RUNS = 100
JOBS_PER_RUN = 3


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else RUNS
    seed = int(argv[1]) if len(argv) > 1 else random.randrange(1 << 32)  # noqa: S311 (a schedule, not a secret)
    rng = random.Random(seed)  # noqa: S311
    console = Console()
    console.print(f"chaos: {runs} runs on the embedded stack (local executor), seed {seed}")
    done: list[Run] = []
    started = time.monotonic()
    stack = ChaosStack(Path(tempfile.mkdtemp(prefix="c2d-bench-chaos-")))
    try:
        for n, (target, how) in enumerate(schedule(runs, rng), 1):
            run = stack.run(rng, target, how, JOBS_PER_RUN)
            done.append(run)
            mark = "[green]ok[/]" if not run.violations else f"[bold red]{len(run.violations)} violated[/]"
            console.print(
                f"{n:>3} {how:>4} {target:<16} at {run.fault_at:.1f} s, down {run.pause:.1f} s: "
                f"final {run.to_final:.1f} s after the restart, resent {dict(run.retried)}; {mark}"
            )
            for violation in run.violations:
                console.print(f"      {violation}")
    finally:
        stack.close()
    failed = [run for run in done if run.violations]
    longest = max(run.to_final for run in done)
    repeats = sum(run.stage_repeats for run in done)
    resent: Counter[str] = sum((run.retried for run in done), Counter())
    by_target = Counter(f"{run.how} {run.target}" for run in failed)
    table = Table(title=f"Chaos on the embedded stack: {len(done)} runs in {time.monotonic() - started:.0f} s")
    for column in ("figure", "value", "target"):
        table.add_column(column)
    table.add_row("runs with a violated invariant", f"{len(failed)} {dict(by_target) or ''}", "0")
    table.add_row("jobs checked", str(len(done) * JOBS_PER_RUN), "")
    table.add_row("longest restart → last job final", f"{longest:.1f} s", f"≤ {FINAL_BOUND:.0f} s")
    table.add_row("stages started again (engine deaths)", str(repeats), "")
    table.add_row("requests sent again", str(dict(resent)), "")
    console.print(table)
    figures.record("chaos", "local: runs with a violated invariant", len(failed), "0", not failed)
    figures.record("chaos", "local: runs", len(done), "", None)
    bound = f"≤ {FINAL_BOUND:.0f} s"
    figures.record("chaos", "local: restart → last job final", longest, bound, longest <= FINAL_BOUND)
    figures.record("chaos", "local: stages started again", repeats, "", None)
    return 0 if not failed else figures.MISSED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
