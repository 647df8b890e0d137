"""Tokens in the links mails carry (accept an invitation, reset a password, verify an email):
``<row id>.<HMAC of it>`` under a key of the link's purpose. Nothing of the token is stored: the
row says whether it is still good (expired, used, revoked), the MAC that the server made it. So
neither the database nor the mail stream holds a usable link, and a link cannot serve another
purpose than its own."""

from __future__ import annotations

import hmac

from crontopus_kit.crypto import keyed_hash

MAX_TOKEN_LENGTH = 200


def link_token(secret: bytes, purpose: str, row_id: str) -> str:
    return f"{row_id}.{keyed_hash(secret, 'link:' + purpose, row_id)}"


def row_of(secret: bytes, purpose: str, token: str) -> str | None:
    """The row id a genuine token names; None for anything else."""
    row_id, _, mac = token.partition(".")
    if not row_id or len(token) > MAX_TOKEN_LENGTH:
        return None
    expected = keyed_hash(secret, "link:" + purpose, row_id)
    return row_id if hmac.compare_digest(mac.encode(), expected.encode()) else None
