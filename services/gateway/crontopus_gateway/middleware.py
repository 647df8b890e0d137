"""Pure ASGI middleware: security headers, request metrics, correlation ids and a request body
size limit."""

from __future__ import annotations

import json
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crontopus_kit.logging import CORRELATION_HEADER, correlation_id_var, new_correlation_id

_HEADER = CORRELATION_HEADER.lower().encode()


HSTS = (b"strict-transport-security", b"max-age=31536000")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    # Nobody frames us (clickjacking). Only this directive: /docs loads Swagger UI from a CDN, and
    # a script or style policy would have to list it.
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),  # the same, for browsers without CSP level 2
    # Mail links carry tokens in the query and ping URLs are credentials: never pass them on.
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS (and HSTS when served over https) to every response the app sends,
    keeping any such header a route set itself. Wraps the whole app, error pages included."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = (*SECURITY_HEADERS, HSTS) if https else SECURITY_HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [header for header in self.headers if header[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


HTTP_REQUESTS = Counter(
    "crontopus_http_requests_total",
    "HTTP requests answered, by method, route and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "crontopus_http_request_duration_seconds",
    "Time from a request's arrival to its response's start (a stream's first byte), by method and route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Counts each answer and times it to its first byte. Labelled by the route's template
    (`/ping/{key}`, never the path: ping keys are credentials, and paths are unbounded), `other`
    for what no route matched (the console's files, 404s) or what was refused before routing
    (429, 413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                method = scope["method"] if scope["method"] in _METHODS else "other"
                route = getattr(scope.get("route"), "path", None) or "other"
                HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - began)
                HTTP_REQUESTS.labels(method, route, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, send_counted)


class NamedRoute(Route):
    """A plain Starlette route (the hot paths' own, see routes/pings.py) that puts itself in the
    scope as FastAPI's routes do, so metrics and the audit see its template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class CorrelationIdMiddleware:
    """Takes X-Correlation-Id from the request (or makes one), binds it for logs and NATS
    headers, and echoes it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(_HEADER, b"").decode("latin-1")
        cid = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else new_correlation_id()
        token = correlation_id_var.set(cid)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((_HEADER, cid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            correlation_id_var.reset(token)


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # An HTTPException, because FastAPI turns any other error raised while it reads a
                # body into "400 There was an error parsing the body" (a streamed body got 400).
                raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:  # read outside FastAPI's exception handling
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body: dict[str, Any] = {"detail": too_large_message(self.max_bytes)}
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def too_large_message(max_bytes: int) -> str:
    return f"request body larger than {max_bytes} bytes"


class BodyTooLarge(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(max_bytes))
