"""The publish stage: list the algorithm's outputs (recursively) and the logs as the job's
results, within the environment's output size limit.

    python -m c2d.pods.publish JOB_DIR MAX_OUTPUT_BYTES

Writes JOB_DIR/results.json: [{filename, filesize, type, path}] with types output,
algorithmLog, configurationLog, publishLog (`path` is relative to the job directory and never
shown to consumers). Exit codes: 0 published, 5 outputs too large or unreadable (status 61).

Every result's name is valid UTF-8: a file or folder whose name is not is renamed first (each
invalid byte becomes `_`). More than MAX_OUTPUT_FILES output files are published as one
uncompressed tar of the outputs folder, `outputs.tar`, so a job's status stays small.
"""

import json
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

from c2d.pods import layout

TOO_LARGE = 5
MAX_OUTPUT_FILES = 1000
ARCHIVE = "outputs.tar"
LOGS = (("algorithm.log", "algorithmLog"), ("configure.log", "configurationLog"), ("publish.log", "publishLog"))


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


def _output_files(outputs: Path) -> list[tuple[Path, int]]:
    """The regular files under outputs, with their sizes."""
    found: list[tuple[Path, int]] = []
    for root, dirs, files in os.walk(outputs, followlinks=False):
        dirs[:] = sorted(_utf8(root, d) for d in dirs)
        for name in sorted(_utf8(root, f) for f in files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue  # a link could point anywhere on the host: not a result
            found.append((path, path.stat().st_size))
    return found


def _archive(outputs: Path, files: list[tuple[Path, int]]) -> tuple[Path, int]:
    """The outputs as one tar next to them (regular files only, streamed, never in memory)."""
    archive = outputs.parent / ARCHIVE
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for path, _ in files:
            tar.add(path, arcname=str(path.relative_to(outputs)), recursive=False)
    return archive, archive.stat().st_size


def _result(job_dir: Path, path: Path, filename: str, size: int, kind: str) -> dict[str, Any]:
    return {"filename": filename, "filesize": size, "type": kind, "path": str(path.relative_to(job_dir))}


def collect(job_dir: Path, max_bytes: int) -> list[dict[str, Any]]:
    outputs = layout.data(job_dir) / "outputs"
    files = _output_files(outputs)
    if sum(size for _, size in files) > max_bytes:
        raise ValueError(f"the outputs exceed the environment's limit of {max_bytes} bytes")
    names = outputs
    if len(files) > MAX_OUTPUT_FILES:
        print(f"{len(files)} output files (more than {MAX_OUTPUT_FILES}): published as {ARCHIVE}", flush=True)
        files, names = [_archive(outputs, files)], outputs.parent
    results = [_result(job_dir, path, str(path.relative_to(names)), size, "output") for path, size in files]
    for name, kind in LOGS:
        path = layout.data(job_dir) / "logs" / name
        if path.exists():
            results.append(_result(job_dir, path, name, path.stat().st_size, kind))
    return results


def _as_seen(job_dir: Path, name: object) -> str:
    path = os.fsdecode(name) if isinstance(name, (str, bytes)) else str(name)
    data = str(layout.data(job_dir))
    return "/data" + path[len(data) :] if path.startswith(data) else os.path.basename(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job_dir, max_bytes = Path(args[0]), int(args[1])
    try:
        results = collect(job_dir, max_bytes)
    except ValueError as exc:
        print(f"publishing failed: {exc}", flush=True)
        return TOO_LARGE
    except OSError as exc:  # the path as the algorithm saw it
        where = f": {_as_seen(job_dir, exc.filename)}" if exc.filename else ""
        print(f"publishing failed: {exc.strerror or type(exc).__name__}{where}", flush=True)
        return TOO_LARGE
    (job_dir / "results.json").write_text(json.dumps(results))
    print(f"published {sum(1 for r in results if r['type'] == 'output')} output file(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
