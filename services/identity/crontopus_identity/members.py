"""Teams and their members: who belongs to which team with which role, and the rules for
changing that. Which role may call what is the gateway's (crontopus_gateway.permissions); the
rules that depend on the change itself are here:
- only an owner makes someone an owner or changes or removes an owner;
- a team always keeps an owner: its last one can neither leave nor be demoted;
- a change takes effect at once: the member's sign-ins for the team end (removal) or their access
  tokens are refused so a refresh picks the new role up (``AccessChanged``, sent by the caller)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_identity.models import Membership, RefreshToken, Tenant, User
from crontopus_kit.errors import Conflict, Forbidden, NotFound
from crontopus_kit.times import as_utc
from crontopus_schemas.identity import (
    AccessChanged,
    ActingMember,
    MemberList,
    MemberPublic,
    MemberRoleChange,
    SsoRequirement,
    TeamList,
    TeamPublic,
    TeamSettings,
)

NO_TEAM = "you are not a member of any team any more; ask a team's owner or admin for an invitation"
SSO_REQUIRED = "the team {team} requires single sign-on: sign in with your identity provider"
SSO_TO_REQUIRE = (
    "sign in with single sign-on before requiring it: a team whose owners cannot sign in with it would be locked out"
)
LAST_OWNER = "a team needs an owner: make someone else an owner first"
OWNERS_ONLY = "only an owner can make someone an owner, or change or remove an owner"
_NO_SYNC = {"synchronize_session": False}


def ensure_sign_in_allowed(tenant: Tenant, via: str) -> None:
    if tenant.sso_required and via != "sso":
        raise Forbidden(SSO_REQUIRED.format(team=tenant.name))


async def sign_in_membership(session: AsyncSession, *, user: User, via: str) -> tuple[Tenant, Membership]:
    """The team a sign-in acts for: the user's default team, or (having left it, or it requiring
    single sign-on of a password sign-in) the team they joined first that allows it, which
    becomes the default."""
    stmt = (
        select(Tenant, Membership)
        .join(Membership, col(Membership.tenant_id) == col(Tenant.id))
        .where(col(Membership.user_id) == user.id)
        .order_by((col(Membership.tenant_id) != user.default_tenant_id), col(Membership.created_at))
    )
    rows = [(row[0], row[1]) for row in (await session.execute(stmt)).all()]
    if not rows:
        raise Forbidden(NO_TEAM)
    allowed = [row for row in rows if not (row[0].sso_required and via != "sso")]
    if not allowed:
        ensure_sign_in_allowed(rows[0][0], via)
    tenant, membership = allowed[0]
    if tenant.id != user.default_tenant_id:
        user.default_tenant_id = tenant.id
        session.add(user)
    return tenant, membership


async def list_teams(*, session: AsyncSession, user_id: str) -> TeamList:
    stmt = (
        select(Tenant, Membership.role)
        .join(Membership, col(Membership.tenant_id) == col(Tenant.id))
        .where(col(Membership.user_id) == user_id)
        .order_by(col(Tenant.name))
    )
    rows = (await session.execute(stmt)).all()
    return TeamList(teams=[TeamPublic(id=tenant.id, name=tenant.name, role=role) for tenant, role in rows])


async def add_member(*, session: AsyncSession, tenant_id: str, user_id: str, role: str, now: datetime) -> None:
    """Someone joins a team (an accepted invitation); already a member: their role stays."""
    if await session.get(Membership, (tenant_id, user_id)) is None:
        session.add(Membership(tenant_id=tenant_id, user_id=user_id, role=role, created_at=now))
        await session.commit()


async def team_settings(*, session: AsyncSession, tenant_id: str) -> TeamSettings:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("team not found")
    return TeamSettings(id=tenant.id, name=tenant.name, sso_required=tenant.sso_required)


async def require_sso(
    *, session: AsyncSession, request: SsoRequirement, now: datetime
) -> tuple[TeamSettings, list[AccessChanged]]:
    """Turn the requirement on or off; on, every member's sessions begun with a password end (the
    notices void their access tokens; their refreshes are refused)."""
    if request.required and request.via != "sso":
        raise Forbidden(SSO_TO_REQUIRE)
    tenant = await session.get(Tenant, request.tenant_id)
    if tenant is None:
        raise NotFound("team not found")
    changed = tenant.sso_required != request.required
    tenant.sso_required = request.required
    session.add(tenant)
    await session.commit()
    notices = []
    if changed and request.required:
        users = (
            await session.execute(select(Membership.user_id).where(col(Membership.tenant_id) == tenant.id))
        ).scalars()
        notices = [AccessChanged(tenant_id=tenant.id, user_id=user_id, at=now) for user_id in users]
    return TeamSettings(id=tenant.id, name=tenant.name, sso_required=tenant.sso_required), notices


def _member_public(user: User, membership: Membership) -> MemberPublic:
    return MemberPublic(
        user_id=user.id, username=user.username, email=user.email, role=membership.role,  # type: ignore[arg-type]
        joined_at=as_utc(membership.created_at),
    )  # fmt: skip


async def list_members(*, session: AsyncSession, tenant_id: str) -> MemberList:
    stmt = (
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(col(Membership.tenant_id) == tenant_id)
        .order_by(col(User.username))
    )
    return MemberList(members=[_member_public(user, m) for user, m in (await session.execute(stmt)).all()])


async def _lock_team(session: AsyncSession, tenant_id: str) -> None:
    """Serialises changes to one team's members on PostgreSQL (two owners demoting each other at
    once would otherwise both see the other still an owner); SQLite has one writer anyway."""
    await session.execute(select(Tenant.id).where(col(Tenant.id) == tenant_id).with_for_update())


async def _target(session: AsyncSession, request: ActingMember) -> tuple[User, Membership]:
    """Another team's member answers exactly like nobody."""
    stmt = (
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(col(Membership.tenant_id) == request.tenant_id, col(Membership.user_id) == request.user_id)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound("no such member in this team")
    return row[0], row[1]


async def _owners(session: AsyncSession, tenant_id: str) -> int:
    stmt = select(func.count()).where(col(Membership.tenant_id) == tenant_id, col(Membership.role) == "owner")
    return int((await session.execute(stmt)).scalar_one())


async def change_role(
    *, session: AsyncSession, request: MemberRoleChange, now: datetime
) -> tuple[MemberPublic, AccessChanged | None]:
    """The member with their new role, and the notice to send (None when nothing changed)."""
    await _lock_team(session, request.tenant_id)
    user, membership = await _target(session, request)
    if membership.role == request.role:
        unchanged = _member_public(user, membership)
        await session.rollback()  # the team's lock
        return unchanged, None
    if "owner" in (membership.role, request.role) and request.actor_role != "owner":
        raise Forbidden(OWNERS_ONLY)
    if membership.role == "owner" and await _owners(session, request.tenant_id) == 1:
        raise Conflict(LAST_OWNER)
    membership.role = request.role
    session.add(membership)
    await session.commit()
    return _member_public(user, membership), AccessChanged(tenant_id=request.tenant_id, user_id=user.id, at=now)


async def remove_member(*, session: AsyncSession, request: ActingMember, now: datetime) -> AccessChanged:
    """Removes a member (or the caller, leaving) and ends their sign-ins for the team."""
    await _lock_team(session, request.tenant_id)
    _, membership = await _target(session, request)
    if membership.role == "owner":
        if request.actor_role != "owner":
            raise Forbidden(OWNERS_ONLY)
        if await _owners(session, request.tenant_id) == 1:
            raise Conflict(LAST_OWNER)
    await session.delete(membership)
    revoke = (
        update(RefreshToken)
        .where(
            col(RefreshToken.user_id) == request.user_id,
            col(RefreshToken.tenant_id) == request.tenant_id,
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    await session.execute(revoke, execution_options=_NO_SYNC)
    await session.commit()
    return AccessChanged(tenant_id=request.tenant_id, user_id=request.user_id, at=now)
