"""Teams and members in the identity service (SQLite and PostgreSQL): memberships, switching
team, the owner rules, and removal ending the member's sign-ins for the team."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from faststream.nats import NatsBroker
from joserfc import jwt
from joserfc.jwk import KeySet

from crontopus_identity import invitations, members, service
from crontopus_identity.settings import IdentitySettings
from crontopus_identity.unit import MIGRATIONS, NAME, IdentityUnit
from crontopus_kit.db import Database
from crontopus_kit.errors import Conflict, Forbidden, NotFound, Throttled, Unauthorized
from crontopus_schemas.identity import (
    ActingMember,
    InvitationCreate,
    LoginRequest,
    MemberRoleChange,
    RegisterRequest,
    SwitchTeamRequest,
)

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
async def identity(settings_factory):
    unit = IdentityUnit(settings_factory(IdentitySettings), broker=NatsBroker())
    await unit.prepare()
    yield unit
    await unit.close()


async def register(unit, name: str):
    fields = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, "tenant": f"team-{name}"}
    async with unit.db.session() as session:
        return await service.register(session=session, request=RegisterRequest(**fields))


async def login(unit, name: str):
    async with unit.db.session() as session:
        request = LoginRequest(username=name, password=PASSWORD, client_ip="192.0.2.1")
        return await service.login(session=session, ctx=unit.ctx, request=request)


async def join(unit, user, team, role: str) -> None:
    async with unit.db.session() as session:
        await members.add_member(session=session, tenant_id=team.tenant_id, user_id=user.id, role=role, now=T0)


async def switch(unit, user, team):
    async with unit.db.session() as session:
        request = SwitchTeamRequest(user_id=user.id, team_id=team.tenant_id)
        return await service.switch_team(session=session, ctx=unit.ctx, request=request)


async def set_role(unit, actor, target, team, role: str):
    change = MemberRoleChange(tenant_id=team.tenant_id, actor_id=actor.id, actor_role=await role_of(unit, actor, team),
                              user_id=target.id, role=role)  # fmt: skip
    async with unit.db.session() as session:
        return await members.change_role(session=session, request=change, now=T0)


async def remove(unit, actor, target, team):
    request = ActingMember(tenant_id=team.tenant_id, actor_id=actor.id, actor_role=await role_of(unit, actor, team),
                           user_id=target.id)  # fmt: skip
    async with unit.db.session() as session:
        return await members.remove_member(session=session, request=request, now=T0)


async def roles(unit, team) -> dict[str, str]:
    async with unit.db.session() as session:
        listed = await members.list_members(session=session, tenant_id=team.tenant_id)
    return {member.username: member.role for member in listed.members}


async def role_of(unit, user, team) -> str:
    return (await roles(unit, team))[user.username]


@pytest.fixture
async def team(identity):
    """alice owns team-alice; bob is an admin in it, carol a member (each has a team of their own)."""
    alice, bob, carol = [await register(identity, name) for name in ("alice", "bob", "carol")]
    await join(identity, bob, alice, "admin")
    await join(identity, carol, alice, "member")
    return alice, bob, carol


async def test_a_person_lists_their_teams_and_switches_between_them(identity, team):
    alice, bob, _ = team
    async with identity.db.session() as session:
        listed = await members.list_teams(session=session, user_id=bob.id)
    assert {(t.name, t.role) for t in listed.teams} == {("team-alice", "admin"), ("team-bob", "owner")}
    first = await login(identity, "bob")
    assert identity_claims(identity, first.access_token)["tid"] == bob.tenant_id  # the team he signed up with
    pair = await switch(identity, bob, alice)
    claims = identity_claims(identity, pair.access_token)
    assert (claims["tid"], claims["tenant"], claims["role"]) == (alice.tenant_id, "team-alice", "admin")
    again = await login(identity, "bob")
    assert identity_claims(identity, again.access_token)["tid"] == alice.tenant_id, "sign-ins open the last team"


async def test_switching_to_a_team_one_is_not_in_is_refused(identity, team):
    alice, _, carol = team
    with pytest.raises(Forbidden):
        await switch(identity, alice, carol)


def identity_claims(unit, token: str) -> dict:
    return jwt.decode(token, KeySet.import_key_set({"keys": unit.issuer.jwks().keys}), algorithms=["Ed25519"]).claims


async def test_only_an_owner_makes_or_changes_an_owner(identity, team):
    alice, bob, carol = team
    with pytest.raises(Forbidden, match="only an owner"):
        await set_role(identity, bob, carol, alice, "owner")
    with pytest.raises(Forbidden, match="only an owner"):
        await set_role(identity, bob, alice, alice, "viewer")
    with pytest.raises(Forbidden, match="only an owner"):
        await remove(identity, bob, alice, alice)
    member, change = await set_role(identity, bob, carol, alice, "viewer")  # an admin re-roles the rest
    assert (member.role, change.user_id) == ("viewer", carol.id)
    assert await roles(identity, alice) == {"alice": "owner", "bob": "admin", "carol": "viewer"}


async def test_the_last_owner_can_neither_be_demoted_nor_leave_until_there_is_another(identity, team):
    alice, bob, _ = team
    with pytest.raises(Conflict, match="needs an owner"):
        await set_role(identity, alice, alice, alice, "admin")
    with pytest.raises(Conflict, match="needs an owner"):
        await remove(identity, alice, alice, alice)
    await set_role(identity, alice, bob, alice, "owner")
    await remove(identity, alice, alice, alice)  # now she may leave
    assert await roles(identity, alice) == {"bob": "owner", "carol": "member"}


async def test_setting_the_role_a_member_has_changes_nothing_and_announces_nothing(identity, team):
    alice, _, carol = team
    member, change = await set_role(identity, alice, carol, alice, "member")
    assert (member.role, change) == ("member", None)


async def test_a_removed_member_cannot_refresh_into_the_team_and_signs_in_to_another(identity, team):
    alice, _, carol = team
    pair = await switch(identity, carol, alice)
    change = await remove(identity, alice, carol, alice)
    assert (change.tenant_id, change.user_id) == (alice.tenant_id, carol.id)
    async with identity.db.session() as session:
        with pytest.raises(Unauthorized, match="no longer a member"):
            await service.refresh(session=session, ctx=identity.ctx, token=pair.refresh_token)
    signed_in = await login(identity, "carol")
    assert identity_claims(identity, signed_in.access_token)["tid"] == carol.tenant_id


async def test_another_teams_member_is_not_found(identity, team):
    alice, bob, _ = team
    with pytest.raises(NotFound):
        await set_role(identity, bob, alice, bob, "viewer")  # alice is not in team-bob


async def test_someone_in_no_team_is_told_so_at_sign_in(identity):
    dave, erin = await register(identity, "dave"), await register(identity, "erin")
    await join(identity, erin, dave, "owner")
    await remove(identity, erin, dave, dave)  # erin, also an owner, removes dave from his own team
    async with identity.db.session() as session:
        with pytest.raises(Forbidden, match="not a member of any team"):
            await members.sign_in_membership(
                session=session, user=await session.get(service.User, dave.id), via="password"
            )


async def test_the_migration_makes_every_existing_user_the_owner_of_their_team(settings_factory):
    settings = settings_factory(IdentitySettings)
    database = Database(settings.database_url_for(NAME), schema=settings.database_schema_for(NAME))
    try:
        await database.migrate(script_location=MIGRATIONS, version_table="alembic_version_identity", revision="0002")
        async with database.session() as session:
            await session.execute(sa.text("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'ops', :at)"),
                                  {"at": T0})  # fmt: skip
            await session.execute(
                sa.text("INSERT INTO users (id, tenant_id, username, email, password_hash, role, created_at) "
                        "VALUES ('u1', 't1', 'olga', 'olga@example.com', 'x', 'owner', :at)"), {"at": T0},
            )  # fmt: skip
            await session.commit()
        await database.migrate(script_location=MIGRATIONS, version_table="alembic_version_identity")
        async with database.session() as session:
            listed = await members.list_members(session=session, tenant_id="t1")
            user = await session.get(service.User, "u1")
        assert [(m.username, m.role) for m in listed.members] == [("olga", "owner")]
        assert user.default_tenant_id == "t1"
    finally:
        await database.dispose()


async def test_inviting_one_address_is_limited_so_mail_cannot_flood_an_inbox(identity, team):
    alice, _, _ = team
    request = InvitationCreate(tenant_id=alice.tenant_id, actor_id=alice.id, actor_role="owner",
                               email="dana@example.com", role="viewer")  # fmt: skip
    for _ in range(invitations.PER_ADDRESS):
        async with identity.db.session() as session:
            await invitations.create(session=session, request=request, now=T0)
            await session.commit()
    async with identity.db.session() as session:
        with pytest.raises(Throttled, match="too many invitations to this address this hour"):
            await invitations.create(session=session, request=request, now=T0)
