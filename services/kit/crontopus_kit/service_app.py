"""Run service units alone (no gateway) as an ASGI + FastStream app: `/health`, `/metrics`,
and the units' subscribers on an external NATS. Serve it with uvicorn or `faststream run`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Scope
from faststream.nats import NatsBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crontopus_kit.broker import exit_process, make_broker
from crontopus_kit.http import health_payload
from crontopus_kit.logging import configure_logging
from crontopus_kit.settings import CrontopusSettings, SettingsError
from crontopus_kit.unit import ServiceUnit, prepare_units, units_started


def service_app(
    build: Callable[[NatsBroker], Sequence[ServiceUnit]], settings: CrontopusSettings, *, name: str
) -> AsgiFastStream:
    """``build`` makes the units on the broker this app connects (``name``: the connection's)."""
    if not settings.nats_url:
        raise SettingsError(
            "CRONTOPUS_NATS_URL is required to run a service alone; `crontopus-server run all` embeds NATS"
        )
    # Gone for good (nats-py no longer reconnects): exit, for the supervisor to start it again,
    # rather than stay up answering /health with "disconnected" for ever.
    broker = make_broker(settings.nats_url, name=f"crontopus-{name}", when_gone=exit_process)
    units = build(broker)
    for unit in units:
        broker.include_router(unit.router)

    async def prepare() -> None:
        configure_logging(fmt=settings.log_format, level=settings.log_level)
        await prepare_units(broker, units, stream_replicas=settings.nats_stream_replicas)

    async def started() -> None:
        await units_started(units)

    async def close() -> None:
        for unit in units:
            await unit.close()

    @get(include_in_schema=False)
    async def health(_: Scope) -> AsgiResponse:
        body, status = health_payload(broker, units)
        return AsgiResponse(json.dumps(body).encode(), status, headers={"content-type": "application/json"})

    @get(include_in_schema=False)
    async def metrics(_: Scope) -> AsgiResponse:
        return AsgiResponse(generate_latest(), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    return AsgiFastStream(
        broker,
        asgi_routes=[("/health", health), ("/metrics", metrics)],
        on_startup=[prepare],
        after_startup=[started],
        on_shutdown=[close],
    )
