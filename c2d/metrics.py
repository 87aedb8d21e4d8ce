"""Prometheus metrics of c2d's services (prometheus-client), each app on a registry of its own.

Labels take only bounded values, whatever clients send: a route is one of the app's own paths
(else "other"), a method one of the HTTP methods (else "other"), a status a number. A request
counts once it has been answered, refused ones included (the middleware is outermost)."""

import time
from collections.abc import Callable, Iterable, Iterator

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
# Requests: from a nonce's sub-millisecond read to a download's or a followed log's minutes.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Stages: a sandbox start's tenth of a second to a long algorithm's hours.
STAGE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0)


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry's metrics in Prometheus' text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve_metrics(app: FastAPI, registry: CollectorRegistry) -> None:
    """/metrics on `app` (not in its OpenAPI document), and its requests counted: call after
    every other middleware is added, so that this one is outermost."""

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, content_type = exposition(registry)
        return Response(body, media_type=content_type)

    def routes() -> list[str]:  # the documented ones (included routers are not flat lists) and the others
        return [*app.openapi().get("paths", {}), *(str(getattr(r, "path", "")) for r in app.routes)]

    app.add_middleware(HttpMetrics, registry=registry, routes=routes)


class HttpMetrics:
    """ASGI middleware: requests by route, method and status code, and their latency."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry, routes: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.routes = routes
        self._known: frozenset[str] | None = None
        self.requests = Counter(
            "c2d_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=registry
        )
        self.latency = Histogram(
            "c2d_http_request_duration_seconds",
            "time from a request's arrival to the end of its answer",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def route_of(self, path: str) -> str:
        if self._known is None:  # the app's routes, once they are all added
            self._known = frozenset(self.routes())
        return path if path in self._known else "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def counted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            route = self.route_of(str(scope.get("path", "")))
            method = str(scope.get("method", ""))
            method = method if method in METHODS else "other"
            self.requests.labels(route, method, str(status or 500)).inc()
            self.latency.labels(route, method).observe(time.perf_counter() - started)


class GaugesAtScrape(Collector):
    """Gauges read when Prometheus scrapes: `read()` gives (name, help, labels, samples), each
    sample (label values, value)."""

    def __init__(
        self, read: Callable[[], Iterable[tuple[str, str, list[str], Iterable[tuple[list[str], float]]]]]
    ) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        for name, help_text, labels, samples in self.read():
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for values, value in samples:
                family.add_metric(values, value)
            yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())  # read at each scrape, never at registration
