"""Gateways refuse a member's older access tokens once their access changed, also a gateway that
starts after the change (it reads the ACCESS stream from its start before serving)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker

from crontopus_gateway.access import AccessChanges
from crontopus_kit.broker import ensure_streams
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_schemas.identity import AccessChanged
from crontopus_schemas.rpc import Principal
from crontopus_schemas.subjects import ACCESS_STREAM, access_changed_subject
from crontopus_server.testing import wait_until_async

NOW = datetime.now(UTC)


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # no database is used


@pytest.fixture
async def broker(nats_server: NatsServerProcess) -> AsyncIterator[NatsBroker]:
    broker = NatsBroker(nats_server.url)
    await broker.connect()
    await ensure_streams(broker, [ACCESS_STREAM])
    yield broker
    await broker.stop()


def token_of(user: str, *, issued: datetime, team: str = "t1") -> Principal:
    return Principal(kind="user", tenant_id=team, subject_id=user, role="admin", issued_at=issued.timestamp())


async def announce(broker: NatsBroker, team: str, user: str, at: datetime) -> None:
    change = AccessChanged(tenant_id=team, user_id=user, at=at)
    await broker.publish(change.model_dump_json().encode(), access_changed_subject(team, user),
                         stream=ACCESS_STREAM.name)  # fmt: skip


async def test_a_gateway_starting_after_a_change_refuses_the_older_tokens_at_once(broker):
    await announce(broker, "t1", "bob", NOW)
    changes = AccessChanges(broker)
    await changes.start()  # no waiting: it has read the stream to its end
    try:
        assert changes.outdates(token_of("bob", issued=NOW - timedelta(minutes=5)))
        assert changes.outdates(token_of("bob", issued=NOW)), "issued at the very moment: refused"
        assert not changes.outdates(token_of("bob", issued=NOW + timedelta(milliseconds=1))), "a refreshed token"
        assert not changes.outdates(token_of("carol", issued=NOW - timedelta(minutes=5))), "someone else"
        assert not changes.outdates(token_of("bob", issued=NOW - timedelta(minutes=5), team="t2")), "another team"
    finally:
        await changes.stop()


async def test_a_running_gateway_hears_a_change_as_it_happens(broker):
    changes = AccessChanges(broker)
    await changes.start()
    try:
        old = token_of("bob", issued=NOW - timedelta(minutes=1))
        assert not changes.outdates(old)
        await announce(broker, "t1", "bob", NOW)

        async def refused() -> bool:
            return changes.outdates(old)

        assert await wait_until_async(refused, timeout=5)
    finally:
        await changes.stop()
