"""Changes of members' access that make their access tokens void before they expire.

Access tokens are verified locally and live for minutes. When a member's role changes or they
leave a team, identity publishes ``AccessChanged`` on the ACCESS stream; every gateway reads that
stream from its start (an ordered, ephemeral consumer: no acks, nothing on disk) and refuses the
member's tokens for the team issued before the change. A refresh then gets a token with the new
role, or fails for someone who left (identity revoked their refresh tokens).

The stream keeps a day of changes (access tokens live at most 23 hours), so a gateway that starts
after a change still refuses what it must: it reads the stream up to its end before it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.api import DeliverPolicy

from crontopus_kit.broker import jetstream
from crontopus_kit.logging import get_logger
from crontopus_schemas.identity import AccessChanged
from crontopus_schemas.rpc import Principal
from crontopus_schemas.subjects import ACCESS_ROOT, ACCESS_STREAM

log = get_logger(__name__)
CATCH_UP_TIMEOUT = 10.0


class AccessChanges:
    def __init__(self, broker: NatsBroker) -> None:
        self.broker = broker
        self._changed_at: dict[tuple[str, str], float] = {}  # (tenant, user) -> epoch seconds
        self._subscription: object | None = None
        self._read_up_to = 0  # the stream sequence of the last change read
        self._read = asyncio.Condition()

    def outdates(self, principal: Principal) -> bool:
        """Whether the principal's access token was issued before a change of its access."""
        at = self._changed_at.get((principal.tenant_id, principal.subject_id))
        return at is not None and (principal.issued_at is None or principal.issued_at <= at)

    def note(self, change: AccessChanged) -> None:
        key = (change.tenant_id, change.user_id)
        self._changed_at[key] = max(self._changed_at.get(key, 0.0), change.at.timestamp())
        horizon = time.time() - ACCESS_STREAM.max_age_seconds
        if len(self._changed_at) > 1000:  # tokens older than the stream's age are expired anyway
            self._changed_at = {k: at for k, at in self._changed_at.items() if at > horizon}

    async def start(self) -> None:
        """Read the stream to its end, then follow it."""
        js = jetstream(self.broker)
        state = (await js.stream_info(ACCESS_STREAM.name)).state
        caught_up = asyncio.Event()
        if state.messages == 0:
            caught_up.set()

        async def on_message(msg: Msg) -> None:
            try:
                self.note(AccessChanged.model_validate_json(msg.data))
            except ValueError:
                log.warning("unreadable access change ignored", subject=msg.subject)
            if msg.metadata.sequence.stream >= state.last_seq:
                caught_up.set()
            async with self._read:
                self._read_up_to = msg.metadata.sequence.stream
                self._read.notify_all()

        self._subscription = await js.subscribe(
            f"{ACCESS_ROOT}.>", stream=ACCESS_STREAM.name, cb=on_message, ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )  # fmt: skip
        try:
            await asyncio.wait_for(caught_up.wait(), CATCH_UP_TIMEOUT)
        except TimeoutError:
            log.error("the access changes were not all read in time; reading on in the background")

    async def read_to_the_end(self, timeout: float = 2.0) -> None:
        """Until every change published so far has been read: a route that changed someone's
        access calls this before it answers, so that the change holds at once in this gateway
        (identity publishes before it replies; the stream delivers it a moment later). Past the
        timeout, or with NATS unable to say how far the stream goes, it answers anyway: the change
        is made, and holds a moment later (never a 500 for what succeeded)."""
        try:
            async with asyncio.timeout(timeout):
                last = (await jetstream(self.broker).stream_info(ACCESS_STREAM.name)).state.last_seq
                async with self._read:
                    await self._read.wait_for(lambda: self._read_up_to >= last)
        except TimeoutError:
            pass
        except NatsError as exc:
            log.warning("could not wait for the access change to be read", error=str(exc))

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()  # type: ignore[attr-defined]
            self._subscription = None
