"""Turns a credential (access token or API key) into a Principal.

Access tokens are verified locally against the identity service's published keys (fetched over
NATS once, refetched when a token names an unknown key); a verified token is remembered by its
hash until it expires or the keys are fetched again. API keys are verified by the identity
service and cached briefly; identity's revocation broadcast drops a revoked key at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from faststream.nats import NatsBroker, NatsRouter
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from crontopus_gateway.access import AccessChanges
from crontopus_gateway.settings import GatewaySettings
from crontopus_kit.broker import rpc_call
from crontopus_kit.errors import Unauthorized
from crontopus_schemas import subjects
from crontopus_schemas.identity import (
    ROLES,
    TOKEN_ALGORITHM,
    ApiKeyRevoked,
    ApiKeyVerifyRequest,
    JwksReply,
    JwksRequest,
)
from crontopus_schemas.rpc import Principal
from crontopus_schemas.subjects import IdentityRpc

API_KEY_PREFIX = "ctp_"
# Only the algorithm identity signs with: "none", HS256-with-the-public-key and friends fail.
ALLOWED_ALGORITHMS = [TOKEN_ALGORITHM]
INVALID_TOKEN = "invalid or expired token"
JWKS_REFETCH_INTERVAL = 30.0  # bounds how often garbage kids can make us ask identity
REQUIRED_CLAIMS = ("sub", "tid", "exp", "iat", "role")
ACCESS_CHANGED = "your role in this team changed, or you left it; refresh the token or sign in again"
MAX_VERIFIED_TOKENS = 10_000


@dataclass(frozen=True)
class VerifiedToken:
    principal: Principal
    expires_at: float  # the token's exp, epoch seconds
    keyset: KeySet  # what verified it: a refetched key set (a key retired) verifies it again


class Authenticator:
    def __init__(self, *, broker: NatsBroker, settings: GatewaySettings) -> None:
        self.broker = broker
        self.settings = settings
        self.router = NatsRouter()
        self._jwks: JwksReply | None = None
        self._keyset: KeySet | None = None
        self._jwks_fetched_at = float("-inf")
        self._jwks_lock = asyncio.Lock()
        self._api_keys: dict[str, tuple[Principal, float]] = {}
        self._api_keys_asked: dict[str, asyncio.Future[Principal]] = {}
        # By hash, so the process holds no usable tokens: the signature check and the claims
        # cost ~0.4 ms, more than the rest of authenticating a request.
        self._tokens: dict[bytes, VerifiedToken] = {}
        self._recently_revoked: dict[str, float] = {}
        self.access_changes = AccessChanges(broker)
        self._subscribe_to_revocations()

    async def authenticate(self, credential: str) -> Principal:
        if credential.startswith(API_KEY_PREFIX):
            return await self._api_key_principal(credential)
        return await self._token_principal(credential)

    # --- API keys -------------------------------------------------------------

    def _subscribe_to_revocations(self) -> None:
        # No queue group: every gateway instance must hear every revocation.
        @self.router.subscriber(subjects.API_KEY_REVOKED)
        async def api_key_revoked(notice: ApiKeyRevoked) -> None:
            self.forget_api_key(notice.key_id)

    def forget_api_key(self, key_id: str) -> None:
        """Drop cached verdicts for a key, and refuse to cache it while an older verify may be in flight."""
        now = time.monotonic()
        self._recently_revoked[key_id] = now
        self._recently_revoked = {k: t for k, t in self._recently_revoked.items() if now - t < self._cache_seconds}
        self._api_keys = {h: entry for h, entry in self._api_keys.items() if entry[0].subject_id != key_id}
        # A request from now on asks identity afresh instead of joining a question asked before.
        self._api_keys_asked.clear()

    @property
    def _cache_seconds(self) -> float:
        return self.settings.api_key_cache_seconds

    async def _api_key_principal(self, key: str) -> Principal:
        # Cached under a hash, so the process holds no usable keys in memory.
        cache_key = hashlib.sha256(key.encode()).hexdigest()
        cached = self._api_keys.get(cache_key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        # One question to identity per key at a time: when a busy key's verdict expires, the
        # requests that arrive meanwhile (fifty hosts sharing a key) wait for the same answer.
        asked = self._api_keys_asked.get(cache_key)
        if asked is None:
            asked = asyncio.ensure_future(self._verify_api_key(key, cache_key))
            self._api_keys_asked[cache_key] = asked
            asked.add_done_callback(lambda done: self._answered(cache_key, done))
        return await asyncio.shield(asked)  # a caller that gives up does not cancel the others' answer

    def _answered(self, cache_key: str, done: asyncio.Future[Principal]) -> None:
        if self._api_keys_asked.get(cache_key) is done:
            del self._api_keys_asked[cache_key]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone, leaving a refusal unread

    async def _verify_api_key(self, key: str, cache_key: str) -> Principal:
        asked_at = time.monotonic()
        principal = await rpc_call(
            self.broker, IdentityRpc.API_KEY_VERIFY, ApiKeyVerifyRequest(key=key), Principal,
            timeout=self.settings.rpc_timeout,
        )  # fmt: skip
        if self._cache_seconds > 0 and principal.subject_id not in self._recently_revoked:
            self._api_keys[cache_key] = (principal, asked_at + self._cache_seconds)
        return principal

    # --- access tokens --------------------------------------------------------

    async def _token_principal(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        verified = self._tokens.get(digest)
        if verified is None or not self._still_good(verified):
            verified = await self._verify_token(token)
            self._remember(digest, verified)
        if self.access_changes.outdates(verified.principal):
            raise Unauthorized(ACCESS_CHANGED)
        return verified.principal

    def _still_good(self, verified: VerifiedToken) -> bool:
        keys_fresh = time.monotonic() - self._jwks_fetched_at < self.settings.jwks_max_age
        return verified.keyset is self._keyset and keys_fresh and time.time() < verified.expires_at

    def _remember(self, digest: bytes, verified: VerifiedToken) -> None:
        if len(self._tokens) >= MAX_VERIFIED_TOKENS:
            now = time.time()
            self._tokens = {key: entry for key, entry in self._tokens.items() if entry.expires_at > now}
            if len(self._tokens) >= MAX_VERIFIED_TOKENS:
                self._tokens.clear()
        self._tokens[digest] = verified

    async def _verify_token(self, token: str) -> VerifiedToken:
        try:
            kid = jws.extract_compact(token.encode()).headers().get("kid")
        except (JoseError, ValueError, TypeError) as exc:
            raise Unauthorized(INVALID_TOKEN) from exc
        jwks, keyset = await self._keys_for(kid)
        try:
            claims = jwt.decode(token, keyset, algorithms=ALLOWED_ALGORITHMS).claims
            _claims_registry(jwks).validate(claims)
            if claims["role"] not in ROLES:
                raise ValueError("unknown role")
        except (JoseError, ValueError, TypeError) as exc:
            raise Unauthorized(INVALID_TOKEN) from exc
        principal = Principal(
            kind="user", tenant_id=str(claims["tid"]), subject_id=str(claims["sub"]), role=claims["role"],
            tenant=claims.get("tenant"), username=claims.get("username"), issued_at=float(claims["iat"]),
            via=str(claims.get("via", "password")),
        )  # fmt: skip
        return VerifiedToken(principal, float(claims["exp"]), keyset)

    async def _keys_for(self, kid: Any) -> tuple[JwksReply, KeySet]:
        async with self._jwks_lock:
            unknown = self._keyset is None or not any(key.get("kid") == kid for key in self._jwks.keys)  # type: ignore[union-attr]
            age = time.monotonic() - self._jwks_fetched_at
            # A new kid (a rotated key) is fetched at once; a retired key is dropped by the max age.
            if (unknown and age >= JWKS_REFETCH_INTERVAL) or age >= self.settings.jwks_max_age:
                await self._fetch_jwks()
            if self._jwks is None or self._keyset is None:
                raise Unauthorized(INVALID_TOKEN)
            return self._jwks, self._keyset

    async def _fetch_jwks(self) -> None:
        reply = await rpc_call(
            self.broker, IdentityRpc.JWKS, JwksRequest(), JwksReply, timeout=self.settings.rpc_timeout
        )
        self._jwks = reply
        self._keyset = KeySet.import_key_set({"keys": reply.keys})  # type: ignore[typeddict-item]
        self._jwks_fetched_at = time.monotonic()


def _claims_registry(jwks: JwksReply) -> jwt.JWTClaimsRegistry:
    essential = {name: {"essential": True} for name in REQUIRED_CLAIMS}
    return jwt.JWTClaimsRegistry(
        leeway=30,  # small clock differences between identity and gateway hosts
        iss={"essential": True, "value": jwks.issuer},
        aud={"essential": True, "value": jwks.audience},
        **essential,  # type: ignore[arg-type]
    )
