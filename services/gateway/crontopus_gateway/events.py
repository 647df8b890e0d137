"""Live events for the web console (``GET /api/events``): what the services already publish on
JetStream about one team, relayed as Server-Sent Events.

Each open stream reads through its own ordered, ephemeral JetStream consumers, one per stream
(RUNS, GITOPS, AGENTS, INCIDENTS), each filtered on the caller's team's subject. So:
- isolation is NATS's subject filter on the tenant from the credential: no shared feed is
  sorted out in Python, and nothing of another team ever reaches this process for the stream;
- resuming is exact: an event's id encodes the stream sequence reached in each of the four
  streams, and a reconnect with ``Last-Event-ID`` starts each consumer right after it (where the
  stream still holds it), so nothing is missed and nothing comes twice;
- a stream costs four consumers in memory (no disk, no acks) while it is open; they are deleted
  when it ends, and the server drops any a crashed gateway left behind (``inactive_threshold``).

The alternative, one consumer per gateway fanning every team's events out in memory, costs one
consumer however many consoles are open, but must splice a resumed stream's replay into the live
feed by sequence, and reads every team's events in every gateway. Measured on this machine (see
the commit that added this module), opening a stream (four consumers) takes a few milliseconds and
hundreds of open streams cost the NATS server little, so exact, simple per-connection consumers
were chosen. ``CRONTOPUS_GATEWAY_EVENTS_MAX_STREAMS`` bounds the streams one team holds open.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio
import nats.errors
from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from crontopus_kit.broker import jetstream
from crontopus_kit.errors import Invalid, Throttled, Unavailable
from crontopus_kit.logging import get_logger
from crontopus_schemas import subjects

log = get_logger(__name__)

QUEUE_LIMIT = 2000  # events a slow reader may fall behind by before its stream ends (it resumes)
INACTIVE_THRESHOLD = 30.0  # seconds: the server drops a consumer nobody listens to any more
TOKEN_VERSION = "1"
# A position is a JetStream stream sequence (uint64) and a stream resumes at position + 1, which
# must be one too: anything larger is no id this server sent (NATS would refuse the consumer).
MAX_POSITION = 2**64 - 2
# Asked at each keep-alive: None while the caller's credential still holds, else why not.
Authorisation = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class Source:
    """One stream relayed: its events' SSE type and the team's subject in it."""

    type: str
    stream: str
    subject: Callable[[str], str]


SOURCES: tuple[Source, ...] = (
    Source("runs.recorded", subjects.RUNS_STREAM.name, subjects.run_recorded_subject),
    Source("manifests.changed", subjects.GITOPS_STREAM.name, subjects.manifests_changed_subject),
    Source("agent", subjects.AGENTS_STREAM.name, subjects.agent_event_subject),
    Source("incident", subjects.INCIDENTS_STREAM.name, subjects.incident_changed_subject),
)
STREAMS = (subjects.RUNS_STREAM, subjects.GITOPS_STREAM, subjects.AGENTS_STREAM, subjects.INCIDENTS_STREAM)


# --- resume tokens ---------------------------------------------------------------------------------


def encode_token(positions: Sequence[int]) -> str:
    """Opaque to clients: the last stream sequence delivered (or passed) in each source."""
    raw = TOKEN_VERSION + ":" + ".".join(str(seq) for seq in positions)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> list[int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, _, body = raw.partition(":")
        positions = [_position(part) for part in body.split(".")]
        if version != TOKEN_VERSION or len(positions) != len(SOURCES):
            raise ValueError(raw)
        return positions
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("Last-Event-ID: not an event id this server sent; reconnect without it") from exc


def _position(part: str) -> int:
    # Only the digits encode_token writes: int() would also take signs, spaces and underscores.
    if not (part.isascii() and part.isdigit()) or int(part) > MAX_POSITION:
        raise ValueError(part)
    return int(part)


# --- SSE framing -------------------------------------------------------------------------------------


def frame(event_type: str, token: str, data: bytes) -> bytes:
    """One event. Our payloads are one line of JSON; anything else still frames correctly
    (each line its own ``data:`` field, which a reader joins with newlines)."""
    lines = data.decode("utf-8", errors="replace").splitlines() or [""]
    body = "".join(f"data: {line}\n" for line in lines)
    return f"id: {token}\nevent: {event_type}\n{body}\n".encode()


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


# --- one open stream ---------------------------------------------------------------------------------


@dataclass
class EventStream:
    """The consumers of one open stream and the events they have queued."""

    js: JetStreamContext
    tenant_id: str
    positions: list[int]
    queue: asyncio.Queue[tuple[int, Msg]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False
    _subscriptions: list[JetStreamContext.PushSubscription] = field(default_factory=list)
    _queued: list[int] = field(default_factory=list)  # the last stream sequence queued per source

    def __post_init__(self) -> None:
        self._queued = list(self.positions)

    async def open(self) -> None:
        """One ordered consumer per source, starting after the position reached in it."""
        for index, source in enumerate(SOURCES):
            config = api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.positions[index] + 1,
                inactive_threshold=INACTIVE_THRESHOLD,
            )  # fmt: skip
            subscription = await self.js.subscribe(
                source.subject(self.tenant_id), stream=source.stream, config=config, ordered_consumer=True,
                cb=self._enqueuer(index), idle_heartbeat=5.0,
            )  # fmt: skip
            self._subscriptions.append(subscription)

    def _enqueuer(self, index: int) -> Callable[[Msg], Awaitable[None]]:
        async def enqueue(msg: Msg) -> None:
            sequence = msg.metadata.sequence.stream
            # An ordered consumer that lost its heartbeats is recreated after the last message it
            # saw (before any, from the stream's start): what was sent already is not sent again.
            if self.overflowed or sequence <= self._queued[index]:
                return  # overflowed: the stream ends once what came before is sent; the client resumes
            try:
                self.queue.put_nowait((index, msg))
            except asyncio.QueueFull:
                self.overflowed = True
                return
            self._queued[index] = sequence

        return enqueue

    def token_after(self, index: int, msg: Msg) -> str:
        self.positions[index] = msg.metadata.sequence.stream
        return encode_token(self.positions)

    async def close(self) -> None:
        """Unsubscribe and delete the consumers now (the server would after INACTIVE_THRESHOLD).
        Shielded: it runs as the client goes away, inside a cancelled request."""
        with anyio.CancelScope(shield=True):
            for subscription in self._subscriptions:
                await subscription.unsubscribe()
                with contextlib.suppress(NotFoundError):
                    await self.js.delete_consumer(subscription._stream, subscription._consumer)
        self._subscriptions.clear()


async def start_positions(js: JetStreamContext, resume_at: list[int] | None) -> list[int]:
    """Where each source's consumer starts after: ``resume_at`` (a ``Last-Event-ID``), or each
    stream's last sequence (from now on). A resume the streams cannot serve whole is Invalid, so
    the client starts over without it and reloads what it shows: a position past a stream's end
    (the streams were made anew since: a consumer there would wait, silent, until they catch up)
    or before what a stream still holds (events aged out since)."""
    states = [(await js.stream_info(source.stream)).state for source in SOURCES]
    if resume_at is None:
        return [state.last_seq for state in states]
    if any(not state.first_seq - 1 <= at <= state.last_seq for at, state in zip(resume_at, states, strict=True)):
        raise Invalid("Last-Event-ID: the streams no longer hold what came after it; reconnect without it")
    return resume_at


# --- the relay, shared by a gateway's streams --------------------------------------------------------


class EventRelay:
    """Opens streams for the route and keeps count of them per team."""

    def __init__(self, *, broker: NatsBroker, max_streams_per_team: int, keepalive_seconds: float) -> None:
        self.broker = broker
        self.max_streams_per_team = max_streams_per_team
        self.keepalive_seconds = keepalive_seconds
        self.open_streams: Counter[str] = Counter()

    async def open(self, tenant_id: str, last_event_id: str | None) -> EventStream:
        """The team's stream, positioned after ``last_event_id`` or at the streams' ends."""
        if self.open_streams[tenant_id] >= self.max_streams_per_team:
            raise Throttled(
                f"this team has {self.max_streams_per_team} live event streams open on this server; close a console "
                "tab or retry later",
                retry_after=5,
            )
        positions = decode_token(last_event_id) if last_event_id else None
        js = jetstream(self.broker)
        try:
            positions = await start_positions(js, positions)
            stream = EventStream(js=js, tenant_id=tenant_id, positions=positions)
            self.open_streams[tenant_id] += 1
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"live events are unavailable right now ({exc!r}); retry shortly") from exc
        try:
            await stream.open()
        except BaseException as exc:
            await self.release(stream)
            if isinstance(exc, nats.errors.Error | TimeoutError):
                raise Unavailable(f"live events are unavailable right now ({exc!r}); retry shortly") from exc
            raise
        return stream

    async def release(self, stream: EventStream) -> None:
        """Once per opened stream, whichever way it ended."""
        await stream.close()
        self.open_streams[stream.tenant_id] -= 1
        if self.open_streams[stream.tenant_id] <= 0:
            del self.open_streams[stream.tenant_id]

    async def relay(self, stream: EventStream, still_allowed: Authorisation) -> AsyncIterator[bytes]:
        """The SSE body: the position at the start, then each event as it comes, a keep-alive
        comment every ``keepalive_seconds``, the caller's credential checked again at each; ends
        when it no longer holds, or when the reader fell too far behind. (When the client goes,
        the response is cancelled and releases the stream.)"""
        yield b"retry: 2000\n" + f"id: {encode_token(stream.positions)}\n".encode() + b": connected\n\n"
        async for chunk in self._events(stream, still_allowed):
            yield chunk

    async def _events(self, stream: EventStream, still_allowed: Authorisation) -> AsyncIterator[bytes]:
        next_beat = time.monotonic() + self.keepalive_seconds
        while True:
            try:
                async with asyncio.timeout(max(0.0, next_beat - time.monotonic())):
                    index, msg = await stream.queue.get()
            except TimeoutError:
                reason = await still_allowed()
                if reason:
                    yield comment(f"closed: {reason}")
                    return
                yield comment("keep-alive")
                next_beat = time.monotonic() + self.keepalive_seconds
                continue
            yield frame(SOURCES[index].type, stream.token_after(index, msg), msg.data)
            if stream.overflowed and stream.queue.empty():
                yield comment("closed: this reader fell too far behind; reconnect with Last-Event-ID")
                return
