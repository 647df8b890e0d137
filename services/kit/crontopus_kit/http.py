"""HTTP endpoints every process serves: ``/health`` and Prometheus ``/metrics``."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.nats import NatsBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response


def health_payload(broker: NatsBroker | None, services: Sequence[str]) -> tuple[dict, int]:
    connected = bool(broker and broker.config.connection_state and _is_connected(broker))
    body = {
        "status": "ok" if connected else "degraded",
        "nats": "connected" if connected else "disconnected",
        "services": list(services),
    }
    return body, 200 if connected else 503


def _is_connected(broker: NatsBroker) -> bool:
    try:
        return bool(broker.config.connection_state.connection.is_connected)
    except AttributeError:
        return False


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
