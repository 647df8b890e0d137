"""Ping keys: each job's unguessable, Healthchecks-style ping URL.

A key is derived from the server secret and the job (HMAC), so it can be shown again at any
time without being stored; the index keeps only a keyed hash of it, for lookups. Changing the
server secret changes every ping URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from crontopus_kit.crypto import derive_key, keyed_hash

KEY_PURPOSE = "crontopus ping key v1"
LOOKUP_PURPOSE = "crontopus ping lookup v1"


def ping_key(secret: bytes, tenant_id: str, job_ref: str) -> str:
    """22 URL-safe characters (128 bits), stable for a job while the secret stays."""
    digest = hmac.new(derive_key(secret, KEY_PURPOSE), f"{tenant_id}:{job_ref}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def ping_hash(secret: bytes, key: str) -> str:
    return keyed_hash(secret, LOOKUP_PURPOSE, key)


def ping_url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/ping/{key}"
