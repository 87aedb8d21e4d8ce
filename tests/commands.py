"""The `c2d` command as a user runs it (a plain environment, wide output), and the small
algorithm the command-line tests publish: it sums the numbers of its inputs into sum.txt."""

import subprocess
import sys
from pathlib import Path

C2D = str(Path(sys.executable).parent / "c2d")
SUM_ALGORITHM = (
    "import os, pathlib\n"
    "total = sum(int(x) for p in pathlib.Path(os.environ['INPUTS']).rglob('*') if p.is_file() for x in p.read_text().split())\n"
    "pathlib.Path(os.environ['OUTPUTS'], 'sum.txt').write_text(str(total))\n"
)


def c2d(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`env`: variables besides a plain PATH and a wide terminal (C2D_HOME, say)."""
    result = subprocess.run(
        [C2D, *args], capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", **(env or {})}
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def printing(steps: int) -> str:
    """An algorithm that prints `step i` every half second, `steps` times, then sums as SUM_ALGORITHM."""
    return (
        f"import time\nfor i in range({steps}):\n    print(f'step {{i}}', flush=True)\n    time.sleep(0.5)\n"
        + SUM_ALGORITHM
    )
