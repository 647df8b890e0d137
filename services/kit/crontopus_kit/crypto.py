"""Secrets at rest: keyed hashes for what we only compare, encryption for what we must use again
(a Git host's token, a webhook secret). Keys are derived from the server secret per purpose, so
one purpose's key never serves another."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


# Derived once per (secret, purpose): HKDF costs more than the HMAC it keys, and ping URLs, API
# keys and tokens are hashed on every request (the job list derives one per job).
@functools.lru_cache(maxsize=64)
def derive_key(secret: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret)


def keyed_hash(secret: bytes, purpose: str, value: str) -> str:
    """Hex HMAC-SHA256: store this, never the value, for keys that are only looked up."""
    return hmac.new(derive_key(secret, purpose), value.encode(), hashlib.sha256).hexdigest()


class SecretBox:
    """Authenticated encryption (Fernet) of small secrets under a purpose-bound key."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, purpose)))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: the server secret changed or the value was tampered with") from exc


def mask(value: str, *, keep: int = 4) -> str:
    """For echoing a secret back: enough to recognise it, never enough to use it. At most
    ``keep`` characters show in all (split between both ends), and never more than an eighth of
    the value, so a short secret shows none (a 43-character webhook secret shows as ``Ab…yz``)."""
    shown = min(keep, len(value) // 8)
    if shown <= 0:
        return "****"
    head = shown // 2
    return f"{value[:head]}…{value[head - shown :]}"
