"""The job, one typed contract from the provider to the stage programs: its spec (c2d.job.spec),
its statuses and the stages' exit codes (c2d.job.status), how a stage ended (c2d.job.outcome),
what it returns (c2d.job.results) and the job directory's layout (c2d.job.layout)."""

from c2d.job.outcome import Outcome
from c2d.job.results import JobStatus, ResultFile, ResultInfo
from c2d.job.spec import (
    AlgorithmSpec,
    Container,
    DatasetSpec,
    FilterSpec,
    JobSpec,
    PublishedAlgorithmSpec,
    RawAlgorithmSpec,
    WorkFlowSpec,
)
from c2d.job.status import FINAL, ConfigureExit, FilterExit, PublishExit, Status

__all__ = [
    "FINAL",
    "AlgorithmSpec",
    "ConfigureExit",
    "Container",
    "DatasetSpec",
    "FilterExit",
    "FilterSpec",
    "JobSpec",
    "JobStatus",
    "Outcome",
    "PublishExit",
    "PublishedAlgorithmSpec",
    "RawAlgorithmSpec",
    "ResultFile",
    "ResultInfo",
    "Status",
    "WorkFlowSpec",
]
