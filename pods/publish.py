"""The publish stage: list the algorithm's outputs (recursively) and the logs as the job's
results, within the environment's output size limit.

    python -m c2d.pods.publish JOB_DIR MAX_OUTPUT_BYTES [--wait SECONDS]

With --wait (a publish started ahead, c2d.job.layout), it waits up to SECONDS for the engine's
`publish` signal before it reads anything, and exits NOT_ASKED if none came; its exit code is
also given as the `published` signal.

Published outputs are moved (or copied, from the job's own disk volume) to JOB_DIR/data/results.
Writes JOB_DIR/results.json: [{filename, filesize, type, path}] with types output,
algorithmLog, configurationLog, publishLog (`path` is relative to the job directory and never
shown to consumers). Exit codes: 0 published, 5 outputs too large or unreadable (status 61).

Outputs that a publisher's filter redacted (the filter stage's report.json, `withheld`) are not
published. Every result's name is valid UTF-8: a file or folder whose name is not is renamed first (each
invalid byte becomes `_`). More than MAX_OUTPUT_FILES output files are published as one
uncompressed tar of the outputs folder, `outputs.tar`, so a job's status stays small.
"""

import errno
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

from c2d.job import PublishExit, ResultFile, layout
from c2d.job.layout import RESULTS
from c2d.job.policy import REPORT_BYTES, FilterReport, is_withheld
from c2d.job.results import RESULT_FILES, ResultType

MAX_OUTPUT_FILES = 1000
ARCHIVE = "outputs.tar"
MOVED = "publish.moved"  # in the job directory: data/results may hold outputs moved from data/outputs
LOGS: tuple[tuple[str, ResultType], ...] = (
    ("algorithm.log", "algorithmLog"),
    ("configure.log", "configurationLog"),
    ("filter.log", "filterLog"),
    ("publish.log", "publishLog"),
)


def _utf8(root: str, name: str) -> str:
    """The entry's name, renamed in place when it is not valid UTF-8 (os.walk gives such bytes
    as surrogates, which no JSON reply can carry)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    fixed = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\ufffd", "_")
    candidate, n = fixed, 0
    while os.path.lexists(os.path.join(root, candidate)):
        n += 1
        candidate = f"{fixed}-{n}"
    os.rename(os.path.join(root, name), os.path.join(root, candidate))
    return candidate


def _output_files(outputs: Path, withheld: list[str]) -> list[tuple[Path, int]]:
    """The regular files under outputs, with their sizes (but those a publisher's filter
    redacted: `withheld`)."""
    found: list[tuple[Path, int]] = []
    for root, dirs, files in os.walk(outputs, followlinks=False):
        dirs[:] = sorted(_utf8(root, d) for d in dirs)
        for name in sorted(_utf8(root, f) for f in files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue  # a link could point anywhere on the host: not a result
            if withheld and is_withheld(str(path.relative_to(outputs)), withheld):
                continue
            found.append((path, path.stat().st_size))
    return found


def _archive(outputs: Path, files: list[tuple[Path, int]], kept: Path, max_bytes: int) -> tuple[Path, int]:
    """The outputs as one tar among the kept results (regular files only, streamed, never in
    memory), within the output limit headers included (many empty files with long names are
    no small archive)."""
    archive = kept / ARCHIVE
    with archive.open("wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, _ in files:
            tar.add(path, arcname=str(path.relative_to(outputs)), recursive=False)
            if out.tell() > max_bytes:
                break
    size = archive.stat().st_size
    if size > max_bytes:
        archive.unlink()
        raise ValueError(f"the outputs exceed the environment's limit of {max_bytes} bytes (as {ARCHIVE})")
    return archive, size


def _result(job_dir: Path, path: Path, filename: str, size: int, kind: ResultType) -> ResultFile:
    return ResultFile(filename=filename, filesize=size, type=kind, path=str(path.relative_to(job_dir)))


def _keep(job_dir: Path, outputs: Path, kept: Path, files: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
    """The published files moved (or, where they cannot be, from the job's own disk volume or
    another mount, copied) out of the algorithm's writable space into data/results, which
    outlives it."""
    (job_dir / MOVED).touch()  # before the first move: a publish killed from here on is undone by the next
    moved = []
    for path, size in files:
        target = kept / path.relative_to(outputs)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, target)
        except OSError as exc:  # another file system, or another mount of the same one (a pod's)
            if exc.errno != errno.EXDEV:
                raise
            shutil.copyfile(path, target, follow_symlinks=False)
        moved.append((target, size))
    return moved


def collect(job_dir: Path, max_bytes: int) -> list[ResultFile]:
    outputs = layout.outputs(job_dir)
    kept = layout.data(job_dir) / RESULTS
    _undo(job_dir, outputs, kept)  # a publish run again starts from the algorithm's outputs as they were
    kept.mkdir()
    files = _output_files(outputs, _withheld(job_dir))
    if sum(size for _, size in files) > max_bytes:
        raise ValueError(f"the outputs exceed the environment's limit of {max_bytes} bytes")
    if len(files) > MAX_OUTPUT_FILES:
        print(f"{len(files)} output files (more than {MAX_OUTPUT_FILES}): published as {ARCHIVE}", flush=True)
        files = [_archive(outputs, files, kept, max_bytes)]
    else:
        files = _keep(job_dir, outputs, kept, files)
    results = [_result(job_dir, path, str(path.relative_to(kept)), size, "output") for path, size in files]
    return results + log_results(job_dir)


def _undo(job_dir: Path, outputs: Path, kept: Path) -> None:
    """What an earlier publish of this job left (it was killed, its pod deleted and run again,
    or the engine restarted while it published): the outputs it had moved go back to where the
    algorithm wrote them, and its partial results go. Without this, a publish run again would
    find the moved outputs gone and publish none of them."""
    if (job_dir / MOVED).exists() and kept.is_dir():
        for root, _dirs, names in os.walk(kept, followlinks=False):
            for name in names:
                path = Path(root) / name
                back = outputs / path.relative_to(kept)
                if os.path.lexists(back):
                    continue  # copied, not moved (another mount): the algorithm's own is still there
                back.parent.mkdir(parents=True, exist_ok=True)
                os.rename(path, back)
    shutil.rmtree(kept, ignore_errors=True)
    (job_dir / MOVED).unlink(missing_ok=True)


def _withheld(job_dir: Path) -> list[str]:
    """What the filter stage's decision says the publishers' filters redacted (none without a
    policy: there is no decision then)."""
    try:
        spec = layout.read_spec(job_dir)
        if not spec.outputPolicy.enabled or not spec.filters:
            return []
        with (job_dir / layout.FILTER_DIR / "report.json").open("rb") as handle:
            return FilterReport.model_validate_json(handle.read(REPORT_BYTES)).withheld
    except (OSError, ValueError) as exc:  # accepted, yet unreadable now: nothing is published
        raise ValueError("the filter stage's decision cannot be read") from exc


def log_results(job_dir: Path) -> list[ResultFile]:
    """The stage logs as results: also what a job that ended badly still returns."""
    results = []
    for name, kind in LOGS:
        path = layout.data(job_dir) / "logs" / name
        if path.exists():
            results.append(_result(job_dir, path, name, path.stat().st_size, kind))
    return results


def _as_seen(job_dir: Path, name: object) -> str:
    path = os.fsdecode(name) if isinstance(name, (str, bytes)) else str(name)
    data = str(layout.data(job_dir))
    return "/data" + path[len(data) :] if path.startswith(data) else os.path.basename(path)


WAIT_POLL = 0.01


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job_dir, max_bytes = Path(args[0]), int(args[1])
    if args[2:3] == ["--wait"]:
        deadline = time.monotonic() + float(args[3])
        while layout.signalled(job_dir, layout.PUBLISH) is None:
            if time.monotonic() > deadline:
                print("publishing was not asked for in time", flush=True)
                return PublishExit.NOT_ASKED
            time.sleep(WAIT_POLL)
    code = publish(job_dir, max_bytes)
    layout.signal(job_dir, layout.PUBLISHED, str(code))
    return code


def publish(job_dir: Path, max_bytes: int) -> int:
    try:
        layout.read_spec(job_dir)
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        print("publishing failed: the job directory holds no valid job.json", flush=True)
        return PublishExit.FAILED
    try:
        results = collect(job_dir, max_bytes)
    except ValueError as exc:
        print(f"publishing failed: {exc}", flush=True)
        return PublishExit.FAILED
    except OSError as exc:  # the path as the algorithm saw it
        where = f": {_as_seen(job_dir, exc.filename)}" if exc.filename else ""
        print(f"publishing failed: {exc.strerror or type(exc).__name__}{where}", flush=True)
        return PublishExit.FAILED
    (job_dir / layout.RESULTS_FILE).write_bytes(RESULT_FILES.dump_json(results))
    print(f"published {sum(1 for r in results if r.type == 'output')} output file(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
