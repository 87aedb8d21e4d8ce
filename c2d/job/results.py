"""What a job returns: the files publish lists (results.json) and the status a consumer sees."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from c2d.job.status import Status

ResultType = Literal["output", "algorithmLog", "configurationLog", "filterLog", "publishLog"]


class ResultFile(BaseModel):
    """One result as publish lists it: `path` is relative to the job directory (never shown)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filename: str = Field(max_length=4096)
    filesize: int = Field(ge=0)
    type: ResultType
    path: str = Field(max_length=8192)


RESULT_FILES = TypeAdapter(list[ResultFile])


class ResultInfo(BaseModel):
    """A result as the consumer sees it: by index, without its path."""

    index: int = Field(ge=0)
    filename: str
    filesize: int = Field(ge=0)
    type: ResultType


class JobStatus(BaseModel):
    """A job's status, as the operator service answers it and the provider passes it on (Ocean's
    field names)."""

    jobId: str
    owner: str
    did: str | None
    inputDID: list[str]
    algoDID: str | None
    environment: str
    status: Status
    statusText: str
    reason: str
    dateCreated: float
    dateFinished: float | None
    stopreq: bool
    results: list[ResultInfo]


JOB_STATUSES = TypeAdapter(list[JobStatus])
