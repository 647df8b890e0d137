"""Ping key -> job, cached in each gateway process: a ping whose key was seen in the last hour
resolves without a round trip to gitops (an hourly job's pings too).

Every gateway hears gitops' ManifestsChanged (core NATS on the GITOPS stream's subject, no
consumer) and drops that team's entries at once, and every remembered miss: a job removed from
Git stops answering and a new one answers as soon as its sync is announced. A lookup that was in
flight when a change came is not kept. The entry's lifetime bounds what a gateway cut off from
NATS for a while could miss.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable

from faststream.nats import NatsRouter
from faststream.nats.annotations import NatsMessage

from crontopus_kit.errors import NotFound
from crontopus_schemas import subjects
from crontopus_schemas.pings import PING_KEY_PATTERN, PingTarget

HIT_SECONDS = 3600.0
MISS_SECONDS = 5.0  # short: announcements can be missed, and a job pushed a moment ago should answer soon
MAX_ENTRIES = 10_000  # bounds what random keys can make us hold

Lookup = Callable[[str], Awaitable[PingTarget | None]]


class KeyCache:
    """Entries sit under a hash of the key, so the process never holds usable keys."""

    def __init__(self, *, router: NatsRouter, lookup: Lookup) -> None:
        """``lookup`` asks gitops (None: no such key); ``router`` gets the announcement subscriber."""
        self._lookup = lookup
        self._entries: dict[str, tuple[PingTarget | None, float]] = {}
        self._changes = 0  # how many announcements were heard: a lookup spanning one is not kept

        # No queue group: every gateway process must hear every announcement.
        @router.subscriber(subjects.MANIFESTS_CHANGED_WILDCARD)
        async def manifests_changed(message: NatsMessage) -> None:
            self.forget_team(subjects.tenant_from_subject(message.raw_message.subject))

    async def resolve(self, key: str) -> PingTarget:
        """The key's job; NotFound for a key no job has."""
        digest, now = hashlib.sha256(key.encode()).hexdigest(), time.monotonic()
        cached = self._entries.get(digest)
        if cached is not None and cached[1] > now:
            target = cached[0]
        else:
            changes = self._changes
            target = await self._lookup(key) if re.fullmatch(PING_KEY_PATTERN, key) else None
            if changes == self._changes:
                self._put(digest, target, now + (HIT_SECONDS if target else MISS_SECONDS))
        if target is None:
            raise NotFound("not found")
        return target

    def forget_team(self, tenant_id: str) -> None:
        self._changes += 1
        self._entries = {
            digest: entry
            for digest, entry in self._entries.items()
            if entry[0] is not None and entry[0].tenant_id != tenant_id
        }

    def _put(self, digest: str, target: PingTarget | None, expires: float) -> None:
        self._entries.pop(digest, None)
        while len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[digest] = (target, expires)
