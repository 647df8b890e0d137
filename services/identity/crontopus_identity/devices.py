"""Device tokens: OWASP's "device cookies" against online password guessing.

Locking an account after repeated failures would let anyone lock anyone out. So a sign-in from a
client that signed in to the account before is told apart from all others: each successful
sign-in hands the client a device token, ``<user id>.<issued, unix s>.<nonce>.<mac>`` where the
mac is a keyed hash (server secret, own purpose) of the rest. Failures from clients without a
valid token for the account count towards one lock of the account against all such clients;
failures from a client with a valid token count towards a lock of that token only. The owner's
known browser or CLI keeps signing in while a guesser is locked out.

Nothing is stored per token: the mac proves we issued it, to whom and when. No I/O here.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from crontopus_kit.crypto import keyed_hash

PURPOSE = "identity device token"


@dataclass(frozen=True)
class Device:
    """A client that signed in to ``user_id`` before, named by the nonce of its token."""

    user_id: str
    nonce: str

    @property
    def throttle_key(self) -> str:
        return f"device:{self.nonce}"


def issue(*, secret: bytes, user_id: str, now: datetime) -> str:
    body = f"{user_id}.{int(now.timestamp())}.{secrets.token_urlsafe(16)}"
    return f"{body}.{keyed_hash(secret, PURPOSE, body)}"


def verify(*, secret: bytes, token: str | None, user_id: str, ttl: int, now: datetime) -> Device | None:
    """The device ``token`` stands for if we issued it to ``user_id`` at most ``ttl`` seconds ago.
    A malformed, forged, expired or another user's token is None: it counts as no token at all."""
    body, _, mac = (token or "").rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or not hmac.compare_digest(mac.encode(), keyed_hash(secret, PURPOSE, body).encode()):
        return None
    owner, issued, nonce = parts
    if owner != user_id or not issued.isdigit() or now.timestamp() - int(issued) > ttl:
        return None
    return Device(user_id=owner, nonce=nonce)
