"""The gateway's FastAPI application. ``create_app`` also hosts other service units when the
platform runs all-in-one: they share the gateway's broker."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from faststream.nats import NatsBroker
from starlette.types import ASGIApp

from crontopus_gateway import routes
from crontopus_gateway.audit import AuditMiddleware
from crontopus_gateway.console import ConsoleFiles, default_web_dir
from crontopus_gateway.errors import install_error_handlers, methods_by_path
from crontopus_gateway.gateway import Gateway
from crontopus_gateway.middleware import (
    BodySizeLimitMiddleware,
    CorrelationIdMiddleware,
    RequestMetricsMiddleware,
    SecurityHeadersMiddleware,
)
from crontopus_gateway.ratelimit import Counters, RateLimitMiddleware, RateLimits
from crontopus_gateway.routes import agents, alerting, badges, checkins, events, gitops, jobs, pings, runs
from crontopus_gateway.settings import GatewaySettings
from crontopus_kit.http import health_payload, metrics_response
from crontopus_kit.unit import ServiceUnit, start_units, stop_units
from crontopus_schemas.manifest import json_schema as manifest_json_schema

CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "X-Api-Key", "X-Correlation-Id", "Last-Event-ID"]
CORS_EXPOSED = ["Retry-After", "X-Correlation-Id", "Ping-Body-Limit"]

API_DESCRIPTION = """GitOps-first cron jobs. Sign in with `POST /api/auth/login` and send the access
token as `Authorization: Bearer <token>`, or send an API key as `X-Api-Key`. Errors are
`{"detail": "<what went wrong>"}` with a 4xx/5xx status, except 422: FastAPI's list of errors,
`{"detail": [{"loc": ["query", "cursor"], "msg": "...", "type": "..."}]}`, for every invalid input.
Requests are rate limited per client address, per credential and per ping URL: 429 with `Retry-After`.
A read-only API key gets `ping_url` null (a ping URL is a write credential)."""


def create_app(
    *,
    settings: GatewaySettings,
    broker: NatsBroker,
    units: Sequence[ServiceUnit] = (),
    counters: Counters | None = None,
) -> FastAPI:
    """``counters``: the rate limits' tables shared by the server's gateway processes (none: one
    process, its own)."""
    gateway = Gateway(settings=settings, broker=broker)
    hosted: list[ServiceUnit] = [*units, gateway]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await start_units(broker, hosted, stream_replicas=settings.nats_stream_replicas)
        try:
            yield
        finally:
            await stop_units(broker, hosted)

    app = GatewayApp(
        title="Crontopus", version="0.1.0", description=API_DESCRIPTION, lifespan=lifespan,
        https=settings.base_url.startswith("https://"),
    )  # fmt: skip
    app.state.gateway = gateway
    install_error_handlers(app)
    routers = [
        module.router
        for module in (*routes.AUTH_ROUTERS, checkins, runs, jobs, gitops, pings, agents, alerting, badges, events)
    ]
    for router in routers:
        app.include_router(router)
    app.router.routes[0:0] = [*pings.routes, *checkins.routes]  # first: they answer those paths (see pings.py)
    app.state.methods_by_path = methods_by_path(routers)  # for the Allow header of a 405
    _add_operational_routes(app, broker, hosted)
    # Only what no route matched reaches the console: the API answers exactly as without it.
    web_dir = settings.web_dir or default_web_dir()
    app.router.default = ConsoleFiles(directory=web_dir, not_found=app.router.not_found)
    app.add_middleware(AuditMiddleware)  # innermost: it sees the route and the caller the app found
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RateLimitMiddleware, limits=RateLimits.from_settings(settings, counters))
    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(RequestMetricsMiddleware)  # 413s and 429s counted too
    _allow_origins(app, settings.cors_origins)  # outermost: its headers go on 413s and 429s too
    return app


class GatewayApp(FastAPI):
    """Security headers wrap the whole middleware stack, Starlette's outermost error middleware
    included, so even a 500 carries them."""

    def __init__(self, *, https: bool, **options: Any) -> None:
        self.https = https
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack(), https=self.https)


def _allow_origins(app: FastAPI, origins: list[str]) -> None:
    """CORS for the listed origins only; none listed (the default): no CORS headers at all, and
    a browser on another origin may not call the API (preflights get 405)."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware, allow_origins=origins, allow_methods=CORS_METHODS, allow_headers=CORS_HEADERS,
        expose_headers=CORS_EXPOSED, allow_credentials=False, max_age=600,
    )  # fmt: skip


@functools.cache
def _manifest_schema() -> dict[str, Any]:
    return manifest_json_schema()


def _add_operational_routes(app: FastAPI, broker: NatsBroker, units: Sequence[ServiceUnit]) -> None:
    @app.get(
        "/health", tags=["operations"], responses={503: {"description": "A part is down; the same body says which"}}
    )
    async def health() -> JSONResponse:
        body, status = health_payload(broker, units)
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        return metrics_response()

    @app.get("/docs/job-manifest.schema.json", tags=["operations"])
    async def manifest_schema() -> JSONResponse:
        """The job manifest's JSON Schema, for editors (`# yaml-language-server: $schema=<this URL>`):
        the one `docs/job-manifest.schema.json` holds, of this server's version."""
        return JSONResponse(_manifest_schema())
