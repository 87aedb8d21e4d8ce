"""How c2d's HTTP services meet hostile clients: bounded headers, bodies, JSON depth, time and
request rates, and access logs without query strings.

Every request of the provider and the operator service passes through two layers:

- the connection (`GuardedProtocol`, uvicorn's httptools protocol with deadlines): the request
  line and headers must arrive within `header_timeout` seconds and hold at most
  `max_header_bytes` (else 431); a body must arrive within `body_timeout` seconds of its
  headers; a connection that misses a deadline is closed. Idle keep-alive connections close
  after uvicorn's keep-alive timeout.
- the application (`Guard`, ASGI middleware): a body larger than its route's limit is refused
  (413) before it is read, or as soon as a chunked one passes the limit; a JSON body nested
  deeper than `max_json_depth` is refused (400) before any parser sees it (Python's parser
  would overflow the C stack: something in web3's imports raises the recursion limit to
  100,000); optionally a per-client rate limit (429 with Retry-After) and a check of the
  request's headers before its body is read (the operator service's signatures).

Errors are the services' usual `{"error": code, "message": ...}` bodies.
"""

import asyncio
import ipaddress
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("c2d.access")


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_header_bytes: int = 16 << 10
    keep_alive: int = 5
    max_connections: int = 2000  # beyond: 503 (uvicorn's limit_concurrency)


@dataclass(frozen=True)
class BodyLimits:
    """The largest body each route takes: `routes` maps (method, path) to bytes."""

    default: int = 64 << 10
    routes: dict[tuple[str, str], int] = field(default_factory=dict)
    max_json_depth: int = 32

    def limit(self, method: str, path: str) -> int:
        return self.routes.get((method, path), self.default)


def _reject(
    status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = (), close: bool = False
) -> ASGIApp:
    """An error answer; `close`: the request's body was not read, so the connection ends."""
    body = json.dumps({"error": code, "message": message}).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        head += [(k.encode(), v.encode()) for k, v in headers]
        if close:
            head.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body})

    return app


# ---- JSON depth, before parsing ----

# A string, escapes included; possessive, and its closing quote optional, so that no text makes
# the scan go back (an unterminated string simply runs to the end).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not
    count); linear in the body's size and bounded in memory, whatever the text."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    # Runs of openers are where depth grows: count them in C, not byte by byte in Python.
    for run in re.finditer(rb"[\[{]+|[\]}]+", brackets):
        n = run.end() - run.start()
        if brackets[run.start()] in b"[{":
            depth += n
            deepest = max(deepest, depth)
        else:
            depth -= n
    return deepest


# ---- rate limits ----


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute on average, at most `burst` at
    once. Remembers at most `max_clients` clients (the least recently seen are forgotten, so a
    flood of addresses cannot grow it)."""

    def __init__(self, per_minute: int, burst: int, max_clients: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(burst, 1))
        self.max_clients = max_clients
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """0 if the client may go on, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self.buckets[client] = (tokens, now)
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return wait


def client_address(scope: Scope, trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the last address
    in X-Forwarded-For that is not one of them."""
    peer = str((scope.get("client") or ("unknown", 0))[0])
    if not trusted_proxies:
        return peer

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in trusted_proxies)

    if not trusted(peer):
        return peer
    forwarded: str = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"), "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not trusted(hop):
            return hop[:64]
    return peer


# ---- the middleware ----

HeaderCheck = Callable[[Scope], tuple[int, str, str] | None]


class Guard:
    """ASGI middleware: rate limit, header check, body size and JSON depth, access log."""

    def __init__(
        self,
        app: ASGIApp,
        bodies: BodyLimits,
        limiter: RateLimiter | None = None,
        exempt: Callable[[Scope], bool] | None = None,
        check_headers: HeaderCheck | None = None,
        trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None,
    ) -> None:
        self.app = app
        self.bodies = bodies
        self.limiter = limiter
        self.exempt = exempt
        self.check_headers = check_headers
        self.trusted_proxies = trusted_proxies or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0
        client = client_address(scope, self.trusted_proxies)

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            app, receive = await self._admit(scope, receive, client)
            await app(scope, receive, logged_send)
        finally:
            # The path only: query strings carry signatures and nonces.
            access_log.info(
                "%s %s %s %d %.1f ms",
                client,
                scope.get("method", "?"),
                scope.get("path", "?")[:200],
                status,
                (time.monotonic() - started) * 1000,
            )

    async def _admit(self, scope: Scope, receive: Receive, client: str) -> tuple[ASGIApp, Receive]:
        method, path = scope.get("method", ""), scope.get("path", "")
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        # Refused before its body is read, a request with a body ends its connection.
        unread = (length not in (None, b"0")) or b"transfer-encoding" in headers
        if self.limiter is not None and not (self.exempt and self.exempt(scope)):
            wait = self.limiter.take(client)
            if wait > 0:
                retry = str(max(1, int(wait + 0.999)))
                message = f"too many requests; try again in {retry} s"
                return _reject(429, "rate_limited", message, [("retry-after", retry)], unread), receive
        if self.check_headers is not None:
            refused = self.check_headers(scope)
            if refused is not None:
                return _reject(*refused, close=unread), receive
        if method in ("GET", "HEAD", "OPTIONS") and not unread:
            return self.app, receive
        limit = self.bodies.limit(method, path)
        too_large = _reject(413, "body_too_large", f"this route takes bodies of at most {limit} bytes", close=True)
        if length is not None:
            if not length.isdigit():
                return _reject(400, "invalid_request", "the Content-Length is not a number", close=True), receive
            if int(length) > limit:
                return too_large, receive
        body = bytearray()
        while True:
            received = await receive()
            if received["type"] == "http.disconnect":
                return _reject(400, "invalid_request", "the client went away"), receive
            body += received.get("body", b"")
            if len(body) > limit:
                return too_large, receive
            if not received.get("more_body", False):
                break
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        json_body = content_type in (b"application/json", b"") or content_type.endswith(b"+json")
        if json_body and json_depth(bytes(body)) > self.bodies.max_json_depth:
            depth = self.bodies.max_json_depth
            return _reject(400, "invalid_request", f"the JSON body nests deeper than {depth} levels"), receive
        return self.app, _replay(bytes(body), receive)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the app the body already read, then waits for the disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# ---- the connection ----


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for the request head and one for the body,
    and a bound on the head's size."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: ConnectionLimits = getattr(config, "c2d_limits", ConnectionLimits())
        self._head_bytes = 0
        self._in_head = True
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, why: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow, why)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, why: str) -> None:
        self._deadline = None
        if self.transport is not None and not self.transport.is_closing():
            if why == "head":
                self._refuse(408, "request_timeout", "the request's headers took too long")
            else:
                self.logger.info("closed a connection whose request body took too long")
                self.transport.close()

    def _refuse(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": code, "message": message}).encode()
        reasons = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
        reason = reasons.get(status, b"Error")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason, len(body), body)
        )
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """Input the HTTP parser rejects (a malformed request line or header) gets the services'
        usual JSON error, not uvicorn's plain text."""
        self._disarm()
        self._refuse(400, "invalid_http", "the request is not valid HTTP/1.1")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout, "head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
            self._refuse(431, "headers_too_large", f"the request's head exceeds {self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        if self._deadline is None:
            self._arm(self.limits.header_timeout, "head")

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes <= self.limits.max_header_bytes:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_bytes > self.limits.max_header_bytes:
            self._disarm()
            self._refuse(431, "headers_too_large", f"the request's head exceeds {self.limits.max_header_bytes} bytes")
            return
        self._arm(self.limits.body_timeout, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's head must come in time too (uvicorn's keep-alive timer closes an
        # idle connection; this one a connection that trickles the next head).
        if not self.transport.is_closing():
            self._arm(self.limits.header_timeout + self.limits.keep_alive, "head")


def config(app: Any, host: str, port: int, limits: ConnectionLimits | None = None, **kwargs: Any) -> uvicorn.Config:
    """uvicorn's configuration for a c2d service: the guarded protocol, no access log of
    uvicorn's own (its lines carry query strings; `Guard` logs paths)."""
    limits = limits or ConnectionLimits()
    cfg = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=GuardedProtocol,
        access_log=False,
        timeout_keep_alive=limits.keep_alive,
        limit_concurrency=limits.max_connections,
        **kwargs,
    )
    cfg.c2d_limits = limits  # type: ignore[attr-defined]
    return cfg


def serve(app: Any, host: str, port: int, limits: ConnectionLimits | None = None, **kwargs: Any) -> None:
    uvicorn.Server(config(app, host, port, limits, **kwargs)).run()
