"""Identity domain logic: tenants and users, sign-in with throttling, rotating refresh
tokens, API keys. No broker imports; keyword-only arguments; ``now`` is injectable for tests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, func, or_, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_identity import devices
from crontopus_identity.members import SSO_REQUIRED, ensure_sign_in_allowed, sign_in_membership
from crontopus_identity.models import ApiKey, LoginThrottle, Membership, RefreshToken, Tenant, User
from crontopus_identity.passwords import ensure_hard_to_guess
from crontopus_identity.settings import IdentitySettings
from crontopus_identity.tokens import TokenIssuer
from crontopus_kit.crypto import keyed_hash
from crontopus_kit.errors import Conflict, Forbidden, NotFound, Throttled, Unauthorized
from crontopus_kit.times import as_utc
from crontopus_schemas.identity import (
    ApiKeyCreated,
    ApiKeyCreateRequest,
    ApiKeyList,
    ApiKeyPublic,
    ApiKeyRevoked,
    LoginRequest,
    LoginResult,
    RegisterRequest,
    SwitchTeamRequest,
    TokenPair,
    UserPublic,
)
from crontopus_schemas.rpc import Principal

# One message for unknown user and wrong password: no account enumeration through sign-in.
BAD_CREDENTIALS = "wrong username or password"
BAD_REFRESH = "invalid or expired refresh token; sign in again"
REUSED_REFRESH = "refresh token was already used; all sessions of this sign-in are revoked, sign in again"
BAD_API_KEY = "invalid or revoked API key"
LEFT_TEAM = "you are no longer a member of this team; sign in again"
NOT_A_MEMBER = "you are not a member of this team"
ACCOUNT_TAKEN = "this username or email address is already registered; sign in, or choose another"
REGISTERED_MEANWHILE = "this team name, username or email address was registered a moment ago; choose another"
# One message for a real and an unknown account, and for a right and a wrong password.
LOCKED_ACCOUNT = (
    "too many failed sign-ins for this account; try again in {retry} s "
    "(a browser or CLI that signed in to it before can still sign in)"
)
LOCKED_DEVICE = "too many failed sign-ins from this device; try again in {retry} s"
API_KEY_PREFIX = "ctp_"
# last_used_at is informational: writing it on every request would turn reads into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)

# Bulk UPDATEs here never need the ORM to patch loaded objects (and its in-Python evaluation
# would compare SQLite's naive datetimes with aware ones).
_NO_SYNC = {"synchronize_session": False}

_hasher = PasswordHasher()  # Argon2id with the RFC 9106 low-memory profile


@dataclass(frozen=True)
class Context:
    """What sign-in and refresh need besides the session."""

    settings: IdentitySettings
    issuer: TokenIssuer
    secret: bytes


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


REFRESH_TOKEN_PURPOSE = "identity refresh token"
API_KEY_PURPOSE = "identity api key"


def stored_hash(secret: bytes, purpose: str, value: str) -> str:
    """What is stored of a refresh token or an API key: an HMAC under a key of its own purpose
    (a leaked table cannot be checked against guesses offline, nor used for another purpose)."""
    return keyed_hash(secret, purpose, value)


def lookup_hashes(secret: bytes, purpose: str, value: str) -> tuple[str, str]:
    """The stored hash, and the one versions before 2026-12 stored (an HMAC under the server
    secret itself): both are looked up, so keys and sign-ins made before still work. An API key
    found by the old one is rewritten; refresh tokens are spent on use and replaced anyway."""
    return stored_hash(secret, purpose, value), hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


# --- tenants and users ----------------------------------------------------------


def user_public(user: User, tenant: Tenant, membership: Membership) -> UserPublic:
    return UserPublic(
        id=user.id, username=user.username, email=user.email, tenant_id=tenant.id,
        tenant=tenant.name, role=membership.role, created_at=as_utc(user.created_at),  # type: ignore[arg-type]
        email_verified=user.email_verified_at is not None,
    )  # fmt: skip


async def _ensure_free(session: AsyncSession, *, tenant: str, username: str, email: str) -> None:
    """One answer for a taken username and a taken email, so a sign-up cannot tell which exists.
    Both lookups always run (the same work whatever is taken), and a taken account is reported
    before a taken team name, whatever the other one is. What stays observable (rate-limited
    per address): that the team name exists, and that the username or the email does."""
    team = select(Tenant.id).where(Tenant.name == tenant)
    taken = await account_taken(session, username=username, email=email)
    team_taken = (await session.execute(team)).first() is not None
    if taken:
        raise Conflict(ACCOUNT_TAKEN)
    if team_taken:
        raise Conflict(f"tenant '{tenant}' already exists; choose another name")


async def register(
    *, session: AsyncSession, request: RegisterRequest, now: datetime | None = None,
    settings: IdentitySettings | None = None, client_ip: str | None = None,
) -> UserPublic:  # fmt: skip
    """A new tenant and its owner. Usernames and emails are case-insensitive (stored lowercase).
    With ``settings`` and ``client_ip``, sign-ups per address are throttled."""
    now = now or utcnow()
    if settings is not None and client_ip is not None:
        await _count_registration(session, settings=settings, ip=client_ip, now=now)
    username, email = request.username.lower(), str(request.email).lower()
    password_hash = await hash_new_password(request.password, hints=[username, email, request.tenant])
    await _ensure_free(session, tenant=request.tenant, username=username, email=email)
    if settings is not None:
        await ensure_room_for_a_team(session, settings)
    tenant = Tenant(id=new_id(), name=request.tenant, created_at=now)
    user = User(id=new_id(), default_tenant_id=tenant.id, username=username, email=email,
                password_hash=password_hash, created_at=now)  # fmt: skip
    membership = Membership(tenant_id=tenant.id, user_id=user.id, role="owner", created_at=now)
    session.add(tenant)
    await session.flush()
    session.add(user)
    await session.flush()
    session.add(membership)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()  # a concurrent registration won the race for one of the names
        raise Conflict(REGISTERED_MEANWHILE) from exc
    return user_public(user, tenant, membership)


def no_room_for_a_team(max_teams: int) -> str:
    teams = "one team" if max_teams == 1 else f"{max_teams} teams"
    return (
        f"this server hosts at most {teams} (CRONTOPUS_IDENTITY_MAX_TEAMS; `make run`'s local agent allows one): "
        "ask an owner of a team for an invitation"
    )


async def ensure_room_for_a_team(session: AsyncSession, settings: IdentitySettings) -> None:
    """Forbidden when the server already hosts ``settings.max_teams`` teams."""
    if settings.max_teams is None:
        return
    teams = int((await session.execute(select(func.count()).select_from(Tenant))).scalar_one())
    if teams >= settings.max_teams:
        raise Forbidden(no_room_for_a_team(settings.max_teams))


async def hash_new_password(password: str, *, hints: list[str]) -> str:
    """The stored hash of a new password, refused (422) when it is easy to guess."""
    await asyncio.to_thread(ensure_hard_to_guess, password, hints=[*hints, "crontopus"])
    return await asyncio.to_thread(_hasher.hash, password)


async def account_taken(session: AsyncSession, *, username: str, email: str) -> bool:
    stmt = select(User.id).where(or_(col(User.username) == username, col(User.email) == email)).limit(1)
    return (await session.execute(stmt)).first() is not None


async def member_of(session: AsyncSession, *, user_id: str, tenant_id: str) -> tuple[User, Tenant, Membership] | None:
    stmt = (
        select(User, Tenant, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .join(Tenant, col(Tenant.id) == col(Membership.tenant_id))
        .where(col(User.id) == user_id, col(Membership.tenant_id) == tenant_id)
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1], row[2]) if row else None


async def me(*, session: AsyncSession, tenant_id: str, user_id: str) -> UserPublic:
    found = await member_of(session, user_id=user_id, tenant_id=tenant_id)
    if found is None:
        raise NotFound("user not found")
    return user_public(*found)


# --- throttling -----------------------------------------------------------------


async def _bump(session: AsyncSession, *, key: str, window: int, now: datetime) -> tuple[int, datetime]:
    """Count one event in a fixed window, atomically (upsert), so concurrent instances agree."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    old = LoginThrottle.__table__.c  # type: ignore[attr-defined]
    expired = old.window_started_at <= now - timedelta(seconds=window)
    upsert = insert(LoginThrottle).values(key=key, count=1, window_started_at=now)
    stmt = upsert.on_conflict_do_update(
        index_elements=[old.key],
        set_={
            "count": case((expired, 1), else_=old.count + 1),
            "window_started_at": case((expired, now), else_=old.window_started_at),
            "locked_until": case((expired, None), else_=old.locked_until),
        },
    ).returning(old.count, old.window_started_at)
    count, started = (await session.execute(stmt)).one()
    await session.commit()
    return int(count), as_utc(started)


async def _count_ip_attempt(session: AsyncSession, *, settings: IdentitySettings, ip: str, now: datetime) -> None:
    count, started = await _bump(session, key=f"ip:{ip}", window=settings.ip_window, now=now)
    if count > settings.ip_max_attempts:
        retry = _seconds_until(started + timedelta(seconds=settings.ip_window), now)
        raise Throttled(f"too many sign-in attempts from your address; try again in {retry} s", retry_after=retry)


async def _count_registration(session: AsyncSession, *, settings: IdentitySettings, ip: str, now: datetime) -> None:
    await count_attempt(session, key=f"register-ip:{ip}", limit=settings.register_max_per_ip,
                        window=settings.register_window, now=now, what="sign-ups from your address")  # fmt: skip


async def count_attempt(session: AsyncSession, *, key: str, limit: int, window: int, now: datetime, what: str) -> None:
    """Count one; over ``limit`` within ``window`` seconds: 429 with Retry-After."""
    count, started = await _bump(session, key=key, window=window, now=now)
    if count > limit:
        retry = _seconds_until(started + timedelta(seconds=window), now)
        raise Throttled(f"too many {what}; try again in {retry} s", retry_after=retry)


async def under_limit(session: AsyncSession, *, key: str, limit: int, window: int, now: datetime) -> bool:
    """Count one; whether it is still within ``limit`` for ``window`` seconds."""
    count, _ = await _bump(session, key=key, window=window, now=now)
    return count <= limit


def _account_key(user_id: str) -> str:
    return f"user:{user_id}"


def _failure_key(ctx: Context, *, request: LoginRequest, user: User | None, name: str, now: datetime) -> str:
    """Whose failures this attempt counts towards, and whose lock it obeys: the client's own
    device token if it holds a valid one for this account; else the account itself, whichever of
    its username or email was typed; else (no such account) the typed name, so an unknown name
    locks and answers exactly like a real one."""
    if user is None:
        return f"name:{name}"
    ttl = ctx.settings.device_token_ttl
    device = devices.verify(secret=ctx.secret, token=request.device_token, user_id=user.id, ttl=ttl, now=now)
    return device.throttle_key if device else _account_key(user.id)


async def _refuse_if_locked(session: AsyncSession, *, key: str, now: datetime) -> None:
    """Refused before the password is looked at: the answer is the same whether it was right."""
    row = await session.get(LoginThrottle, key)
    if row is not None and row.locked_until is not None and as_utc(row.locked_until) > now:
        retry = _seconds_until(as_utc(row.locked_until), now)
        message = LOCKED_DEVICE if key.startswith("device:") else LOCKED_ACCOUNT
        raise Throttled(message.format(retry=retry), retry_after=retry)


async def _record_failure(session: AsyncSession, *, settings: IdentitySettings, key: str, now: datetime) -> None:
    window = settings.login_failure_window
    count, started = await _bump(session, key=key, window=window, now=now)
    if count >= settings.login_max_failures:
        locked_until = started + timedelta(seconds=window)
        stmt = update(LoginThrottle).where(LoginThrottle.key == key).values(locked_until=locked_until)  # type: ignore[arg-type]
        await session.execute(stmt, execution_options=_NO_SYNC)
        await session.commit()


async def _clear_throttle(session: AsyncSession, *, key: str) -> None:
    row = await session.get(LoginThrottle, key)
    if row is not None:
        await session.delete(row)
        await session.commit()


async def forget_spent_throttles(*, session: AsyncSession, settings: IdentitySettings, now: datetime) -> int:
    """Delete the counters whose window (and so whose lock) ended: past its window a counter is as
    good as absent (``_bump`` starts it again), and one for every name typed at the sign-in form
    and every address would otherwise pile up for good. How many went."""
    longest = max(settings.ip_window, settings.register_window, settings.login_failure_window, 3600)
    row = LoginThrottle.__table__.c  # type: ignore[attr-defined]
    # A lock ends with its window (locked_until = window start + window): no need to look at it.
    spent = sa_delete(LoginThrottle).where(row.window_started_at <= now - timedelta(seconds=longest))
    result = await session.execute(spent)
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


async def unlock_account(*, session: AsyncSession, user_id: str) -> None:
    """Lift the lock that repeated failures put on the account for unknown clients. For when the
    owner proved control of the account another way: the password-reset mail plugs in here."""
    await _clear_throttle(session, key=_account_key(user_id))


# --- sign-in and tokens ---------------------------------------------------------


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def password_matches(user: User | None, password: str) -> bool:
    # Unknown users still cost one Argon2 verification, so timing does not reveal who exists.
    stored = user.password_hash if user else await asyncio.to_thread(_dummy_hash)
    matches = await asyncio.to_thread(_verify_password, stored, password)
    return matches and user is not None


async def find_user(session: AsyncSession, name: str) -> User | None:
    """The account a sign-in names, by username or email (either case)."""
    name = name.strip().lower()
    stmt = select(User).where(or_(col(User.username) == name, col(User.email) == name))
    return (await session.execute(stmt)).scalar_one_or_none()


async def login(
    *, session: AsyncSession, ctx: Context, request: LoginRequest, now: datetime | None = None
) -> LoginResult:
    """Failures lock the account (or, for a client with a device token, that device); see devices.py."""
    now = now or utcnow()
    name = request.username.strip().lower()
    await _count_ip_attempt(session, settings=ctx.settings, ip=request.client_ip, now=now)
    user = await find_user(session, name)
    key = _failure_key(ctx, request=request, user=user, name=name, now=now)
    await _refuse_if_locked(session, key=key, now=now)
    if user is None or not await password_matches(user, request.password):
        await _record_failure(session, settings=ctx.settings, key=key, now=now)
        raise Unauthorized(BAD_CREDENTIALS)
    await _clear_throttle(session, key=key)
    await _rehash_if_needed(session, user=user, password=request.password)
    tenant, membership = await sign_in_membership(session, user=user, via="password")
    pair = await issue_pair(session, ctx=ctx, user=user, tenant=tenant, membership=membership,
                            family_id=new_id(), now=now, via="password")  # fmt: skip
    device_token = devices.issue(secret=ctx.secret, user_id=user.id, now=now)
    return LoginResult(**pair.model_dump(), device_token=device_token,
                       device_token_expires_in=ctx.settings.device_token_ttl)  # fmt: skip


async def _rehash_if_needed(session: AsyncSession, *, user: User, password: str) -> None:
    """Keep stored hashes at the current Argon2 parameters as they are raised over time."""
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(_hasher.hash, password)
        session.add(user)
        await session.commit()


async def issue_pair(
    session: AsyncSession, *, ctx: Context, user: User, tenant: Tenant, membership: Membership, family_id: str,
    now: datetime, via: str,
) -> TokenPair:  # fmt: skip
    """``via``: how the sign-in began (password, sso); its refreshes and team switches keep it."""
    refresh = secrets.token_urlsafe(32)
    session.add(RefreshToken(
        id=new_id(), user_id=user.id, tenant_id=tenant.id, family_id=family_id, via=via,
        token_hash=stored_hash(ctx.secret, REFRESH_TOKEN_PURPOSE, refresh), created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.refresh_token_ttl),
    ))  # fmt: skip
    await session.commit()
    claims = {"sub": user.id, "tid": tenant.id, "tenant": tenant.name, "username": user.username,
              "role": membership.role, "via": via}  # fmt: skip
    access = ctx.issuer.issue(claims=claims, now=now)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ctx.issuer.ttl_seconds,
                     refresh_expires_in=ctx.settings.refresh_token_ttl)  # fmt: skip


async def _find_refresh(session: AsyncSession, *, secret: bytes, token: str) -> RefreshToken | None:
    hashes = lookup_hashes(secret, REFRESH_TOKEN_PURPOSE, token)
    stmt = select(RefreshToken).where(col(RefreshToken.token_hash).in_(hashes))
    return (await session.execute(stmt)).scalar_one_or_none()


async def _revoke_family(session: AsyncSession, *, family_id: str, now: datetime) -> None:
    stmt = (
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(revoked_at=now)
    )
    await session.execute(stmt, execution_options=_NO_SYNC)
    await session.commit()


async def _claim(session: AsyncSession, *, token_id: str, now: datetime) -> bool:
    """Mark a refresh token used only if nobody did first: two racing refreshes cannot both win."""
    stmt = (
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(used_at=now)
    )
    return (await session.execute(stmt, execution_options=_NO_SYNC)).rowcount == 1  # type: ignore[attr-defined]


async def refresh(*, session: AsyncSession, ctx: Context, token: str, now: datetime | None = None) -> TokenPair:
    """Rotate: the presented token is spent and a new one in the same family is issued. A spent
    token presented again means it leaked (or a client misbehaves): revoke the whole family."""
    now = now or utcnow()
    stored = await _find_refresh(session, secret=ctx.secret, token=token)
    if stored is None or as_utc(stored.expires_at) <= now:
        raise Unauthorized(BAD_REFRESH)
    found = await member_of(session, user_id=stored.user_id, tenant_id=stored.tenant_id)
    if found is None:
        raise Unauthorized(LEFT_TEAM)
    if stored.used_at or stored.revoked_at or not await _claim(session, token_id=stored.id, now=now):
        await _revoke_family(session, family_id=stored.family_id, now=now)
        raise Unauthorized(REUSED_REFRESH)
    user, tenant, membership = found
    if tenant.sso_required and stored.via != "sso":
        await _revoke_family(session, family_id=stored.family_id, now=now)  # the team began requiring it
        raise Unauthorized(SSO_REQUIRED.format(team=tenant.name))
    return await issue_pair(session, ctx=ctx, user=user, tenant=tenant, membership=membership,
                            family_id=stored.family_id, now=now, via=stored.via)  # fmt: skip


async def switch_team(
    *, session: AsyncSession, ctx: Context, request: SwitchTeamRequest, now: datetime | None = None
) -> TokenPair:
    """A new sign-in (token pair) acting for another of the user's teams, which sign-ins open
    from now on. A team they are not in answers like an unknown one."""
    found = await member_of(session, user_id=request.user_id, tenant_id=request.team_id)
    if found is None:
        raise Forbidden(NOT_A_MEMBER)
    user, tenant, membership = found
    ensure_sign_in_allowed(tenant, request.via)
    user.default_tenant_id = tenant.id
    session.add(user)
    return await issue_pair(session, ctx=ctx, user=user, tenant=tenant, membership=membership,
                            family_id=new_id(), now=now or utcnow(), via=request.via)  # fmt: skip


async def logout(*, session: AsyncSession, secret: bytes, token: str, now: datetime | None = None) -> None:
    """Ends the sign-in the token belongs to. Unknown tokens are ignored: logging out is idempotent."""
    stored = await _find_refresh(session, secret=secret, token=token)
    if stored is not None:
        await _revoke_family(session, family_id=stored.family_id, now=now or utcnow())


# --- API keys -------------------------------------------------------------------


def api_key_public(key: ApiKey, creator: str | None) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=key.id, name=key.name, scope=key.scope, prefix=key.prefix, created_by=creator,  # type: ignore[arg-type]
        created_at=as_utc(key.created_at), last_used_at=as_utc(key.last_used_at) if key.last_used_at else None,
    )  # fmt: skip


async def create_api_key(
    *, session: AsyncSession, secret: bytes, request: ApiKeyCreateRequest, now: datetime | None = None
) -> ApiKeyCreated:
    plain = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id(), tenant_id=request.tenant_id, name=request.name, scope=request.scope, prefix=plain[:12],
        key_hash=stored_hash(secret, API_KEY_PURPOSE, plain), created_by=request.created_by, created_at=now or utcnow(),
    )  # fmt: skip
    session.add(key)
    await session.commit()
    creator = await session.get(User, request.created_by)
    return ApiKeyCreated(**api_key_public(key, creator.username if creator else None).model_dump(), key=plain)


async def list_api_keys(*, session: AsyncSession, tenant_id: str) -> ApiKeyList:
    stmt = (
        select(ApiKey, User.username)
        .outerjoin(User, col(User.id) == col(ApiKey.created_by))
        .where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .order_by(ApiKey.created_at, ApiKey.id)  # type: ignore[arg-type]
    )
    return ApiKeyList(api_keys=[api_key_public(key, name) for key, name in (await session.execute(stmt)).all()])


async def revoke_api_key(
    *, session: AsyncSession, tenant_id: str, key_id: str, now: datetime | None = None
) -> ApiKeyRevoked:
    """Another tenant's key answers exactly like an unknown one: its existence is not revealed."""
    stmt = (
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(revoked_at=now or utcnow())
    )
    revoked = (await session.execute(stmt, execution_options=_NO_SYNC)).rowcount  # type: ignore[attr-defined]
    await session.commit()
    if revoked != 1:
        raise NotFound(f"API key {key_id} not found")
    return ApiKeyRevoked(key_id=key_id, tenant_id=tenant_id)


async def verify_api_key(*, session: AsyncSession, secret: bytes, key: str, now: datetime | None = None) -> Principal:
    now = now or utcnow()
    if not key.startswith(API_KEY_PREFIX):
        raise Unauthorized(BAD_API_KEY)
    hashes = lookup_hashes(secret, API_KEY_PURPOSE, key)
    stmt = (
        select(ApiKey, Tenant.name)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)  # type: ignore[arg-type]
        .where(col(ApiKey.key_hash).in_(hashes), col(ApiKey.revoked_at).is_(None))
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        raise Unauthorized(BAD_API_KEY)
    api_key, tenant_name = row
    if api_key.key_hash != hashes[0]:
        await _rehash(session, key_id=api_key.id, key_hash=hashes[0])
    await _touch(session, key_id=api_key.id, now=now)
    return Principal(kind="api_key", tenant_id=api_key.tenant_id, subject_id=api_key.id,
                     scope=api_key.scope, tenant=tenant_name)  # type: ignore[arg-type]  # fmt: skip


async def _rehash(session: AsyncSession, *, key_id: str, key_hash: str) -> None:
    """A key made before hashes had a purpose: stored from now on as keys made today are."""
    await session.execute(update(ApiKey).where(col(ApiKey.id) == key_id).values(key_hash=key_hash))
    await session.commit()


async def _touch(session: AsyncSession, *, key_id: str, now: datetime) -> None:
    stale = now - LAST_USED_RESOLUTION
    stmt = (
        update(ApiKey)
        .where(ApiKey.id == key_id, or_(col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) < stale))  # type: ignore[arg-type]
        .values(last_used_at=now)
    )
    if (await session.execute(stmt, execution_options=_NO_SYNC)).rowcount:  # type: ignore[attr-defined]
        await session.commit()
