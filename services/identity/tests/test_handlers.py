"""Identity's request-reply handlers and the event they publish, on FastStream's in-memory test
broker: what the handlers themselves decide (replies, error codes, the event and its
de-duplication id), without a NATS server. The real-server paths stay in the stack tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from faststream.nats import NatsBroker, NatsMessage

from crontopus_identity.settings import IdentitySettings
from crontopus_identity.unit import IdentityUnit
from crontopus_kit.broker import rpc_call
from crontopus_kit.errors import Conflict, Invalid, Unauthorized
from crontopus_kit.testing import in_memory, in_memory_broker
from crontopus_schemas import subjects
from crontopus_schemas.gitops import TenantCreated
from crontopus_schemas.identity import LoginRequest, LoginResult, RegisterCommand, UserPublic
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import IdentityRpc

PASSWORD = "correct horse battery"


@dataclass
class Identity:
    broker: NatsBroker
    announced: list[tuple[TenantCreated, str]] = field(default_factory=list)


@pytest.fixture
async def identity(settings_factory) -> AsyncIterator[Identity]:
    broker = in_memory_broker("identity-test")
    unit = IdentityUnit(settings_factory(IdentitySettings), broker=broker)
    found = Identity(broker)

    @broker.subscriber(subjects.tenant_created_subject("*"), stream=subjects.TENANTS_STREAM.name)
    async def tenant_created(msg: NatsMessage) -> None:
        found.announced.append((TenantCreated.model_validate_json(msg.body), msg.headers.get("Nats-Msg-Id", "")))

    async with in_memory(broker, unit):
        yield found


def register(username: str, tenant: str) -> RegisterCommand:
    return RegisterCommand(username=username, email=f"{username}@example.com", password=PASSWORD, tenant=tenant)


async def test_registering_answers_the_new_user_and_announces_the_team_once_by_its_id(identity: Identity) -> None:
    user = await rpc_call(identity.broker, IdentityRpc.REGISTER, register("alice", "alice-team"), UserPublic)
    assert (user.username, user.tenant, user.role) == ("alice", "alice-team", "owner")
    [(event, msg_id)] = identity.announced
    assert (event.tenant_id, event.name) == (user.tenant_id, "alice-team")
    assert msg_id == f"tenant-created:{user.tenant_id}"  # JetStream drops a repeat of it


async def test_a_taken_name_is_a_conflict_and_announces_nothing_more(identity: Identity) -> None:
    await rpc_call(identity.broker, IdentityRpc.REGISTER, register("alice", "alice-team"), UserPublic)
    with pytest.raises(Conflict):
        await rpc_call(identity.broker, IdentityRpc.REGISTER, register("alice", "other-team"), UserPublic)
    assert len(identity.announced) == 1


async def test_a_request_of_the_wrong_shape_is_invalid_naming_the_field(identity: Identity) -> None:
    with pytest.raises(Invalid, match="username"):
        await rpc_call(identity.broker, IdentityRpc.REGISTER, TenantScoped(tenant_id="t"), UserPublic)


async def test_sign_in_with_the_right_password_gets_tokens_and_with_a_wrong_one_is_refused(identity: Identity) -> None:
    await rpc_call(identity.broker, IdentityRpc.REGISTER, register("alice", "alice-team"), UserPublic)
    pair = await rpc_call(
        identity.broker, IdentityRpc.LOGIN, LoginRequest(username="alice", password=PASSWORD), LoginResult
    )
    assert pair.access_token and pair.refresh_token and pair.device_token
    with pytest.raises(Unauthorized):
        await rpc_call(
            identity.broker, IdentityRpc.LOGIN, LoginRequest(username="alice", password="wrong!"), LoginResult
        )
