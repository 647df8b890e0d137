"""The identity service on SQLite and PostgreSQL: accounts, sign-in, throttling, refresh
rotation and API keys, through its service functions."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker
from joserfc import jwt
from joserfc.jwk import KeySet
from pydantic import ValidationError
from sqlalchemy import select, update

from crontopus_identity import devices, service, sso
from crontopus_identity.models import ApiKey, LoginThrottle, RefreshToken, SigningKey, User
from crontopus_identity.settings import IdentitySettings
from crontopus_identity.tokens import AUDIENCE, SecretMismatch
from crontopus_identity.unit import IdentityUnit
from crontopus_kit.crypto import keyed_hash
from crontopus_kit.errors import Conflict, Forbidden, Invalid, NotFound, Throttled, Unauthorized
from crontopus_schemas.identity import ApiKeyCreateRequest, LoginRequest, RegisterRequest, SsoSignIn

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
async def identity(settings_factory):
    settings = settings_factory(
        IdentitySettings, login_max_failures=3, login_failure_window=900, ip_max_attempts=6, ip_window=60
    )
    unit = IdentityUnit(settings, broker=NatsBroker())
    await unit.prepare()
    yield unit
    await unit.close()


async def register(unit, name: str, **overrides):
    fields = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, "tenant": f"team-{name}"}
    async with unit.db.session() as session:
        return await service.register(session=session, request=RegisterRequest(**(fields | overrides)))


async def login(unit, username: str, password: str = PASSWORD, ip: str = "192.0.2.1", now=None, device=None):
    request = LoginRequest(username=username, password=password, client_ip=ip, device_token=device)
    async with unit.db.session() as session:
        return await service.login(session=session, ctx=unit.ctx, request=request, now=now)


async def refresh(unit, token: str, now=None):
    async with unit.db.session() as session:
        return await service.refresh(session=session, ctx=unit.ctx, token=token, now=now)


def claims_of(unit, token: str) -> dict:
    keys = KeySet.import_key_set({"keys": unit.issuer.jwks().keys})
    return jwt.decode(token, keys, algorithms=["Ed25519"]).claims


# --- accounts --------------------------------------------------------------------


async def test_registering_creates_a_tenant_and_its_owner(identity):
    alice = await register(identity, "alice")
    assert (alice.username, alice.tenant, alice.role) == ("alice", "team-alice", "owner")
    async with identity.db.session() as session:
        assert await service.me(session=session, tenant_id=alice.tenant_id, user_id=alice.id) == alice


TEAM_TAKEN = "tenant 'team-alice' already exists; choose another name"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"username": "other", "email": "other@example.com"}, TEAM_TAKEN),
        ({"tenant": "other", "email": "other@example.com"}, service.ACCOUNT_TAKEN),
        ({"username": "other", "tenant": "other"}, service.ACCOUNT_TAKEN),
        ({"username": "ALICE", "tenant": "other", "email": "x@example.com"}, service.ACCOUNT_TAKEN),
        ({"username": "other", "tenant": "other", "email": "ALICE@example.com"}, service.ACCOUNT_TAKEN),
    ],
)
async def test_registering_a_taken_name_is_a_conflict(identity, overrides, message):
    await register(identity, "alice")
    with pytest.raises(Conflict) as conflict:
        await register(identity, "alice", **overrides)
    assert conflict.value.message == message


async def test_a_taken_username_and_a_taken_email_get_the_same_answer_which_names_neither(identity):
    await register(identity, "alice")
    with pytest.raises(Conflict) as by_username:
        await register(identity, "alice", email="new@example.com", tenant="new-team")
    with pytest.raises(Conflict) as by_email:
        await register(identity, "newcomer", email="alice@example.com", tenant="new-team")
    assert by_username.value.message == by_email.value.message
    assert "alice" not in by_username.value.message


async def test_a_taken_team_does_not_hide_or_reveal_whether_the_email_is_taken(identity):
    """The answer for (taken team, taken email) is the one for a taken email with a free team:
    whichever the team, a taken account answers the same."""
    await register(identity, "alice")
    await register(identity, "bob")
    with pytest.raises(Conflict) as with_taken_team:
        await register(identity, "newcomer", email="alice@example.com", tenant="team-bob")
    with pytest.raises(Conflict) as with_free_team:
        await register(identity, "newcomer", email="alice@example.com", tenant="free-team")
    assert with_taken_team.value.message == with_free_team.value.message == service.ACCOUNT_TAKEN


@pytest.mark.parametrize(
    ("password", "advice"),
    [
        ("password1234", "This is a very common password"),  # in the breach lists zxcvbn ships
        ("qwertyuiop123", "This is a very common password"),
        ("aaaaaaaaaaaaaaaa", 'Repeats like "aaa" are easy to guess'),
        ("alice@example.com1", "Add another word or two"),  # the account's own address, one character added
    ],
)
async def test_a_password_easy_to_guess_is_refused_and_nothing_is_created(identity, password, advice):
    with pytest.raises(Invalid) as refused:
        await register(identity, "alice", password=password, tenant="alice-team")
    assert refused.value.message.startswith("password: too easy to guess") and advice in refused.value.message
    async with identity.db.session() as session:
        assert (await session.execute(select(User.id))).first() is None


async def test_a_long_passphrase_is_judged_by_its_first_72_characters(identity):
    """zxcvbn itself refuses more than 72 characters; the 256 allowed must still sign up."""
    alice = await register(identity, "alice", password="plum vinegar orbit " * 13)
    assert alice.username == "alice"
    with pytest.raises(Invalid, match="too easy to guess"):
        await register(identity, "bob", password="a" * 100 + " plum vinegar orbit")


def test_a_password_under_12_characters_is_refused_before_it_reaches_identity():
    with pytest.raises(ValidationError, match="at least 12 characters"):
        RegisterRequest(username="alice", email="a@example.com", password="Zq8#vLm2!xP", tenant="team")


async def test_an_older_weak_password_still_signs_in(identity):
    """The rule judges new passwords only: tightening it locks nobody out."""
    alice = await register(identity, "alice")
    async with identity.db.session() as session:
        await session.execute(update(User).values(password_hash=service._hasher.hash("password")))
        await session.commit()
    assert (await login(identity, "alice", password="password")).access_token
    assert alice.username == "alice"


async def test_passwords_are_stored_as_argon2id_hashes(identity):
    await register(identity, "alice")
    async with identity.db.session() as session:
        stored = (await session.execute(select(User.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_me_of_another_tenant_is_not_found(identity):
    alice, bob = await register(identity, "alice"), await register(identity, "bob")
    async with identity.db.session() as session:
        with pytest.raises(NotFound):
            await service.me(session=session, tenant_id=bob.tenant_id, user_id=alice.id)


# --- sign-in ---------------------------------------------------------------------


async def test_login_by_username_or_email_issues_a_signed_access_token(identity):
    alice = await register(identity, "alice")
    for name in ("alice", "Alice@Example.com"):
        pair = await login(identity, name)
        claims = claims_of(identity, pair.access_token)
        assert (claims["sub"], claims["tid"], claims["tenant"], claims["aud"]) == (
            alice.id, alice.tenant_id, "team-alice", AUDIENCE,
        )  # fmt: skip
        assert claims["exp"] - int(claims["iat"]) == pair.expires_in == 900  # iat has milliseconds


async def test_wrong_password_and_unknown_user_get_the_same_answer(identity):
    await register(identity, "alice")
    with pytest.raises(Unauthorized) as wrong:
        await login(identity, "alice", "not the password")
    with pytest.raises(Unauthorized) as unknown:
        await login(identity, "nobody", PASSWORD)
    assert wrong.value.message == unknown.value.message == service.BAD_CREDENTIALS


async def fail(unit, name: str, times: int, *, now=T0, device=None, ip="192.0.2.1"):
    for _ in range(times):
        with pytest.raises(Unauthorized):
            await login(unit, name, "wrong password", now=now, device=device, ip=ip)


async def test_an_account_is_locked_after_repeated_failures_until_the_window_ends(identity):
    await register(identity, "alice")
    await fail(identity, "alice", 3)
    for password in (PASSWORD, "wrong password"):  # the same answer whether the password is right
        with pytest.raises(Throttled) as locked:
            await login(identity, "alice", password, now=T0 + timedelta(minutes=5))
        assert locked.value.retry_after == 600
        assert locked.value.message == service.LOCKED_ACCOUNT.format(retry=600)
    assert await login(identity, "alice", now=T0 + timedelta(minutes=15, seconds=1))


async def test_a_successful_login_resets_the_accounts_failures(identity):
    await register(identity, "alice")
    await fail(identity, "alice", 2)
    await login(identity, "alice", now=T0)
    await fail(identity, "alice", 2)
    assert await login(identity, "alice", now=T0)


async def test_failures_by_username_lock_email_sign_in_too_and_the_other_way_round(identity):
    await register(identity, "alice")
    await register(identity, "bob")
    await fail(identity, "alice", 2)
    await fail(identity, "Alice@Example.com", 1)  # the third failure of the same account
    with pytest.raises(Throttled):
        await login(identity, "alice@example.com", now=T0 + timedelta(minutes=1))
    await fail(identity, "bob@example.com", 3)
    with pytest.raises(Throttled):
        await login(identity, "bob", now=T0 + timedelta(minutes=1))


async def test_the_owners_known_device_still_signs_in_during_the_lock(identity):
    await register(identity, "alice")
    laptop = (await login(identity, "alice", now=T0)).device_token
    await fail(identity, "alice", 3, ip="203.0.113.9")  # a guesser locks the account
    with pytest.raises(Throttled):
        await login(identity, "alice", now=T0 + timedelta(minutes=1))
    for name in ("alice", "alice@example.com"):
        pair = await login(identity, name, now=T0 + timedelta(minutes=1), device=laptop)
        assert claims_of(identity, pair.access_token)["username"] == "alice"
    with pytest.raises(Throttled):  # and the owner's success did not unlock it for the guesser
        await login(identity, "alice", now=T0 + timedelta(minutes=2))


async def test_a_known_devices_failures_lock_only_that_device(identity):
    await register(identity, "alice")
    laptop = (await login(identity, "alice", now=T0)).device_token
    phone = (await login(identity, "alice", now=T0)).device_token
    await fail(identity, "alice", 3, device=laptop)
    with pytest.raises(Throttled) as locked:
        await login(identity, "alice", now=T0 + timedelta(minutes=1), device=laptop)
    assert locked.value.message.startswith("too many failed sign-ins from this device")
    assert await login(identity, "alice", now=T0 + timedelta(minutes=1), device=phone)
    assert await login(identity, "alice", now=T0 + timedelta(minutes=1))  # unknown clients: not locked


async def test_a_wrong_device_token_counts_as_none(identity):
    await register(identity, "alice")
    genuine = (await login(identity, "alice", now=T0)).device_token
    user_id, issued, nonce, mac = genuine.split(".")
    await fail(identity, "alice", 3)
    tampered = [
        "not-a-token", "", f"{user_id}.{issued}.{nonce}.{'0' * 64}", f"{user_id}.{issued}.other-nonce.{mac}",
        f"{user_id}.{int(issued) + 1}.{nonce}.{mac}", f"{genuine}.extra", "é.1.x.y",
    ]  # fmt: skip
    for token in tampered:
        with pytest.raises(Throttled):
            await login(identity, "alice", now=T0 + timedelta(minutes=1), device=token)


async def test_another_users_or_a_forged_device_token_does_not_help(identity):
    alice = await register(identity, "alice")
    await register(identity, "bob")
    bobs = (await login(identity, "bob", now=T0)).device_token
    await fail(identity, "alice", 3)
    body = f"{alice.id}.{int(T0.timestamp())}.made-up"
    forged = f"{body}.{keyed_hash(b'a guessed secret', devices.PURPOSE, body)}"
    for token in (bobs, forged):
        with pytest.raises(Throttled):
            await login(identity, "alice", now=T0 + timedelta(minutes=1), device=token)


async def test_an_expired_device_token_counts_as_none(identity):
    await register(identity, "alice")
    old = (await login(identity, "alice", now=T0 - timedelta(days=366))).device_token
    await fail(identity, "alice", 3)
    with pytest.raises(Throttled):
        await login(identity, "alice", now=T0 + timedelta(minutes=1), device=old)


async def test_an_unknown_name_is_locked_and_answered_like_a_real_account(identity):
    await register(identity, "alice")
    await fail(identity, "alice", 3)
    await fail(identity, "nobody", 3)
    later = T0 + timedelta(minutes=1)
    with pytest.raises(Throttled) as real:
        await login(identity, "alice", now=later)
    with pytest.raises(Throttled) as unknown:
        await login(identity, "nobody", now=later)
    assert (real.value.message, real.value.retry_after) == (unknown.value.message, unknown.value.retry_after)


async def test_unlocking_the_account_lets_unknown_clients_sign_in_again(identity):
    alice = await register(identity, "alice")
    await fail(identity, "alice", 3)
    async with identity.db.session() as session:
        await service.unlock_account(session=session, user_id=alice.id)
    assert await login(identity, "alice", now=T0 + timedelta(minutes=1))


async def test_too_many_attempts_from_one_address_are_throttled(identity):
    await register(identity, "alice")
    for i in range(6):
        with pytest.raises(Unauthorized):
            await login(identity, f"guess{i}", ip="198.51.100.7", now=T0)
    with pytest.raises(Throttled) as throttled:
        await login(identity, "alice", ip="198.51.100.7", now=T0 + timedelta(seconds=20))
    assert throttled.value.retry_after == 40
    assert await login(identity, "alice", ip="198.51.100.8", now=T0 + timedelta(seconds=20))
    assert await login(identity, "alice", ip="198.51.100.7", now=T0 + timedelta(seconds=61))


async def test_spent_sign_in_counters_are_deleted_and_live_ones_kept(identity):
    await register(identity, "alice")
    for i in range(3):  # three names no account has, from two addresses, at T0
        with pytest.raises(Unauthorized):
            await login(identity, f"nobody{i}", ip=f"198.51.100.{i % 2}", now=T0)
    await fail(identity, "alice", 3, now=T0 + timedelta(minutes=50))  # locked until T0 + 65 min

    async def keys() -> list[str]:
        async with identity.db.session() as session:
            return sorted((await session.execute(select(LoginThrottle.key))).scalars())

    async def sweep(now: datetime) -> int:
        async with identity.db.session() as session:
            return await service.forget_spent_throttles(session=session, settings=identity.settings, now=now)

    assert len(await keys()) == 7  # 3 names and 2 addresses at T0; alice's account and address at T0 + 50 min
    assert await sweep(T0 + timedelta(minutes=59)) == 0  # the longest window (sign-ups', an hour) runs still
    assert await sweep(T0 + timedelta(minutes=61)) == 5
    assert await keys() == ["ip:192.0.2.1", f"user:{await user_id(identity, 'alice')}"]  # locked till T0 + 65 min
    with pytest.raises(Throttled):
        await login(identity, "alice", now=T0 + timedelta(minutes=62))
    assert await sweep(T0 + timedelta(minutes=111)) == 1


async def user_id(unit, name: str) -> str:
    async with unit.db.session() as session:
        return (await session.execute(select(User.id).where(User.username == name))).scalar_one()


# --- refresh tokens --------------------------------------------------------------


async def test_a_refresh_token_rotates_into_a_new_pair(identity):
    await register(identity, "alice")
    first = await login(identity, "alice")
    second = await refresh(identity, first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert claims_of(identity, second.access_token)["username"] == "alice"
    assert await refresh(identity, second.refresh_token)


async def test_a_reused_refresh_token_revokes_the_family(identity):
    await register(identity, "alice")
    first = await login(identity, "alice")
    second = await refresh(identity, first.refresh_token)
    with pytest.raises(Unauthorized, match="already used"):
        await refresh(identity, first.refresh_token)
    with pytest.raises(Unauthorized):  # the thief's or the owner's newer token dies too
        await refresh(identity, second.refresh_token)


async def test_reuse_does_not_touch_other_sign_ins(identity):
    await register(identity, "alice")
    laptop, phone = await login(identity, "alice"), await login(identity, "alice")
    await refresh(identity, laptop.refresh_token)
    with pytest.raises(Unauthorized):
        await refresh(identity, laptop.refresh_token)
    assert await refresh(identity, phone.refresh_token)


async def test_an_expired_or_unknown_refresh_token_is_refused(identity):
    await register(identity, "alice")
    pair = await login(identity, "alice", now=T0)
    with pytest.raises(Unauthorized, match="expired"):
        await refresh(identity, pair.refresh_token, now=T0 + timedelta(days=31))
    with pytest.raises(Unauthorized):
        await refresh(identity, "not-a-token")


async def test_logout_revokes_the_sign_in(identity):
    await register(identity, "alice")
    pair = await login(identity, "alice")
    async with identity.db.session() as session:
        await service.logout(session=session, secret=identity.ctx.secret, token=pair.refresh_token)
    with pytest.raises(Unauthorized):
        await refresh(identity, pair.refresh_token)


async def test_refresh_tokens_are_stored_only_as_keyed_hashes(identity):
    await register(identity, "alice")
    pair = await login(identity, "alice")
    async with identity.db.session() as session:
        stored = (await session.execute(select(RefreshToken.token_hash))).scalar_one()
    assert stored == keyed_hash(identity.ctx.secret, service.REFRESH_TOKEN_PURPOSE, pair.refresh_token)
    assert stored != legacy_hash(identity.ctx.secret, pair.refresh_token), "not under the raw server secret"


def legacy_hash(secret: bytes, value: str) -> str:
    """What versions before 2026-12 stored: an HMAC under the server secret itself."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


async def test_a_sign_in_from_before_purpose_keys_still_refreshes_once(identity):
    await register(identity, "alice")
    pair = await login(identity, "alice")
    async with identity.db.session() as session:  # stored as an older version stored it
        await session.execute(
            update(RefreshToken).values(token_hash=legacy_hash(identity.ctx.secret, pair.refresh_token))
        )
        await session.commit()
    renewed = await refresh(identity, pair.refresh_token)
    assert claims_of(identity, renewed.access_token)["username"] == "alice"
    with pytest.raises(Unauthorized, match="already used"):
        await refresh(identity, pair.refresh_token)


# --- API keys ------------------------------------------------------------------


async def create_key(unit, owner, name="ci", scope="read"):
    request = ApiKeyCreateRequest(tenant_id=owner.tenant_id, created_by=owner.id, name=name, scope=scope)
    async with unit.db.session() as session:
        return await service.create_api_key(session=session, secret=unit.ctx.secret, request=request)


async def verify(unit, key: str, now=None):
    async with unit.db.session() as session:
        return await service.verify_api_key(session=session, secret=unit.ctx.secret, key=key, now=now)


async def test_an_api_key_verifies_to_its_tenant_and_scope(identity):
    alice = await register(identity, "alice")
    created = await create_key(identity, alice, scope="write")
    assert created.key.startswith("ctp_") and created.prefix == created.key[:12]
    principal = await verify(identity, created.key)
    assert (principal.kind, principal.tenant_id, principal.scope, principal.subject_id, principal.tenant) == (
        "api_key", alice.tenant_id, "write", created.id, "team-alice",
    )  # fmt: skip


async def test_api_keys_are_stored_only_as_keyed_hashes(identity):
    alice = await register(identity, "alice")
    created = await create_key(identity, alice)
    async with identity.db.session() as session:
        row = (await session.execute(select(ApiKey))).scalar_one()
    assert row.key_hash == keyed_hash(identity.ctx.secret, service.API_KEY_PURPOSE, created.key)
    assert created.key not in (row.key_hash, row.prefix)


async def test_an_api_key_from_before_purpose_keys_still_works_and_is_stored_anew(identity):
    alice = await register(identity, "alice")
    created = await create_key(identity, alice, scope="write")
    async with identity.db.session() as session:  # stored as an older version stored it
        await session.execute(update(ApiKey).values(key_hash=legacy_hash(identity.ctx.secret, created.key)))
        await session.commit()
    assert (await verify(identity, created.key)).subject_id == created.id
    async with identity.db.session() as session:
        row = (await session.execute(select(ApiKey))).scalar_one()
    assert row.key_hash == keyed_hash(identity.ctx.secret, service.API_KEY_PURPOSE, created.key)
    assert (await verify(identity, created.key)).scope == "write"


async def test_a_tenant_lists_only_its_own_live_keys(identity):
    alice, bob = await register(identity, "alice"), await register(identity, "bob")
    ci, old = await create_key(identity, alice, "ci"), await create_key(identity, alice, "old")
    await create_key(identity, bob, "bobs")
    async with identity.db.session() as session:
        await service.revoke_api_key(session=session, tenant_id=alice.tenant_id, key_id=old.id)
        listed = await service.list_api_keys(session=session, tenant_id=alice.tenant_id)
    assert [k.id for k in listed.api_keys] == [ci.id]
    assert "key" not in listed.api_keys[0].model_dump()


async def test_a_revoked_key_no_longer_verifies(identity):
    alice = await register(identity, "alice")
    created = await create_key(identity, alice)
    async with identity.db.session() as session:
        notice = await service.revoke_api_key(session=session, tenant_id=alice.tenant_id, key_id=created.id)
    assert (notice.key_id, notice.tenant_id) == (created.id, alice.tenant_id)
    with pytest.raises(Unauthorized):
        await verify(identity, created.key)


async def test_revoking_another_tenants_key_is_not_found(identity):
    alice, bob = await register(identity, "alice"), await register(identity, "bob")
    created = await create_key(identity, alice)
    async with identity.db.session() as session:
        for key_id in (created.id, "0" * 32):
            with pytest.raises(NotFound):
                await service.revoke_api_key(session=session, tenant_id=bob.tenant_id, key_id=key_id)
    assert await verify(identity, created.key)


async def test_unknown_keys_are_refused(identity):
    for key in ("ctp_" + "x" * 43, "not-even-a-key"):
        with pytest.raises(Unauthorized):
            await verify(identity, key)


async def test_last_used_is_recorded_at_most_once_a_minute(identity):
    alice = await register(identity, "alice")
    created = await create_key(identity, alice)
    for seconds in (0, 30, 90):
        await verify(identity, created.key, now=T0 + timedelta(seconds=seconds))
    async with identity.db.session() as session:
        listed = await service.list_api_keys(session=session, tenant_id=alice.tenant_id)
    assert listed.api_keys[0].last_used_at == T0 + timedelta(seconds=90)


# --- signing keys ------------------------------------------------------------------


async def test_the_signing_key_survives_a_restart_and_is_stored_encrypted(identity, settings_factory):
    kid = identity.issuer.jwks().keys[0]["kid"]
    again = IdentityUnit(identity.settings, broker=NatsBroker())
    await again.prepare()
    try:
        assert [k["kid"] for k in again.issuer.jwks().keys] == [kid]
        async with again.db.session() as session:
            pem = (await session.execute(select(SigningKey.private_pem))).scalar_one()
        assert "ENCRYPTED PRIVATE KEY" in pem
    finally:
        await again.close()


async def test_another_secret_is_refused_in_one_sentence_that_says_it_does_not_match(identity, settings_factory):
    other = settings_factory(IdentitySettings, secret_key="another-secret-0123456789-abcdefghijklmnop")
    unit = IdentityUnit(other, broker=NatsBroker())
    try:
        with pytest.raises(SecretMismatch) as refused:
            await unit.prepare()
    finally:
        await unit.close()
    said = str(refused.value)
    assert said.startswith("the server secret (CRONTOPUS_SECRET_KEY or CRONTOPUS_SECRET_KEY_FILE) does not match")
    assert "signing keys were encrypted with" in said and "cannot be changed" in said
    assert "another-secret" not in said


async def test_the_jwks_publishes_only_public_ed25519_keys(identity):
    reply = identity.issuer.jwks()
    (key,) = reply.keys
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "Ed25519", "sig")
    assert "d" not in key
    assert (reply.issuer, reply.audience) == ("crontopus", AUDIENCE)


async def test_a_server_capped_at_one_team_refuses_another_and_says_how_to_join_one(settings_factory):
    settings = settings_factory(IdentitySettings, max_teams=1)
    unit = IdentityUnit(settings, broker=NatsBroker())
    await unit.prepare()
    fields = {"email": "alice@example.com", "password": PASSWORD, "tenant": "team-alice"}

    async def sign_up(**changes) -> None:
        async with unit.db.session() as session:
            request = RegisterRequest(**({"username": "alice", **fields} | changes))
            await service.register(session=session, request=request, settings=settings, client_ip="192.0.2.1")

    try:
        await sign_up()
        with pytest.raises(Conflict):  # what is taken is said first
            await sign_up()
        with pytest.raises(Forbidden, match=r"at most one team .* ask an owner of a team for an invitation"):
            await sign_up(username="bob", email="bob@example.com", tenant="team-bob")
        new_person = SsoSignIn(provider="test", subject="carol", email="carol@example.com", email_verified=True)
        async with unit.db.session() as session:
            with pytest.raises(Forbidden, match="at most one team"):
                await sso.sign_in(session=session, ctx=unit.ctx, request=new_person, now=T0)
    finally:
        await unit.close()
