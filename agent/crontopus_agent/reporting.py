"""Sending check-ins to JetStream, with the on-disk spool as the fallback.

Used by the exec wrapper (one short connection per check-in) and by the daemon (its own connection,
draining the spool in the background).

Guarantees:

- A check-in counts as sent only once JetStream acknowledged it (an awaited PubAck); anything else
  (NATS down, slow, no stream, not enrolled) leaves it in the spool, durably.
- Order: while the spool holds anything, a new check-in is spooled behind it and the spool is
  drained first, so no check-in overtakes an older one (a finish never before its start).
- Exactly once as stored: every publish carries
  ``Nats-Msg-Id: <tenant>:<agent>:<run id>:start|finish`` (``checkin_msg_id``; the team and the
  agent in it, so nobody else's id can equal it); a repeat inside the stream's duplicate window is
  acknowledged as a duplicate and not stored again, and the runs service merges a run's
  check-ins by (team, run id), also one sent again with an older agent's id.
- Bounded waiting: connecting and each publish have short timeouts, and ``send`` as a whole a
  budget (default 5 s), so a wrapper never holds a cron slot while NATS is down or silent.
- Subject and ``source`` come from this agent's credentials, never from the event: a check-in
  spooled before enrollment is sent as this agent's once it is enrolled.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import TracebackType
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext

from crontopus_agent.home import Credentials, connect
from crontopus_agent.spool import RejectedCheckInError, Spool
from crontopus_schemas.events import CheckInEvent
from crontopus_schemas.subjects import checkin_msg_id, checkin_subject

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
CONNECT_TIMEOUT_SECONDS = 2.0
PUBLISH_TIMEOUT_SECONDS = 2.0
SEND_BUDGET_SECONDS = 5.0

_NATS_FAILURES = (nats.errors.Error, OSError, TimeoutError)


async def _quiet(error: Exception) -> None:
    # nats-py logs every failed connect at ERROR by default; on a cron host that becomes mail.
    log.debug("nats: %s", error)


def msg_id(credentials: Credentials, event: CheckInEvent) -> str:
    """This agent's de-duplication id for ``event``: the same for a file sent twice."""
    return checkin_msg_id(credentials.tenant_id, credentials.agent_id, event.run_id, event.status)


class CheckInReporter:
    """Publishes check-ins as one agent; spools what it cannot send.

    ``nc``: an existing connection (the daemon's), left open on ``close``; without it the reporter
    connects on first use, once, with ``allow_reconnect=False`` (a wrapper does not wait for NATS).
    ``budget``: seconds one ``send`` may take in all (connect, drain, publish); None for no bound.
    """

    def __init__(
        self,
        *,
        home: Path,
        credentials: Credentials | None,
        spool: Spool | None = None,
        nc: NatsClient | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        publish_timeout: float = PUBLISH_TIMEOUT_SECONDS,
        budget: float | None = SEND_BUDGET_SECONDS,
    ) -> None:
        self.credentials = credentials
        self.spool = spool or Spool.for_home(home)
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self.budget = budget
        self.dropped = 0  # check-ins this reporter lost to a full spool
        self.last_error: BaseException | None = None
        self._nc = nc
        self._owns_nc = nc is None
        self._js: JetStreamContext | None = nc.jetstream() if nc else None
        self._unreachable = False

    async def __aenter__(self) -> CheckInReporter:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_nc and self._nc is not None and not self._nc.is_closed:
            try:
                await asyncio.wait_for(self._nc.close(), self.connect_timeout)
            except (*_NATS_FAILURES, asyncio.CancelledError) as exc:
                log.debug("closing the NATS connection: %s", exc)
        self._nc = self._js = None

    # --- public ------------------------------------------------------------------------------

    async def send(self, event: CheckInEvent) -> bool:
        """Publish ``event``; True once acknowledged, False when it was spooled (or dropped)."""
        deadline = None if self.budget is None else asyncio.get_running_loop().time() + self.budget
        sendable = self.credentials is not None and self.spool.is_empty()
        if sendable and await self._within(deadline, self._publish(event)):
            return True
        # Not sent (or older check-ins wait): spooled behind them, then the spool is drained in order.
        path = self.spool.write(event)
        if path is None:
            self.dropped += 1
            return False
        if self.credentials is None:
            return False
        await self._within(deadline, self.drain())
        return not path.exists()

    async def drain(self) -> int:
        """Send the spool's check-ins oldest first; how many were acknowledged."""
        if self.credentials is None:
            return 0
        lock_timeout = self.budget if self.budget is not None else 30.0
        return await self.spool.drain(self._publish_spooled, lock_timeout=lock_timeout)

    # --- internals ---------------------------------------------------------------------------

    @staticmethod
    async def _within(deadline: float | None, work: Any) -> Any:
        """``await work`` until ``deadline`` (loop time); False if it ran out."""
        try:
            async with asyncio.timeout_at(deadline):
                return await work
        except TimeoutError:
            return False

    async def _publish_spooled(self, event: CheckInEvent) -> bool:
        return await self._publish(event, raise_rejected=True)

    async def _publish(self, event: CheckInEvent, *, raise_rejected: bool = False) -> bool:
        assert self.credentials is not None
        js = await self._jetstream()
        if js is None:
            return False
        ours = event.model_copy(update={"source": self.credentials.agent_id})
        try:
            ack = await js.publish(
                checkin_subject(self.credentials.tenant_id, self.credentials.agent_id),
                ours.model_dump_json().encode(),
                timeout=self.publish_timeout,
                headers={MSG_ID_HEADER: msg_id(self.credentials, event)},
            )
        except nats.errors.MaxPayloadError as exc:
            # Larger than the server accepts: retrying cannot help. Spooled first, then set aside.
            self.last_error = exc
            if raise_rejected:
                raise RejectedCheckInError(str(exc)) from exc
            return False
        except _NATS_FAILURES as exc:
            self.last_error = exc
            log.debug("check-in %s not sent: %r", event.run_id, exc)
            return False
        log.debug("check-in %s %s stored at seq %s (duplicate: %s)", event.run_id, event.status, ack.seq, ack.duplicate)
        return True

    async def _jetstream(self) -> JetStreamContext | None:
        if self._js is not None:
            return self._js
        if self._unreachable or self.credentials is None:
            return None
        try:
            self._nc = await asyncio.wait_for(self._connect(self.credentials), self.connect_timeout + 1)
        except _NATS_FAILURES as exc:
            self._unreachable = True  # one try per reporter: a wrapper must not wait for NATS
            self.last_error = exc
            log.debug("NATS unreachable: %r", exc)
            return None
        self._js = self._nc.jetstream()
        return self._js

    async def _connect(self, credentials: Credentials) -> NatsClient:
        return await connect(
            credentials,
            connect_timeout=self.connect_timeout,
            allow_reconnect=False,
            # nats-py retries each server inside connect() up to max_reconnect_attempts times
            # (0 means forever), sleeping reconnect_time_wait between tries.
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            error_cb=_quiet,
        )
