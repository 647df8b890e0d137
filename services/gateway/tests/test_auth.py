"""Sign-up, sign-in and token checks over HTTP against the real stack (NATS + all-in-one app)."""

import asyncio
import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey
from sqlalchemy import select

from crontopus_identity.models import SigningKey
from crontopus_identity.settings import IdentitySettings
from crontopus_identity.tokens import import_signing_key
from crontopus_kit.db import Database
from crontopus_server.testing import start_stack

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def small_limits(monkeypatch):
    monkeypatch.setenv("CRONTOPUS_IDENTITY_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("CRONTOPUS_IDENTITY_IP_MAX_ATTEMPTS", "12")
    monkeypatch.setenv("CRONTOPUS_IDENTITY_REGISTER_MAX_PER_IP", "5")


def register(client, name: str, tenant: str | None = None, password: str = PASSWORD):
    body = {"username": name, "email": f"{name}@example.com", "password": password, "tenant": tenant or f"team-{name}"}
    return client.post("/api/auth/register", json=body)


def login(client, name: str, password: str = PASSWORD):
    return client.post("/api/auth/login", data={"username": name, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_in(client, name: str) -> dict:
    assert register(client, name).status_code == 201
    response = login(client, name)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_user_registers_signs_in_and_sees_themselves(stack):
    with stack.client() as client:
        created = register(client, "alice")
        assert created.status_code == 201
        assert (created.json()["tenant"], created.json()["role"]) == ("team-alice", "owner")
        tokens = login(client, "alice").json()
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
        me = client.get("/api/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json() == created.json()


def test_a_short_or_common_password_is_refused_with_a_reason_on_the_password_field(stack):
    with stack.client() as client:
        short = register(client, "alice", password="Zq8#vLm2!xP")
        common = register(client, "alice", password="password1234")
        created = register(client, "alice", password="plum vinegar orbit")
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "password"]
    assert "at least 12 characters" in short.json()["detail"][0]["msg"]
    assert common.status_code == 422, common.text
    (reason,) = common.json()["detail"]
    assert reason["loc"] == ["body", "password"]
    assert reason["msg"].startswith("too easy to guess: This is a very common")
    assert created.status_code == 201  # nothing was kept of the refused attempts


def test_registering_a_taken_tenant_name_is_a_conflict(stack):
    with stack.client() as client:
        register(client, "alice", tenant="acme")
        response = register(client, "bob", tenant="acme")
    assert response.status_code == 409
    assert "tenant 'acme' already exists" in response.json()["detail"]


def test_a_taken_username_or_email_is_one_409_that_names_neither(stack):
    with stack.client() as client:
        register(client, "alice")
        taken_name = client.post(
            "/api/auth/register",
            json={"username": "alice", "email": "new@example.com", "password": PASSWORD, "tenant": "new-team"},
        )
        taken_email = client.post(
            "/api/auth/register",
            json={"username": "newcomer", "email": "alice@example.com", "password": PASSWORD, "tenant": "team-alice"},
        )
    assert taken_name.status_code == taken_email.status_code == 409
    assert (
        taken_name.json()
        == taken_email.json()
        == {"detail": "this username or email address is already registered; sign in, or choose another"}
    )


def test_an_invalid_registration_is_422(stack):
    with stack.client() as client:
        response = client.post("/api/auth/register", json={"username": "alice", "email": "nope", "password": "x"})
    assert response.status_code == 422


def test_a_wrong_password_and_an_unknown_user_are_the_same_401(stack):
    with stack.client() as client:
        register(client, "alice")
        wrong, unknown = login(client, "alice", "not the password"), login(client, "nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong username or password"}


def test_repeated_failures_lock_the_account_with_429_and_retry_after(stack):
    with stack.client() as client:
        register(client, "alice")
        assert [login(client, "alice", "wrong password").status_code for _ in range(3)] == [401] * 3
        locked = login(client, "alice")
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 900


def test_a_sign_in_sets_a_private_device_cookie_for_the_auth_paths_only(stack):
    with stack.client() as client:
        register(client, "alice")
        response = login(client, "alice")
    body = response.json()
    assert {"access_token", "token_type", "refresh_token", "expires_in"} <= body.keys()
    name_value, *attributes = [part.strip() for part in response.headers["set-cookie"].split(";")]
    assert name_value == f"crontopus_device={body['device_token']}"
    assert {"HttpOnly", "SameSite=strict", "Path=/api/auth", f"Max-Age={365 * 24 * 3600}"} <= set(attributes)
    assert "Secure" not in attributes  # a plain-HTTP install: a Secure cookie would never come back


def test_the_device_cookie_is_secure_when_the_public_url_is_https(nats_server, tmp_path, stack_env, monkeypatch):
    env = stack_env | {"CRONTOPUS_PUBLIC_URL": "https://crontopus.example.com"}
    running = start_stack(nats=nats_server, data_dir=tmp_path / "data", env=env, monkeypatch=monkeypatch)
    try:
        with running.client() as client:
            register(client, "alice")
            cookie = login(client, "alice").headers["set-cookie"]
    finally:
        running.stop()
    assert "Secure" in [part.strip() for part in cookie.split(";")]


def test_a_guesser_locks_the_account_for_new_clients_but_not_for_the_owners_browser(stack):
    with stack.client() as owner, stack.client() as guesser, stack.client() as fresh:
        register(owner, "alice")
        assert login(owner, "alice").status_code == 200  # the owner's browser keeps its cookie
        assert [login(guesser, "alice", "wrong password").status_code for _ in range(3)] == [401] * 3
        by_email = login(fresh, "alice@example.com")  # the same account, the right password
        wrong_cookie = fresh.post(
            "/api/auth/login", data={"username": "alice", "password": PASSWORD},
            headers={"Cookie": "crontopus_device=" + "x" * 600},
        )  # fmt: skip
        owners = login(owner, "alice@example.com")
    assert by_email.status_code == wrong_cookie.status_code == 429
    assert "Retry-After" in by_email.headers
    assert owners.status_code == 200


def test_too_many_attempts_from_one_address_are_429(stack):
    with stack.client() as client:
        statuses = [login(client, f"guess{i}").status_code for i in range(13)]
    assert statuses[:12] == [401] * 12
    assert statuses[12] == 429


def test_too_many_sign_ups_from_one_address_are_429_and_nothing_is_created(stack):
    with stack.client() as client:
        statuses = [register(client, f"user{i}").status_code for i in range(6)]
        refused = register(client, "one-more")
        assert login(client, "one-more").status_code == 401  # the refused sign-up created nothing
    assert statuses[:5] == [201] * 5 and statuses[5] == 429
    assert refused.status_code == 429 and "sign-ups" in refused.json()["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 3600


def test_a_refresh_token_works_once_and_its_reuse_revokes_the_family(stack):
    with stack.client() as client:
        first = signed_in(client, "alice")
        second = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200
        assert client.get("/api/auth/me", headers=bearer(second.json()["access_token"])).status_code == 200
        reused = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        after = client.post("/api/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert reused.status_code == after.status_code == 401


def test_logout_ends_the_sign_in(stack):
    with stack.client() as client:
        tokens = signed_in(client, "alice")
        assert client.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]}).status_code == 204
        again = client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


def test_the_jwks_publishes_the_public_ed25519_key(stack):
    with stack.client() as client:
        body = client.get("/api/auth/jwks.json").json()
    (key,) = body["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "Ed25519") and "d" not in key
    assert (body["issuer"], body["audience"]) == ("crontopus", "crontopus-api")


def test_requests_without_credentials_are_401(stack):
    with stack.client() as client:
        response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- forged and stale tokens -------------------------------------------------------


def real_signing_key() -> OKPKey:
    """The identity service's private key, read the way identity itself reads it."""

    async def load() -> OKPKey:
        settings = IdentitySettings()
        db = Database(settings.database_url_for("identity"), schema=settings.database_schema_for("identity"))
        try:
            async with db.session() as session:
                row = (await session.execute(select(SigningKey))).scalars().first()
        finally:
            await db.dispose()
        return import_signing_key(row, secret=settings.secret_bytes())

    return asyncio.run(load())


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def decode_unverified(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(payload)))


def resign(claims: dict, key, alg: str = "Ed25519", kid: str | None = None) -> str:
    return jwt.encode({"alg": alg, "kid": kid or key.kid}, claims, key, algorithms=[alg])


def hs256(header: dict, claims: dict, secret: bytes) -> str:
    """Built by hand: joserfc itself refuses to use a public key as an HMAC secret."""
    signing_input = f"{b64(header)}.{b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def forgeries(token: str) -> dict[str, str]:
    header, claims = decode_unverified(token)
    real = real_signing_key()
    now = int(time.time())
    impostor = OKPKey.generate_key("Ed25519", parameters={"kid": header["kid"]})
    head, _, signature = token.split(".")
    return {
        "expired": resign(claims | {"iat": now - 3600, "exp": now - 1800}, real),
        "wrong audience": resign(claims | {"aud": "someone-else"}, real),
        "wrong issuer": resign(claims | {"iss": "evil"}, real),
        "tampered payload": f"{head}.{b64(claims | {'tid': 'f' * 32})}.{signature}",
        "alg none": f"{b64({'alg': 'none', 'kid': header['kid']})}.{b64(claims)}.",
        "another key with the same kid": resign(claims, impostor, kid=header["kid"]),
        "HS256 keyed with the public key": hs256(header | {"alg": "HS256"}, claims, real.as_pem(private=False)),
        "garbage": "not.a.token",
    }


def test_forged_or_stale_tokens_are_401(stack):
    with stack.client() as client:
        tokens = signed_in(client, "alice")
        assert client.get("/api/auth/me", headers=bearer(tokens["access_token"])).status_code == 200
        results = {
            name: client.get("/api/auth/me", headers=bearer(forged)).status_code
            for name, forged in forgeries(tokens["access_token"]).items()
        }
    assert results == dict.fromkeys(results, 401)


def test_a_token_signed_right_now_by_the_real_key_is_accepted(stack):
    """The control for the forgeries above: re-signing itself is not what makes them fail."""
    with stack.client() as client:
        tokens = signed_in(client, "alice")
        _, claims = decode_unverified(tokens["access_token"])
        fresh = resign(claims, real_signing_key())
        assert client.get("/api/auth/me", headers=bearer(fresh)).status_code == 200


# --- the web console: the refresh token in an HttpOnly cookie ---------------------------------------

CONSOLE = {"X-Crontopus-Client": "console"}
THIRTY_DAYS = 30 * 24 * 3600


def console_login(client, name: str):
    return client.post("/api/auth/login", data={"username": name, "password": PASSWORD}, headers=CONSOLE)


def cookie_attributes(response, name: str) -> tuple[str, set[str]]:
    """The value and the attributes of the Set-Cookie header for ``name``."""
    for header in response.headers.get_list("set-cookie"):
        name_value, *attributes = [part.strip() for part in header.split(";")]
        if name_value.startswith(f"{name}="):
            return name_value.removeprefix(f"{name}="), set(attributes)
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


def cleared(response, name: str) -> bool:
    value, attributes = cookie_attributes(response, name)
    return value in ("", '""') and "Max-Age=0" in attributes and "Path=/api/auth" in attributes


def test_the_console_signs_in_with_its_refresh_token_in_an_httponly_cookie_only(stack):
    with stack.client() as client:
        register(client, "alice")
        response = console_login(client, "alice")
        body = response.json()
        assert response.status_code == 200
        assert body["refresh_token"] == "" and body["device_token"] == "", "nothing a script could steal"
        token, attributes = cookie_attributes(response, "crontopus_refresh")
        assert len(token) > 30
        assert {"HttpOnly", "SameSite=strict", "Path=/api/auth", f"Max-Age={THIRTY_DAYS}"} <= attributes
        assert "Secure" not in attributes  # plain HTTP: a Secure cookie would never come back
        assert client.get("/api/auth/me", headers=bearer(body["access_token"])).status_code == 200
        assert body["refresh_expires_in"] == THIRTY_DAYS


def test_a_console_refresh_takes_the_cookie_and_rotates_it(stack):
    with stack.client() as client:
        register(client, "alice")
        first, _ = cookie_attributes(console_login(client, "alice"), "crontopus_refresh")
        refreshed = client.post("/api/auth/refresh", headers=CONSOLE)  # no body: the cookie
        assert refreshed.status_code == 200, refreshed.text
        second, attributes = cookie_attributes(refreshed, "crontopus_refresh")
        assert second != first and {"HttpOnly", "SameSite=strict", "Path=/api/auth"} <= attributes
        assert refreshed.json()["refresh_token"] == ""
        assert client.get("/api/auth/me", headers=bearer(refreshed.json()["access_token"])).status_code == 200
        again = client.post("/api/auth/refresh", headers=CONSOLE)  # the jar now holds the new cookie
        assert again.status_code == 200


def test_a_spent_or_missing_console_cookie_is_401_and_cleared(stack):
    with stack.client() as client:
        register(client, "alice")
        spent, _ = cookie_attributes(console_login(client, "alice"), "crontopus_refresh")
        assert client.post("/api/auth/refresh", headers=CONSOLE).status_code == 200
    with stack.client() as stranger:
        reused = stranger.post("/api/auth/refresh", headers=CONSOLE | {"Cookie": f"crontopus_refresh={spent}"})
        missing = stranger.post("/api/auth/refresh", headers=CONSOLE)
        garbage = stranger.post("/api/auth/refresh", headers=CONSOLE | {"Cookie": "crontopus_refresh=" + "x" * 600})
    assert reused.status_code == missing.status_code == garbage.status_code == 401
    assert "already used" in reused.json()["detail"]
    assert missing.json()["detail"].startswith("not signed in")
    assert cleared(reused, "crontopus_refresh") and cleared(missing, "crontopus_refresh")


def test_console_sign_out_revokes_the_cookies_session_and_clears_it(stack):
    with stack.client() as client:
        register(client, "alice")
        token, _ = cookie_attributes(console_login(client, "alice"), "crontopus_refresh")
        signed_out = client.post("/api/auth/logout", headers=CONSOLE)
        assert signed_out.status_code == 204 and cleared(signed_out, "crontopus_refresh")
        assert client.post("/api/auth/logout", headers=CONSOLE).status_code == 204, "idempotent, cookie or not"
    with stack.client() as other:
        after = other.post("/api/auth/refresh", headers=CONSOLE | {"Cookie": f"crontopus_refresh={token}"})
    assert after.status_code == 401


def test_without_the_console_header_the_cookie_is_never_read_and_nothing_changes(stack):
    """What a cross-site form (which cannot set the header) or the CLI sends."""
    with stack.client() as client:
        tokens = signed_in(client, "alice")  # the CLI's sign-in: tokens in the body, no refresh cookie
        assert tokens["refresh_token"] and "crontopus_refresh" not in client.cookies
        console_token, _ = cookie_attributes(console_login(client, "alice"), "crontopus_refresh")
        forged = {"Cookie": f"crontopus_refresh={console_token}"}
        refresh_without_body = client.post("/api/auth/refresh", headers=forged)
        logout_without_body = client.post("/api/auth/logout", headers=forged)
        assert refresh_without_body.status_code == 401 and "no refresh token" in refresh_without_body.json()["detail"]
        assert logout_without_body.status_code == 204, "nothing to end"
        assert "set-cookie" not in refresh_without_body.headers and "set-cookie" not in logout_without_body.headers
        assert client.post("/api/auth/refresh", headers=CONSOLE).status_code == 200, "the console session lives on"
        cli = client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert cli.status_code == 200 and cli.json()["refresh_token"]
        assert "crontopus_refresh" not in cli.headers.get("set-cookie", "")


def test_the_console_cookie_is_secure_when_the_public_url_is_https(nats_server, tmp_path, stack_env, monkeypatch):
    env = stack_env | {"CRONTOPUS_PUBLIC_URL": "https://crontopus.example.com"}
    running = start_stack(nats=nats_server, data_dir=tmp_path / "data", env=env, monkeypatch=monkeypatch)
    try:
        with running.client() as client:
            register(client, "alice")
            _, attributes = cookie_attributes(console_login(client, "alice"), "crontopus_refresh")
    finally:
        running.stop()
    assert "Secure" in attributes
