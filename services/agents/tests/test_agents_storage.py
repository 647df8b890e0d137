"""The agents store on SQLite and PostgreSQL: token expiry and use limits, secrets kept hashed,
reports, and the offline sweep claiming each transition once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker

from crontopus_agents import service
from crontopus_agents.models import Agent, EnrollmentToken
from crontopus_agents.settings import AgentsSettings
from crontopus_agents.unit import AgentsUnit
from crontopus_kit.errors import Conflict, NotFound, Unauthorized
from crontopus_schemas.agents import (
    AgentStatusReport,
    EnrollmentTokenCreate,
    EnrollmentTokenCreateRequest,
    EnrollRequest,
)

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ALICE, BOB = "a" * 32, "b" * 32
SECRET = b"s" * 48


@pytest.fixture
async def agents(settings_factory):
    unit = AgentsUnit(settings_factory(AgentsSettings), broker=NatsBroker())
    await unit.prepare()
    yield unit
    await unit.close()


async def new_token(unit: AgentsUnit, *, tenant: str = ALICE, at: datetime = T0, **body) -> str:
    request = EnrollmentTokenCreateRequest(tenant_id=tenant, created_by="u1", body=EnrollmentTokenCreate(**body))
    async with unit.db.session() as session:
        created = await service.create_enrollment_token(session=session, secret=SECRET, request=request, now=at)
    return created.token


async def enroll(unit: AgentsUnit, token: str, name: str = "web-1", *, at: datetime = T0):
    async with unit.db.session() as session:
        return await service.enroll(
            session=session, secret=SECRET, request=EnrollRequest(token=token, name=name), nats_urls=[], now=at
        )


async def test_an_expired_token_enrolls_nobody(agents):
    token = await new_token(agents, ttl_seconds=600)
    with pytest.raises(Unauthorized, match="expired"):
        await enroll(agents, token, at=T0 + timedelta(seconds=601))
    assert (await enroll(agents, token, at=T0 + timedelta(seconds=599))).tenant_id == ALICE


async def test_a_token_enrolls_at_most_max_uses_agents_even_when_they_race(agents):
    token = await new_token(agents, max_uses=3)
    outcomes = await asyncio.gather(*(enroll(agents, token, f"host-{i}") for i in range(6)), return_exceptions=True)
    enrolled = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(enrolled) == 3
    assert all(isinstance(o, Unauthorized) for o in outcomes if isinstance(o, BaseException))


async def test_checking_an_enrollment_spends_nothing_and_refuses_what_enrolling_would(agents):
    token = await new_token(agents, max_uses=1)

    async def check(name: str = "web-1", *, with_token: str = token) -> str:
        async with agents.db.session() as session:
            request = EnrollRequest(token=with_token, name=name)
            return await service.check_enrollment(session=session, secret=SECRET, request=request, now=T0)

    assert [await check(), await check()] == [ALICE, ALICE]
    await enroll(agents, token)  # the one use is still there after two checks
    with pytest.raises(Unauthorized, match="used up"):
        await check("web-2")
    with pytest.raises(Conflict, match="already enrolled"):
        await check(with_token=await new_token(agents))


async def test_tokens_and_agent_secrets_are_stored_only_as_keyed_hashes(agents):
    token = await new_token(agents)
    agent = await enroll(agents, token)
    async with agents.db.session() as session:
        agent_rows = (await session.execute(Agent.__table__.select())).all()
        token_rows = (await session.execute(EnrollmentToken.__table__.select())).all()
    assert agent_rows and token_rows
    assert not any(agent.nats_password in str(row) for row in agent_rows)
    assert not any(token in str(row) for row in token_rows)


async def test_credentials_check_refuses_wrong_secret_and_revoked_agents(agents):
    agent = await enroll(agents, await new_token(agents))

    async def check(password: str):
        async with agents.db.session() as session:
            return await service.authenticate(
                session=session, secret=SECRET, user=agent.agent_id, password=password, server_id="S", client_id=7
            )

    assert (await check(agent.nats_password)).nats_client_id == 7
    assert await check(agent.nats_password + "x") is None
    async with agents.db.session() as session:
        await service.revoke(session=session, tenant_id=ALICE, agent_id=agent.agent_id)
    assert await check(agent.nats_password) is None


async def test_another_tenants_agent_is_not_found(agents):
    agent = await enroll(agents, await new_token(agents))
    async with agents.db.session() as session:
        with pytest.raises(NotFound):
            await service.revoke(session=session, tenant_id=BOB, agent_id=agent.agent_id)
        with pytest.raises(NotFound):
            await service.get_agent(session=session, tenant_id=BOB, agent_id=agent.agent_id)
    async with agents.db.session() as session:
        outcome = await service.record_report(
            session=session, tenant_id=BOB, agent_id=agent.agent_id, report=AgentStatusReport()
        )
    assert outcome is None


async def test_a_silent_agent_goes_offline_once(agents):
    agent = await enroll(agents, await new_token(agents))
    async with agents.db.session() as session:
        outcome = await service.record_report(
            session=session, tenant_id=ALICE, agent_id=agent.agent_id, report=AgentStatusReport(), now=T0
        )
    assert outcome.came_online
    sweeps = []
    for _ in range(2):
        async with agents.db.session() as session:
            sweeps.append(
                await service.sweep_offline(session=session, offline_after=90, now=T0 + timedelta(seconds=91))
            )
    assert [[a.id for a in sweep] for sweep in sweeps] == [[agent.agent_id], []]
    async with agents.db.session() as session:
        shown = service.agent_public(await service.get_agent(session=session, tenant_id=ALICE, agent_id=agent.agent_id))
    assert shown.status == "offline"
