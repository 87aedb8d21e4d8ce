"""Compute environments: the resources, limits and price of a class of jobs."""

import json
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, model_validator


class Environment(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    cpu: float = Field(default=1.0, gt=0, description="CPU seconds per wall-clock second")
    memory_mb: int = Field(default=512, ge=16, alias="memoryMb")
    disk_mb: int = Field(
        default=1024,
        ge=1,
        alias="diskMb",
        description="the algorithm's writable space: a volume of this size (see c2d.operator.executors.quota, and "
        "kube_outputs_class for the kubernetes executor)",
    )
    max_jobs: int = Field(default=2, ge=1, alias="maxJobs", description="jobs running at once; more wait in a queue")
    max_duration: int = Field(default=600, ge=1, alias="maxDuration", description="seconds an algorithm may run")
    max_processes: int = Field(default=64, ge=4, alias="maxProcesses")
    network: bool = Field(default=False, description="algorithms may use the network when the asset allows it too")
    price: str = Field(default="0", description="per job, in base-token wei")
    max_output_mb: int = Field(default=256, ge=1, alias="maxOutputMb")
    max_log_mb: int = Field(
        default=16, ge=1, alias="maxLogMb", description="the algorithm's log beyond this is cut (and says so)"
    )

    images: list[str] = Field(
        default=[],
        max_length=256,
        description="the images algorithms may run in, each a repository (any tag or digest), repository:tag, "
        "repository@sha256:<digest>, sha256:<digest> (that image in any repository) or a prefix ending in /*; "
        "c2d's runtime images (c2d.operator.images.RUNTIMES) if empty",
    )
    pull_policy: Literal["never", "if-not-present", "always"] = Field(
        default="never",
        alias="pullPolicy",
        description="whether the executor pulls an algorithm's image: never (only images on the node run), "
        "if-not-present, always (a tag is looked up again each time)",
    )
    pull_secret: str = Field(
        default="",
        alias="pullSecret",
        max_length=4096,
        description="registry credentials for pulls: the docker executor's docker config directory (config.json "
        "inside), the kubernetes executor's Secret of type kubernetes.io/dockerconfigjson in the jobs namespace; "
        "never listed",
    )
    start_timeout: int = Field(
        default=300,
        ge=1,
        le=3600,
        alias="startTimeout",
        description="seconds the algorithm's image may take to be pulled and started (not part of maxDuration)",
    )
    runtime: Literal["runc", "gvisor"] = Field(
        default="runc",
        description="the algorithm container's runtime on the container executors: runc, or gvisor (gVisor's "
        "runsc: the algorithm's system calls reach a kernel of gVisor's, not the host's; docker: the daemon's "
        "runtime docker_gvisor_runtime, kubernetes: the RuntimeClass kube_gvisor_class), without a network. "
        "The local executor runs its own sandbox: a job of a gvisor environment fails there, nothing run",
    )
    gpus: int = Field(default=0, ge=0, le=64, description="GPUs each algorithm gets")
    gpu_resource: str = Field(
        default="nvidia.com/gpu",
        alias="gpuResource",
        pattern=r"^[a-z0-9.-]+/[a-z0-9.-]+$",
        description="the kubernetes resource name of a GPU (an extended resource of the nodes' device plugin)",
    )

    model_config = {"populate_by_name": True}

    # What the environment listing does not show: a path of the operator's host, or a Secret's name.
    PRIVATE: ClassVar[frozenset[str]] = frozenset({"pull_secret"})

    @property
    def free(self) -> bool:
        return self.price == "0"

    @model_validator(mode="after")
    def _gvisor_has_no_network(self) -> "Environment":
        if self.runtime == "gvisor" and self.network:
            raise ValueError("a gvisor environment runs its algorithms without a network: network must be false")
        return self


DEFAULT = [Environment(id="default", description="1 CPU, 512 MB, 10 minutes, no network")]


def load_environments(path: Path | None) -> list[Environment]:
    """Environments from a JSON list (file), or the one default environment."""
    if path is None:
        return list(DEFAULT)
    data = json.loads(Path(path).read_text())
    environments = [Environment.model_validate(item) for item in data]
    if not environments or len({e.id for e in environments}) != len(environments):
        raise ValueError("environments need at least one entry and unique ids")
    return environments
