"""The job directory every executor shares, and the /data layout every algorithm sees.

<job dir>/job.json                  the job (JobSpec's JSON), readable by the stage user only
<job dir>/data/inputs/<did>/<i>     dataset files (read-only to the algorithm)
<job dir>/data/ddos/<did>           dataset and algorithm DDOs
<job dir>/data/transformations/algorithm
<job dir>/data/outputs/             the algorithm's results (its only writable place)
<job dir>/data/results/             the published outputs (publish moves them there)
<job dir>/data/logs/                configure.log, algorithm.log, publish.log
<job dir>/filter/                   the filter stage's scratch space and report.json (its decision)
<job dir>/filters/<n>/transformations/algorithm   a publisher's own filter (the policy's n-th)
<job dir>/filters/<n>/verdict/      its only writable place: verdict.json (c2d.job.policy.Verdict)
<job dir>/results.json              what publish found: [{filename, filesize, type, path}]
<job dir>/signals/                  the hand-overs of stages started ahead (container executors):
    configured                      configure: every input is in place (the algorithm waits for it)
    filter                          the engine: the algorithm has ended and its log is copied
    (filter/filtered                filter: its exit code, in the one folder it may write)
    publish                         the engine: the results may go (filtered and accepted)
    published                       publish: its exit code (the engine needs not wait for its pod)

The container executors start a job's three stage containers at once: the algorithm's waits
for `configured` (it sees signals/ read-only at SIGNALS_MOUNT), publish's for `publish`; so
no stage waits for a container to be started after the one before it ended.
"""

import json
import os
from pathlib import Path

from c2d.job.spec import JobSpec

JOB_FILE = "job.json"
RESULTS_FILE = "results.json"
DATA_DIRS = ("inputs", "ddos", "transformations", "outputs", "logs")
ALGORITHM = "transformations/algorithm"
OUTPUTS = "data/outputs"  # the algorithm's writable space, as a path in the job directory
RESULTS = "results"  # data/results: the published outputs, kept after the outputs volume goes
DATA_MOUNT = "/data"  # where the algorithm sees data/
SIGNALS = "signals"
SIGNALS_MOUNT = "/run/c2d"
CONFIGURED, PUBLISH, PUBLISHED = "configured", "publish", "published"
FILTER, FILTERED = "filter", "filtered"
FILTER_DIR = "filter"  # the filter stage's only writable place: its scratch space and report.json
FILTERS = "filters"  # the publishers' own filters: their code and their verdicts
VERDICT_FILE = "verdict.json"
SIGNAL_BYTES = 64  # a signal is empty or an exit code: never read further


def data(job_dir: Path) -> Path:
    return job_dir / "data"


def outputs(job_dir: Path) -> Path:
    return job_dir / OUTPUTS


def log(job_dir: Path, stage: str) -> Path:
    return data(job_dir) / "logs" / f"{stage}.log"


def publisher_filter(job_dir: Path, index: int) -> Path:
    """The folder of the job's index-th publisher's filter: transformations/ and verdict/."""
    return job_dir / FILTERS / str(index)


def review_stage(index: int) -> str:
    """The stage (and log) name of the job's index-th publisher's filter."""
    return f"review-{index}"


def signals(job_dir: Path) -> Path:
    return job_dir / SIGNALS


def signal(job_dir: Path, name: str, text: str = "", folder_name: str = SIGNALS) -> None:
    """Gives a signal, whole or not at all (written aside, then renamed); none where the job
    directory has no signals/ (the local executor starts no stage ahead). The filter stage, which
    writes nothing else, gives its own in its folder (`folder_name`)."""
    folder = job_dir / folder_name
    if not folder.is_dir():
        return
    part = folder / f".{name}.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.rename(part, folder / name)


def signalled(job_dir: Path, name: str, folder_name: str = SIGNALS) -> str | None:
    """The signal's text, or None while it is not given."""
    try:
        with (job_dir / folder_name / name).open("rb") as signal_file:
            return signal_file.read(SIGNAL_BYTES).decode("ascii", "replace")
    except (FileNotFoundError, NotADirectoryError):
        return None


def clear_signals(job_dir: Path) -> None:
    folder = signals(job_dir)
    folder.mkdir(exist_ok=True)
    for entry in folder.iterdir():
        entry.unlink()


def read_spec(job_dir: Path) -> JobSpec:
    """job.json, through the model: a job directory holding anything else is refused."""
    return JobSpec.model_validate_json((job_dir / JOB_FILE).read_bytes())


def write_spec(job_dir: Path, spec: JobSpec) -> Path:
    """job.json, readable by its owner only, never written through a link."""
    path = job_dir / JOB_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(spec.model_dump_json())
    os.chmod(path, 0o600)
    return path


def algorithm_env(spec: JobSpec) -> dict[str, str]:
    """The environment every executor gives the algorithm."""
    return {
        "DIDS": json.dumps(spec.dataset_dids),
        "TRANSFORMATION_DID": spec.algorithm_did or "",
        "INPUTS": f"{DATA_MOUNT}/inputs",
        "OUTPUTS": f"{DATA_MOUNT}/outputs",
        "LOGS": f"{DATA_MOUNT}/logs",
    }


def entrypoint(spec: JobSpec) -> str:
    return spec.algorithm.container.entrypoint.replace("$ALGO", f"{DATA_MOUNT}/{ALGORITHM}")
