"""Alerting holds missed-run alerts back while check-ins are still queued; when the check-in
consumers cannot be read at all, that must not go on silently: /health says so, with a 503."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest

from crontopus_schemas import subjects
from crontopus_server.testing import Stack, wait_until


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # nothing here depends on the database


@pytest.fixture
def stack_env(stack_env: dict[str, Any]) -> dict[str, Any]:
    return {**stack_env, "CRONTOPUS_ALERTING_TICK_INTERVAL": "0.2", "CRONTOPUS_ALERTING_BACKLOG_STUCK_SECONDS": "1"}


async def test_a_deleted_check_in_consumer_makes_health_report_alerting_held_back(stack: Stack):
    client = stack.client()
    assert client.get("/health").json()["problems"] == []
    nc = await nats.connect(stack.nats.url)
    try:
        await nc.jetstream().delete_consumer(subjects.CHECKINS_STREAM.name, subjects.RUNS_CHECKINS_DURABLE)
    finally:
        await nc.close()

    def reported() -> Any:
        answer = client.get("/health")
        return answer if answer.status_code == 503 else None

    answer = await asyncio.to_thread(wait_until, reported, timeout=15)  # the stack serves from its own thread
    body = answer.json()
    assert body["status"] == "degraded" and body["nats"] == "connected"
    (problem,) = body["problems"]
    assert problem.startswith("alerting: the check-in backlog has not moved for 0 min (CHECKINS/")
    assert "NotFoundError" in problem and problem.endswith("missed-run alerts are held back")
