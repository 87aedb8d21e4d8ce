"""Time to a first finished job, from nothing: the Pulumi program's dev stack applied to the
loopback test cluster (c2d.infra.loopback) against the embedded stack (`c2d stack up`, the
baseline), in the same run, each followed by the same command-line steps: publish a dataset,
buy a datatoken, run a raw algorithm to status 70.

    make bench   (needs the test cluster and the images: make images cluster-up)
    .venv/bin/python -m bench.deploy
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from c2d.infra.loopback import LoopbackStack
from c2d.localchain import free_port

C2D = str(Path(sys.executable).parent / "c2d")
ALGORITHM = "import os, pathlib\npathlib.Path(os.environ['OUTPUTS'], 'ok.txt').write_text('ok')\n"


def c2d(*args: str) -> str:
    done = subprocess.run([C2D, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"c2d {args[0]} {args[1]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def first_job(home: Path) -> None:
    """What a user types once the stack answers: publish, buy, run."""
    (home.parent / "data.csv").write_text("1\n2\n3\n")
    (home.parent / "algorithm.py").write_text(ALGORITHM)
    published = c2d("publish", "dataset", str(home.parent / "data.csv"), "--allow-raw", "--data-dir", str(home))
    match = re.search(r"did:op:[0-9a-fA-F]{40}", published)
    assert match, published
    c2d("tokens", "buy", match.group(0), "--data-dir", str(home))
    job = c2d("compute", "start", match.group(0), "--raw", str(home.parent / "algorithm.py"), "--data-dir", str(home))
    if "70 Job finished" not in job:
        raise SystemExit(f"the first job did not finish:\n{job}")


def embedded() -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="c2d-bench-deploy-")) / "stack"
    start = time.monotonic()
    ports = ["--chain-port", str(free_port()), "--provider-port", str(free_port()), "--operator-port", str(free_port())]
    c2d("stack", "up", "--data-dir", str(home), *ports)
    up = time.monotonic() - start
    try:
        first_job(home)
        return {"ready": up, "first job": time.monotonic() - start}
    finally:
        c2d("stack", "down", "--data-dir", str(home))


def cluster() -> dict[str, float]:
    stack = LoopbackStack(["c2d:systemNamespace=c2d-bench-system", "c2d:jobsNamespace=c2d-bench-jobs"])
    stack.down()
    home = Path(tempfile.mkdtemp(prefix="c2d-bench-deploy-")) / "stack"
    try:
        start = time.monotonic()
        stack.up()
        up = time.monotonic() - start
        addresses = home.parent / "addresses.json"
        addresses.write_text(stack.addresses())
        c2d("stack", "connect", "--provider-url", stack.provider_url, "--rpc-url", stack.rpc_url,
            "--addresses", str(addresses), "--data-root", str(stack.data_root), "--served-root", stack.served_root,
            "--data-dir", str(home))  # fmt: skip
        first_job(home)
        return {"ready": up, "first job": time.monotonic() - start}
    finally:
        stack.down()


def main() -> None:
    console = Console()
    with console.status("embedded stack: up and a first job"):
        base = embedded()
    with console.status("rendered dev stack on the test cluster: apply and a first job"):
        measured = cluster()
    table = Table(title="From nothing to a first finished job (s)")
    for column in ("stack", "all parts ready", "first job finished", "ratio to embedded"):
        table.add_column(column, justify="right" if column != "stack" else "left")
    table.add_row("embedded (c2d stack up)", f"{base['ready']:.1f}", f"{base['first job']:.1f}", "1.00")
    ratio = measured["first job"] / base["first job"]
    ready, first = f"{measured['ready']:.1f}", f"{measured['first job']:.1f}"
    table.add_row("Kubernetes (rendered manifests)", ready, first, f"{ratio:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
