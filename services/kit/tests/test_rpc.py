"""Request-reply over a real nats-server: values JSON cannot carry fail at once with a clear
error, on the caller's side and on the handler's, instead of a 500 or a silent timeout."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.nats import NatsBroker
from pydantic import BaseModel

from crontopus_kit.broker import make_broker, rpc_call, rpc_handler
from crontopus_kit.errors import DomainError, Invalid
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_schemas.rpc import ErrorCode

SUBJECT = "crontopus.test.rpc.echo"


class Echo(BaseModel):
    value: Any = None
    nest: int = 0


def nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


def depth_of(value: Any) -> int:
    """Recursive, as parsers are."""
    return 1 + max(map(depth_of, value), default=0) if isinstance(value, list) else 0


@pytest.fixture
async def broker(nats_server: NatsServerProcess) -> AsyncIterator[NatsBroker]:
    broker = make_broker(nats_server.url, name="test-rpc")

    @broker.subscriber(SUBJECT)
    @rpc_handler(Echo)
    async def echo(request: Echo) -> Echo:
        if request.nest < 0:
            return Echo(value=depth_of(nested(-request.nest)))
        return Echo(value=nested(request.nest)) if request.nest else request

    await broker.start()
    yield broker
    await broker.stop()


async def test_a_plain_request_is_answered(broker):
    reply = await rpc_call(broker, SUBJECT, Echo(value={"text": "grüße ✓"}), Echo, timeout=5)
    assert reply == Echo(value={"text": "grüße ✓"})


@pytest.mark.parametrize("value", [nested(300), "lone \ud800 surrogate"], ids=["deep", "surrogate"])
async def test_a_request_json_cannot_carry_is_invalid_before_it_is_sent(broker, value):
    with pytest.raises(Invalid, match="cannot be encoded as JSON"):
        await rpc_call(broker, SUBJECT, Echo(value=value), Echo, timeout=5)


async def test_a_reply_that_cannot_be_encoded_is_an_error_reply_not_a_timeout(broker):
    began = time.monotonic()
    with pytest.raises(DomainError) as raised:
        await rpc_call(broker, SUBJECT, Echo(nest=300), Echo, timeout=5)
    assert raised.value.code == ErrorCode.INTERNAL
    assert "reply could not be encoded" in raised.value.message
    assert time.monotonic() - began < 2, "answered, not waited out"


async def test_input_too_deep_for_a_handlers_parser_is_invalid_not_internal(broker):
    with pytest.raises(Invalid, match="nested too deeply"):
        await rpc_call(broker, SUBJECT, Echo(nest=-100_000), Echo, timeout=5)
