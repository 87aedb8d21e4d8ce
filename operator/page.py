"""The publisher's page (/ui of the operator service): every job of every consumer, each
environment's queue and slots, failures with their reasons.

Behind the operator's own credential, C2D_PUBLISHER_PAGE_TOKEN(_FILE): no page without it. The
page's form posts the token once to /ui/session; the answer is a session cookie (HttpOnly,
SameSite=Strict, path /ui, SESSION_SECONDS) holding its expiry and an HMAC of it under the
token, so any replica of the service checks it without shared state, and a changed token ends
every session. The operator service is not public (its NetworkPolicy admits the provider only):
a publisher reaches it as an administrator does, through a port-forward or their own network.
"""

import hashlib
import hmac
import time
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from c2d.job import Status

SESSION_SECONDS = 8 * 3600
COOKIE = "c2d_publisher"
ASSETS = {
    "publisher.html": "text/html; charset=utf-8",
    "publisher.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

page = APIRouter(prefix="/ui", include_in_schema=False)
SessionCookie = Annotated[str | None, Cookie(alias=COOKIE)]


class Credential(BaseModel):
    token: str = Field(min_length=1, max_length=1000)


def _token(request: Request) -> str | None:
    secret = request.app.state.operator.settings.publisher_page_token
    return None if secret is None else str(secret.get_secret_value())


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=HEADERS)


def _mac(token: str, expires: int) -> str:
    return hmac.new(token.encode(), f"publisher-page|{expires}".encode(), hashlib.sha256).hexdigest()


def _signed_in(request: Request, cookie: str | None) -> JSONResponse | None:
    """None when the cookie is a live session under the current token; else the error."""
    token = _token(request)
    if token is None:
        return _error(404, "page_off", "the publisher's page is off (set C2D_PUBLISHER_PAGE_TOKEN_FILE)")
    expires, _, mac = (cookie or "").partition(".")
    if not expires.isdigit() or int(expires) < time.time() or not hmac.compare_digest(mac, _mac(token, int(expires))):
        return _error(401, "no_session", "sign in with the operator's page token")
    return None


def _file(name: str) -> Response:
    return Response(
        resources.files("c2d" if name == "style.css" else "c2d.operator").joinpath("web", name).read_bytes(),
        media_type=ASSETS[name],
        headers=HEADERS,
    )


@page.get("")
@page.get("/")
def index() -> Response:
    return _file("publisher.html")


@page.get("/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        return _error(404, "not_found", "no such file")
    return _file(name)


@page.post("/session")
def open_session(request: Request, body: Credential) -> Response:
    token = _token(request)
    if token is None:
        return _error(404, "page_off", "the publisher's page is off (set C2D_PUBLISHER_PAGE_TOKEN_FILE)")
    if not hmac.compare_digest(body.token.encode(), token.encode()):
        return _error(401, "wrong_token", "that is not the page's token")
    expires = int(time.time()) + SESSION_SECONDS
    response = JSONResponse({"expires": expires}, headers=HEADERS)
    response.set_cookie(
        COOKIE, f"{expires}.{_mac(token, expires)}", max_age=SESSION_SECONDS, path="/ui", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@page.get("/api/jobs")
async def jobs(request: Request, cookie: SessionCookie = None) -> Any:
    """The latest jobs of every consumer, newest first."""
    if refused := _signed_in(request, cookie):
        return refused
    found = await run_in_threadpool(request.app.state.operator.store.latest)
    return JSONResponse(
        [
            {
                "jobId": job.id,
                "owner": job.owner,
                "environment": job.environment,
                "status": int(job.status),
                "statusText": job.status.text,
                "reason": job.reason,
                "created": job.created,
                "finished": job.finished,
                "failed": job.status.final and job.status not in (Status.FINISHED, Status.STOPPED),
            }
            for job in found
        ],
        headers=HEADERS,
    )


@page.get("/api/queue")
async def queue(request: Request, cookie: SessionCookie = None) -> Any:
    """Each environment's slots, busy slots, queue and held jobs."""
    if refused := _signed_in(request, cookie):
        return refused
    op = request.app.state.operator
    counts = await run_in_threadpool(op.store.counts)
    out = []
    for env in op.environments:
        mine = {status: n for (e, status), n in counts.items() if e == env.id}
        queued = mine.get(int(Status.WARMING_UP), 0)
        held = mine.get(int(Status.HELD), 0)
        unfinished = sum(n for status, n in mine.items() if not Status(status).final)
        out.append(
            {"environment": env.id, "slots": env.max_jobs, "busy": unfinished - queued - held, "queued": queued,
             "held": held}
        )  # fmt: skip
    return JSONResponse(out, headers=HEADERS)
