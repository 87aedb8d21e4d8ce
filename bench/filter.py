"""The filter stage's throughput and memory: bytes of output checked per second against
`sha256sum` of the same bytes in the same run, and the checker's peak memory as the input and
the output grow together (it must stay flat: fingerprints beyond memory go to disk).

    .venv/bin/python -m bench.filter [MiB ...]        (default: 64 256 1024)

Each size: an input of random text lines (no table: the row check is measured apart, on a
64 MiB table) and an output of other random text of the same size, checked under the default
policy (its byte limit raised) by c2d.pods.filter in a process of its own, as the stage runs.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench import figures
from c2d.job import JobSpec, layout
from c2d.job.policy import Limits, OutputPolicy

TARGET_RATIO = 0.02  # checked bytes per second against sha256sum: c2d's aim for now
DID = "did:op:" + "b" * 40


def _text(path: Path, size: int, seed: int) -> None:
    """Lines of random lowercase words: text/plain, no delimiters, no runs repeated."""
    rng = np.random.default_rng(seed)
    with path.open("wb") as out:
        left = size
        while left > 0:
            n = min(left, 16 << 20)
            letters = rng.integers(97, 123, n, dtype=np.uint8)
            letters[rng.integers(0, n, n // 6)] = 32
            letters[rng.integers(0, n, n // 60)] = 10
            out.write(letters.tobytes())
            left -= n


def _table(path: Path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as out:
        out.write("id,a,b,c\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            a, b, c = rng.integers(0, 10**6, (3, n))
            out.write("".join(f"{start + i},{a[i]},{b[i]},{c[i]}\n" for i in range(n)))


def _job(root: Path, policy: OutputPolicy) -> Path:
    job = root / "job"
    for name in ("inputs/" + DID, "outputs", "logs", "ddos", "transformations"):
        (job / "data" / name).mkdir(parents=True, exist_ok=True)
    (job / layout.FILTER_DIR).mkdir(exist_ok=True)
    spec = {
        "jobId": "bench",
        "owner": "0x" + "1" * 40,
        "datasets": [{"did": DID, "serviceId": 2, "transferTxId": "0x" + "2" * 64, "files": [0]}],
        "algorithm": {
            "rawcode": "x",
            "container": {"entrypoint": "python $ALGO", "image": "c2d/algorithm-python", "tag": "dev"},
        },
        "outputPolicy": policy.model_dump(mode="json"),
    }
    layout.write_spec(job, JobSpec.model_validate(spec))
    return job


# The stage's program in a process of its own, which says its own peak resident memory.
RUN = (
    "import resource, sys\nfrom c2d.pods import filter as f\ncode = f.main([sys.argv[1]])\n"
    "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(code)"
)


def _filter(job: Path) -> tuple[float, int, dict[str, object]]:
    """Seconds, peak RSS (KiB) and report of one filter stage."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN, str(job)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 7):
        raise RuntimeError(done.stdout + done.stderr)
    peak = int(done.stdout.split("peak ")[-1])
    report: dict[str, object] = json.loads((job / layout.FILTER_DIR / "report.json").read_text())
    return seconds, peak, report


def _sha256sum(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [64, 256, 1024]
    console = Console()
    table = Table(title="filter stage: output checked against its input (default policy)")
    for column in ("MiB in / out", "filter s", "MiB/s", "sha256sum MiB/s", "ratio", "peak RSS MiB", "verdict"):
        table.add_column(column, justify="right")
    missed = []
    policy = OutputPolicy(limits=Limits(maxBytes=1 << 40))
    for mib in sizes:
        root = Path(tempfile.mkdtemp(prefix="c2d-bench-filter-"))
        try:
            job = _job(root, policy)
            _text(job / "data" / "inputs" / DID / "0", mib << 20, 1)
            _text(job / "data" / "outputs" / "out.txt", mib << 20, 2)
            seconds, peak, report = _filter(job)
            sha = _sha256sum(job / "data" / "outputs" / "out.txt")
            rate = (2 * mib) / seconds  # input and output bytes both read and fingerprinted
            ratio = (mib / seconds) / (mib / sha)
            if ratio < TARGET_RATIO:
                missed.append(f"{mib} MiB: {ratio:.3f} < {TARGET_RATIO}")
            figures.record(
                "filter", f"{mib} MiB: ratio to sha256sum", ratio, f"≥ {TARGET_RATIO}", ratio >= TARGET_RATIO
            )
            figures.record("filter", f"{mib} MiB: peak RSS, MiB", peak / 1024, "", None)
            table.add_row(
                f"{mib} / {mib}",
                f"{seconds:.1f}",
                f"{rate:.0f}",
                f"{mib / sha:.0f}",
                f"{ratio:.3f}",
                f"{peak / 1024:.0f}",
                "accepted" if report["accepted"] else "rejected",
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)
    root = Path(tempfile.mkdtemp(prefix="c2d-bench-filter-"))
    try:
        job = _job(root, policy)
        _table(job / "data" / "inputs" / DID / "0", 2_000_000, 3)
        _table(job / "data" / "outputs" / "t.csv", 2_000_000, 4)
        size = (job / "data" / "outputs" / "t.csv").stat().st_size >> 20
        seconds, peak, report = _filter(job)
        verdict = "accepted" if report["accepted"] else "rejected"
        rate = 2 * size / seconds
        table.add_row(f"table {size} / {size}", f"{seconds:.1f}", f"{rate:.0f}", "", "", f"{peak / 1024:.0f}", verdict)
        figures.record("filter", f"table {size} MiB: MiB/s", rate, "", None)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    console.print(table)
    console.print("ratio: the output's MiB/s through the filter over sha256sum's; both read the output once,")
    console.print("the filter reads the input too. Peak RSS: the filter process's own.")
    for miss in missed:
        console.print(f"[yellow]target missed[/]: {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
