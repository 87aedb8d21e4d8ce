"""The figures a benchmark compares against its targets, for the summary of `python -m bench`.

    figures.record("gas", "createToken / full DataToken", 0.133, "≤ 0.25", True)

Each call appends one JSON line ({bench, figure, value, target, met}) to the file named by
C2D_BENCH_FIGURES; without it (a benchmark run on its own) it does nothing, and the benchmark's
own tables stay its whole output. `met` is None for a figure shown without a target. A
benchmark records where it decides its own pass or fail, with the same target.

A benchmark that ran to its end exits 0, or MISSED when it holds a missed target against its
exit status; any other status (1 for an uncaught exception) means it did not finish.
"""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ENV = "C2D_BENCH_FIGURES"
MISSED = 3  # not 1, which Python exits with on an uncaught exception


@dataclass(frozen=True)
class Figure:
    bench: str
    figure: str
    value: float | str
    target: str
    met: bool | None


def record(bench: str, figure: str, value: float | str, target: str, met: bool | None) -> None:
    """Appends the figure to $C2D_BENCH_FIGURES when set."""
    path = os.environ.get(ENV)
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(Figure(bench, figure, value, target, met)), ensure_ascii=False) + "\n")


def read(path: Path) -> list[Figure]:
    """The figures recorded in a file, in order."""
    return [Figure(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]
