"""The engine: runs queued jobs through configure → algorithm → filter → publish on an executor.

One state machine for every executor. Each transition is recorded with its time. The engine
keeps no state of its own: everything is in the job store, so after a crash it looks at each
unfinished job and continues from its last recorded status:

    1 queued            waits for a free slot of its environment (arrival order)
    10, 20 configuring  configures again from a clean directory
    30 provisioned      runs the algorithm
    40 running          the algorithm died with the engine: runs it once more from no outputs;
                        a second interruption ends the job (41)
    50 filtering        checks the results against the output policy again (51 if rejected)
    52 held             waits for the approvers' decisions or the deadline, holding no slot
                        (an approval publishes, a rejection or the deadline ends it as 51)
    60 publishing       publishes again

Every stage is bounded in time (the algorithm by its environment's max duration), so every job
reaches a final status; a stop request ends it as 80 within the store's poll interval.

Engines may run side by side on one store (PostgreSQL): each runs the jobs it has claimed
(JobStore.claim: one claim at a time, environments' slots counted over all engines) and renews
their leases every third of `lease_seconds`. When an engine dies its leases run out and another
continues its jobs as above; a job's status is written only by the engine holding its lease.
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from c2d import heartbeat
from c2d.job import ConfigureExit, FilterExit, Outcome, ResultFile, Status, layout
from c2d.metrics import STAGE_BUCKETS
from c2d.operator.environments import Environment
from c2d.operator.executors import Executor, IsolationUnavailable
from c2d.operator.store import Job, JobStore, LeaseLost
from c2d.pods.publish import log_results

log = logging.getLogger("c2d.operator.engine")

EXPIRY_INTERVAL = 60.0


class Stopped(Exception):
    """A stop request ended the stage."""


class ShuttingDown(Exception):
    """The engine is halting: the job keeps its recorded status for the next start."""


class EngineMetrics:
    """What an engine measures: each stage's duration, and the jobs it ended by final status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.stages = Histogram(
            "c2d_stage_duration_seconds",
            "a stage's time on this engine, by stage, environment and result (ok, failed, stopped)",
            ["stage", "environment", "result"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.ended = Counter(
            "c2d_jobs_ended", "jobs this engine ended, by environment and final status", ["environment", "status"],
            registry=registry,
        )  # fmt: skip


class Undecided(ShuttingDown):
    """A held job without a decision yet: it stays held."""


class Engine:
    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        environments: list[Environment],
        results_ttl: float,
        poll_interval: float = 0.05,
        lease_seconds: float = 30.0,
        metrics: "EngineMetrics | None" = None,
    ) -> None:
        """`store`: its `holder` names this engine (its leases, its transitions)."""
        self.metrics = metrics
        self.store = store
        self.executor = executor
        self.environments = {env.id: env for env in environments}
        self.results_ttl = results_ttl
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.running: dict[str, threading.Thread] = {}
        self._halt = threading.Event()
        self._last_expiry = 0.0
        self._last_renewal = 0.0

    # ---- the loop ----

    def run_forever(self) -> None:
        self.store.register(os.getpid(), self.lease_seconds)  # raises EngineNameTaken
        log.info("engine started with environments %s, as %s", ", ".join(self.environments), self.store.holder)
        heartbeat.beat()  # ready: what `c2d stack up` waits for
        beat = time.monotonic()
        while not self._halt.is_set():
            try:
                self.renew()
                self.schedule()
                if time.monotonic() - beat > heartbeat.INTERVAL:
                    beat = time.monotonic()
                    heartbeat.beat()
                if time.monotonic() - self._last_expiry > EXPIRY_INTERVAL:
                    self.expire()
            except Exception as exc:  # the store may be briefly unavailable: keep going
                log.warning("scheduling failed: %s", type(exc).__name__)
            self._halt.wait(self.poll_interval)
        for thread in list(self.running.values()):
            thread.join(timeout=10)
        try:
            self.store.release()  # its jobs are any engine's at once, not after the lease
        except Exception as exc:
            log.warning("could not release the leases: %s (they run out)", type(exc).__name__)
        log.info("engine halted; unfinished jobs continue at the next start or on another engine")

    def halt(self) -> None:
        """Stops scheduling and kills the stages under way; their jobs continue at the next start."""
        self._halt.set()
        self.executor.halt()

    def renew(self) -> None:
        """Every third of the lease: the jobs under way stay this engine's. One lost meanwhile
        (this engine stalled past its lease) is another's now: its thread stops at its next
        write (LeaseLost)."""
        if time.monotonic() - self._last_renewal < self.lease_seconds / 3:
            return
        self._last_renewal = time.monotonic()
        mine = [job_id for job_id, thread in self.running.items() if thread.is_alive()]
        for job_id in set(mine) - self.store.renew(mine, self.lease_seconds):
            log.warning("job %s: its lease ran out; another engine may have taken it over", job_id)

    def schedule(self) -> None:
        """Starts what this engine has claimed: jobs under way whose engine is gone (or this
        engine's own, after a restart), decided held jobs, queued jobs in arrival order while
        their environment has a free slot."""
        self.running = {job_id: t for job_id, t in self.running.items() if t.is_alive()}
        capacity = {env.id: env.max_jobs for env in self.environments.values()}
        for job in self.store.claim(capacity, self.lease_seconds):
            if job.id in self.running:
                continue  # its lease had run out while it ran here: taken back
            env = self.environments.get(job.environment)
            try:
                if env is None:
                    self._finish(job, Status.ALGORITHM_FAILED, f"unknown environment {job.environment}")
                    continue
                if job.status == Status.WARMING_UP and job.stop_requested:
                    self._finish(job, Status.STOPPED, "stopped before it started")
                    continue
            except LeaseLost:
                continue
            thread = threading.Thread(target=self._run_job, args=(job, env), name=f"job-{job.id[:8]}", daemon=True)
            self.running[job.id] = thread
            thread.start()

    def expire(self) -> None:
        self._last_expiry = time.monotonic()
        for job in self.store.claim_expired(self.results_ttl, self.lease_seconds):
            self.executor.remove(job)
            self.store.remove(job.id)
            log.info("job %s expired: results removed", job.id)

    # ---- one job ----

    def _run_job(self, job: Job, env: Environment) -> None:
        try:
            self._run_stages(job, env)
        except LeaseLost:
            log.warning("job %s: taken over by another engine; this one leaves it", job.id)
            return
        try:  # not final (held, or the engine halting): any engine's to continue
            self.store.release(job.id)
        except Exception as exc:
            log.warning("job %s: could not release its lease: %s (it runs out)", job.id, type(exc).__name__)

    def _run_stages(self, job: Job, env: Environment) -> None:
        stage = "configure"
        try:
            status = job.status
            if status in (Status.WARMING_UP, Status.STARTED, Status.CONFIGURING):
                self.store.set_status(job.id, Status.CONFIGURING)
                self._configure(job, env)
                status = Status.PROVISIONED
            if status in (Status.PROVISIONED, Status.RUNNING):
                stage = "algorithm"
                if status == Status.RUNNING:
                    if job.attempts >= 1:
                        self._finish(job, Status.ALGORITHM_FAILED, "interrupted twice by engine restarts")
                        return
                    self.store.update(job.id, attempts=job.attempts + 1)
                    log.info("job %s: running the algorithm again after an engine restart", job.id)
                self.store.set_status(job.id, Status.RUNNING)
                pending, reason = self._algorithm(job, env)
                self.store.set_status(job.id, Status.FILTERING, reason, pending=pending)
                status = Status.FILTERING
            if status == Status.FILTERING:
                stage = "filter"
                self._filter(job, env)
                if _approval(job):
                    self._hold(job)
                    return
                status = Status.PUBLISHING
            if status == Status.HELD:
                stage = "filter"
                self._decided(job)
                status = Status.PUBLISHING
            if status == Status.PUBLISHING:
                stage = "publish"
                self.store.set_status(job.id, Status.PUBLISHING, self._algorithm_reason(job.id))
                self._publish(job, env)
        except ShuttingDown:
            return
        except LeaseLost:
            raise
        except Stopped:
            self._finish(job, Status.STOPPED, "stopped by request")
        except _Final as final:
            self._finish(job, final.status, final.reason)
        except Exception as exc:
            if self._halt.is_set():
                return  # a stage killed by the shutdown: not the job's failure
            if isinstance(exc, IsolationUnavailable):
                self._finish(job, _failure(stage), f"isolation unavailable, nothing ran: {exc}")
            else:  # never leave a job unfinished
                log.error("job %s failed in %s: %s", job.id, stage, _what(exc))
                self._finish(job, _failure(stage), f"{stage} failed: {_what(exc)}")

    def _stop_requested(self, job: Job) -> bool:
        return self.store.stop_requested(job.id)

    def _stopper(self, job: Job) -> Callable[[], bool]:
        return lambda: self._stop_requested(job)

    def _timed(self, stage: str, env: Environment, run: Callable[..., Outcome], *args: Any) -> Outcome:
        """`run(*args)`, the executor's stage, measured."""
        started = time.monotonic()
        outcome = run(*args)
        if self.metrics is not None:
            result = "stopped" if outcome.stopped else "ok" if outcome.ok else "failed"
            self.metrics.stages.labels(stage, env.id, result).observe(time.monotonic() - started)
        return outcome

    def _stage(self, outcome: Outcome) -> Outcome:
        if self._halt.is_set():
            raise ShuttingDown
        if outcome.stopped:
            raise Stopped
        return outcome

    def _configure(self, job: Job, env: Environment) -> None:
        outcome = self._stage(self._timed("configure", env, self.executor.configure, job, env, self._stopper(job)))
        if outcome.ok:
            self.store.set_status(job.id, Status.PROVISIONED)
            return
        reason = self._stage_reason(job, outcome, "configure")
        raise _Final(ConfigureExit.failure(outcome.exit_code), reason)

    def _algorithm(self, job: Job, env: Environment) -> tuple[Status | None, str]:
        outcome = self._stage(self._timed("algorithm", env, self.executor.algorithm, job, env, self._stopper(job)))
        if outcome.unprovisioned:  # the algorithm's image: nothing of it ran
            raise _Final(Status.ALGORITHM_PROVISIONING_FAILED, f"the algorithm's image {outcome.detail}")
        cut = f"; its log was cut at {env.max_log_mb} MB" if outcome.log_cut else ""
        if outcome.ok:
            return None, cut.removeprefix("; ")
        if outcome.timed_out:
            return Status.ALGORITHM_TIMED_OUT, f"the algorithm ran past {env.max_duration} s{cut}"
        if outcome.out_of_memory:
            return Status.ALGORITHM_KILLED, f"the algorithm exceeded its limits ({env.memory_mb} MB memory){cut}"
        return Status.ALGORITHM_FAILED, _describe(outcome, "the algorithm") + cut

    def _filter(self, job: Job, env: Environment) -> None:
        """The output policy's checks: the publishers' own filters, then the built-in checks
        (which read the filters' verdicts); results and the algorithm's log leave only if
        accepted; otherwise the job ends as 51, its outputs and log withheld (removed), its
        order used."""
        if not job.spec.outputPolicy.enabled:
            return
        for index, publisher_filter in enumerate(job.spec.filters):  # first: they may redact
            outcome = self._stage(self._timed("review", env, self.executor.review, job, env, index, self._stopper(job)))
            if not outcome.ok:
                self.executor.withhold(job)
                what = f"the publisher's filter {publisher_filter.did}"
                raise _Final(Status.REJECTED, "output policy, filter: " + _describe(outcome, what))
        outcome = self._stage(self._timed("filter", env, self.executor.filter, job, env, self._stopper(job)))
        report = self.executor.filter_report(job)
        self.store.update(job.id, report=None if report is None else report.model_dump(mode="json"))
        if outcome.ok and report is not None and report.accepted:
            return
        if report is not None and not report.accepted and outcome.exit_code == FilterExit.REJECTED:
            reason = report.reason()
        else:
            reason = "output policy: the results could not be checked (" + _describe(outcome, "the filter") + ")"
        self.executor.withhold(job)
        raise _Final(Status.REJECTED, reason)

    def _hold(self, job: Job) -> None:
        """The results wait for the approvers (status 52) until the policy's deadline."""
        self.executor.release_inputs(job)  # held for days maybe: nothing but the outputs is kept
        until = time.time() + job.spec.outputPolicy.approval.deadlineSeconds
        self.store.update(job.id, held_until=until)
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(until))
        self.store.set_status(job.id, Status.HELD, f"held for the publisher's approval until {when}")

    def _decided(self, job: Job) -> None:
        """A held job goes on once it is decided: approved, it publishes; rejected or past its
        deadline, it ends as 51; a stop request ends it as 80."""
        current = self.store.get(job.id) or job
        if current.stop_requested:
            raise Stopped
        decision = current.decision()
        if decision is None:
            raise Undecided
        verdict, why = decision
        if verdict != "approve":
            raise _Final(Status.REJECTED, f"output policy, approval: {why}")

    def _publish(self, job: Job, env: Environment) -> None:
        outcome = self._stage(self._timed("publish", env, self.executor.publish, job, env, self._stopper(job)))
        results = self.executor.results(job)
        current = self.store.get(job.id)
        pending = current.pending_status if current else None
        if not outcome.ok:
            reason = self._stage_reason(job, outcome, "publish")
            self._finish(job, Status.PUBLISHING_FAILED, reason, results=results)
            return
        # The algorithm's reason stays: why it failed, or that its log was cut.
        self._finish(job, pending or Status.FINISHED, self._reason(job.id), results=results, released=True)

    def _finish(
        self, job: Job, status: Status, reason: str, results: list[ResultFile] | None = None, released: bool = False
    ) -> None:
        """`released`: the results went through the filter stage (or the job has no output policy);
        otherwise a job under a policy returns none of what its algorithm wrote, not even its log."""
        if job.spec.outputPolicy.enabled and not released:
            self.executor.withhold(job)
            results = None
        reason = self._as_seen(job, reason)
        results = results or self._log_results(job)  # a job that ended badly still returns its logs
        # Cleaned before the final status is recorded: a final job holds nothing but its results
        # and logs (an engine that dies in between runs the last stage again, on nothing).
        self.executor.clean_inputs(job)
        self.store.set_status(job.id, status, reason, results=results)
        if self.metrics is not None:
            self.metrics.ended.labels(job.environment, str(int(status))).inc()
        log.info("job %s: %s %s", job.id, int(status), reason)

    def _log_results(self, job: Job) -> list[ResultFile]:
        try:
            return log_results(self.executor.job_dir(job))
        except OSError:
            return []

    def _as_seen(self, job: Job, reason: str) -> str:
        """A reason names paths as the job's stages see them (/data/..., /job/...), never where
        the job lives on the host."""
        jobs_dir = str(self.executor.jobs_dir).rstrip("/")
        job_dir = str(self.executor.job_dir(job))
        return reason.replace(f"{job_dir}/data", "/data").replace(job_dir, "/job").replace(jobs_dir, "<jobs>")

    def _reason(self, job_id: str) -> str:
        current = self.store.get(job_id)
        return current.reason if current else ""

    def _algorithm_reason(self, job_id: str) -> str:
        """The reason recorded as the algorithm ended (why it failed, or that its log was cut),
        whatever the filter and a hold said after it."""
        for status, _, reason in reversed(self.store.history(job_id)):
            if status == Status.FILTERING:
                return reason
        return self._reason(job_id)

    def _stage_reason(self, job: Job, outcome: Outcome, stage: str) -> str:
        """Why one of c2d's own stages failed: the last line of its log when it ended by itself
        (its own reason, or the error it died of); how it ended when it did not (killed, timed
        out, not started): a line written just before a kill, as configure's "provisioned", is
        not why it failed."""
        code = outcome.exit_code
        by_itself = code is not None and 0 < code < 128 and not (outcome.signal or outcome.timed_out or outcome.detail)
        return (self._last_log_line(job, f"{stage}.log") if by_itself else "") or _describe(outcome, stage)

    def _last_log_line(self, job: Job, name: str) -> str:
        path = layout.log(self.executor.job_dir(job), name.removesuffix(".log"))
        try:
            lines = path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""


def _approval(job: Job) -> bool:
    policy = job.spec.outputPolicy
    return policy.enabled and policy.approval.required


class _Final(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _what(exc: Exception) -> str:
    """What went wrong, for a job's reason: the error's kind, and for an OSError its cause (the
    disk full, say), never its file name (a host path)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({type(exc).__name__})"
    return type(exc).__name__


def _failure(stage: str) -> Status:
    return {
        "configure": Status.DATA_PROVISIONING_FAILED,
        "algorithm": Status.ALGORITHM_FAILED,
        "filter": Status.REJECTED,
        "publish": Status.PUBLISHING_FAILED,
    }[stage]


def _describe(outcome: Outcome, what: str) -> str:
    if outcome.detail:
        return f"{what} {outcome.detail}"
    if outcome.timed_out:
        return f"{what} timed out"
    if outcome.signal:
        return f"{what} was killed by signal {outcome.signal}"
    return f"{what} exited with code {outcome.exit_code}"
