"""A JetStream publish whose acknowledgement came back empty is tried again (at most three times);
core NATS publishes are sent once."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from crontopus_kit.broker import CorrelationMiddleware


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # no database is used


def flaky(failures: int):
    calls = []

    async def call_next(cmd):
        calls.append(cmd)
        if len(calls) <= failures:
            raise json.JSONDecodeError("Expecting value", "", 0)  # what nats-py raises on an empty ack
        return "ack"

    return call_next, calls


async def publish(call_next, stream: str | None):
    middleware = CorrelationMiddleware(None, context=None)  # type: ignore[arg-type]
    return await middleware.publish_scope(call_next, SimpleNamespace(stream=stream, correlation_id=None))


async def test_an_empty_acknowledgement_is_retried_until_one_comes():
    call_next, calls = flaky(2)
    assert await publish(call_next, "CHECKINS") == "ack"
    assert len(calls) == 3


async def test_it_gives_up_after_three_tries_and_core_publishes_are_not_retried():
    call_next, calls = flaky(5)
    with pytest.raises(json.JSONDecodeError):
        await publish(call_next, "CHECKINS")
    assert len(calls) == 3
    call_next, calls = flaky(1)
    with pytest.raises(json.JSONDecodeError):
        await publish(call_next, None)
    assert len(calls) == 1
