"""The filter stage (status 50): the job's outputs, their names and the algorithm's log checked
against the job's output policy (c2d.job.policy, c2d.filter.check) before anything is released.

    python -m c2d.pods.filter JOB_DIR [--wait SECONDS]

It reads the job directory (inputs, outputs, logs, the verdicts of the publishers' own filters,
which ran before it) and writes only JOB_DIR/filter/: its scratch space (fingerprints beyond
memory) and report.json, the decision (FilterReport). A filter's rejection, or a filter that left
no verdict, rejects; the outputs a filter redacted are neither checked nor published. Exit
codes (c2d.job.FilterExit): 0 accepted, 7 rejected, 8 could not check (rejected too). With
--wait (started ahead) it waits up to SECONDS for the engine's `filter` signal before it reads
anything (6 if none came); its exit code is also given as the `filtered` signal.
"""

import os
import shutil
import stat
import sys
import time
from pathlib import Path

from c2d.job import FilterExit, JobSpec, layout
from c2d.job.policy import MAX_CHECKED, VERDICT_BYTES, FilterReport, Finding, Verdict

WAIT_POLL = 0.01
FOLDER = layout.FILTER_DIR
REPORT = "report.json"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    from c2d.filter.check import Checker  # numpy's import, before the wait: not after the signal

    if args[1:2] == ["--wait"]:
        deadline = time.monotonic() + float(args[2])
        while layout.signalled(job_dir, layout.FILTER) is None:
            if time.monotonic() > deadline:
                print("filtering was not asked for in time", flush=True)
                return FilterExit.NOT_ASKED
            time.sleep(WAIT_POLL)
    code = check(job_dir, Checker)
    layout.signal(job_dir, layout.FILTERED, str(code), layout.FILTER_DIR)
    return code


def check(job_dir: Path, checker: type) -> int:
    folder = job_dir / FOLDER
    report_path = folder / REPORT
    try:
        spec = layout.read_spec(job_dir)
    except (OSError, ValueError):
        print("filtering failed: the job directory holds no valid job.json", flush=True)
        return _write(report_path, FilterReport(accepted=False), FilterExit.FAILED)
    refused, withheld = verdicts(job_dir, spec)
    if refused:
        report = FilterReport(accepted=False, checks=["filter"], findings=refused)
        print(f"results withheld: {report.reason()}", flush=True)
        return _write(report_path, report, FilterExit.REJECTED)
    scratch = folder / "scratch"
    try:
        report = checker(spec.outputPolicy, job_dir, scratch, withheld=withheld).run()
        if spec.filters:
            report = report.model_copy(update={"checks": ["filter", *report.checks]})
    except (OSError, ValueError) as exc:  # what could not be read is not let out
        print(f"filtering failed: {type(exc).__name__}", flush=True)
        return _write(report_path, FilterReport(accepted=False), FilterExit.FAILED)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    checks = ", ".join(report.checks)
    if report.accepted:
        print(f"results accepted ({checks}): {report.outputBytes} bytes checked in {report.seconds} s", flush=True)
        return _write(report_path, report, FilterExit.ACCEPTED)
    print(f"results withheld: {report.reason()}", flush=True)
    return _write(report_path, report, FilterExit.REJECTED)


def verdicts(job_dir: Path, spec: JobSpec) -> tuple[list[Finding], list[str]]:
    """The publishers' filters' verdicts (each ran before this stage): the findings of those
    that rejected or left no verdict that reads, and the outputs the others redacted."""
    refused: list[Finding] = []
    withheld: list[str] = []
    for index, publisher_filter in enumerate(spec.filters):
        path = layout.publisher_filter(job_dir, index) / "verdict" / layout.VERDICT_FILE
        what = f"the publisher's filter {publisher_filter.did}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO would hold the stage
                os.close(fd)
                raise ValueError("not a file")
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(VERDICT_BYTES + 1)
            if len(data) > VERDICT_BYTES:
                raise ValueError("too large")
            verdict = Verdict.model_validate_json(data)
        except (OSError, ValueError):
            refused.append(Finding(check="filter", item=f"{what} left no valid verdict"))
            continue
        if verdict.decision == "reject":
            reason = "".join(c if c.isprintable() else " " for c in verdict.reason).strip()
            refused.append(Finding(check="filter", item=f"rejected by {what}" + (f": {reason}" if reason else "")))
        elif verdict.decision == "redact":
            withheld += verdict.remove
    if len(withheld) > MAX_CHECKED:  # never cut: what a filter withholds stays withheld
        refused.append(
            Finding(check="filter", item=f"the publishers' filters withhold more than {MAX_CHECKED} outputs")
        )
    return refused, withheld


def _write(path: Path, report: FilterReport, code: int) -> int:
    part = path.with_suffix(".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(report.model_dump_json())
    os.rename(part, path)
    return code


if __name__ == "__main__":
    sys.exit(main())
