"""Every benchmark, one after another, then one table of each figure against its target.

    make bench                                (or: .venv/bin/python -m bench)
    .venv/bin/python -m bench gas filter:16   some of them, in that order; NAME:ARG,ARG passes
                                              arguments (filter:16 is one 16 MiB size)

Each benchmark runs as `python -m bench.NAME` in a process of its own, its output going straight
to the terminal, and records its figures (bench/figures.py) in a file this run reads at the end.
The ones on the test cluster get `make -s cluster-up images` once, before the first of them; if
that fails they are shown as not run and the others still run. A benchmark that ends with an
error is shown by its exit status and the next one runs.

Exit status: 0 when every benchmark ran to its end, targets met or not (a miss is a row of the
table, not a failure); 1 when one crashed (an exit status other than 0 and figures.MISSED), could
not run or was interrupted, and for a NAME that is not a benchmark.
"""

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import figures

REPO = Path(__file__).resolve().parents[1]
CLUSTER_UP = ["make", "-s", "cluster-up", "images"]


@dataclass(frozen=True)
class Benchmark:
    name: str  # the module bench.NAME
    cluster: bool = False  # needs the test cluster and c2d's images in its Docker


BENCHMARKS = [
    Benchmark("gas"),
    Benchmark("provider"),
    Benchmark("jobs"),
    Benchmark("filter"),
    Benchmark("chaos"),
    Benchmark("load"),
    Benchmark("fuzz"),
    Benchmark("executors", cluster=True),
    Benchmark("stages", cluster=True),
    Benchmark("chaos_cluster", cluster=True),
    # Its from-nothing run ends by taking the test cluster down: benchmarks that need the cluster go before it.
    Benchmark("deploy", cluster=True),
]


def select(argv: list[str]) -> list[tuple[Benchmark, list[str]]]:
    """The benchmarks NAME[:ARG,ARG] named (all of them, without arguments, when none is)."""
    known = {b.name: b for b in BENCHMARKS}
    if not argv:
        return [(b, []) for b in BENCHMARKS]
    chosen: list[tuple[Benchmark, list[str]]] = []
    for arg in argv:
        name, _, args = arg.partition(":")
        if name not in known:
            raise SystemExit(f"no benchmark {name!r}; there are: {' '.join(known)}")
        if any(b.name == name for b, _ in chosen):  # its figures and outcome are told apart by name
            raise SystemExit(f"{name} is named twice")
        chosen.append((known[name], args.split(",") if args else []))
    return chosen


def ended(code: int) -> str | None:
    """None for a benchmark that ran to its end, else how it ended."""
    if code in (0, figures.MISSED):
        return None
    return f"killed by signal {-code}" if code < 0 else f"exit {code}"


def shown(value: float | str) -> str:
    """Gas and requests by the thousand, ratios and seconds to three digits."""
    if isinstance(value, str):
        return value
    return f"{value:,.0f}" if isinstance(value, int) or abs(value) >= 100 else f"{value:.3g}"


def summary(chosen: list[str], outcomes: dict[str, str | None], recorded: list[figures.Figure]) -> Table:
    table = Table(title="Benchmarks: each figure against its target")
    for column in ("benchmark", "figure", "value", "target", "met"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for name in chosen:
        own = [f for f in recorded if f.bench == name]
        for f in own:
            met = "—" if f.met is None else "[green]✓[/]" if f.met else "[bold red]MISS[/]"
            table.add_row(name, f.figure, shown(f.value), f.target or "—", met)
        outcome = outcomes.get(name, "interrupted")
        if outcome is not None:
            quiet = own or outcome.startswith("not run")  # else say that it ended before any figure
            table.add_row(name, f"[bold red]{outcome}{'' if quiet else ', no figures'}[/]", "", "", "")
        elif not own:
            table.add_row(name, "[yellow]ran, no figures recorded[/]", "", "", "")
    return table


def main(argv: list[str]) -> int:
    chosen = select(argv)
    console = Console()
    outcomes: dict[str, str | None] = {}  # by name: None when it ran to its end
    cluster: int | None = None  # make's exit status, once tried
    with tempfile.TemporaryDirectory(prefix="c2d-bench-figures-") as tmp:
        path = Path(tmp) / "figures.jsonl"
        path.touch()
        env = {**os.environ, figures.ENV: str(path)}
        try:
            for bench, args in chosen:
                if bench.cluster and cluster is None:
                    console.rule(" ".join(CLUSTER_UP))
                    cluster = subprocess.run(CLUSTER_UP, cwd=REPO).returncode
                if bench.cluster and cluster != 0:
                    outcomes[bench.name] = f"not run: {' '.join(CLUSTER_UP)} exited {cluster}"
                    continue
                command = [sys.executable, "-m", f"bench.{bench.name}", *args]
                console.rule(" ".join(["python", *command[1:]]))
                outcomes[bench.name] = ended(subprocess.run(command, cwd=REPO, env=env).returncode)
        except KeyboardInterrupt:  # the figures so far are still worth their table
            console.print("[yellow]interrupted[/]")
        recorded = figures.read(path)
    console.print(summary([b.name for b, _ in chosen], outcomes, recorded))
    done = len(outcomes) == len(chosen) and all(o is None for o in outcomes.values())
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
