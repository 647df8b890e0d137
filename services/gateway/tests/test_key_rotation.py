"""Rotating the access tokens' signing key with `crontopus-server rotate-signing-key` against a
running stack: new tokens carry the new key, old ones keep working until the old key is retired,
and `--retire-others` makes them fail everywhere (the gateway refreshes the published keys)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from faststream.nats import NatsBroker
from joserfc import jws

from crontopus_identity.settings import IdentitySettings
from crontopus_identity.tokens import TokenIssuer, active_keys, rotate_signing_key
from crontopus_identity.unit import IdentityUnit
from crontopus_server.testing import sign_up, wait_until

PASSWORD = "correct horse battery"


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # the key store's queries are plain; the stack test is about the flow


@pytest.fixture
def stack_env(stack_env: dict[str, Any]) -> dict[str, Any]:
    return {**stack_env, "CRONTOPUS_IDENTITY_KEY_RELOAD_INTERVAL": "0.2", "CRONTOPUS_GATEWAY_JWKS_MAX_AGE": "0.5"}


def kid_of(token: str) -> str:
    return str(jws.extract_compact(token.encode()).headers()["kid"])


def rotate(*flags: str) -> str:
    command = [sys.executable, "-m", "crontopus_server.cli", "rotate-signing-key", *flags]
    done = subprocess.run(command, env=os.environ, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def fresh_token(api: httpx.Client) -> str:
    response = api.post("/api/auth/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def token_signed_with_a_new_key(api: httpx.Client, *old_tokens: str) -> str | None:
    token = fresh_token(api)
    return token if kid_of(token) not in {kid_of(old) for old in old_tokens} else None


def me(api: httpx.Client, token: str) -> int:
    return api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_rotated_key_signs_new_tokens_while_old_ones_work_until_the_old_key_is_retired(api: httpx.Client) -> None:
    first = sign_up(api, "alice", PASSWORD).access_token
    assert "new signing key" in rotate()
    second = wait_until(lambda: token_signed_with_a_new_key(api, first), timeout=10, interval=0.5)
    assert me(api, first) == 200 and me(api, second) == 200  # the old key is still published

    assert "retired" in rotate("--retire-others")
    wait_until(lambda: me(api, second) == 401, timeout=10, interval=0.2)
    assert me(api, first) == 401
    third = wait_until(lambda: token_signed_with_a_new_key(api, first, second), timeout=10, interval=0.5)
    assert me(api, third) == 200


async def test_replaced_keys_are_retired_once_every_token_they_signed_has_expired(settings_factory) -> None:
    unit = IdentityUnit(settings_factory(IdentitySettings), broker=NatsBroker())
    await unit.prepare()
    try:
        issuer = TokenIssuer(issuer="crontopus", ttl_seconds=900, secret=unit.settings.secret_bytes())
        async with unit.db.session() as session:
            [old] = await active_keys(session=session)
            new = await rotate_signing_key(session=session, secret=unit.settings.secret_bytes())
            await issuer.load(session=session, now=datetime.now(UTC) + timedelta(seconds=900))  # within TTL + 60 s
            assert {key["kid"] for key in issuer.jwks().keys} == {old.kid, new.kid}
            await issuer.load(session=session, now=datetime.now(UTC) + timedelta(seconds=961))
            assert [key["kid"] for key in issuer.jwks().keys] == [new.kid]
            assert [key.kid for key in await active_keys(session=session)] == [new.kid]
    finally:
        await unit.close()
