"""Where a no-op job's time goes, per executor: the medians of the time between each two of the
operator store's recorded statuses (the first job apart), beside the client's POST → 70.

    .venv/bin/python -m bench.stages [JOBS] [EXECUTOR ...]   (default: 8 jobs, local docker kubernetes)

The container executors need the test cluster and the images (make images cluster-up), as
bench/executors.py does; this is the breakdown behind its ratios.
"""

import itertools
import statistics
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from bench import executors, figures
from c2d import stack as embedded
from c2d.operator.store import JobStore

FINAL = "recorded, 1 → final"


def breakdown(data_dir: Path) -> dict[str, list[float]]:
    """Seconds between each two recorded statuses, by transition, over the jobs but the first."""
    store = JobStore(f"sqlite:///{data_dir / 'operator.db'}")
    try:
        with store.engine.connect() as conn:
            ids = [row[0] for row in conn.execute(text("select id from jobs order by seq"))]
        gaps: dict[str, list[float]] = {}
        for job_id in ids[1:]:
            history = store.history(job_id)
            for (before, at, _), (after, then, _) in itertools.pairwise(history):
                gaps.setdefault(f"{int(before)} → {int(after)}", []).append(then - at)
            gaps.setdefault(FINAL, []).append(history[-1][1] - history[0][1])
        return gaps
    finally:
        store.close()


def measure(name: str, jobs: int) -> tuple[dict[str, list[float]], list[float]]:
    """The executor's jobs (bench.executors.overheads), read from its store before it goes."""
    found: dict[str, list[float]] = {}
    down = embedded.down

    def read_then_down(data_dir: Path) -> None:
        found.update(breakdown(data_dir))
        down(data_dir)

    patched: Any = embedded  # the module bench.executors calls
    patched.down = read_then_down
    try:
        measured = executors.overheads(name, jobs)
    finally:
        patched.down = down
    return found, measured


def main() -> int:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    names = sys.argv[2:] or ["local", "docker", "kubernetes"]
    table = Table(title=f"Where a no-op job's time goes: medians of {jobs - 1} jobs (the first apart), ms")
    table.add_column("between statuses")
    results = {name: measure(name, jobs) for name in names}
    for name in names:
        table.add_column(name, justify="right")
    rows = list(dict.fromkeys(key for gaps, _ in results.values() for key in gaps))
    for key in rows:
        cells = [results[name][0].get(key) for name in names]
        table.add_row(key, *(f"{statistics.median(c) * 1000:.0f}" if c else "" for c in cells))
    table.add_row("client, POST → 70", *(f"{statistics.median(m[1:]) * 1000:.0f}" for _, m in results.values()))
    Console().print(table)
    for name, (gaps, measured) in results.items():
        # The two ends of the breakdown; the transitions between them stay in the table above.
        figures.record("stages", f"{name}: {FINAL}, ms", statistics.median(gaps[FINAL]) * 1000, "", None)
        figures.record("stages", f"{name}: client, POST → 70, ms", statistics.median(measured[1:]) * 1000, "", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
