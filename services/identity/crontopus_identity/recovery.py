"""Mailed links that act on an account: password reset and email verification.

A reset is asked for by email address and answered the same whether an account has it or not
(the mail goes only where there is one); asking is throttled per address asked for and per client.
The link is good once, for an hour; using it sets the new password, ends every session of the
account (refresh tokens revoked, access tokens refused through ``AccessChanged``) and lifts a
sign-in lock. Verification links are good for two days."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_identity import service
from crontopus_identity.links import row_of
from crontopus_identity.models import Membership, RefreshToken, Tenant, User, UserToken
from crontopus_identity.service import Context
from crontopus_kit.errors import Conflict, Invalid, NotFound
from crontopus_kit.times import as_utc
from crontopus_schemas.identity import (
    AccessChanged,
    EmailChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    UserPublic,
)
from crontopus_schemas.mail import MailRequested

RESET, VERIFY = "password-reset", "verify-email"
TTLS = {RESET: timedelta(hours=1), VERIFY: timedelta(days=2)}
RESET_ACCEPTED = "if an account has this address, a mail with a link to choose a new password is on its way"
BAD_LINK = {
    RESET: "this password reset link is not valid any more: it was used or has expired; ask for a new one",
    VERIFY: "this verification link is not valid any more: it was used, has expired or is for an older address",
}
WRONG_PASSWORD = "password: not your current password"  # a 422 on the field: the session is fine
EMAIL_TAKEN = "this email address belongs to another account"
RESETS_PER_ADDRESS = 3  # mails per hour to one address: asking cannot flood an inbox
_NO_SYNC = {"synchronize_session": False}


async def _link(session: AsyncSession, user: User, purpose: str, now: datetime) -> UserToken:
    token = UserToken(id=uuid.uuid4().hex, user_id=user.id, purpose=purpose, email=user.email, created_at=now,
                      expires_at=now + TTLS[purpose])  # fmt: skip
    session.add(token)
    await session.commit()
    return token


async def verification_mail(*, session: AsyncSession, user_id: str, now: datetime) -> MailRequested | None:
    """The mail that confirms the account's address (None once it is confirmed)."""
    user = await session.get(User, user_id)
    if user is None or user.email_verified_at is not None:
        return None
    token = await _link(session, user, VERIFY, now)
    return MailRequested(id=token.id, kind=VERIFY, to=user.email, ref=token.id, values={"username": user.username})


async def request_reset(
    *, session: AsyncSession, ctx: Context, request: PasswordResetRequest, now: datetime
) -> MailRequested | None:
    """The mail to send, or None (no such account, or too many asked for it lately). Throttled
    per client like sign-ups, so asking cannot probe addresses fast."""
    settings = ctx.settings
    await service.count_attempt(
        session, key=f"reset-ip:{request.client_ip}", limit=settings.register_max_per_ip,
        window=settings.register_window, now=now, what="password resets from your address",
    )  # fmt: skip
    email = str(request.email).lower()
    user = (await session.execute(select(User).where(col(User.email) == email))).scalar_one_or_none()
    if user is None or not await service.under_limit(session, key=f"reset:{user.id}", limit=RESETS_PER_ADDRESS,
                                                     window=3600, now=now):  # fmt: skip
        return None
    token = await _link(session, user, RESET, now)
    return MailRequested(id=token.id, kind=RESET, to=user.email, ref=token.id, values={"username": user.username})


async def _spend(
    session: AsyncSession, ctx: Context, purpose: str, token: str, now: datetime
) -> tuple[UserToken, User]:
    token_id = row_of(ctx.secret, purpose, token)
    row = await session.get(UserToken, token_id) if token_id else None
    user = await session.get(User, row.user_id) if row else None
    if row is None or user is None or row.purpose != purpose or as_utc(row.expires_at) <= now:
        raise NotFound(BAD_LINK[purpose])
    if user.email != row.email:  # sent to an address the account no longer has
        raise NotFound(BAD_LINK[purpose])
    spent = update(UserToken).where(col(UserToken.id) == row.id, col(UserToken.used_at).is_(None)).values(used_at=now)
    if (await session.execute(spent, execution_options=_NO_SYNC)).rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(BAD_LINK[purpose])
    return row, user


async def reset_password(
    *, session: AsyncSession, ctx: Context, request: PasswordResetConfirm, now: datetime
) -> list[AccessChanged]:
    """Set the new password and end every session; the notices that void the access tokens."""
    _, user = await _spend(session, ctx, RESET, request.token, now)
    user.password_hash = await service.hash_new_password(request.password, hints=[user.username, user.email])
    user.email_verified_at = user.email_verified_at or now  # the link came to that inbox
    session.add(user)
    revoke = update(RefreshToken).where(col(RefreshToken.user_id) == user.id,
                                        col(RefreshToken.revoked_at).is_(None)).values(revoked_at=now)  # fmt: skip
    await session.execute(revoke, execution_options=_NO_SYNC)
    teams = (await session.execute(select(Membership.tenant_id).where(col(Membership.user_id) == user.id))).scalars()
    changes = [AccessChanged(tenant_id=team, user_id=user.id, at=now) for team in teams]
    await session.commit()
    await service.unlock_account(session=session, user_id=user.id)
    return changes


async def change_email(
    *, session: AsyncSession, request: EmailChange, now: datetime
) -> tuple[UserPublic, MailRequested | None]:
    """A new address, unconfirmed until the mailed link is followed (links sent to the old one stop
    working). The current password is asked: a stolen session alone cannot move the account."""
    found = await service.member_of(session, user_id=request.user_id, tenant_id=request.tenant_id)
    if found is None:
        raise NotFound("user not found")
    user, tenant, membership = found
    if not await service.password_matches(user, request.password):
        raise Invalid(WRONG_PASSWORD)
    email = str(request.email).lower()
    if email != user.email:
        if (await session.execute(select(User.id).where(col(User.email) == email))).first() is not None:
            raise Conflict(EMAIL_TAKEN)
        user.email, user.email_verified_at = email, None
        session.add(user)
        await session.commit()
    mail = await verification_mail(session=session, user_id=user.id, now=now)
    return service.user_public(user, tenant, membership), mail


async def verify_email(*, session: AsyncSession, ctx: Context, token: str, now: datetime) -> MailRequested:
    """Confirms the address; the welcome mail to send."""
    _, user = await _spend(session, ctx, VERIFY, token, now)
    user.email_verified_at = user.email_verified_at or now
    session.add(user)
    await session.commit()
    team = await session.get(Tenant, user.default_tenant_id)
    return MailRequested(id=f"welcome-{user.id}", kind="welcome", to=user.email,
                         values={"username": user.username, "team": team.name if team else ""})  # fmt: skip
