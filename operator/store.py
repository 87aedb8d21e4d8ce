"""The job store: jobs, their status transitions and the providers' nonces, behind one
data-access layer (SQLAlchemy; SQLite by default, PostgreSQL by URL). The service writes new
jobs and stop requests; the engines write everything else.

Several engines may share one store (PostgreSQL): an engine runs a job only while it holds the
job's lease (`lease_owner`, `lease_until`), taken in `claim` and renewed while the job runs. A
claim is one transaction that first locks the store's scheduling row (`SELECT … FOR UPDATE` on
PostgreSQL; SQLite's write lock), so two engines never take the same job, an environment's
`maxJobs` counts the jobs of every engine, and queued jobs start in arrival order whichever
engine starts them. Every status an engine writes is fenced by its lease: an engine that lost a
job (it stalled past its lease and another took the job over) gets LeaseLost instead of writing.
An engine that dies (SIGKILL, a lost node) lets its leases run out; the others then continue its
jobs from their recorded status, as a restarted engine would."""

import json
import logging
import os
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from c2d.db import NonceLedger, create_schema, make_engine, nonce_ledger_table
from c2d.job import FINAL, Container, JobSpec, JobStatus, ResultFile, ResultInfo, Status
from c2d.job.policy import Decision, FilterReport, JobRecord, Transition
from c2d.job.results import RESULT_FILES
from c2d.signing import NONCE_WINDOW

log = logging.getLogger("c2d.operator.store")
INSERT_SECONDS = 5.0  # an admission's time to get an arrival number under contention
SUMMARIES = 16_384  # jobs whose DIDs a store keeps for status reads
metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),  # arrival order
    Column("owner", String(42), nullable=False, index=True),
    Column("environment", String(64), nullable=False),
    Column("spec", JSON, nullable=False),  # the JobSpec (before 0.2: without jobId, owner, environment)
    Column("status", Integer, nullable=False, index=True),
    Column("reason", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("finished", Float),
    Column("stop_requested", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("pending_status", Integer),  # the algorithm's failure, final once publish has run
    Column("results", JSON, nullable=False, default=list),
    Column("report", JSON),  # the filter stage's decision (c2d.job.policy.FilterReport): the publisher's record
    Column("held_until", Float),  # status 52: when the results are withheld if not approved
    Column("approvals", JSON),  # {approver: {decision, reason, at}}: the publishers' decisions
    Column("lease_owner", String(128)),  # the engine running the job (or that ended it)
    Column("lease_until", Float),  # until when it is that engine's: after it, any engine's
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(64), nullable=False, index=True),
    Column("status", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("engine", String(128)),  # the engine that recorded it
)

# One row per scheduling decision's scope; a claim locks it first, so claims are one at a time.
scheduling = Table(
    "scheduling",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("at", Float, nullable=False),
)

# The engines on this store: a name in use by a live engine is refused to a second one.
engines = Table(
    "engines",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("seen", Float, nullable=False),
)

signer_nonces = nonce_ledger_table("service_nonces", metadata)  # the providers' signed requests


class JobExists(Exception):
    pass


class StoreBusy(Exception):
    """A job could not be stored now (contention on its arrival number); nothing was kept."""


class EngineNameTaken(Exception):
    """Another engine that is alive runs on this store under the same name."""


class LeaseLost(Exception):
    """This engine no longer holds the job's lease (another engine took the job over): it must
    stop working on it and write nothing more of it."""


class JobEvents(Protocol):
    """What a store tells of its jobs, as it records them (the kubernetes executor's
    WorkFlowMirror). `created` comes first and may refuse the job: nothing is stored then."""

    def created(self, spec: JobSpec) -> None: ...

    def status(self, job_id: str, status: Status, reason: str) -> None: ...

    def stop_requested(self, job_id: str) -> None: ...

    def removed(self, job_id: str) -> None: ...


class ClusterUnavailable(Exception):
    """The cluster refused or could not be reached; nothing was created."""


@dataclass
class Job:
    id: str
    seq: int
    owner: str
    environment: str
    spec: JobSpec
    status: Status
    reason: str
    created: float
    updated: float
    finished: float | None
    stop_requested: bool
    attempts: int
    pending_status: Status | None = None
    results: list[ResultFile] = field(default_factory=list)
    report: dict[str, Any] | None = None
    held_until: float | None = None
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)

    def decision(self, now: float | None = None) -> tuple[str, str] | None:
        """A held job's outcome once it has one: ("approve", "") when every approver approved,
        ("reject", why) after a rejection or the deadline; None while it waits."""
        approvers = self.spec.outputPolicy.approval.approvers
        for approver, given in self.approvals.items():
            if given.get("decision") == "reject":
                why = str(given.get("reason") or "")
                return "reject", f"rejected by the publisher {approver}" + (f": {why}" if why else "")
        if approvers and all(self.approvals.get(a, {}).get("decision") == "approve" for a in approvers):
            return "approve", ""
        if self.held_until is not None and (time.time() if now is None else now) >= self.held_until:
            return "reject", "no decision before the deadline"
        return None

    def as_status(self) -> JobStatus:
        """What the provider shows a consumer: no URL, no path."""
        return _status(self, self.spec.dataset_dids, self.spec.algorithm_did)

    def as_record(self, history: list[tuple[Status, float, str]]) -> JobRecord:
        """What the datasets' publishers see of the job (c2d.job.policy.JobRecord)."""
        return JobRecord(
            jobId=self.id,
            owner=self.owner,
            environment=self.environment,
            datasets=self.spec.dataset_dids,
            algorithm=self.spec.algorithm_did or "rawcode",
            status=int(self.status),
            statusText=self.status.text,
            reason=self.reason,
            dateCreated=self.created,
            dateFinished=self.finished,
            history=[Transition(status=int(s), at=at, reason=reason) for s, at, reason in history],
            outputPolicy=self.spec.outputPolicy,
            report=_report(self.report),
            heldUntil=self.held_until,
            approvals={a: Decision.model_validate(d) for a, d in self.approvals.items()},
        )


def _status(job: Any, datasets: list[str], algorithm_did: str | None) -> JobStatus:
    """A Job's (or a row's, read as one) status."""
    return JobStatus(
        jobId=job.id,
        owner=job.owner,
        did=datasets[0] if datasets else None,
        inputDID=datasets,
        algoDID=algorithm_did,
        environment=job.environment,
        status=job.status,
        statusText=job.status.text,
        reason=job.reason,
        dateCreated=job.created,
        dateFinished=job.finished,
        stopreq=job.stop_requested,
        results=[
            ResultInfo(index=i, filename=_shown(r.filename), filesize=r.filesize, type=r.type)
            for i, r in enumerate(job.results)
        ],
    )


_FINAL = [int(s) for s in FINAL]


def _alive(pid: int) -> bool:
    """Whether a process of this pid runs on this host (a name on another host is that host's:
    the same name there is a configuration error this cannot see)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _held_may_go(now: float) -> Any:
    """A held job is worth a look once it may have a decision: asked to stop, past its
    deadline, or with an approver's word."""
    return or_(
        jobs.c.status != int(Status.HELD),
        jobs.c.stop_requested,
        jobs.c.held_until <= now,
        jobs.c.approvals.is_not(None),
    )


def _busy(conn: Any) -> dict[str, int]:
    """Jobs holding a slot of their environment, per environment: started and not final, not
    waiting in a hold."""
    rows = conn.execute(
        select(jobs.c.environment, func.count())
        .where(jobs.c.status.not_in([*_FINAL, int(Status.WARMING_UP), int(Status.HELD)]))
        .group_by(jobs.c.environment)
    )
    return {environment: int(count) for environment, count in rows}


def _report(stored: Any) -> FilterReport | None:
    try:
        return None if stored is None else FilterReport.model_validate(stored)
    except ValidationError:
        return None


def _shown(name: str) -> str:
    """A result's name as JSON can carry it (publish renames names that are not UTF-8; this
    keeps a reply valid whatever a record holds)."""
    return str(name).encode("utf-8", "replace").decode("utf-8")


def _job(row: Any) -> Job:
    m = row._mapping
    stored = m["spec"] if isinstance(m["spec"], dict) else json.loads(m["spec"])
    spec = _stored_spec({"jobId": m["id"], "owner": m["owner"], "environment": m["environment"], **stored})
    results = _results(m["results"])
    return Job(
        id=m["id"],
        seq=int(m["seq"]),
        owner=m["owner"],
        environment=m["environment"],
        spec=spec,
        status=Status(m["status"]),
        reason=m["reason"] or "",
        created=m["created"],
        updated=m["updated"],
        finished=m["finished"],
        stop_requested=bool(m["stop_requested"]),
        attempts=int(m["attempts"]),
        pending_status=None if m["pending_status"] is None else Status(m["pending_status"]),
        results=results,
        report=_json(m["report"]),
        held_until=m["held_until"],
        approvals=_json(m["approvals"]) or {},
    )


def _results(stored: Any) -> list[ResultFile]:
    return RESULT_FILES.validate_python(stored if isinstance(stored, list) else json.loads(stored or "[]"))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _stored_spec(stored: dict[str, Any]) -> JobSpec:
    """A stored job as a JobSpec. Rows written before the job was typed (0.1) may carry what a
    DDO's container section held besides entrypoint, image, tag and checksum: not carried."""
    try:
        return JobSpec.model_validate(stored)
    except ValidationError:
        algorithm = stored.get("algorithm")
        if not isinstance(algorithm, dict) or not isinstance(algorithm.get("container"), dict):
            raise
        known = {k: v for k, v in algorithm["container"].items() if k in Container.model_fields}
        return JobSpec.model_validate({**stored, "algorithm": {**algorithm, "container": known}})


class JobStore:
    def __init__(self, url: str, events: JobEvents | None = None, holder: str | None = None) -> None:
        """`holder`: the engine this store writes for; its status writes are fenced by its leases
        (None: the operator service, which writes new jobs and stop requests only)."""
        self.engine = make_engine(url)
        self.events = events
        self.holder = holder
        create_schema(self.engine, metadata)
        self._nonces = NonceLedger(self.engine, signer_nonces, NONCE_WINDOW)
        self._summaries: OrderedDict[tuple[str, float], tuple[list[str], str | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._inserting = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    def create(self, spec: JobSpec) -> Job:
        """Records a new queued job (its environment chosen); raises JobExists for a known id."""
        assert spec.environment is not None, "the operator chooses the environment before storing a job"
        if self.events:
            self.events.created(spec)
        deadline, pause = time.monotonic() + INSERT_SECONDS, 0.001
        while True:
            try:
                with self._inserting:  # this process's admissions take arrival numbers in turn
                    self._insert(spec)
                break
            except IntegrityError:
                if self.get(spec.jobId):
                    raise JobExists(spec.jobId) from None
                # another writer (an operator service on the same database) took the arrival
                # number between its read and this insert: the next one, after a random pause
                if time.monotonic() > deadline:
                    if self.events:  # nothing kept: its WorkFlow goes too
                        self.events.removed(spec.jobId)
                    raise StoreBusy("the job store is too busy to take the job now: send it again") from None
                time.sleep(random.uniform(0, pause))  # noqa: S311 (a pause, not a secret)
                pause = min(pause * 2, 0.05)
        job = self.get(spec.jobId)
        assert job is not None  # stored just now from a valid spec, and not final: not deleted
        if self.events:
            self.events.status(job.id, job.status, "")
        return job

    def _insert(self, spec: JobSpec) -> None:
        now = time.time()
        job_id = spec.jobId
        with self.engine.begin() as conn:
            last = self._last_seq(conn)
            conn.execute(
                insert(jobs).values(
                    id=job_id,
                    seq=last + 1,
                    owner=spec.owner.lower(),
                    environment=spec.environment,
                    spec=spec.model_dump(mode="json"),
                    status=int(Status.WARMING_UP),
                    reason="",
                    created=now,
                    updated=now,
                    stop_requested=False,
                    attempts=0,
                    results=[],
                )
            )
            conn.execute(insert(transitions).values(job_id=job_id, status=int(Status.WARMING_UP), at=now, reason=""))

    @staticmethod
    def _last_seq(conn: Any) -> int:
        return int(conn.execute(select(jobs.c.seq).order_by(jobs.c.seq.desc()).limit(1)).scalar() or 0)

    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        found = self._readable([row]) if row else []
        return found[0] if found else None

    def of_owner(self, owner: str, job_id: str | None = None, did: str | None = None) -> list[Job]:
        query = select(jobs).where(jobs.c.owner == owner.lower()).order_by(jobs.c.seq)
        if job_id:
            query = query.where(jobs.c.id == job_id)
        with self.engine.connect() as conn:
            found = self._readable(conn.execute(query))
        if did:
            found = [j for j in found if did in j.spec.dataset_dids]
        return found

    def statuses(self, owner: str, job_id: str | None = None, did: str | None = None) -> list[JobStatus]:
        """of_owner's jobs as the provider shows them. A consumer's poll reads all its jobs, so
        each job's stored spec is read (validated, as of_owner does: a row that is not a job is
        left out) once per store, and only its DIDs are kept (SUMMARIES jobs; raw algorithms
        stay out of memory); the other polls do not read the specs at all."""
        listed = [c for c in jobs.c if c.name not in ("spec", "report", "approvals")]
        query = select(*listed).where(jobs.c.owner == owner.lower()).order_by(jobs.c.seq)
        if job_id:
            query = query.where(jobs.c.id == job_id)
        with self.engine.connect() as conn:
            rows = [row._mapping for row in conn.execute(query)]
            with self._lock:
                summaries = {(m["id"], m["created"]): self._summaries.get((m["id"], m["created"])) for m in rows}
            # an id deleted and used again is another job: (id, created)
            if missed := [job_id for job_id, created in summaries if summaries[job_id, created] is None]:
                for at in range(0, len(missed), 500):  # bound parameters per statement
                    chunk = select(jobs).where(jobs.c.id.in_(missed[at : at + 500]))
                    for job in self._parse(conn.execute(chunk))[0]:
                        summaries[job.id, job.created] = (job.spec.dataset_dids, job.spec.algorithm_did)
        with self._lock:
            for key, summary in summaries.items():
                if summary is not None:
                    self._summaries[key] = summary
                    self._summaries.move_to_end(key)
            while len(self._summaries) > SUMMARIES:
                self._summaries.popitem(last=False)
        shown = []
        for m in rows:
            summary = summaries[m["id"], m["created"]]
            if summary is None or (did and did not in summary[0]):
                continue  # not a job (logged), or not of that dataset
            row = SimpleNamespace(
                id=m["id"], owner=m["owner"], environment=m["environment"], status=Status(m["status"]),
                reason=m["reason"] or "", created=m["created"], finished=m["finished"],
                stop_requested=bool(m["stop_requested"]), results=_results(m["results"]),
            )  # fmt: skip
            shown.append(_status(row, *summary))
        return shown

    def latest(self, limit: int = 500) -> list[Job]:
        """The latest jobs of every owner, newest first (the publisher's page)."""
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(jobs).order_by(jobs.c.seq.desc()).limit(limit)))
        return self._readable(rows)

    def counts(self) -> dict[tuple[str, int], int]:
        """How many jobs there are, by environment and status (for metrics: one grouped query)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.environment, jobs.c.status, func.count()).group_by(jobs.c.environment, jobs.c.status)
            )
            return {(str(environment), int(status)): int(count) for environment, status, count in rows}

    def unfinished(self) -> list[Job]:
        """Every job not in a final status, in arrival order."""
        final = [int(s) for s in FINAL]
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(jobs).where(jobs.c.status.not_in(final)).order_by(jobs.c.seq)))
        return self._readable(rows, end_unreadable=True)

    def set_status(
        self,
        job_id: str,
        status: Status,
        reason: str = "",
        results: list[ResultFile] | None = None,
        pending: Status | None = None,
    ) -> None:
        """`pending` (recorded with FILTERING, the algorithm's end): its failure, the final status
        once publish has run; `results`: what the job returns (with a final status)."""
        now = time.time()
        values: dict[str, Any] = {}
        if status == Status.FILTERING:
            values["pending_status"] = None if pending is None else int(pending)
        if results is not None:
            values["results"] = RESULT_FILES.dump_python(results, mode="json")
        if status.final:
            values["finished"] = now
            values["lease_until"] = None  # nothing more to run: its engine's no longer
        with self.engine.begin() as conn:
            changed = conn.execute(
                self._fenced(update(jobs).where(jobs.c.id == job_id)).values(
                    status=int(status), reason=reason, updated=now, **values
                )
            ).rowcount
            if not changed and self.holder is not None:
                raise LeaseLost(job_id)
            conn.execute(
                insert(transitions).values(job_id=job_id, status=int(status), at=now, reason=reason, engine=self.holder)
            )
        if self.events:
            self.events.status(job_id, status, reason)

    def update(self, job_id: str, **values: Any) -> None:
        """Changes a job's record (fenced by the lease, as set_status)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                self._fenced(update(jobs).where(jobs.c.id == job_id)).values(updated=time.time(), **values)
            ).rowcount
        if not changed and self.holder is not None:
            raise LeaseLost(job_id)

    def _fenced(self, statement: Any) -> Any:
        return statement if self.holder is None else statement.where(jobs.c.lease_owner == self.holder)

    # ---- leases: which engine runs which job ----

    def claim(self, capacity: dict[str, int], ttl: float, limit: int = 64) -> list[Job]:
        """Takes the jobs this store's engine (`holder`) may run now and leases them to it for
        `ttl` seconds: jobs under way whose lease is free or has run out (their engine died or
        let them go), held jobs once decided, stopped or past their deadline, and queued jobs in
        arrival order while their environment (`capacity`: environment → maxJobs, counted over
        every engine) has room; these are recorded as started in the same transaction. Queued
        jobs asked to stop, and jobs of environments this engine does not know, are taken too
        (the engine ends them). One claim at a time over the whole store."""
        assert self.holder is not None, "only an engine claims jobs"
        now = time.time()
        if not self._claimable(now, capacity):
            return []
        claimed: list[Job] = []
        started: list[str] = []
        try:
            with self.engine.begin() as conn:
                self._lock_scheduling(conn, now)
                now = time.time()  # the lock may have taken a while: what follows is as of now
                under_way = conn.execute(
                    select(jobs)
                    .where(
                        jobs.c.status.not_in([*_FINAL, int(Status.WARMING_UP)]),
                        or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now),
                        _held_may_go(now),
                    )
                    .order_by(jobs.c.seq)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                found, unreadable = self._parse(under_way)
                for job in found:
                    if job.status == Status.HELD and not (job.stop_requested or job.decision(now)):
                        continue
                    claimed.append(job)
                waiting = jobs.c.status == int(Status.WARMING_UP)
                ending, bad = self._parse(  # asked to stop, or of an environment this engine lacks
                    conn.execute(
                        select(jobs)
                        .where(waiting, or_(jobs.c.stop_requested, jobs.c.environment.not_in(list(capacity))))
                        .order_by(jobs.c.seq)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                )
                claimed += ending
                unreadable += bad
                busy = _busy(conn)
                for environment, room in capacity.items():
                    free = min(room - busy.get(environment, 0), limit)
                    if free <= 0:
                        continue
                    starting, bad = self._parse(
                        conn.execute(
                            select(jobs)
                            .where(waiting, jobs.c.environment == environment, jobs.c.stop_requested.is_not(True))
                            .order_by(jobs.c.seq)
                            .limit(free)
                            .with_for_update(skip_locked=True)
                        )
                    )
                    claimed += [replace(job, status=Status.STARTED) for job in starting]
                    started += [job.id for job in starting]
                    unreadable += bad
                for job_id in unreadable:  # ended, so that it neither stops the engines nor waits for ever
                    self._end_unreadable(conn, job_id, now)
                if claimed:
                    conn.execute(
                        update(jobs)
                        .where(jobs.c.id.in_([job.id for job in claimed]))
                        .values(lease_owner=self.holder, lease_until=now + ttl)
                    )
                if started:
                    conn.execute(
                        update(jobs)
                        .where(jobs.c.id.in_(started))
                        .values(status=int(Status.STARTED), reason="", updated=now)
                    )
                    conn.execute(
                        insert(transitions),
                        [
                            {
                                "job_id": job_id,
                                "status": int(Status.STARTED),
                                "at": now,
                                "reason": "",
                                "engine": self.holder,
                            }
                            for job_id in started
                        ],
                    )
        except IntegrityError:
            return []  # another engine made the scheduling row at the same time: the next claim
        if self.events:
            for job_id in started:
                self.events.status(job_id, Status.STARTED, "")
        return claimed

    def _claimable(self, now: float, capacity: dict[str, int]) -> bool:
        """Whether a claim could take anything (a read, so that idle engines write nothing)."""
        with self.engine.connect() as conn:
            free = conn.execute(
                select(jobs.c.id)
                .where(
                    jobs.c.status.not_in([*_FINAL, int(Status.WARMING_UP)]),
                    or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now),
                    _held_may_go(now),
                )
                .limit(1)
            ).first()
            if free is not None:
                return True
            queued = conn.execute(
                select(jobs.c.environment, jobs.c.stop_requested)
                .where(jobs.c.status == int(Status.WARMING_UP))
                .distinct()
            ).all()
            if not queued:
                return False
            busy = _busy(conn)
        for environment, stopping in queued:
            room = capacity.get(environment)
            if stopping or room is None or busy.get(environment, 0) < room:
                return True
        return False

    def _lock_scheduling(self, conn: Any, now: float) -> None:
        """Locks the scheduling row (first thing in the transaction: on SQLite it takes the write
        lock at once, so no other writer slips in between this claim's reads and its writes)."""
        if not conn.execute(update(scheduling).where(scheduling.c.name == "claims").values(at=now)).rowcount:
            conn.execute(insert(scheduling).values(name="claims", at=now))

    def register(self, pid: int, ttl: float) -> None:
        """Records this engine (`holder`) as alive and makes the jobs a dead engine of the same
        name held free at once (a restart continues them without waiting out their leases).
        Raises EngineNameTaken when an engine of that name on this host still lives (seen within
        `ttl`, its process there): two engines of one name would both run its jobs."""
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(select(engines).where(engines.c.id == self.holder).with_for_update()).first()
            if row is not None and row.pid != pid and row.seen > now - ttl and _alive(row.pid):
                raise EngineNameTaken(
                    f"an engine named {self.holder} (process {row.pid}) runs on this job store: give each engine "
                    "its own name (C2D_ENGINE_ID)"
                )
            if row is None:
                conn.execute(insert(engines).values(id=self.holder, pid=pid, seen=now))
            else:
                conn.execute(update(engines).where(engines.c.id == self.holder).values(pid=pid, seen=now))
            conn.execute(
                update(jobs)
                .where(jobs.c.lease_owner == self.holder, jobs.c.status.not_in(_FINAL))
                .values(lease_until=None)
            )

    def renew(self, job_ids: list[str], ttl: float) -> set[str]:
        """Extends this engine's leases of `job_ids` (and says it is alive); returns the jobs it
        still holds."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(update(engines).where(engines.c.id == self.holder).values(seen=now))
            if not job_ids:
                return set()
            conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(job_ids), jobs.c.lease_owner == self.holder, jobs.c.status.not_in(_FINAL))
                .values(lease_until=now + ttl)
            )
            held = conn.execute(
                select(jobs.c.id).where(
                    jobs.c.id.in_(job_ids), jobs.c.lease_owner == self.holder, jobs.c.lease_until > now
                )
            )
            return {row.id for row in held}

    def release(self, job_id: str | None = None) -> None:
        """Lets this engine's lease of a job (or of all its jobs) go at once: any engine may take
        it (a held job waiting for its decision, or every job as the engine halts)."""
        query = update(jobs).where(jobs.c.lease_owner == self.holder)
        if job_id is not None:
            query = query.where(jobs.c.id == job_id)
        with self.engine.begin() as conn:
            conn.execute(query.values(lease_until=None))

    def claim_expired(self, ttl: float, lease: float) -> list[Job]:
        """Final jobs whose results are older than `ttl` seconds, leased to this engine for
        `lease` seconds so that one engine removes each."""
        now = time.time()
        with self.engine.begin() as conn:
            rows = list(
                conn.execute(
                    select(jobs)
                    .where(
                        jobs.c.status.in_(_FINAL),
                        jobs.c.finished < now - ttl,
                        or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now),
                    )
                    .limit(256)
                    .with_for_update(skip_locked=True)
                )
            )
            if rows:
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id.in_([row.id for row in rows]))
                    .values(lease_owner=self.holder, lease_until=now + lease)
                )
        return self._readable(rows)

    def decide(self, job_id: str, approver: str, decision: str, reason: str) -> bool:
        """Records an approver's decision on a held job (status 52); False if it is not held
        (or its deadline has passed).
        A decision once given stays: a second one changes nothing."""
        with self.engine.begin() as conn:
            query = select(jobs.c.status, jobs.c.approvals, jobs.c.held_until).where(jobs.c.id == job_id)
            row = conn.execute(query.with_for_update()).first()
            if row is None or row.status != int(Status.HELD):
                return False
            if row.held_until is not None and time.time() >= row.held_until:
                return False  # past its deadline: withheld, whatever comes late
            approvals = _json(row.approvals) or {}
            approvals.setdefault(approver.lower(), {"decision": decision, "reason": reason, "at": time.time()})
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == int(Status.HELD))
                .values(approvals=approvals, updated=time.time())
            )
        return True

    def request_stop(self, job_id: str, told: bool = True) -> None:
        """`told`: the events are told (False when the stop came from them). Not fenced: whoever
        runs the job sees it."""
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(stop_requested=True, updated=time.time()))
        if self.events and told:
            self.events.stop_requested(job_id)

    def stop_requested(self, job_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(select(jobs.c.stop_requested).where(jobs.c.id == job_id)).scalar())

    def history(self, job_id: str) -> list[tuple[Status, float, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(transitions).where(transitions.c.job_id == job_id).order_by(transitions.c.id))
            return [(Status(r.status), r.at, r.reason) for r in rows]

    def remove(self, job_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(transitions).where(transitions.c.job_id == job_id))
            conn.execute(delete(jobs).where(jobs.c.id == job_id))
        if self.events:
            self.events.removed(job_id)

    def expired(self, ttl: float) -> list[Job]:
        """Final jobs whose results are older than `ttl` seconds."""
        cutoff = time.time() - ttl
        final = [int(s) for s in FINAL]
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(jobs).where(jobs.c.status.in_(final), jobs.c.finished < cutoff)))
        return self._readable(rows)

    def _readable(self, rows: Any, end_unreadable: bool = False) -> list[Job]:
        """The rows that are jobs. One that is not (changed by hand, or written in a shape no
        version reads) is left out and logged; with `end_unreadable` it is ended, so that it
        neither stops the engines nor waits for ever."""
        found, unreadable = self._parse(rows)
        if end_unreadable and unreadable:
            with self.engine.begin() as conn:
                for job_id in unreadable:
                    self._end_unreadable(conn, job_id, time.time())
        return found

    @staticmethod
    def _parse(rows: Any) -> tuple[list[Job], list[str]]:
        found, unreadable = [], []
        for row in rows:
            try:
                found.append(_job(row))
            except ValidationError:
                job_id = row._mapping["id"]
                log.error("job %s: its stored record is not a job", job_id)
                unreadable.append(job_id)
        return found, unreadable

    def _end_unreadable(self, conn: Any, job_id: str, now: float) -> None:
        status, reason = Status.DATA_PROVISIONING_FAILED, "its stored record could not be read"
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status.not_in(_FINAL))
            .values(status=int(status), reason=reason, updated=now, finished=now, lease_until=None)
        )
        conn.execute(
            insert(transitions).values(job_id=job_id, status=int(status), at=now, reason=reason, engine=self.holder)
        )

    def take_signer_nonce(self, signer: str, nonce: int) -> bool:
        """Records a provider's nonce (checked fresh); False for one taken before: a replay."""
        return self._nonces.take(signer, nonce)
