"""The publish stage: list the algorithm's outputs (recursively) and the logs as the job's
results, within the environment's output size limit.

    python -m c2d.pods.publish JOB_DIR MAX_OUTPUT_BYTES

Writes JOB_DIR/results.json: [{filename, filesize, type, path}] with types output,
algorithmLog, configurationLog, publishLog (`path` is relative to the job directory and never
shown to consumers). Exit codes: 0 published, 5 outputs too large or unreadable (status 61).
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

from c2d.pods import layout

TOO_LARGE = 5
LOGS = (("algorithm.log", "algorithmLog"), ("configure.log", "configurationLog"), ("publish.log", "publishLog"))


def collect(job_dir: Path, max_bytes: int) -> list[dict[str, Any]]:
    outputs = layout.data(job_dir) / "outputs"
    results: list[dict[str, Any]] = []
    total = 0
    for root, dirs, files in os.walk(outputs, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue  # a link could point anywhere on the host: not a result
            size = path.stat().st_size
            total += size
            if total > max_bytes:
                raise ValueError(f"the outputs exceed the environment's limit of {max_bytes} bytes")
            results.append(
                {
                    "filename": str(path.relative_to(outputs)),
                    "filesize": size,
                    "type": "output",
                    "path": str(path.relative_to(job_dir)),
                }
            )
    for name, kind in LOGS:
        path = layout.data(job_dir) / "logs" / name
        if path.exists():
            results.append(
                {
                    "filename": name,
                    "filesize": path.stat().st_size,
                    "type": kind,
                    "path": str(path.relative_to(job_dir)),
                }
            )
    return results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job_dir, max_bytes = Path(args[0]), int(args[1])
    try:
        results = collect(job_dir, max_bytes)
    except (ValueError, OSError) as exc:
        print(f"publishing failed: {exc}", flush=True)
        return TOO_LARGE
    (job_dir / "results.json").write_text(json.dumps(results))
    print(f"published {sum(1 for r in results if r['type'] == 'output')} output file(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
