"""Rate limits of the gateway: per ping URL, per credential (an API key, or a sign-in's access
token) on ``/api/``, and per client address on both.

Each limit is a GCRA (the token bucket as one number per key: the time its bucket is full
again), kept in a table of fixed size: a key's word holds a tag of its keyed hash and that time,
in ticks of 0.1 ms. The tables of a server's gateway processes (``CRONTOPUS_WORKERS``) are one
shared memory (``Counters``), so N processes allow the configured rate in all, not N times it,
as nginx's ``limit_req`` zones are shared by its workers. A word is read and written whole (one
aligned 64-bit store), so a process never sees half of another's; two processes charging the
same key at the same instant may both count once where twice was due, a few requests in a flood,
which these limits tolerate. A key goes to one of 4 words (its set); a new key takes the word
whose bucket is fullest (a full bucket is as good as no entry), so random keys cannot grow
memory nor push out a refused loop, whose bucket stays far from full. The hash is keyed with a
secret of the server's, so nobody can choose keys that share a set.

The most specific limit is asked first, and a request is only charged when every limit lets it
through: a runaway loop on one ping URL (or one API key) is refused on its own bucket without
draining its address, so the other jobs behind the same address (one NAT for a whole team) keep
reporting.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import multiprocessing
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from starlette.types import ASGIApp, Receive, Scope, Send

from crontopus_gateway.addresses import Network, client_address
from crontopus_gateway.settings import GatewaySettings

EPSILON = 1e-6
PING_PREFIX = "/ping/"
API_PREFIX = "/api/"
BADGE_PREFIX = "/badge/"  # public status badges: limited per address only

TICK = 1e-4  # seconds: the resolution of a bucket's time
TIME_BITS = 44  # 2**44 ticks: 55 years of the monotonic clock (time since boot)
TIME_MASK = (1 << TIME_BITS) - 1
WAYS = 4  # words a key may take (its set)
SETS = 2**15  # per limit: 131,072 keys in 1 MiB
Words = ctypes.Array[ctypes.c_uint64]


def new_words(sets: int = SETS, *, shared: bool = False) -> Words:
    """A table of ``sets`` sets, in memory that spawned processes can share (``shared``) or not."""
    if shared:
        return multiprocessing.get_context("spawn").RawArray(ctypes.c_uint64, sets * WAYS)
    return (ctypes.c_uint64 * (sets * WAYS))()


@dataclass(frozen=True)
class Counters:
    """The three limits' tables and the hash key of one server, for each of its gateway processes
    (passed to a spawned one as its argument: the arrays are shared memory)."""

    secret: bytes
    address: Words
    credential: Words
    ping_url: Words

    @classmethod
    def create(cls, *, shared: bool, sets: int = SETS) -> Counters:
        words = [new_words(sets, shared=shared) for _ in range(3)]
        return cls(secret=secrets.token_bytes(16), address=words[0], credential=words[1], ping_url=words[2])


class Bucket(NamedTuple):
    """Where a key's bucket is (its word), its tag, and the tick it is full again (0: no entry)."""

    word: int
    tag: int
    full_at: int


class RateLimiter:
    """``per_minute`` sustained, up to ``burst`` at once. ``per_minute`` 0: no limit. Its table is
    its own unless ``words`` (and ``secret``) come from the server's ``Counters``."""

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        words: Words | None = None,
        secret: bytes | None = None,
        sets: int = SETS,
    ) -> None:
        self.per_minute, self.burst, self.clock = per_minute, burst, clock
        self.interval_ticks = max(1, round(60.0 / per_minute / TICK)) if per_minute else 0
        self.tolerance = (burst - 1) * self.interval_ticks * TICK
        table = words if words is not None else new_words(sets)
        self.words = memoryview(table).cast("B").cast("Q")  # a view reads a word twice as fast as ctypes
        self.sets = len(self.words) // WAYS
        self._hash = hashlib.blake2b(digest_size=8, key=secret or secrets.token_bytes(16))

    @property
    def unlimited(self) -> bool:
        return not self.interval_ticks

    def find(self, key: str | bytes) -> Bucket:
        """``key``'s bucket, or the word it would take: of its set, the one whose bucket is fullest."""
        hashing = self._hash.copy()  # the keyed state, set up once
        hashing.update(key.encode() if isinstance(key, str) else key)
        digest = int.from_bytes(hashing.digest())
        tag = (digest >> TIME_BITS) | 1  # odd: a word in use is never 0
        start = (digest % self.sets) * WAYS
        words = self.words
        fullest, fullest_at = start, TIME_MASK + 1
        for index in range(start, start + WAYS):
            word = words[index]
            if word >> TIME_BITS == tag:
                return Bucket(index, tag, word & TIME_MASK)
            if word & TIME_MASK < fullest_at:
                fullest, fullest_at = index, word & TIME_MASK
        return Bucket(fullest, tag, 0)

    def wait_for(self, bucket: Bucket, now: float) -> float:
        """Seconds until the bucket's key may make a request; 0: now."""
        wait = bucket.full_at * TICK - now - self.tolerance
        return wait if wait > EPSILON else 0.0  # sums of intervals are not exact

    def charge(self, bucket: Bucket, now: float) -> None:
        full_at = max(bucket.full_at, round(now / TICK)) + self.interval_ticks
        self.words[bucket.word] = (bucket.tag << TIME_BITS) | (full_at & TIME_MASK)

    def wait(self, key: str | bytes, now: float) -> float:
        return 0.0 if self.unlimited else self.wait_for(self.find(key), now)

    def take(self, key: str | bytes, now: float) -> None:
        if not self.unlimited:
            self.charge(self.find(key), now)

    def __len__(self) -> int:
        """Keys held (for tests)."""
        return sum(1 for word in self.words if word)


@dataclass(frozen=True)
class Limit:
    name: str
    what: str  # completes "too many requests ..."
    limiter: RateLimiter

    def refusal(self, wait: float) -> tuple[str, int]:
        seconds = max(1, math.ceil(wait))
        rate = f"{self.limiter.per_minute:g} a minute, bursts of {self.limiter.burst}"
        return f"rate limit per {self.name}: too many requests {self.what} ({rate}); retry in {seconds} s", seconds


@dataclass(frozen=True)
class RateLimits:
    address: Limit
    credential: Limit
    ping_url: Limit
    trusted_proxies: Sequence[Network]

    @classmethod
    def from_settings(cls, settings: GatewaySettings, counters: Counters | None = None) -> RateLimits:
        """``counters``: the tables this server's gateway processes share; None: this process's own."""
        counters = counters or Counters.create(shared=False)

        def limit(name: str, what: str, per_minute: int, burst: int, words: Words) -> Limit:
            limiter = RateLimiter(per_minute=per_minute, burst=burst, words=words, secret=counters.secret)
            return Limit(name, what, limiter)

        return cls(
            address=limit("address", "from this address", settings.rate_limit_address,
                          settings.rate_limit_address_burst, counters.address),
            credential=limit("credential", "with this API key or access token", settings.rate_limit_credential,
                             settings.rate_limit_credential_burst, counters.credential),
            ping_url=limit("ping URL", "to this ping URL", settings.rate_limit_ping_url,
                           settings.rate_limit_ping_url_burst, counters.ping_url),
            trusted_proxies=settings.trusted_proxies,
        )  # fmt: skip


class RateLimitMiddleware:
    """429 with Retry-After, before anything else is done for the request (no body read, no
    credential checked: a refused loop costs next to nothing)."""

    def __init__(self, app: ASGIApp, *, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith((API_PREFIX, PING_PREFIX, BADGE_PREFIX)):
            await self.app(scope, receive, send)
            return
        address = client_address(scope, self.limits.trusted_proxies)
        limits: list[tuple[Limit, str | bytes]] = [(self.limits.address, address)]
        specific = self._specific(scope, path)
        if specific:
            limits.insert(0, specific)
        now = self.limits.address.limiter.clock()
        found = [(limit, limit.limiter.find(key)) for limit, key in limits if not limit.limiter.unlimited]
        for limit, bucket in found:
            wait = limit.limiter.wait_for(bucket, now)
            if wait:
                await _refuse(send, *limit.refusal(wait))
                return
        for limit, bucket in found:
            limit.limiter.charge(bucket, now)
        await self.app(scope, receive, send)

    def _specific(self, scope: Scope, path: str) -> tuple[Limit, str | bytes] | None:
        """The ping URL's key, or the credential (the limiter keeps a tag of its keyed hash only)."""
        if path.startswith(PING_PREFIX):
            return self.limits.ping_url, path[len(PING_PREFIX) :].partition("/")[0]
        credential = _credential(scope)
        return (self.limits.credential, credential) if credential else None


def _credential(scope: Scope) -> bytes | None:
    """What deps.current_principal authenticates with: a Bearer credential, else X-Api-Key."""
    api_key = None
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip() or None
        if name == b"x-api-key":
            api_key = value
    return api_key


async def _refuse(send: Send, detail: str, retry_after: int) -> None:
    payload = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               (b"retry-after", str(retry_after).encode())]  # fmt: skip
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
