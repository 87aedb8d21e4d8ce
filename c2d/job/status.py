"""A job's statuses (Ocean's numbers and texts), which of them are final, and the exit codes by
which the stage programs tell the engine what happened."""

from enum import IntEnum


class Status(IntEnum):
    WARMING_UP = 1
    STARTED = 10
    CONFIGURING = 20
    PROVISIONED = 30
    DATA_PROVISIONING_FAILED = 31
    ALGORITHM_PROVISIONING_FAILED = 32
    RUNNING = 40
    ALGORITHM_FAILED = 41
    ALGORITHM_TIMED_OUT = 42
    ALGORITHM_KILLED = 43
    FILTERING = 50
    REJECTED = 51  # c2d's: the output policy withheld the results (a final status)
    HELD = 52  # c2d's: the results wait for the publisher's approval
    PUBLISHING = 60
    PUBLISHING_FAILED = 61
    FINISHED = 70
    STOPPED = 80

    @property
    def text(self) -> str:
        return TEXTS[self]

    @property
    def final(self) -> bool:
        return self in FINAL


TEXTS = {
    Status.WARMING_UP: "Warming up",
    Status.STARTED: "Job started",
    Status.CONFIGURING: "Configuring volumes",
    Status.PROVISIONED: "Provisioning success",
    Status.DATA_PROVISIONING_FAILED: "Data provisioning failed",
    Status.ALGORITHM_PROVISIONING_FAILED: "Algorithm provisioning failed",
    Status.RUNNING: "Running algorithm",
    Status.ALGORITHM_FAILED: "Algorithm failed",
    Status.ALGORITHM_TIMED_OUT: "Algorithm timed out",
    Status.ALGORITHM_KILLED: "Algorithm killed (out of memory or limits)",
    Status.FILTERING: "Filtering results",
    Status.REJECTED: "Results withheld by the output policy",
    Status.HELD: "Waiting for the publisher's approval",
    Status.PUBLISHING: "Publishing results",
    Status.PUBLISHING_FAILED: "Publishing failed",
    Status.FINISHED: "Job finished",
    Status.STOPPED: "Stopped by request",
}

FINAL = frozenset(
    {
        Status.DATA_PROVISIONING_FAILED,
        Status.ALGORITHM_PROVISIONING_FAILED,
        Status.ALGORITHM_FAILED,
        Status.ALGORITHM_TIMED_OUT,
        Status.ALGORITHM_KILLED,
        Status.REJECTED,
        Status.PUBLISHING_FAILED,
        Status.FINISHED,
        Status.STOPPED,
    }
)


class PublishExit(IntEnum):
    """publish's exit codes (its reason is the last line of publish.log): any but 0 is status 61."""

    PUBLISHED = 0
    FAILED = 5  # the outputs are beyond the output limit, or could not be read
    NOT_ASKED = 6  # started ahead, it waited for the engine's signal in vain: nothing was read


class ConfigureExit(IntEnum):
    """configure's exit codes (its reason is the last line of configure.log)."""

    PROVISIONED = 0
    DATA_FAILED = 3  # a dataset could not be provisioned: status 31
    ALGORITHM_FAILED = 4  # the algorithm could not: status 32

    @staticmethod
    def failure(code: int | None) -> Status:
        """The final status of a configure stage that did not provision, by its exit code."""
        if code == ConfigureExit.ALGORITHM_FAILED:
            return Status.ALGORITHM_PROVISIONING_FAILED
        return Status.DATA_PROVISIONING_FAILED


class FilterExit(IntEnum):
    """The filter stage's exit codes (its decision is <job>/filter/report.json)."""

    ACCEPTED = 0
    NOT_ASKED = 6  # started ahead, it waited for the engine's signal in vain: nothing was read
    REJECTED = 7  # a check found something: status 51, outputs and log withheld
    FAILED = 8  # the results could not be checked: rejected too (fail closed)
