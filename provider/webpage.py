"""The consumer's web page: environments with their free and busy slots, the consumer's jobs
with their live status and log, results to download.

A browser has no wallet, so the page never signs. The command line does, once:
`c2d web` signs one request of action `webSession` for this provider (EIP-712, c2d.signing:
the domain names the provider, so a signature for one provider is no use at another; a fresh
nonce; an expiry at most an hour ahead) and gives the browser a URL whose fragment carries it
(a fragment is never sent to a server, nor logged). The page posts it to /ui/session once: the
provider checks it as any signed request (its nonce is then used up) and answers with a session
cookie (random, HttpOnly, SameSite=Strict, Secure on https, path /ui) valid for SESSION_SECONDS,
whose hash alone is stored. A session can only read: the signer's own jobs, their logs and
results, and the environments; it cannot start, stop or delete anything.
"""

import hashlib
import secrets
import time
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from c2d.job import JobStatus
from c2d.provider import models
from c2d.provider.errors import Unauthorized
from c2d.provider.service import Provider

SESSION_SECONDS = 3600
COOKIE = "c2d_session"
ACTION = "webSession"
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# Nothing but the page's own files, no inline script, no framing.
HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

page = APIRouter(prefix="/ui", tags=["web page"])


def _provider(request: Request) -> Provider:
    return request.app.state.provider  # type: ignore[no-any-return]


def _asset(name: str) -> bytes:
    owner = "c2d" if name == "style.css" else "c2d.provider"  # the pages' one style sheet is c2d's
    return resources.files(owner).joinpath("web", name).read_bytes()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _address(request: Request, token: str | None) -> str:
    if not token or len(token) > 100:
        raise Unauthorized("no session: open the page with `c2d web`", code="no_session")
    address = await run_in_threadpool(_provider(request).store.session_address, _hash(token))
    if address is None:
        raise Unauthorized("the session has ended: open the page again with `c2d web`", code="no_session")
    return address


SessionCookie = Annotated[str | None, Cookie(alias=COOKIE, include_in_schema=False)]


@page.get("", include_in_schema=False)
@page.get("/", include_in_schema=False)
def index() -> Response:
    return Response(_asset("index.html"), media_type=ASSETS["index.html"], headers=HEADERS)


@page.get("/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    if name not in ASSETS or name == "index.html":
        return JSONResponse({"error": "not_found", "message": "no such file"}, status_code=404, headers=HEADERS)
    return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS)


@page.post("/session", response_model=models.WebSession)
async def open_session(request: Request, body: models.WebSessionRequest) -> Response:
    """Exchanges one signed request (action webSession, from `c2d web`) for a session
    cookie of SESSION_SECONDS that reads the signer's jobs."""
    p = _provider(request)
    signed = models.Signed(body.consumerAddress, body.nonce, body.expiry, body.signature, {})
    address = await run_in_threadpool(p.verify, signed, ACTION, "", "", 0)
    token = secrets.token_urlsafe(32)
    expires = time.time() + SESSION_SECONDS
    await run_in_threadpool(p.store.open_session, _hash(token), address.lower(), expires)
    response = JSONResponse({"address": address, "expires": int(expires)}, headers=HEADERS)
    secure = p.settings.provider_url.startswith("https://")
    response.set_cookie(
        COOKIE, token, max_age=SESSION_SECONDS, path="/ui", secure=secure, httponly=True, samesite="strict"
    )
    return response


@page.post("/logout", include_in_schema=False)
async def logout(request: Request, token: SessionCookie = None) -> Response:
    if token:
        await run_in_threadpool(_provider(request).store.close_session, _hash(token))
    response = JSONResponse({"address": None}, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@page.get("/api/me", include_in_schema=False)
async def me(request: Request, token: SessionCookie = None) -> dict[str, Any]:
    return {"address": await _address(request, token)}


@page.get("/api/jobs", response_model=list[JobStatus], include_in_schema=False)
async def jobs(request: Request, token: SessionCookie = None) -> Any:
    owner = await _address(request, token)
    return await _provider(request).operator.jobs("GET", "/compute", params={"owner": owner})


@page.get("/api/environments", include_in_schema=False)
async def environments(request: Request, token: SessionCookie = None) -> Any:
    await _address(request, token)
    return await _provider(request).compute.environments()


@page.get("/api/logs", include_in_schema=False)
async def logs(
    request: Request, jobId: Annotated[str, Query(min_length=1, max_length=100)], token: SessionCookie = None
) -> Response:
    return await _provider(request).compute.logs_of(await _address(request, token), jobId)


@page.get("/api/result", include_in_schema=False)
async def result(
    request: Request,
    jobId: Annotated[str, Query(min_length=1, max_length=100)],
    index: Annotated[int, Query(ge=0, lt=100_000)],
    token: SessionCookie = None,
) -> Response:
    return await _provider(request).compute.result_of(await _address(request, token), jobId, index)
