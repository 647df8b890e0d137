"""Verified access tokens are remembered, never past their expiry or the key set that verified them."""

import time

import pytest
from faststream.nats import NatsBroker
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from crontopus_gateway import security
from crontopus_gateway.security import Authenticator
from crontopus_gateway.settings import GatewaySettings
from crontopus_kit.errors import Unauthorized
from crontopus_schemas.identity import TOKEN_ALGORITHM, JwksReply

ISSUER, AUDIENCE = "crontopus-test", "crontopus-api"


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # no database is used


@pytest.fixture
def key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": "k1"})


@pytest.fixture
def authenticator(settings_factory, key: OKPKey) -> Authenticator:
    auth = Authenticator(broker=NatsBroker(), settings=settings_factory(GatewaySettings))
    publish(auth, key)
    return auth


def publish(auth: Authenticator, key: OKPKey) -> None:
    """What a JWKS fetch from identity leaves behind (no broker here)."""
    public = key.as_dict(private=False)
    auth._jwks = JwksReply(issuer=ISSUER, audience=AUDIENCE, keys=[public])
    auth._keyset = KeySet.import_key_set({"keys": [public]})
    auth._jwks_fetched_at = time.monotonic()


def token(key: OKPKey, *, lifetime: int) -> str:
    now = int(time.time())
    claims = {
        "sub": "u1",
        "tid": "t1",
        "role": "member",
        "iat": now,
        "exp": now + lifetime,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode({"alg": TOKEN_ALGORITHM, "kid": key.kid}, claims, key, algorithms=[TOKEN_ALGORITHM])


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    decode = jwt.decode

    def counting(value, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(value)
        return decode(value, *args, **kwargs)

    monkeypatch.setattr(security.jwt, "decode", counting)
    return seen


async def test_a_token_is_verified_once_then_remembered(authenticator, key, verifications) -> None:
    access = token(key, lifetime=900)
    for _ in range(3):
        assert (await authenticator.authenticate(access)).tenant_id == "t1"
    assert len(verifications) == 1


async def test_a_remembered_token_is_refused_once_it_has_expired(
    authenticator, key, verifications, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = token(key, lifetime=60)
    await authenticator.authenticate(access)
    later = time.time() + 60 + 31  # past exp and the 30 s leeway for clock differences
    monkeypatch.setattr(security.time, "time", lambda: later)
    with pytest.raises(Unauthorized):
        await authenticator.authenticate(access)
    assert len(verifications) == 2


async def test_a_new_key_set_verifies_remembered_tokens_again(authenticator, key, verifications) -> None:
    access = token(key, lifetime=900)
    await authenticator.authenticate(access)
    publish(authenticator, OKPKey.generate_key("Ed25519", parameters={"kid": "k2"}))  # k1 retired
    with pytest.raises(Unauthorized):
        await authenticator.authenticate(access)
    assert len(verifications) == 2  # checked again, against keys without its own
