"""Time to a first finished job, from nothing: the Pulumi program's dev stack applied to the
loopback test cluster (c2d.infra.loopback) against the embedded stack (`c2d stack up`, the
baseline), in the same run, each followed by the same command-line steps: publish a dataset,
buy a datatoken, run a raw algorithm to status 70.

    make bench   (needs the test cluster and the images: make images cluster-up)
    .venv/bin/python -m bench.deploy
"""

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import figures
from c2d.infra.loopback import LoopbackStack, cli, first_job
from c2d.localchain import free_port


def embedded() -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="c2d-bench-deploy-")) / "stack"
    start = time.monotonic()
    ports = ["--chain-port", str(free_port()), "--provider-port", str(free_port()), "--operator-port", str(free_port())]
    cli("stack", "up", "--data-dir", str(home), *ports)
    up = time.monotonic() - start
    try:
        first_job(home)
        return {"ready": up, "first job": time.monotonic() - start}
    finally:
        cli("stack", "down", "--data-dir", str(home))


def cluster() -> dict[str, float]:
    """The rendered stack on the running test cluster."""
    stack = LoopbackStack(["c2d:systemNamespace=c2d-bench-system", "c2d:jobsNamespace=c2d-bench-jobs"])
    stack.down()
    try:
        start = time.monotonic()
        stack.up()
        up = time.monotonic() - start
        stack.first_job()
        return {"ready": up, "first job": time.monotonic() - start}
    finally:
        stack.down()


def from_nothing() -> dict[str, float]:
    """c2d:cluster local: the cluster brought up by the program, its images, the stack and a
    first job; then everything down again."""
    stack = LoopbackStack(["c2d:cluster=local"])
    stack.down()  # no cluster, no stack
    try:
        start = time.monotonic()
        stack.up()
        up = time.monotonic() - start
        stack.first_job()
        return {"ready": up, "first job": time.monotonic() - start}
    finally:
        stack.down()


def main() -> None:
    console = Console()
    with console.status("embedded stack: up and a first job"):
        base = embedded()
    with console.status("rendered dev stack on the test cluster: apply and a first job"):
        measured = cluster()
    with console.status("c2d:cluster local: the cluster, its images, the stack and a first job, from nothing"):
        nothing = from_nothing()
    table = Table(title="From nothing to a first finished job (s)")
    for column in ("stack", "all parts ready", "first job finished", "ratio to embedded"):
        table.add_column(column, justify="right" if column != "stack" else "left")
    table.add_row("embedded (c2d stack up)", f"{base['ready']:.1f}", f"{base['first job']:.1f}", "1.00")
    figures.record("deploy", "embedded: first job, s", base["first job"], "", None)
    for name, stack in (
        ("Kubernetes (rendered manifests)", measured),
        ("local cluster from nothing (c2d:cluster local)", nothing),
    ):
        ratio = stack["first job"] / base["first job"]
        table.add_row(name, f"{stack['ready']:.1f}", f"{stack['first job']:.1f}", f"{ratio:.2f}")
        figures.record("deploy", f"{name}: first job, s", stack["first job"], "", None)
        figures.record("deploy", f"{name}: first job / embedded", ratio, "", None)
    console.print(table)


if __name__ == "__main__":
    main()
