"""The chaos suite at full size on the test cluster's executors (bench/chaos.py's runs): 100 runs
on a stack with the docker executor and 100 with the kubernetes executor, each killing the
engine or a stage's container or pod while jobs are under way.

    make bench   (needs the test cluster and the images: make cluster-up images)
    .venv/bin/python -m bench.chaos_cluster [RUNS]
"""

import os
import random
import sys

from rich.console import Console

from bench import figures
from bench.chaos import RUNS, on


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else RUNS
    seed = int(os.environ.get("C2D_CHAOS_SEED", random.randrange(1 << 32)))  # noqa: S311 (a schedule, not a secret)
    rng = random.Random(seed)  # noqa: S311
    console = Console()
    console.print(f"chaos on the test cluster: {runs} runs on each of docker, kubernetes, seed {seed}")
    held = [on(executor, runs, rng, console, bench="chaos_cluster") for executor in ("docker", "kubernetes")]
    return 0 if all(held) else figures.MISSED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
