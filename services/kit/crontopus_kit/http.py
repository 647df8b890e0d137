"""HTTP endpoints every process serves: ``/health`` and Prometheus ``/metrics``."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.nats import NatsBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from crontopus_kit.unit import ServiceUnit


def health_payload(broker: NatsBroker | None, units: Sequence[ServiceUnit]) -> tuple[dict, int]:
    """200 while NATS is connected and no unit reports a problem (a unit may have ``problems()``,
    returning sentences), else 503 with them."""
    connected = bool(broker and broker.config.connection_state and _is_connected(broker))
    problems = [problem for unit in units for problem in _problems(unit)]
    healthy = connected and not problems
    body = {
        "status": "ok" if healthy else "degraded",
        "nats": "connected" if connected else "disconnected",
        "services": [unit.name for unit in units],
        "problems": problems,
    }
    return body, 200 if healthy else 503


def _problems(unit: ServiceUnit) -> list[str]:
    check = getattr(unit, "problems", None)
    return list(check()) if check else []


def _is_connected(broker: NatsBroker) -> bool:
    try:
        return bool(broker.config.connection_state.connection.is_connected)
    except AttributeError:
        return False


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
