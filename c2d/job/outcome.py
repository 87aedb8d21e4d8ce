"""How a stage ended, as every executor reports it to the engine."""

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None
    signal: int | None = None
    timed_out: bool = False
    stopped: bool = False
    out_of_memory: bool = False
    seconds: float = 0.0
    detail: str = ""  # why a stage did not run or ended (image missing, evicted, ...)
    unprovisioned: bool = False  # its image could not be had as declared: nothing of it ran
    log_cut: int = 0  # bytes of the stage's log that were not kept (beyond its limit)

    @classmethod
    def exited(
        cls, code: int | None, seconds: float, signal: int | None = None, out_of_memory: bool = False
    ) -> "Outcome":
        """The stage's process ended by itself or by a signal (`code` None: no code known)."""
        return cls(exit_code=code, signal=signal, out_of_memory=out_of_memory, seconds=seconds)

    @classmethod
    def timeout(cls, seconds: float) -> "Outcome":
        """The stage ran past its time limit and was ended."""
        return cls(exit_code=None, timed_out=True, seconds=seconds)

    @classmethod
    def stop(cls, seconds: float) -> "Outcome":
        """The stage was ended because its job was asked to stop."""
        return cls(exit_code=None, stopped=True, seconds=seconds)

    @classmethod
    def failed(cls, detail: str, seconds: float = 0.0) -> "Outcome":
        """The stage could not run, or ended in a way that has no exit code; `detail` says why."""
        return cls(exit_code=None, seconds=seconds, detail=detail)

    @classmethod
    def not_provisioned(cls, detail: str, seconds: float = 0.0) -> "Outcome":
        """The stage's image is not there, not allowed to be pulled, did not come in time or is not
        the one declared (its digest): nothing of it ran; `detail` says what was expected and found."""
        return cls(exit_code=None, seconds=seconds, detail=detail, unprovisioned=True)

    def with_log_cut(self, cut: int) -> "Outcome":
        return dataclasses.replace(self, log_cut=cut)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.stopped or self.out_of_memory)
