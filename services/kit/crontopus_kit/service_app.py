"""Run service units alone (no gateway) as an ASGI + FastStream app: `/health`, `/metrics`,
and the units' subscribers on an external NATS. Serve it with uvicorn or `faststream run`."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.asgi import AsgiFastStream
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crontopus_kit.broker import ensure_streams, make_broker
from crontopus_kit.http import health_payload, metrics_response
from crontopus_kit.logging import configure_logging, get_logger
from crontopus_kit.settings import CrontopusSettings, SettingsError
from crontopus_kit.unit import ServiceUnit

log = get_logger(__name__)


def service_app(units: Sequence[ServiceUnit], settings: CrontopusSettings) -> AsgiFastStream:
    if not settings.nats_url:
        raise SettingsError(
            "CRONTOPUS_NATS_URL is required to run a service alone; `crontopus-server run all` embeds NATS"
        )
    names = [unit.name for unit in units]
    broker = make_broker(settings.nats_url, name="crontopus-" + "+".join(names))
    for unit in units:
        broker.include_router(unit.router)

    async def prepare() -> None:
        configure_logging(fmt=settings.log_format, level=settings.log_level)
        for unit in units:
            await unit.prepare()
        await broker.connect()
        await ensure_streams(broker, {s.name: s for unit in units for s in unit.streams}.values())
        log.info("service starting", services=names)

    async def close() -> None:
        for unit in units:
            await unit.close()

    async def health(_: Request) -> JSONResponse:
        body, status = health_payload(broker, names)
        return JSONResponse(body, status_code=status)

    async def metrics(_: Request) -> Response:
        return metrics_response()

    return AsgiFastStream(
        broker,
        asgi_routes=[("/health", health), ("/metrics", metrics)],
        on_startup=[prepare],
        after_shutdown=[close],
    )
