"""The job as the provider sends it to the operator service, as the operator keeps it and as
the stages read it from the job directory's job.json: one set of models, strict (an unknown
field is an error wherever a job is read).

    JobSpec
      jobId, owner, environment, allowNetworkAccess
      datasets:  [DatasetSpec]   did, serviceId, transferTxId, files, checksums, ddo
      algorithm: PublishedAlgorithmSpec (did, serviceId, transferTxId, container, files,
                 checksums, ddo) | RawAlgorithmSpec (rawcode, container)

`files` are the indexes of the asset's files (the provider keeps the URLs); `checksums` the
sha256 each file must have, by index (what the DDO declares, or for a trusted algorithm the
content the publisher's policy approved); `ddo` the asset's public DDO (without its encrypted
files), which the algorithm finds in /data/ddos. `filters`: the publishers' own filters the output
policy names, as the provider found and checked them. The WorkFlow custom resource shows a summary of
the job (`WorkFlowSpec`, identifiers only); its CRD schema is derived from that model.
"""

from typing import Annotated, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
DID_PATTERN = r"^did:op:[0-9a-fA-F]{40}$"
ENVIRONMENT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
# A WorkFlow's name is the job id: a DNS label (the kubernetes executor's ids, at most 48).
WORKFLOW_ID_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
MAX_DATASETS = 64
MAX_PARAMETERS = 64
PARAMETER_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"

JobId = Annotated[str, Field(pattern=JOB_ID_PATTERN)]
Address = Annotated[str, Field(pattern=ADDRESS_PATTERN)]
Did = Annotated[str, Field(pattern=DID_PATTERN, max_length=256)]
TxHash = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
FileIndex = Annotated[int, Field(ge=0, lt=1 << 16)]
ServiceIndex = Annotated[int, Field(ge=0, lt=1 << 16)]
# A consumer parameter's value, checked by the provider against what the DDO declares.
ParameterValue: TypeAlias = StrictBool | StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=4096)]
Parameters = Annotated[
    dict[Annotated[str, Field(pattern=PARAMETER_NAME_PATTERN)], ParameterValue], Field(max_length=MAX_PARAMETERS)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Docker's reference grammar, simplified: [host[:port]/]path components, lowercase.
IMAGE_PATTERN = r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$"
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"


class Container(Strict):
    """Where the algorithm runs: Ocean's container section (`$ALGO` in the entrypoint is the
    algorithm's file). With a checksum (the image's digest) only that image runs: the image is
    `image@checksum`, the tag says which one it was published as. What a DDO's section holds
    besides these is not carried."""

    entrypoint: str = Field(max_length=4096)
    image: str = Field(max_length=255, pattern=IMAGE_PATTERN, description="repository, as docker names it")
    tag: str = Field(pattern=TAG_PATTERN)
    checksum: str | None = Field(default=None, pattern=DIGEST_PATTERN, description="the image's digest")

    @property
    def reference(self) -> str:
        """How the executors name the image: by digest when there is one."""
        return f"{self.image}@{self.checksum}" if self.checksum else f"{self.image}:{self.tag}"


class _Published(Strict):
    did: Did
    serviceId: ServiceIndex
    transferTxId: TxHash
    files: list[FileIndex] = Field(max_length=1024)
    checksums: dict[str, Sha256] = Field(default={}, description="sha256 by file index")
    ddo: dict[str, Any] = Field(default={}, description="the asset's public DDO")

    def checksum(self, index: int) -> str | None:
        return self.checksums.get(str(index))


class DatasetSpec(_Published):
    """A dataset the job computes on, ordered by the consumer; `userData`: the consumer's values
    of the parameters its compute service declares (the algorithm reads
    /data/inputs/userdata/<did>.json)."""

    userData: Parameters = {}


class PublishedAlgorithmSpec(_Published):
    """A published algorithm, ordered by the consumer: configure fetches its one file."""

    container: Container
    customData: Parameters = Field(default={}, description="/data/inputs/algoCustomData.json")


class RawAlgorithmSpec(Strict):
    """An algorithm the consumer sent as code (where the datasets' policies allow it)."""

    rawcode: str = Field(min_length=1)
    container: Container
    customData: Parameters = Field(default={}, description="/data/inputs/algoCustomData.json")


AlgorithmSpec = PublishedAlgorithmSpec | RawAlgorithmSpec
MAX_FILTERS = 8


class FilterSpec(Strict):
    """A publisher's own filter (the output policy's `filters`), provisioned like a trusted
    algorithm: configure fetches its one file (the content its checksums approved) into
    filters/<n>/transformations/algorithm; it runs in its container after the algorithm, the
    inputs, outputs and logs read-only, and writes its verdict (c2d.job.policy.Verdict)."""

    did: Did
    files: list[FileIndex] = Field(min_length=1, max_length=1)
    checksums: dict[str, Sha256] = Field(description="sha256 by file index: what the policy approved")
    container: Container


class JobSpec(Strict):
    jobId: JobId
    owner: Address
    environment: str | None = Field(
        default=None, pattern=ENVIRONMENT_PATTERN, description="the compute environment; the first if not given"
    )
    allowNetworkAccess: bool = Field(default=False, description="every dataset's policy allows the network")
    datasets: list[DatasetSpec] = Field(min_length=1, max_length=MAX_DATASETS)
    algorithm: AlgorithmSpec
    outputPolicy: "OutputPolicy" = Field(
        default_factory=lambda: OutputPolicy(), description="the strictest of the datasets' output policies"
    )
    filters: list[FilterSpec] = Field(default=[], max_length=MAX_FILTERS, description="the policy's filters")

    @property
    def algorithm_did(self) -> str | None:
        return self.algorithm.did if isinstance(self.algorithm, PublishedAlgorithmSpec) else None

    @property
    def dataset_dids(self) -> list[str]:
        return [d.did for d in self.datasets]


from c2d.job.policy import OutputPolicy  # noqa: E402 (policy builds on Strict)

JobSpec.model_rebuild()


class WorkFlowSpec(Strict):
    """The spec of a job's WorkFlow custom resource: identifiers only (no URL, key or code)."""

    jobId: str = Field(pattern=WORKFLOW_ID_PATTERN, max_length=48)
    owner: Address
    environment: str = Field(pattern=ENVIRONMENT_PATTERN)
    datasets: list[Did] = Field(default=[], max_length=MAX_DATASETS)
    algorithm: str = Field(default="rawcode", max_length=256, description="the algorithm's DID, or 'rawcode'")
    stopRequested: bool = False

    @classmethod
    def of(cls, job: JobSpec) -> "WorkFlowSpec":
        assert job.environment is not None, "a stored job has its environment"
        return cls(
            jobId=job.jobId,
            owner=job.owner.lower(),
            environment=job.environment,
            datasets=job.dataset_dids,
            algorithm=job.algorithm_did or "rawcode",
        )
