"""The job directory every executor shares, and the /data layout every algorithm sees.

<job dir>/job.json                  the job as the operator received it
<job dir>/data/inputs/<did>/<i>     dataset files (read-only to the algorithm)
<job dir>/data/ddos/<did>           dataset and algorithm DDOs
<job dir>/data/transformations/algorithm
<job dir>/data/outputs/             the algorithm's results (its only writable place)
<job dir>/data/logs/                configure.log, algorithm.log, publish.log
<job dir>/results.json              what publish found: [{filename, filesize, type, path}]
"""

import json
from pathlib import Path
from typing import Any

DATA_DIRS = ("inputs", "ddos", "transformations", "outputs", "logs")
ALGORITHM = "transformations/algorithm"


def data(job_dir: Path) -> Path:
    return job_dir / "data"


def spec(job_dir: Path) -> dict[str, Any]:
    return json.loads((job_dir / "job.json").read_text())  # type: ignore[no-any-return]


def algorithm_env(spec: dict[str, Any]) -> dict[str, str]:
    """The environment every executor gives the algorithm."""
    dids = [d["did"] for d in spec["datasets"]]
    return {
        "DIDS": json.dumps(dids),
        "TRANSFORMATION_DID": spec["algorithm"].get("did") or "",
        "INPUTS": "/data/inputs",
        "OUTPUTS": "/data/outputs",
        "LOGS": "/data/logs",
    }


def entrypoint(spec: dict[str, Any]) -> str:
    return str(spec["algorithm"]["container"]["entrypoint"]).replace("$ALGO", "/data/" + ALGORITHM)
