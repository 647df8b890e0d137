"""NATS security: who may connect to the broker, and as what.

- Services log in with a user name and a password derived from the server secret; they are the
  auth callout's ``auth_users`` and skip the callout. They live in the account ``CRONTOPUS``.
- Every other client (an agent) is decided by the agents service through NATS auth callout
  (``$SYS.REQ.USER.AUTH``): it checks the agent's secret and answers with a user JWT, signed by
  the issuer key below, that places the agent in the account ``AGENTS`` with permissions for
  only that agent's own subjects. The NATS server enforces them; a revoked agent is refused at
  its next connect and kicked at once.
- ``AGENTS`` has no JetStream and nothing of its own: it imports from ``CRONTOPUS`` exactly what
  agents use (``agent_exports``). A request an agent sends through a service import reaches the
  services with a reply subject the server made, which leads back only into ``AGENTS``: whatever
  reply subject an agent names, neither a service's answer nor JetStream's acknowledgement of a
  check-in can land in the services' account.
- The issuer key (an NATS account nkey) is derived from the server secret too, so the
  embedded server's configuration and the agents service agree without sharing files.

``server_config`` writes the configuration the embedded server runs with; `crontopus-server
nats-config` prints the same for an operator's own NATS servers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import nkeys
from nacl.signing import VerifyKey

from crontopus_kit.crypto import derive_key
from crontopus_schemas import subjects

ACCOUNT = "CRONTOPUS"  # the services, with JetStream
AGENTS_ACCOUNT = "AGENTS"  # the agents, placed there by the auth callout
SYSTEM_ACCOUNT = "SYS"
SERVICE_USER = "crontopus"  # the all-in-one process and the repositories' hooks
SYSTEM_USER = "crontopus-system"  # kicks a revoked agent's live connection
SERVICE_USERS = (SERVICE_USER, "identity", "runs", "gitops", "agents", "gateway", "alerting")


def issuer_keypair(secret: bytes) -> nkeys.KeyPair:
    """The account key that signs agents' user JWTs (deterministic for a given secret)."""
    seed = nkeys.encode_seed(derive_key(secret, "nats-auth-issuer"), nkeys.PREFIX_BYTE_ACCOUNT)
    return nkeys.from_seed(seed)


def service_password(secret: bytes, user: str) -> str:
    return base64.urlsafe_b64encode(derive_key(secret, f"nats-user:{user}")).decode().rstrip("=")


def with_credentials(url: str, user: str, password: str) -> str:
    """``nats://host:port`` -> ``nats://user:password@host:port``."""
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_derived_passwords(url: str, secret: Callable[[], bytes]) -> str:
    """``nats://runs@nats:4222`` -> ``nats://runs:<runs' password>@nats:4222``: a service user
    named without a password logs in with the one derived from the secret (what `crontopus-server
    nats-config` configures), so a deployment shares only the secret. Also for a comma list;
    ``secret`` is asked only when a password is missing."""
    urls = [one.strip() for one in url.split(",") if one.strip()]
    completed = []
    for one in urls:
        parts = urlsplit(one)
        if parts.username and parts.password is None:
            user = unquote(parts.username)
            one = with_credentials(one, user, service_password(secret(), user))
        completed.append(one)
    return ",".join(completed)


def without_credentials(url: str) -> str:
    """Also for a comma-separated list of URLs (a cluster), as CRONTOPUS_NATS_URL may be."""
    if "," in url:
        return ",".join(without_credentials(one.strip()) for one in url.split(",") if one.strip())
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


MAX_PAYLOAD = "8MB"


@dataclass(frozen=True)
class AgentExport:
    """One thing the services' account exports to the agents' account only (and it imports)."""

    subject: str
    kind: str  # "service" (agents send, services receive) or "stream" (services send, agents receive)
    options: str = ""  # nats-server export options, e.g. the response type

    def export_line(self) -> str:
        options = f", {self.options}" if self.options else ""
        return f'{{ {self.kind}: "{self.subject}"{options}, accounts: [{AGENTS_ACCOUNT}] }}'

    def import_line(self) -> str:
        return f'{{ {self.kind}: {{ account: {ACCOUNT}, subject: "{self.subject}" }} }}'


def agent_exports() -> tuple[AgentExport, ...]:
    """What agents use, and nothing else: check-ins (JetStream answers each with an
    acknowledgement, one message), the repository location (gitops answers once), heartbeats and
    reports (nothing answers: an answer mapping the server keeps for a reply subject an agent
    named there is dropped after a second), and the nudges (a stream: services publish, agents
    receive)."""
    return (
        AgentExport(subjects.CHECKINS_WILDCARD, "service", "response_type: singleton"),
        AgentExport(subjects.REPOSITORY_LOCATION_WILDCARD, "service", "response_type: singleton"),
        AgentExport(subjects.AGENT_HEARTBEAT_WILDCARD, "service", 'response_threshold: "1s"'),
        AgentExport(subjects.AGENT_REPORT_WILDCARD, "service", 'response_threshold: "1s"'),
        AgentExport(subjects.MANIFESTS_CHANGED_WILDCARD, "stream"),
    )


def server_config(secret: bytes, *, users: tuple[str, ...] = SERVICE_USERS) -> str:
    """nats-server configuration: the three accounts, the service users, what the services'
    account exports to the agents' account, and the auth callout.

    Passwords are written in the clear: they are derived from the server secret, and the file
    is as private as the secret (the embedded server writes it with mode 0600)."""
    issuer = issuer_keypair(secret).public_key.decode()
    user_lines = "\n".join(
        f'      {{ user: "{user}", password: "{service_password(secret, user)}" }}' for user in users
    )
    exports = "\n".join(f"      {one.export_line()}" for one in agent_exports())
    imports = "\n".join(f"      {one.import_line()}" for one in agent_exports())
    auth_users = ", ".join(f'"{user}"' for user in users)
    return f"""# Crontopus: generated from the server secret; regenerate after changing it, and after
# upgrading Crontopus (this layout: agents in their own account, since 2026-12).
# Each service connects as one of these users: CRONTOPUS_NATS_URL=nats://<user>@<host>:4222
# (the password below is derived from the secret; the service derives it too).
# Room for large replies (a page of 1,000 jobs with big manifests); NATS's default is 1 MB.
max_payload: {MAX_PAYLOAD}
accounts {{
  {ACCOUNT} {{
    jetstream: enabled
    users: [
{user_lines}
    ]
    # What agents use, for the agents' account only.
    exports: [
{exports}
    ]
  }}
  # Agents, placed here by the auth callout (each with only its own subjects). No JetStream:
  # they reach the services through these imports, and every answer stays in this account.
  {AGENTS_ACCOUNT} {{
    imports: [
{imports}
    ]
    # An answer an agent aimed at a team's nudge subject goes nowhere (real nudges come in
    # through the import above, which this mapping does not touch).
    mappings: {{
      "{subjects.MANIFESTS_CHANGED_WILDCARD}": "{subjects.discarded_nudges_mapping()}"
    }}
  }}
  {SYSTEM_ACCOUNT} {{ }}
}}
system_account: {SYSTEM_ACCOUNT}
authorization {{
  auth_callout {{
    issuer: "{issuer}"
    account: {ACCOUNT}
    auth_users: [ {auth_users} ]
  }}
}}
"""


# --- NATS JWTs (https://docs.nats.io/ "JWTs": ed25519-nkey signed, base64url parts) ----------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(claims: dict[str, Any], signer: nkeys.KeyPair) -> str:
    body = {**claims, "iss": signer.public_key.decode()}
    body.setdefault("iat", int(time.time()))
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).digest()
    body["jti"] = base64.b32encode(digest).decode().rstrip("=")
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    signature = signer.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{_b64(signature)}"


class InvalidJwt(ValueError):
    pass


def _verify_key(public_key: str) -> VerifyKey:
    """An nkey's public key is base32(prefix byte + 32-byte ed25519 key + crc16)."""
    raw = base64.b32decode(public_key + "=" * (-len(public_key) % 8))
    if len(raw) != 35 or nkeys.crc16(bytearray(raw[:-2])) != int.from_bytes(raw[-2:], "little"):
        raise InvalidJwt("malformed issuer key")
    return VerifyKey(raw[1:33])


def decode_verified_jwt(token: str) -> dict[str, Any]:
    """The claims of a JWT signed by the nkey in its ``iss`` (the NATS server's own key for an
    authorization request); InvalidJwt when it is malformed or the signature does not verify."""
    try:
        header, payload, signature = token.split(".")
        claims: dict[str, Any] = json.loads(_unb64(payload))
        _verify_key(claims["iss"]).verify(f"{header}.{payload}".encode(), _unb64(signature))
    except Exception as exc:
        raise InvalidJwt(f"not a valid NATS JWT: {exc}") from exc
    return claims
