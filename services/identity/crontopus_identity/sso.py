"""Signing in with a single sign-on provider (the gateway verified the provider's ID token).

- An identity linked before signs in as its user.
- Else it is linked to the account with the same email only when both sides confirmed that
  address: the provider (``email_verified``) and Crontopus (the account's own confirmation). An
  unconfirmed account with that address could be someone else's squatting it, waiting for the
  real owner to link it (account pre-hijacking).
- Else, with a confirmed email and no account having it, a new account is made with a team of
  its own (as signing up does), named after the email's local part.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_identity import service
from crontopus_identity.members import sign_in_membership
from crontopus_identity.models import ExternalIdentity, Membership, Tenant, User
from crontopus_identity.service import Context
from crontopus_identity.settings import IdentitySettings
from crontopus_kit.errors import Conflict, Forbidden
from crontopus_schemas.identity import SsoSignIn, TokenPair, UserPublic

NO_VERIFIED_EMAIL = "your identity provider did not confirm an email address for you; Crontopus needs one"
UNCONFIRMED_ACCOUNT = (
    "an account with this email address exists but has not confirmed it: sign in with its password and "
    "confirm the address (the mail sent at sign-up), then sign in with single sign-on to link them"
)
NO_PASSWORD = "!sso"  # not an Argon2 hash: no password ever matches it


async def sign_in(
    *, session: AsyncSession, ctx: Context, request: SsoSignIn, now: datetime
) -> tuple[TokenPair, User, UserPublic | None]:
    """A token pair, the user, and the new account when one was made (its team is to be announced)."""
    linked = await session.get(ExternalIdentity, (request.provider, request.subject))
    created = None
    if linked is not None:
        user = await session.get(User, linked.user_id)
    else:
        user, created = await _link_or_create(session, ctx.settings, request, now)
    assert user is not None
    tenant, membership = await sign_in_membership(session, user=user, via="sso")
    pair = await service.issue_pair(session, ctx=ctx, user=user, tenant=tenant, membership=membership,
                                    family_id=uuid.uuid4().hex, now=now, via="sso")  # fmt: skip
    return pair, user, created


async def _link_or_create(
    session: AsyncSession, settings: IdentitySettings, request: SsoSignIn, now: datetime
) -> tuple[User, UserPublic | None]:
    if not request.email or not request.email_verified:
        raise Forbidden(NO_VERIFIED_EMAIL)
    email = request.email.lower()
    user = (await session.execute(select(User).where(col(User.email) == email))).scalar_one_or_none()
    created = None
    if user is None:
        await service.ensure_room_for_a_team(session, settings)
        user, created = await _new_account(session, email, now)
    elif user.email_verified_at is None:
        raise Conflict(UNCONFIRMED_ACCOUNT)
    session.add(ExternalIdentity(provider=request.provider, subject=request.subject, user_id=user.id, created_at=now))
    await session.commit()
    return user, created


async def _new_account(session: AsyncSession, email: str, now: datetime) -> tuple[User, UserPublic]:
    base = re.sub(r"[^a-z0-9-]+", "-", email.partition("@")[0]).strip("-")[:40] or "user"
    name = await _free_name(session, base)
    tenant = Tenant(id=uuid.uuid4().hex, name=name, created_at=now)
    user = User(id=uuid.uuid4().hex, default_tenant_id=tenant.id, username=name, email=email,
                password_hash=NO_PASSWORD, created_at=now, email_verified_at=now)  # fmt: skip
    membership = Membership(tenant_id=tenant.id, user_id=user.id, role="owner", created_at=now)
    session.add(tenant)
    await session.flush()
    session.add(user)
    await session.flush()
    session.add(membership)
    await session.flush()
    return user, service.user_public(user, tenant, membership)


async def _free_name(session: AsyncSession, base: str) -> str:
    """A username and team name nobody has: ``base``, else ``base-2``, ``base-3``..."""
    for number in range(1, 1000):
        name = base if number == 1 else f"{base}-{number}"
        taken_user = (await session.execute(select(User.id).where(col(User.username) == name))).first()
        taken_team = (await session.execute(select(Tenant.id).where(col(Tenant.name) == name))).first()
        if not taken_user and not taken_team:
            return name
    return f"{base}-{uuid.uuid4().hex[:8]}"
