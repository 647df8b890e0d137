"""Access tokens: Ed25519-signed JWTs. The private key is generated on first start and
kept in ``signing_keys``, encrypted with a key derived from the server secret, so a copy of the
database alone cannot mint tokens. Other parts verify locally with the published public keys.

Rotation (`crontopus-server rotate-signing-key`): a new key is added and, once identity
instances reload (``TokenIssuer.load``, every CRONTOPUS_IDENTITY_KEY_RELOAD_INTERVAL), signs
every new token. The keys it replaced stay published until the tokens they signed have expired
(access token TTL + a minute), then ``load`` retires them. ``--retire-others`` retires them at
once, for a key that may have leaked: tokens they signed stop working as gateways refresh the
published keys (CRONTOPUS_GATEWAY_JWKS_MAX_AGE)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_identity.models import SigningKey
from crontopus_kit.settings import SettingsError
from crontopus_kit.times import as_utc
from crontopus_schemas.identity import TOKEN_ALGORITHM, TOKEN_AUDIENCE, JwksReply

AUDIENCE = TOKEN_AUDIENCE
ALGORITHM = TOKEN_ALGORITHM
SUPERSEDED_GRACE_SECONDS = 60  # clock skew and tokens issued just before a reload


def key_password(secret: bytes) -> bytes:
    """A purpose-bound derivation, so the raw server secret is never used for two things."""
    return hmac.new(secret, b"crontopus-identity-signing-key", hashlib.sha256).hexdigest().encode()


def generate_signing_key(*, secret: bytes, now: datetime) -> SigningKey:
    kid = uuid.uuid4().hex
    key = OKPKey.generate_key("Ed25519", parameters={"kid": kid}, private=True)
    pem = key.as_pem(private=True, password=key_password(secret).decode()).decode()
    return SigningKey(kid=kid, private_pem=pem, created_at=now, active=True)


class SecretMismatch(SettingsError):
    """The database's signing keys do not open with this secret: it is not the one they were
    encrypted with. Nothing signed or hashed with the other secret would verify either."""


def import_signing_key(row: SigningKey, *, secret: bytes) -> OKPKey:
    params: Any = {"kid": row.kid, "alg": ALGORITHM, "use": "sig"}
    try:
        return OKPKey.import_key(row.private_pem, parameters=params, password=key_password(secret))
    except ValueError as exc:  # cryptography: "Incorrect password, could not decrypt key"
        raise SecretMismatch(
            "the server secret (CRONTOPUS_SECRET_KEY or CRONTOPUS_SECRET_KEY_FILE) does not match the one this "
            f"identity database's signing keys were encrypted with (key {row.kid}): start every process with the "
            "secret this database was made with (from your backup); it cannot be changed for an existing database"
        ) from exc


async def ensure_signing_key(*, session: AsyncSession, secret: bytes) -> None:
    """Create the first key; a sibling instance racing us is harmless (both keys are published)."""
    if (await session.execute(select(SigningKey.kid).where(col(SigningKey.active).is_(True)).limit(1))).first():
        return
    session.add(generate_signing_key(secret=secret, now=datetime.now(UTC)))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()


async def rotate_signing_key(
    *, session: AsyncSession, secret: bytes, retire_others: bool = False, now: datetime | None = None
) -> SigningKey:
    """Add a key that signs from the next reload on; with ``retire_others``, unpublish every
    other key now."""
    key = generate_signing_key(secret=secret, now=now or datetime.now(UTC))
    if retire_others:
        await session.execute(
            update(SigningKey).where(col(SigningKey.active).is_(True)).values(active=False),
            execution_options={"synchronize_session": False},
        )
    session.add(key)
    await session.commit()
    return key


async def retire_superseded(*, session: AsyncSession, grace: timedelta, now: datetime) -> list[str]:
    """Retire the keys that a newer key replaced more than ``grace`` ago (every token they
    signed has expired by then). Returns their kids."""
    keys = await active_keys(session=session)
    if len(keys) < 2 or as_utc(keys[0].created_at) > now - grace:
        return []
    retired = [key.kid for key in keys[1:]]
    stmt = update(SigningKey).where(col(SigningKey.kid).in_(retired)).values(active=False)
    await session.execute(stmt, execution_options={"synchronize_session": False})
    await session.commit()
    return retired


async def active_keys(*, session: AsyncSession) -> list[SigningKey]:
    stmt = select(SigningKey).where(col(SigningKey.active).is_(True)).order_by(col(SigningKey.created_at).desc())
    return list((await session.execute(stmt)).scalars())


class TokenIssuer:
    """Signs access tokens with the newest active key; publishes every active public key."""

    def __init__(self, *, issuer: str, ttl_seconds: int, secret: bytes) -> None:
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds
        self._secret = secret
        self._signing: OKPKey | None = None
        self._public: list[dict[str, str]] = []

    async def load(self, *, session: AsyncSession, now: datetime | None = None) -> None:
        """(Re)read the keys: the newest signs, every active one is published; keys replaced
        longer ago than any token lives are retired first."""
        await ensure_signing_key(session=session, secret=self._secret)
        grace = timedelta(seconds=self.ttl_seconds + SUPERSEDED_GRACE_SECONDS)
        await retire_superseded(session=session, grace=grace, now=now or datetime.now(UTC))
        keys = [import_signing_key(row, secret=self._secret) for row in await active_keys(session=session)]
        self._signing = keys[0]
        self._public = [{str(k): str(v) for k, v in key.as_dict(private=False).items()} for key in keys]

    def issue(self, *, claims: dict[str, Any], now: datetime) -> str:
        if self._signing is None:
            raise RuntimeError("TokenIssuer.load() was not called")
        # iat to the millisecond (a NumericDate may be fractional, RFC 7519 2): gateways refuse a
        # member's tokens issued before a change of their access, and one refreshed in the same
        # second after it must not count as before.
        iat = round(now.timestamp(), 3)
        payload = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "iat": iat,
            "exp": int(iat) + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        header = {"alg": ALGORITHM, "kid": self._signing.kid, "typ": "JWT"}
        return jwt.encode(header, payload, self._signing, algorithms=[ALGORITHM])

    def expires_at(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.ttl_seconds)

    def jwks(self) -> JwksReply:
        return JwksReply(issuer=self.issuer, audience=AUDIENCE, keys=self._public)
