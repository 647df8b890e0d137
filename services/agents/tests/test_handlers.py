"""The agents service's request-reply handlers and the events they publish, on FastStream's
in-memory test broker: enrolling and revoking as the handlers decide them, without a NATS
server. The real-server paths (the auth callout, the gateway's routes) stay in the other tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from faststream.nats import NatsBroker, NatsMessage

from crontopus_agents.handlers import MAX_REPORT_BYTES, read_report
from crontopus_agents.settings import AgentsSettings
from crontopus_agents.unit import AgentsUnit
from crontopus_kit.broker import rpc_call
from crontopus_kit.errors import NotFound, Unauthorized
from crontopus_kit.testing import in_memory, in_memory_broker
from crontopus_schemas import subjects
from crontopus_schemas.agents import (
    AgentEvent,
    AgentPublic,
    AgentRef,
    AgentStatusReport,
    EnrolledAgent,
    EnrollmentTokenCreate,
    EnrollmentTokenCreated,
    EnrollmentTokenCreateRequest,
    EnrollRequest,
)
from crontopus_schemas.subjects import AgentsRpc

ALICE, BOB = "a" * 32, "b" * 32


@dataclass
class Agents:
    broker: NatsBroker
    events: list[tuple[str, AgentEvent]] = field(default_factory=list)  # (subject, event)


@pytest.fixture
async def agents(settings_factory) -> AsyncIterator[Agents]:
    broker = in_memory_broker("agents-test")
    unit = AgentsUnit(settings_factory(AgentsSettings), broker=broker)
    found = Agents(broker)

    @broker.subscriber(subjects.agent_event_subject("*"), stream=subjects.AGENTS_STREAM.name)
    async def agent_event(msg: NatsMessage) -> None:
        found.events.append((msg.raw_message.subject, AgentEvent.model_validate_json(msg.body)))

    async with in_memory(broker, unit):
        yield found


async def enroll(agents: Agents, tenant_id: str, name: str) -> EnrolledAgent:
    request = EnrollmentTokenCreateRequest(tenant_id=tenant_id, created_by="alice", body=EnrollmentTokenCreate())
    token = await rpc_call(agents.broker, AgentsRpc.ENROLLMENT_TOKEN_CREATE, request, EnrollmentTokenCreated)
    return await rpc_call(agents.broker, AgentsRpc.ENROLL, EnrollRequest(token=token.token, name=name), EnrolledAgent)


async def test_enrolling_answers_the_agents_login_once_and_tells_its_team(agents: Agents) -> None:
    enrolled = await enroll(agents, ALICE, "web-1")
    assert (enrolled.tenant_id, enrolled.name) == (ALICE, "web-1") and enrolled.nats_password
    [(subject, event)] = agents.events
    assert subject == subjects.agent_event_subject(ALICE)
    assert (event.kind, event.agent_id, event.name) == ("enrolled", enrolled.agent_id, "web-1")


async def test_a_used_up_token_enrolls_nobody_and_tells_nobody(agents: Agents) -> None:
    request = EnrollmentTokenCreateRequest(tenant_id=ALICE, created_by="alice", body=EnrollmentTokenCreate())
    token = await rpc_call(agents.broker, AgentsRpc.ENROLLMENT_TOKEN_CREATE, request, EnrollmentTokenCreated)
    await rpc_call(agents.broker, AgentsRpc.ENROLL, EnrollRequest(token=token.token, name="one"), EnrolledAgent)
    with pytest.raises(Unauthorized, match="used up"):
        await rpc_call(agents.broker, AgentsRpc.ENROLL, EnrollRequest(token=token.token, name="two"), EnrolledAgent)
    assert [event.name for _, event in agents.events] == ["one"]


async def test_revoking_tells_the_team_and_another_team_cannot_revoke_it(agents: Agents) -> None:
    enrolled = await enroll(agents, ALICE, "web-1")
    with pytest.raises(NotFound):
        await rpc_call(
            agents.broker, AgentsRpc.REVOKE, AgentRef(tenant_id=BOB, agent_id=enrolled.agent_id), AgentPublic
        )
    assert [event.kind for _, event in agents.events] == ["enrolled"]
    revoked = await rpc_call(
        agents.broker, AgentsRpc.REVOKE, AgentRef(tenant_id=ALICE, agent_id=enrolled.agent_id), AgentPublic
    )
    assert revoked.status == "revoked"
    assert [(subject, event.kind) for subject, event in agents.events][-1] == (
        subjects.agent_event_subject(ALICE),
        "revoked",
    )


def test_a_report_is_read_up_to_a_size_a_real_host_needs_and_no_larger() -> None:
    """It is stored whole and served back: NATS alone would let an agent send 8 MB."""
    thousands = AgentStatusReport(version="0.1.0", jobs=[f"production/job-{n:05d}" for n in range(5000)])
    assert len(read_report(thousands.model_dump_json().encode()).jobs) == 5000
    flood = AgentStatusReport(version="0.1.0", hostname="h" * (MAX_REPORT_BYTES + 1)).model_dump_json().encode()
    with pytest.raises(ValueError, match="at most"):
        read_report(flood)
