"""`c2d results show|approve|reject JOB`: a publisher's view of the jobs on their data, and the
decision on results held for approval (status 52)."""

import json
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from c2d.cli.common import Session, console, friendly, with_session

app = typer.Typer(no_args_is_help=True)
Reason = Annotated[str, typer.Option(help="why, at most 300 characters (shown to the consumer with a rejection)")]


def _when(at: float | None) -> str:
    return "" if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def _show(record: dict[str, Any], as_json: bool = False) -> None:
    if as_json:
        console.out(json.dumps(record, indent=2))
        return
    # Every text here may come from the algorithm (names, reasons): shown as text, never as markup.
    console.print(f"[bold]{escape(record['jobId'])}[/] by {record['owner']} on {', '.join(record['datasets'])}")
    console.print(f"algorithm {escape(record['algorithm'])}, environment {escape(record['environment'])}")
    reason = f" — {escape(record['reason'])}" if record["reason"] else ""
    console.print(f"[cyan]{record['status']} {record['statusText']}[/]{reason}")
    table = Table("at (UTC)", "status", "reason")
    for step in record["history"]:
        table.add_row(_when(step["at"]), str(step["status"]), escape(step["reason"]))
    console.print(table)
    report = record.get("report")
    if report:
        verdict = "[green]accepted[/]" if report["accepted"] else "[red]rejected[/]"
        console.print(
            f"filter: {verdict}; checks {escape(', '.join(report['checks']))}; {report['outputBytes']} bytes "
            f"checked against {report['inputBytes']} bytes of inputs in {report['seconds']:.2f} s"
        )
        for finding in report["findings"]:
            detail = f" ({escape(finding['detail'])})" if finding["detail"] else ""
            console.print(f"  [red]{escape(finding['check'])}[/] {escape(finding['item'])}{detail}")
        outputs = Table("output", "bytes", "type", "sha256")
        for out in report["outputs"]:
            outputs.add_row(escape(out["name"]), str(out["bytes"]), escape(out["type"]), out["sha256"])
        console.print(outputs)
    for approver, given in record["approvals"].items():
        why = f": {escape(given['reason'])}" if given["reason"] else ""
        console.print(f"{given['decision']} by {approver} at {_when(given['at'])}{why}")
    if record["status"] == 52:
        console.print(f"[yellow]held until {_when(record['heldUntil'])} UTC[/]: `c2d results approve|reject JOB`")


@app.command()
@friendly
@with_session(default_account=1)
def show(
    job_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="the whole record as JSON")] = False,
    *,
    session: Session,
) -> None:
    """The record of a job on your data: what ran, every status, the filter's findings, approvals."""
    _show(session.consumer.provider.compute_record(job_id), as_json)


@app.command()
@friendly
@with_session(default_account=1)
def approve(job_id: str, reason: Reason = "", *, session: Session) -> None:
    """Release the results of a job held for your approval."""
    _show(session.consumer.provider.compute_approval(job_id, "approve", reason))


@app.command()
@friendly
@with_session(default_account=1)
def reject(job_id: str, reason: Reason = "", *, session: Session) -> None:
    """Withhold the results of a job held for your approval (the job ends as 51)."""
    _show(session.consumer.provider.compute_approval(job_id, "reject", reason))
