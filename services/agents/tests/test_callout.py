"""The auth callout's answer to a login it refuses, and what the operator's log says of it."""

from structlog.testing import capture_logs

from crontopus_agents import callout
from crontopus_agents.callout import AuthCallout
from crontopus_kit.nats_security import encode_jwt, issuer_keypair

SECRET = b"callout-test-secret-0123456789-abcdefghij"


def request(user: str) -> bytes:
    """A connect attempt as nats-server sends it to the callout (signed by a server's key)."""
    server = issuer_keypair(b"a nats server's own key, for the test")
    claims = {
        "nats": {
            "type": "authorization_request", "server_id": {"id": "NSERVER"}, "client_info": {"id": 7},
            "user_nkey": issuer_keypair(b"the user's key").public_key.decode(),
            "connect_opts": {"user": user, "pass": "wrong"},
        },
    }  # fmt: skip
    return encode_jwt(claims, server).encode()


async def test_a_refused_agent_login_is_logged_once_a_period_not_at_every_retry(monkeypatch):
    answering = AuthCallout(secret=SECRET, issuer=issuer_keypair(SECRET), credential_ttl=3600)

    async def unknown(_attempt):
        return None

    clock = [1000.0]
    monkeypatch.setattr(callout.time, "monotonic", lambda: clock[0])
    with capture_logs() as logged:
        for _ in range(3):  # an agent retrying every couple of seconds
            await answering.answer(request("revoked-agent"), unknown)
            clock[0] += 2
        refused = [line for line in logged if line["event"].startswith("agent login refused")]
        assert [line["user"] for line in refused] == ["revoked-agent"]

        clock[0] += callout.REFUSAL_LOG_EVERY_SECONDS
        await answering.answer(request("revoked-agent"), unknown)
        assert len([line for line in logged if line["event"].startswith("agent login refused")]) == 2
