"""API keys over HTTP against the real stack: ownership, scopes and revocation."""

import asyncio
import json

import httpx
import nats
import pytest

from crontopus_schemas.subjects import IdentityRpc
from crontopus_server.testing import wait_until

PASSWORD = "correct horse battery staple"


@pytest.fixture
def database_backend() -> str:
    """HTTP behaviour does not depend on the backend; the identity suite covers both."""
    return "sqlite"


def sign_up(client, name: str) -> tuple[dict[str, str], dict]:
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, "tenant": f"team-{name}"}
    user = client.post("/api/auth/register", json=body).json()
    tokens = client.post("/api/auth/login", data={"username": name, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}, user


def create_key(client, headers, name: str = "ci", scope: str = "read") -> dict:
    response = client.post("/api/api-keys", json={"name": name, "scope": scope}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_user_creates_lists_and_revokes_keys(stack):
    with stack.client() as client:
        alice, _ = sign_up(client, "alice")
        created = create_key(client, alice, "deploy", "write")
        assert created["key"].startswith("ctp_") and created["scope"] == "write"
        listed = client.get("/api/api-keys", headers=alice).json()["api_keys"]
        assert [(k["id"], k["name"], k["prefix"]) for k in listed] == [(created["id"], "deploy", created["key"][:12])]
        assert "key" not in listed[0]  # shown once, at creation
        assert client.delete(f"/api/api-keys/{created['id']}", headers=alice).status_code == 204
        assert client.get("/api/api-keys", headers=alice).json() == {"api_keys": []}


def test_alice_cannot_list_or_revoke_bobs_keys(stack):
    with stack.client() as client:
        alice, _ = sign_up(client, "alice")
        bob, _ = sign_up(client, "bob")
        bobs = create_key(client, bob, "bobs")
        assert client.get("/api/api-keys", headers=alice).json() == {"api_keys": []}
        assert client.delete(f"/api/api-keys/{bobs['id']}", headers=alice).status_code == 404
        assert client.delete("/api/api-keys/unknown", headers=alice).status_code == 404
        assert client.get("/api/runs", headers={"X-Api-Key": bobs["key"]}).status_code == 200


def test_a_read_only_key_can_read_runs_but_not_check_in(stack):
    checkin = {"job": "production/backup", "run_id": "r-1", "status": "running"}
    with stack.client() as client:
        alice, _ = sign_up(client, "alice")
        reader, writer = create_key(client, alice, "reader", "read"), create_key(client, alice, "writer", "write")
        assert client.get("/api/runs", headers={"X-Api-Key": reader["key"]}).status_code == 200
        refused = client.post("/api/checkins", json=checkin, headers={"Authorization": f"Bearer {reader['key']}"})
        assert refused.status_code == 403
        assert client.post("/api/checkins", json=checkin, headers={"X-Api-Key": writer["key"]}).status_code == 202


def test_an_api_key_cannot_manage_api_keys(stack):
    with stack.client() as client:
        alice, _ = sign_up(client, "alice")
        key = create_key(client, alice, "writer", "write")
        response = client.post("/api/api-keys", json={"name": "more"}, headers={"X-Api-Key": key["key"]})
    assert response.status_code == 403


def test_unknown_keys_are_401(stack):
    with stack.client() as client:
        response = client.get("/api/runs", headers={"X-Api-Key": "ctp_" + "x" * 43})
    assert response.status_code == 401


def test_a_revoked_key_is_refused_at_once_although_verdicts_are_cached(stack):
    with stack.client() as client:
        alice, _ = sign_up(client, "alice")
        key = create_key(client, alice)
        assert client.get("/api/runs", headers={"X-Api-Key": key["key"]}).status_code == 200  # now cached
        client.delete(f"/api/api-keys/{key['id']}", headers=alice)
        assert client.get("/api/runs", headers={"X-Api-Key": key["key"]}).status_code == 401


def revoke_over_nats(url: str, tenant_id: str, key_id: str) -> dict:
    """Revoke as another gateway instance would: this gateway learns of it only from the broadcast."""

    async def call() -> dict:
        nc = await nats.connect(url)
        try:
            payload = json.dumps({"tenant_id": tenant_id, "key_id": key_id}).encode()
            reply = await nc.request(IdentityRpc.API_KEY_REVOKE, payload, timeout=5)
            return json.loads(reply.data)
        finally:
            await nc.close()

    return asyncio.run(call())


def test_the_revocation_broadcast_clears_the_cache_of_every_gateway(stack):
    with stack.client() as client:
        alice, user = sign_up(client, "alice")
        key = create_key(client, alice)
        assert client.get("/api/runs", headers={"X-Api-Key": key["key"]}).status_code == 200  # now cached
        assert revoke_over_nats(stack.nats.url, user["tenant_id"], key["id"]) == {"result": None}
        wait_until(lambda: client.get("/api/runs", headers={"X-Api-Key": key["key"]}).status_code == 401, timeout=5)


def test_requests_arriving_together_with_a_key_not_yet_verified_ask_identity_once(stack):
    """Fifty hosts sharing a key whose verdict just expired: one question to identity, not fifty."""
    with stack.client() as client:
        alice, _ = sign_up(client, "alice")
        key = create_key(client, alice)["key"]

    async def twenty_at_once() -> tuple[list[int], int]:
        observer = await nats.connect(stack.nats.url)
        asked = await observer.subscribe(IdentityRpc.API_KEY_VERIFY)  # sees each request, answers none
        await observer.flush()
        try:
            async with httpx.AsyncClient(base_url=stack.url) as http:
                answers = await asyncio.gather(*(http.get("/api/runs", headers={"X-Api-Key": key}) for _ in range(20)))
            await observer.flush()
            return [answer.status_code for answer in answers], asked.pending_msgs
        finally:
            await observer.close()

    statuses, questions = asyncio.run(twenty_at_once())
    assert statuses == [200] * 20
    assert questions == 1


def test_an_api_key_describes_itself_and_a_person_is_sent_to_auth_me(stack):
    with stack.client() as client:
        alice, _ = sign_up(client, "alice")
        key = create_key(client, alice, "deploy", "write")
        current = client.get("/api/api-keys/current", headers={"X-Api-Key": key["key"]})
        assert current.status_code == 200, current.text
        body = current.json()
        assert (body["id"], body["name"], body["scope"], body["tenant"]) == (key["id"], "deploy", "write", "team-alice")
        assert "key" not in body
        assert client.get("/api/auth/me", headers={"X-Api-Key": key["key"]}).status_code == 403  # no person
        person = client.get("/api/api-keys/current", headers=alice)
        assert person.status_code == 404 and "GET /api/auth/me" in person.json()["detail"]
