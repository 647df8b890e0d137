"""Rate limits of the gateway, in memory per gateway process: per ping URL, per credential (an
API key, or a sign-in's access token) on ``/api/``, and per client address on both.

Each limit is a GCRA (the token bucket as one number per key: the time its bucket is full
again), so a request costs a dict lookup or two, and a key's state is one float. Keys are kept
in least-recently-used order and the oldest dropped past ``MAX_KEYS``, so random keys cannot
grow memory: a dropped key is one that has been quiet longest, most likely full again anyway.

The most specific limit is asked first, and a request is only charged when every limit lets it
through: a runaway loop on one ping URL (or one API key) is refused on its own bucket without
draining its address, so the other jobs behind the same address (one NAT for a whole team) keep
reporting.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from crontopus_gateway.addresses import Network, client_address
from crontopus_gateway.settings import GatewaySettings

MAX_KEYS = 100_000  # per limit: ~15 MB at most for all three
EPSILON = 1e-6
PING_PREFIX = "/ping/"
API_PREFIX = "/api/"
BADGE_PREFIX = "/badge/"  # public status badges: limited per address only


class RateLimiter:
    """``per_minute`` sustained, up to ``burst`` at once. ``per_minute`` 0: no limit."""

    def __init__(self, *, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self.burst = per_minute, burst
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.tolerance = (burst - 1) * self.interval
        self.clock = clock
        self._full_at: OrderedDict[Hashable, float] = OrderedDict()

    def wait(self, key: Hashable, now: float) -> float:
        """Seconds until ``key`` may make a request; 0: now."""
        if not self.interval:
            return 0.0
        full_at = self._full_at.get(key)
        if full_at is None:
            return 0.0
        self._full_at.move_to_end(key)  # a refused loop is in use too: not the first to be dropped
        wait = full_at - now - self.tolerance
        return wait if wait > EPSILON else 0.0  # sums of intervals are not exact

    def take(self, key: Hashable, now: float) -> None:
        if not self.interval:
            return
        self._full_at[key] = max(self._full_at.get(key, now), now) + self.interval
        self._full_at.move_to_end(key)
        if len(self._full_at) > MAX_KEYS:
            self._full_at.popitem(last=False)

    def __len__(self) -> int:
        return len(self._full_at)


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
    def from_settings(cls, settings: GatewaySettings) -> RateLimits:
        def limit(name: str, what: str, per_minute: int, burst: int) -> Limit:
            return Limit(name, what, RateLimiter(per_minute=per_minute, burst=burst))

        return cls(
            address=limit("address", "from this address", settings.rate_limit_address,
                          settings.rate_limit_address_burst),
            credential=limit("credential", "with this API key or access token", settings.rate_limit_credential,
                             settings.rate_limit_credential_burst),
            ping_url=limit("ping URL", "to this ping URL", settings.rate_limit_ping_url,
                           settings.rate_limit_ping_url_burst),
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
        limits: list[tuple[Limit, Hashable]] = [(self.limits.address, address)]
        specific = self._specific(scope, path)
        if specific:
            limits.insert(0, specific)
        now = self.limits.address.limiter.clock()
        for limit, key in limits:
            wait = limit.limiter.wait(key, now)
            if wait:
                await _refuse(send, *limit.refusal(wait))
                return
        for limit, key in limits:
            limit.limiter.take(key, now)
        await self.app(scope, receive, send)

    def _specific(self, scope: Scope, path: str) -> tuple[Limit, int] | None:
        """The ping URL's key, or the credential, as an int: the limiter holds no usable secret."""
        if path.startswith(PING_PREFIX):
            return self.limits.ping_url, hash(path[len(PING_PREFIX) :].partition("/")[0])
        credential = _credential(scope)
        return (self.limits.credential, hash(credential)) if credential else None


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
