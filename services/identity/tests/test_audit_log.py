"""The audit log's table in identity (SQLite and PostgreSQL): each event stored once, names of
actors filled in, paging, retention, and an operator's change written for every team."""

from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker

from crontopus_identity import audit, service
from crontopus_identity.settings import IdentitySettings
from crontopus_identity.unit import IdentityUnit
from crontopus_kit.errors import Invalid
from crontopus_schemas.audit import AuditEvent, AuditQuery
from crontopus_schemas.identity import RegisterRequest

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
async def identity(settings_factory):
    unit = IdentityUnit(settings_factory(IdentitySettings), broker=NatsBroker())
    await unit.prepare()
    yield unit
    await unit.close()


@pytest.fixture
async def alice(identity):
    fields = {"username": "alice", "email": "alice@example.com", "password": "correct horse battery", "tenant": "ops"}
    async with identity.db.session() as session:
        return await service.register(session=session, request=RegisterRequest(**fields))


def event(alice, number: int, **fields) -> AuditEvent:
    values = {"id": f"e{number:02d}", "at": T0 + timedelta(minutes=number), "tenant_id": alice.tenant_id,
              "actor_type": "user", "actor_id": alice.id, "action": "job.update",
              "target": f"ns/job-{number}"}  # fmt: skip
    return AuditEvent(**(values | fields))


async def listed(identity, alice, **query):
    async with identity.db.session() as session:
        return await audit.list_entries(session=session, query=AuditQuery(tenant_id=alice.tenant_id, **query))


async def test_an_event_delivered_twice_is_stored_once_with_its_actors_name(identity, alice):
    async with identity.db.session() as session:
        await audit.store(session, [event(alice, 1)])
        await audit.store(session, [event(alice, 1), event(alice, 2)])
    page = await listed(identity, alice)
    assert [(e.id, e.actor) for e in page.entries] == [("e02", "alice"), ("e01", "alice")]


async def test_another_teams_entries_are_not_listed(identity, alice):
    async with identity.db.session() as session:
        await audit.store(session, [event(alice, 1, tenant_id="f" * 32)])
    assert (await listed(identity, alice)).entries == []


async def test_entries_older_than_the_retention_are_forgotten(identity, alice):
    async with identity.db.session() as session:
        await audit.store(session, [event(alice, 1, at=T0 - timedelta(days=400)), event(alice, 2)])
        assert await audit.forget_old(session=session, now=T0, retention_days=365) == 1
    assert [e.id for e in (await listed(identity, alice)).entries] == ["e02"]


async def test_an_operators_change_is_written_into_every_teams_log(identity, alice):
    async with identity.db.session() as session:
        await audit.record_for_every_team(session, action="platform.signing-key.rotate", target="k1", details={})
    [entry] = (await listed(identity, alice)).entries
    assert (entry.actor_type, entry.action, entry.target) == ("operator", "platform.signing-key.rotate", "k1")


async def test_a_cursor_that_is_not_one_is_refused(identity, alice):
    with pytest.raises(Invalid):
        await listed(identity, alice, cursor="99999999999999999999-e01")
