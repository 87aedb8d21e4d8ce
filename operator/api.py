"""The operator service: the job API the provider calls, under /api/v1/operator. Every request
must be signed by a provider on the allow-list, with a nonce larger than its last one."""

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response, StreamingResponse

from c2d import __version__
from c2d.job import JobSpec, JobStatus, Status, layout
from c2d.job.policy import JobRecord
from c2d.metrics import GaugesAtScrape, new_registry, serve_metrics
from c2d.operator import images
from c2d.operator.assembly import make_store
from c2d.operator.environments import Environment
from c2d.operator.page import page
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import ClusterUnavailable, Job, JobExists, StoreBusy
from c2d.serving import BodyLimits, Guard, Scope
from c2d.signing import RequestRejected, check_request_headers, service_nonce_fresh, verify_signed_request

PREFIX = "/api/v1/operator"


class OperatorError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class StopRequest(BaseModel):
    owner: str
    jobId: str


class ApprovalRequest(BaseModel):
    """An approver's decision on a held job; the provider checked the approver's signature."""

    model_config = ConfigDict(extra="forbid")

    jobId: str = Field(min_length=1, max_length=64)
    approver: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=300)


class Operator:
    def __init__(self, settings: OperatorSettings, environments: list[Environment]) -> None:
        self.settings = settings
        self.environments = environments
        self.store = make_store(settings)

    def job_of(self, owner: str, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None or job.owner != owner.lower():
            raise OperatorError(404, "unknown_job", f"no job {job_id} of this consumer")
        return job

    def job_dir(self, job: Job) -> Path:
        return self.settings.jobs_dir / job.id


def operator(request: Request) -> Operator:
    return request.app.state.operator  # type: ignore[no-any-return]


async def signed(request: Request) -> str:
    """The provider that signed this request (dependency of every route)."""
    op = operator(request)
    body = await request.body()
    path = request.url.path + ("?" + request.url.query if request.url.query else "")
    try:
        signer, nonce = verify_signed_request(
            request.method, path, body, request.headers, op.settings.operator_providers
        )
    except RequestRejected as exc:
        raise OperatorError(401, exc.code, exc.message) from None
    if not service_nonce_fresh(nonce):  # service-to-service nonces are the signer's clock (NonceClock)
        raise OperatorError(401, "nonce_out_of_range", "the request's nonce is not the current time")
    if not await run_in_threadpool(op.store.take_signer_nonce, signer, nonce):
        raise OperatorError(401, "nonce_reused", "the request's nonce was used before")
    return signer


router = APIRouter(prefix=PREFIX, dependencies=[Depends(signed)])
Owner = Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")]
JobId = Annotated[str, Query(min_length=1, max_length=64)]


@router.post("/compute")
def create(request: Request, body: JobSpec) -> list[JobStatus]:
    """A new job, exactly as c2d.job.JobSpec describes it (an unknown field is a 422)."""
    op = operator(request)
    env_id = body.environment or op.environments[0].id
    if env_id not in {e.id for e in op.environments}:
        raise OperatorError(404, "unknown_environment", f"no environment {env_id}")
    environment = next(e for e in op.environments if e.id == env_id)
    if not environment.free:
        raise OperatorError(402, "environment_not_free", "paid environments are not supported yet: choose a free one")
    try:
        for container in [body.algorithm.container, *(f.container for f in body.filters)]:
            images.check(container, environment, op.settings)
    except images.ContainerRefused as refused:
        raise OperatorError(400, refused.code, refused.message) from None
    try:
        return [op.store.create(body.model_copy(update={"environment": env_id})).as_status()]
    except JobExists:
        raise OperatorError(409, "job_exists", f"a job {body.jobId} exists") from None
    except ValueError as exc:  # an id the executor cannot use
        raise OperatorError(400, "invalid_job_id", str(exc)) from None
    except ClusterUnavailable as exc:
        raise OperatorError(503, "cluster_unavailable", str(exc)) from None
    except StoreBusy as exc:
        raise OperatorError(503, "store_busy", str(exc)) from None


@router.get("/compute")
def status(request: Request, owner: Owner, jobId: JobId | None = None, did: str | None = None) -> list[JobStatus]:
    return operator(request).store.statuses(owner, jobId, did)


@router.put("/compute")
def stop(request: Request, body: StopRequest) -> list[JobStatus]:
    op = operator(request)
    job = op.job_of(body.owner, body.jobId)
    if not job.status.final:
        op.store.request_stop(job.id)
    return [op.job_of(body.owner, body.jobId).as_status()]


@router.delete("/compute")
def remove(request: Request, owner: Owner, jobId: JobId) -> list[JobStatus]:
    op = operator(request)
    job = op.job_of(owner, jobId)
    if not job.status.final:
        raise OperatorError(409, "job_running", "stop the job before deleting it")
    shutil.rmtree(op.job_dir(job), ignore_errors=True)
    op.store.remove(job.id)
    return [job.as_status()]


@router.get("/getResult")
def result(request: Request, owner: Owner, jobId: JobId, index: Annotated[int, Query(ge=0)]) -> Response:
    op = operator(request)
    job = op.job_of(owner, jobId)
    if index >= len(job.results):
        raise OperatorError(404, "unknown_result", f"the job has {len(job.results)} results")
    entry = job.results[index]
    path = op.job_dir(job) / entry.path
    if not path.is_file():
        raise OperatorError(404, "result_expired", "this result is no longer kept")
    name = Path(entry.filename).name
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    headers = {
        "content-disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}",
        "content-length": str(path.stat().st_size),
    }
    return StreamingResponse(_chunks(path), headers=headers, media_type="application/octet-stream")


@router.get("/logs")
async def logs(request: Request, owner: Owner, jobId: JobId, follow: Annotated[bool, Query()] = True) -> Response:
    """The algorithm's log, followed while the job runs (or, with follow=false, what it holds now)."""
    op = operator(request)
    job = await run_in_threadpool(op.job_of, owner, jobId)
    path = layout.log(op.job_dir(job), "algorithm")
    return StreamingResponse(_follow(op, job.id, path, follow), media_type="text/plain")


@router.get("/record")
def record(request: Request, jobId: JobId) -> JobRecord:
    """The publisher's view of a job (any owner; the provider checks that the asker is an
    approver of the job or the publisher of all its datasets)."""
    op = operator(request)
    job = op.store.get(jobId)
    if job is None:
        raise OperatorError(404, "unknown_job", f"no job {jobId}")
    return job.as_record(op.store.history(job.id))


@router.put("/approval")
def approval(request: Request, body: ApprovalRequest) -> JobRecord:
    """An approver's decision on a job held for approval (status 52)."""
    op = operator(request)
    job = op.store.get(body.jobId)
    if job is None:
        raise OperatorError(404, "unknown_job", f"no job {body.jobId}")
    if body.approver.lower() not in job.spec.outputPolicy.approval.approvers:
        raise OperatorError(403, "not_an_approver", "this address does not approve this job's results")
    if not op.store.decide(job.id, body.approver, body.decision, body.reason):
        raise OperatorError(409, "job_not_held", "the job is not waiting for approval (or its deadline has passed)")
    decided = op.store.get(job.id)
    assert decided is not None
    return decided.as_record(op.store.history(job.id))


@router.get("/jobStage")
def job_stage(request: Request, jobId: JobId) -> dict[str, Any]:
    """For the provider's input route: where a job is (any owner); status null for no such job."""
    job = operator(request).store.get(jobId)
    return {"jobId": jobId, "status": None if job is None else int(job.status)}


@router.get("/environments")
def environments(request: Request) -> list[dict[str, Any]]:
    op = operator(request)
    unfinished = op.store.unfinished()
    # the local executor's: the runtime images it serves with the host's interpreters
    local = op.settings.executor == "local"
    runtimes = [op.settings.image_prefix + r.image for r in images.local_runtimes(op.settings)] if local else []
    out = []
    for env in op.environments:
        mine = [j for j in unfinished if j.environment == env.id]
        running = sum(1 for j in mine if j.status not in (Status.WARMING_UP, Status.HELD))
        held = sum(1 for j in mine if j.status == Status.HELD)
        out.append(
            {
                **env.model_dump(by_alias=True, exclude=set(Environment.PRIVATE)),
                "images": images.accepted(env, op.settings),
                "runtimes": runtimes,
                "free": env.free,
                "runningJobs": running,
                "queuedJobs": len(mine) - running - held,
                "heldJobs": held,
                "busy": running >= env.max_jobs,
            }
        )
    return out


def _chunks(path: Path) -> Any:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


async def _follow(op: Operator, job_id: str, path: Path, follow: bool = True) -> AsyncIterator[bytes]:
    """The log from its start, in chunks of at most FOLLOW_CHUNK bytes (never the rest of it in
    one read), then what is appended while the job runs; ends once the job has ended and the
    log is read to its end. Under an output policy the log is an output like the others: it
    is held until the filter stage has accepted it (the stream starts then), and is never sent
    if it was not; a job held for approval answers an empty log until it is approved. Without
    `follow`, the log as it is now, and no wait for a filter stage to come."""
    position = 0
    while True:
        job = await run_in_threadpool(op.store.get, job_id)
        finished = job is None or job.status.final or not follow
        if job is not None and job.spec.outputPolicy.enabled and not _released(job):
            if finished or job.status == Status.HELD:  # held: nothing until approved (ask again then)
                return
            await asyncio.sleep(0.2)
            continue
        while True:
            chunk = await run_in_threadpool(_read_at, path, position)
            if not chunk:
                break
            position += len(chunk)
            yield chunk
        if finished:
            return
        await asyncio.sleep(0.2)


FOLLOW_CHUNK = 64 << 10


def _released(job: Job) -> bool:
    """The algorithm's log went through the filter stage: publishing, or ended with it listed."""
    if job.status == Status.PUBLISHING:
        return True
    return job.status.final and any(r.type == "algorithmLog" for r in job.results)


def _read_at(path: Path, position: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(position)
            return handle.read(FOLLOW_CHUNK)
    except FileNotFoundError:
        return b""


def job_gauges(op: Operator) -> list[tuple[str, str, list[str], list[tuple[list[str], float]]]]:
    """The jobs of the store (every engine's), read at each scrape: by environment and status,
    and each environment's queue, busy slots and slots."""
    counts = op.store.counts()
    by_status = [([env, str(status), Status(status).text], float(n)) for (env, status), n in sorted(counts.items())]
    queued, busy, slots = [], [], []
    for env in op.environments:
        mine = {status: n for (e, status), n in counts.items() if e == env.id}
        waiting = mine.get(int(Status.WARMING_UP), 0)
        running = sum(n for status, n in mine.items() if not Status(status).final) - waiting
        running -= mine.get(int(Status.HELD), 0)
        queued.append(([env.id], float(waiting)))
        busy.append(([env.id], float(running)))
        slots.append(([env.id], float(env.max_jobs)))
    return [
        ("c2d_jobs", "jobs in the store by environment and status", ["environment", "status", "text"], by_status),
        ("c2d_queue_length", "jobs waiting for a slot (1 Warming up)", ["environment"], queued),
        ("c2d_busy_slots", "slots held by started jobs", ["environment"], busy),
        ("c2d_slots", "jobs an environment runs at once (maxJobs)", ["environment"], slots),
    ]


def create_app(settings: OperatorSettings, environments: list[Environment]) -> FastAPI:
    app = FastAPI(title="c2d operator service", version=__version__)
    app.state.operator = Operator(settings, environments)
    app.include_router(router)
    app.include_router(page)

    def check_headers(scope: Scope) -> tuple[int, str, str] | None:
        """Before a body is read and hashed: an unsigned request, or one of a signer that is not
        allowed, goes no further."""
        if not str(scope.get("path", "")).startswith(PREFIX):
            return None
        try:
            check_request_headers(Headers(scope=scope), settings.operator_providers)
        except RequestRejected as exc:
            return 401, exc.code, exc.message
        return None

    bodies = BodyLimits(default=16 << 10, routes={("POST", PREFIX + "/compute"): settings.max_job_bytes})
    app.add_middleware(Guard, bodies=bodies, check_headers=check_headers)
    if settings.metrics:
        registry = new_registry()
        registry.register(GaugesAtScrape(lambda: job_gauges(app.state.operator)))
        serve_metrics(app, registry)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Unsigned, for probes: the service answers (nothing about jobs or settings)."""
        return {"status": "ok"}

    @app.exception_handler(OperatorError)
    async def operator_error(_: Request, exc: OperatorError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        where = [".".join(str(p) for p in e["loc"][1:]) for e in exc.errors()[:3]]
        return JSONResponse({"error": "invalid_request", "message": f"invalid: {', '.join(where)}"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": "not_found", "message": str(exc.detail)}, status_code=exc.status_code)

    return app
