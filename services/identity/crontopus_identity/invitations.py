"""Invitations: an owner or admin invites an email address with a role; the mailed link is good
once, for 7 days, and works for an existing account (signed in with that email) or makes a new
one. Inviting an address again replaces its pending invitation (a resend)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_identity import members, service
from crontopus_identity.links import row_of
from crontopus_identity.models import Invitation, Membership, Tenant, User
from crontopus_identity.service import Context
from crontopus_kit.errors import Conflict, Forbidden, NotFound
from crontopus_kit.times import as_utc
from crontopus_schemas.identity import (
    AcceptInvitation,
    InvitationCreate,
    InvitationList,
    InvitationPublic,
    InvitationRef,
    TokenPair,
)
from crontopus_schemas.mail import MailRequested

PURPOSE = "invitation"  # the links' purpose, as the mail's kind
TTL = timedelta(days=7)
PER_ADDRESS, PER_TEAM = 3, 50  # invitation mails an hour
BAD_LINK = "this invitation link is not valid any more: it was used, revoked or has expired; ask for a new one"
OTHER_ACCOUNT = (
    "this invitation is for another email address: sign in with the account that has it, or sign out "
    "and accept it to create an account"
)
NEW_ACCOUNT_FIELDS = "not signed in: send a username and a password to create your account"
EMAIL_HAS_ACCOUNT = "an account with this email address exists: sign in with it, then accept the invitation"
_NO_SYNC = {"synchronize_session": False}


def _public(invitation: Invitation, inviter: str | None) -> InvitationPublic:
    return InvitationPublic(
        id=invitation.id, email=invitation.email, role=invitation.role, invited_by=inviter,  # type: ignore[arg-type]
        created_at=as_utc(invitation.created_at), expires_at=as_utc(invitation.expires_at),
    )  # fmt: skip


def _pending(now: datetime):  # type: ignore[no-untyped-def]
    return (
        col(Invitation.accepted_at).is_(None),
        col(Invitation.revoked_at).is_(None),
        col(Invitation.expires_at) > now,
    )


async def create(
    *, session: AsyncSession, request: InvitationCreate, now: datetime
) -> tuple[InvitationPublic, MailRequested]:
    """The invitation and the mail that carries it (the caller publishes it, then commits)."""
    email = str(request.email).lower()
    if request.role == "owner" and request.actor_role != "owner":
        raise Forbidden(members.OWNERS_ONLY)
    # The platform's mail must not become a way to flood an inbox.
    await service.count_attempt(session, key=f"invite:{request.tenant_id}:{email}", limit=PER_ADDRESS, window=3600,
                                now=now, what="invitations to this address this hour")  # fmt: skip
    await service.count_attempt(session, key=f"invite-team:{request.tenant_id}", limit=PER_TEAM, window=3600,
                                now=now, what="invitations from this team this hour")  # fmt: skip
    already = (
        select(Membership.user_id)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(col(Membership.tenant_id) == request.tenant_id, col(User.email) == email)
    )
    if (await session.execute(already)).first() is not None:
        raise Conflict(f"{email} is already a member of this team")
    resend = update(Invitation).where(col(Invitation.tenant_id) == request.tenant_id, col(Invitation.email) == email,
                                      *_pending(now)).values(revoked_at=now)  # fmt: skip
    await session.execute(resend, execution_options=_NO_SYNC)
    invitation = Invitation(
        id=uuid.uuid4().hex, tenant_id=request.tenant_id, email=email, role=request.role, invited_by=request.actor_id,
        created_at=now, expires_at=now + TTL,
    )  # fmt: skip
    session.add(invitation)
    team = await session.get(Tenant, request.tenant_id)
    inviter = await session.get(User, request.actor_id)
    inviter_name = inviter.username if inviter else None
    values = {"team": team.name if team else "", "role": request.role, "inviter": inviter_name or "A team admin",
              "expires": invitation.expires_at.strftime("%d %B %Y, %H:%M UTC")}  # fmt: skip
    mail = MailRequested(id=invitation.id, kind=PURPOSE, to=email, ref=invitation.id, values=values)
    return _public(invitation, inviter_name), mail


async def list_pending(*, session: AsyncSession, tenant_id: str, now: datetime) -> InvitationList:
    stmt = (
        select(Invitation, User.username)
        .outerjoin(User, col(User.id) == col(Invitation.invited_by))
        .where(col(Invitation.tenant_id) == tenant_id, *_pending(now))
        .order_by(col(Invitation.created_at))
    )
    rows = (await session.execute(stmt)).all()
    return InvitationList(invitations=[_public(invitation, name) for invitation, name in rows])


async def revoke(*, session: AsyncSession, request: InvitationRef, now: datetime) -> None:
    """Another team's invitation answers like an unknown one."""
    ours = (col(Invitation.id) == request.invitation_id, col(Invitation.tenant_id) == request.tenant_id)
    stmt = update(Invitation).where(*ours, *_pending(now)).values(revoked_at=now)
    if (await session.execute(stmt, execution_options=_NO_SYNC)).rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("no such pending invitation in this team")
    await session.commit()


async def accept(
    *, session: AsyncSession, ctx: Context, request: AcceptInvitation, now: datetime
) -> tuple[TokenPair, MailRequested | None, Invitation]:
    """Join the team: a token pair acting for it, a welcome mail for a new account, and the
    invitation as accepted."""
    invitation = await _good(session, ctx, request.token, now)
    welcome = None
    if request.user_id is not None:
        user = await _signed_in_invitee(session, request.user_id, invitation)
    else:
        user = await _new_account(session, request, invitation, now)
        values = {"username": user.username, "team": await _team_name(session, invitation)}
        welcome = MailRequested(id=uuid.uuid4().hex, kind="welcome", to=user.email, values=values)
    invitation.accepted_by = user.id
    if not await _spend(session, invitation, user.id, now):
        raise NotFound(BAD_LINK)  # accepted a moment ago by another request
    user.email_verified_at = user.email_verified_at or now  # the link came to that inbox
    user.default_tenant_id = invitation.tenant_id
    session.add(user)
    await members.add_member(session=session, tenant_id=invitation.tenant_id, user_id=user.id, role=invitation.role,
                             now=now)  # fmt: skip
    found = await service.member_of(session, user_id=user.id, tenant_id=invitation.tenant_id)
    assert found is not None
    _, tenant, membership = found
    members.ensure_sign_in_allowed(tenant, request.via)  # joined all the same; they sign in with SSO
    pair = await service.issue_pair(session, ctx=ctx, user=user, tenant=tenant, membership=membership,
                                    family_id=uuid.uuid4().hex, now=now, via=request.via)  # fmt: skip
    return pair, welcome, invitation


async def _good(session: AsyncSession, ctx: Context, token: str, now: datetime) -> Invitation:
    invitation_id = row_of(ctx.secret, PURPOSE, token)
    invitation = await session.get(Invitation, invitation_id) if invitation_id else None
    if invitation is None or invitation.accepted_at or invitation.revoked_at or as_utc(invitation.expires_at) <= now:
        raise NotFound(BAD_LINK)
    return invitation


async def _signed_in_invitee(session: AsyncSession, user_id: str, invitation: Invitation) -> User:
    user = await session.get(User, user_id)
    if user is None or user.email != invitation.email:
        raise Forbidden(OTHER_ACCOUNT)
    return user


async def _new_account(session: AsyncSession, request: AcceptInvitation, invitation: Invitation, now: datetime) -> User:
    if request.username is None or request.password is None:
        raise Forbidden(NEW_ACCOUNT_FIELDS)
    username = request.username.lower()
    password_hash = await service.hash_new_password(request.password, hints=[username, invitation.email])
    if await service.account_taken(session, username=username, email=invitation.email):
        by_email = select(User.id).where(col(User.email) == invitation.email)
        raise Conflict(EMAIL_HAS_ACCOUNT if (await session.execute(by_email)).first() else service.ACCOUNT_TAKEN)
    user = User(id=uuid.uuid4().hex, default_tenant_id=invitation.tenant_id, username=username, email=invitation.email,
                password_hash=password_hash, created_at=now)  # fmt: skip
    session.add(user)
    await session.flush()
    return user


async def _spend(session: AsyncSession, invitation: Invitation, user_id: str, now: datetime) -> bool:
    """Single use, also against two accepts racing."""
    stmt = (
        update(Invitation)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
        .values(accepted_at=now, accepted_by=user_id)
    )
    return (await session.execute(stmt, execution_options=_NO_SYNC)).rowcount == 1  # type: ignore[attr-defined]


async def _team_name(session: AsyncSession, invitation: Invitation) -> str:
    team = await session.get(Tenant, invitation.tenant_id)
    return team.name if team else ""
