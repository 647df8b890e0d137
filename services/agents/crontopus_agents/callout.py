"""NATS auth callout: the NATS server asks who a connecting client is; we answer with a user JWT
whose permissions are exactly that agent's subjects, or with an error (the server refuses it).

Protocol (NATS >= 2.10, ADR-26): the request is an ``authorization_request`` JWT signed by the
server; the reply is an ``authorization_response`` JWT signed by the issuer key the server is
configured with, carrying the user JWT (``aud`` = the account the user lands in: agents go to
``AGENTS_ACCOUNT``, not to the services' account the callout itself runs in; outside operator
mode the server takes any account its configuration defines).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nkeys

from crontopus_kit.logging import get_logger
from crontopus_kit.nats_security import (
    AGENTS_ACCOUNT,
    SYSTEM_ACCOUNT,
    SYSTEM_USER,
    InvalidJwt,
    decode_verified_jwt,
    encode_jwt,
    service_password,
)
from crontopus_schemas.subjects import (
    agent_heartbeat_subject,
    agent_inbox_prefix,
    agent_report_subject,
    checkin_subject,
    manifests_changed_subject,
    repository_location_subject,
)

log = get_logger(__name__)
REFUSAL_LOG_EVERY_SECONDS = 300.0  # a refused agent retries every few seconds: said once in a while
_MAX_REMEMBERED_REFUSALS = 1000  # users guessed at random must not grow it without bound


@dataclass(frozen=True)
class ConnectAttempt:
    user: str
    password: str
    server_id: str
    client_id: int | None
    user_nkey: str  # the server-made key the user JWT must be issued to


@dataclass(frozen=True)
class AgentIdentity:
    tenant_id: str
    agent_id: str
    name: str


Authenticate = Callable[[ConnectAttempt], Awaitable[AgentIdentity | None]]


def parse_request(token: str) -> ConnectAttempt:
    claims = decode_verified_jwt(token)
    nats = claims.get("nats", {})
    if nats.get("type") != "authorization_request":
        raise InvalidJwt("not an authorization request")
    options = nats.get("connect_opts", {})
    return ConnectAttempt(
        user=str(options.get("user") or ""), password=str(options.get("pass") or ""),
        server_id=nats["server_id"]["id"], client_id=nats.get("client_info", {}).get("id"), user_nkey=nats["user_nkey"],
    )  # fmt: skip


def agent_permissions(identity: AgentIdentity) -> dict[str, Any]:
    """What an agent may do: publish its own check-ins, heartbeats and reports, and ask (as
    itself) where its tenant's repository is; receive its tenant's sync nudges and the replies
    sent to its own inbox. Nothing else.

    These permissions apply in the agents' own account (``AGENTS_ACCOUNT``), which reaches these
    subjects through imports. A publish permission does not cover the reply subject an agent
    names; through an import, what answers it (gitops' location, JetStream's acknowledgement of
    a check-in) goes back into the agents' account only, never onto a subject of the services'
    account. See docs/architecture.md, "Agents and NATS security"."""
    tenant, agent = identity.tenant_id, identity.agent_id
    return {
        "pub": {
            "allow": [
                checkin_subject(tenant, agent),
                agent_heartbeat_subject(tenant, agent),
                agent_report_subject(tenant, agent),
                repository_location_subject(tenant, agent),
            ]
        },
        "sub": {"allow": [manifests_changed_subject(tenant), f"{agent_inbox_prefix(agent)}.>"]},
    }


class AuthCallout:
    def __init__(self, *, secret: bytes, issuer: nkeys.KeyPair, credential_ttl: int) -> None:
        self._system_password = service_password(secret, SYSTEM_USER)
        self._issuer = issuer
        self._ttl = credential_ttl
        self._refusals_said: dict[str, float] = {}

    async def answer(self, request: bytes, authenticate: Authenticate) -> bytes:
        attempt = parse_request(request.decode())
        if attempt.user == SYSTEM_USER:
            return self._system_answer(attempt)
        identity = await authenticate(attempt)
        if identity is None:
            self._say_refused(attempt)
            return self._response(attempt, error="unknown or revoked agent credentials")
        permissions = agent_permissions(identity)
        return self._response(attempt, user_jwt=self._user_jwt(attempt, AGENTS_ACCOUNT, identity.agent_id, permissions))

    def _say_refused(self, attempt: ConnectAttempt) -> None:
        """For the operator looking at an agent that cannot connect: once per user and period."""
        now = time.monotonic()
        if now - self._refusals_said.get(attempt.user, -REFUSAL_LOG_EVERY_SECONDS) < REFUSAL_LOG_EVERY_SECONDS:
            return
        if len(self._refusals_said) >= _MAX_REMEMBERED_REFUSALS:
            self._refusals_said.clear()
        self._refusals_said[attempt.user] = now
        log.info(
            "agent login refused: unknown or revoked credentials (said once per agent every 5 min)",
            user=attempt.user[:64], server_id=attempt.server_id, client_id=attempt.client_id,
        )  # fmt: skip

    def _system_answer(self, attempt: ConnectAttempt) -> bytes:
        """The agents service's own system login (it kicks revoked agents); not an auth_user,
        since the callout only exempts users of its own account."""
        if not attempt.password or attempt.password != self._system_password:
            return self._response(attempt, error="bad system credentials")
        return self._response(attempt, user_jwt=self._user_jwt(attempt, SYSTEM_ACCOUNT, SYSTEM_USER, {}))

    def _user_jwt(self, attempt: ConnectAttempt, account: str, name: str, permissions: dict[str, Any]) -> str:
        claims = {
            "sub": attempt.user_nkey, "aud": account, "name": name, "exp": int(time.time()) + self._ttl,
            "nats": {**permissions, "type": "user", "version": 2},
        }  # fmt: skip
        return encode_jwt(claims, self._issuer)

    def _response(self, attempt: ConnectAttempt, *, user_jwt: str | None = None, error: str | None = None) -> bytes:
        nats: dict[str, Any] = {"type": "authorization_response", "version": 2}
        if user_jwt:
            nats["jwt"] = user_jwt
        else:
            nats["error"] = error
        return encode_jwt({"sub": attempt.user_nkey, "aud": attempt.server_id, "nats": nats}, self._issuer).encode()
