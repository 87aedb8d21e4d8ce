"""`c2d compute start|status|logs|result|stop|delete` and `c2d env list`."""

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from c2d.cli.common import Session, console, friendly, with_session
from c2d.compute import DEFAULT_CONTAINER
from c2d.job import FINAL, Status

CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")
FAILED = {int(status) for status in FINAL} - {Status.FINISHED, Status.STOPPED}
app = typer.Typer(no_args_is_help=True)
env = typer.Typer(no_args_is_help=True)


def _show(status: dict[str, Any]) -> None:
    code = status["status"]
    colour = "green" if code == Status.FINISHED else "red" if code in FAILED else "cyan"
    reason = f" — {status['reason']}" if status.get("reason") else ""
    console.print(f"[{colour}]{status['status']:>2} {status['statusText']}[/]{reason}")


def _results(status: dict[str, Any]) -> None:
    for result in status.get("results", []):
        console.print(f"  [{result['index']}] {result['filename']} ({result['type']}, {result['filesize']} bytes)")


@app.command()
@friendly
@with_session(default_account=2)
def start(
    datasets: Annotated[list[str], typer.Argument(help="dataset DIDs (the first is the main one)")],
    algorithm: Annotated[str | None, typer.Option(help="DID of a published algorithm")] = None,
    raw: Annotated[Path | None, typer.Option(help="a file to run as a raw algorithm")] = None,
    image: Annotated[str, typer.Option(help="the raw algorithm's image")] = DEFAULT_CONTAINER["image"],
    tag: Annotated[str, typer.Option(help="the raw algorithm's image tag")] = DEFAULT_CONTAINER["tag"],
    entrypoint: Annotated[str, typer.Option(help="the raw algorithm's command; $ALGO is its path")] = (
        DEFAULT_CONTAINER["entrypoint"]
    ),
    environment: Annotated[str | None, typer.Option("--env", help="compute environment id")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="name=value for the algorithm (a JSON number, true or false, or else text)"),
    ] = None,
    wait: Annotated[bool, typer.Option(help="follow the job until it ends")] = True,
    *,
    session: Session,
) -> None:
    """Order the datasets (and the algorithm) and start a job."""
    if (algorithm is None) == (raw is None):
        raise typer.BadParameter("give either --algorithm DID or --raw FILE")
    consumer = session.consumer
    with console.status("ordering and starting the job"):
        container = {"entrypoint": entrypoint, "image": image, "tag": tag}
        code = raw.read_text() if raw else None
        job = consumer.start(
            datasets, algorithm, code, container=container, environment=environment, params=_params(param or [])
        )
    console.print(f"job [bold]{job['jobId']}[/]")
    if wait:
        final = consumer.wait(job["jobId"], on_status=_show)
        _results(final)


@app.command()
@friendly
@with_session(default_account=2)
def status(job_id: Annotated[str, typer.Argument()] = "", *, session: Session) -> None:
    """Status of a job (or of all your jobs)."""
    consumer = session.consumer
    for job in consumer.provider.compute_status(job_id):
        console.print(f"[bold]{job['jobId']}[/]")
        _show(job)
        _results(job)


@app.command()
@friendly
@with_session(default_account=2)
def logs(
    job_id: str,
    follow: Annotated[bool, typer.Option(help="follow the log while the job runs, until it ends")] = True,
    *,
    session: Session,
) -> None:
    """The algorithm's log, each part as it comes (followed until the job ends, unless --no-follow)."""
    import sys

    out = sys.stdout.buffer
    terminal = sys.stdout.isatty()
    for chunk in session.consumer.provider.iter_logs(job_id, follow=follow):
        # The algorithm wrote it: to a terminal, its control sequences are shown, not obeyed.
        out.write(CONTROL.sub(b"?", chunk) if terminal else chunk)
        out.flush()


@app.command()
@friendly
@with_session(default_account=2)
def result(
    job_id: str,
    index: Annotated[int, typer.Argument(help="result index (see `c2d compute status`)")],
    output: Annotated[Path | None, typer.Option("-o", help="file to write (default: print)")] = None,
    *,
    session: Session,
) -> None:
    """Fetch one result of a job."""
    consumer = session.consumer
    content = consumer.provider.compute_result(job_id, index)
    if output:
        output.write_bytes(content)
        console.print(f"[green]✔[/] {len(content)} bytes written to {output}")
    else:
        console.out(content.decode(errors="replace"), end="")


@app.command()
@friendly
@with_session(default_account=2)
def stop(job_id: str, *, session: Session) -> None:
    """Stop a running job."""
    consumer = session.consumer
    consumer.provider.compute_stop(job_id)
    _show(consumer.wait(job_id, timeout=30))


@app.command()
@friendly
@with_session(default_account=2)
def delete(job_id: str, *, session: Session) -> None:
    """Delete a finished job and its results."""
    consumer = session.consumer
    consumer.provider.compute_delete(job_id)
    console.print(f"[green]✔[/] job {job_id} deleted")


@env.command("list")
@friendly
@with_session(default_account=2)
def list_environments(*, session: Session) -> None:
    """The operator's environments and how busy they are."""
    consumer = session.consumer
    table = Table()
    for column in ("id", "cpu", "memory MB", "max duration s", "max jobs", "running", "queued", "network", "price"):
        table.add_column(column)
    for item in consumer.provider.environments():
        table.add_row(
            item["id"], str(item["cpu"]), str(item["memoryMb"]), str(item["maxDuration"]), str(item["maxJobs"]),
            str(item["runningJobs"]), str(item["queuedJobs"]), "yes" if item["network"] else "no",
            "free" if item["free"] else item["price"],
        )  # fmt: skip
    console.print(table)


def _params(given: list[str]) -> dict[str, Any]:
    import json

    values: dict[str, Any] = {}
    for item in given:
        name, equals, text = item.partition("=")
        if not equals or not name:
            raise typer.BadParameter(f"{item!r} is not name=value", param_hint="--param")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        values[name] = value if isinstance(value, bool | int | float | str) else text
    return values
