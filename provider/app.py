"""The provider's FastAPI application and its error handling."""

import ipaddress
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import requests
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.exceptions import HTTPException as StarletteHTTPException
from web3.exceptions import Web3Exception

from c2d import __version__
from c2d.chain import ChainError
from c2d.metrics import new_registry, serve_metrics
from c2d.provider.errors import ProviderError, from_chain_error
from c2d.provider.routes import router, services
from c2d.provider.service import Provider
from c2d.provider.settings import ProviderSettings
from c2d.provider.webpage import page
from c2d.serving import BodyLimits, Guard, RateLimiter, Scope

log = logging.getLogger("c2d.provider")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def create_app(settings: ProviderSettings, make_provider: Callable[[ProviderSettings], Provider] = Provider) -> FastAPI:
    """The provider's app; `make_provider` builds its Provider when the app starts (with other
    collaborators, for example)."""
    # httpx logs every request's URL at INFO: those URLs are the publishers' files.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)

    registry = new_registry()
    order_checks = Counter(
        "c2d_order_checks", "order checks by result: verified, remembered, or the refusal's code", ["result"],
        registry=registry,
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        provider = make_provider(settings)
        provider.orders.observe = lambda result: order_checks.labels(result).inc()
        app.state.provider = provider
        await provider.start()
        try:
            yield
        finally:
            await provider.close()

    app = FastAPI(
        title="c2d provider",
        version=__version__,
        description="Orders, downloads and compute jobs of c2d's Compute-to-Data.",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(services)
    app.include_router(page)
    _guard(app, settings)
    if settings.metrics:
        serve_metrics(app, registry)

    @app.exception_handler(ProviderError)
    async def provider_error(_: Request, exc: ProviderError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(ChainError)
    async def chain_error(_: Request, exc: ChainError) -> JSONResponse:
        mapped = from_chain_error(exc)
        return _error(mapped.status, mapped.code, mapped.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error["loc"] if p not in ("body", "query", "header"))
            problems.append(f"{where or 'request'}: {error['msg'].removeprefix('Value error, ')}")
        return _error(422, "invalid_request", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(requests.RequestException)
    async def chain_down(_: Request, exc: requests.RequestException) -> JSONResponse:
        log.warning("chain request failed: %s", type(exc).__name__)
        return _error(503, "chain_unavailable", "the chain does not answer; try again later")

    @app.exception_handler(Web3Exception)
    async def chain_odd(_: Request, exc: Web3Exception) -> JSONResponse:
        log.warning("unexpected chain answer: %s", type(exc).__name__)
        return _error(503, "chain_error", "the chain gave an unexpected answer; try again later")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # The type only: a message or traceback could carry a URL or a key.
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _error(500, "internal_error", "the provider failed; the error was logged")

    return app


def body_limits(settings: ProviderSettings) -> BodyLimits:
    """The largest body of each route: a compute start may carry a raw algorithm (JSON-escaped,
    up to twice its size), the others hold a few small fields."""
    start = 2 * settings.max_raw_algorithm_bytes + (64 << 10)
    return BodyLimits(
        default=16 << 10,
        routes={("POST", "/api/services/compute"): start, ("POST", "/api/services/encrypt"): 256 << 10},
    )


def _guard(app: FastAPI, settings: ProviderSettings) -> None:
    operators = {a.lower().encode() for a in settings.operator_addresses}

    def exempt(scope: Scope) -> bool:
        # Configure stages fetch a job's inputs with the operator's signature (checked by the
        # route): they are not limited per client, as many may run behind one address.
        if scope.get("path") != "/api/services/computeInput":
            return False
        signer = next((v for k, v in scope.get("headers", []) if k == b"c2d-signer"), b"")
        return signer.lower() in operators

    limiter = RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit else None
    networks = [ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies]
    app.add_middleware(
        Guard,
        bodies=body_limits(settings),
        limiter=limiter,
        exempt=exempt,
        trusted_proxies=networks,
    )
