"""The live event relay without a broker: resume tokens, SSE framing, a consumer recreated from
the stream's start sending nothing twice, and a reader too far behind ending where it can resume."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from faststream.nats import NatsBroker

from crontopus_gateway import events
from crontopus_gateway.events import EventRelay, EventStream, decode_token, encode_token, frame
from crontopus_kit.errors import Invalid


@dataclass
class FakeMsg:
    """What the relay reads of a JetStream message."""

    sequence: int
    data: bytes

    @property
    def metadata(self) -> SimpleNamespace:
        return SimpleNamespace(sequence=SimpleNamespace(stream=self.sequence))


def test_a_token_carries_a_position_in_each_stream_and_nothing_else_decodes():
    token = encode_token([12, 0, 7, 3])
    assert decode_token(token) == [12, 0, 7, 3] and "12" not in token
    b64 = lambda text: base64.urlsafe_b64encode(text.encode()).decode()  # noqa: E731
    for forged in ("", "x", encode_token([1, 2, 3]), b64("1:1.2.3.-1"), b64("2:1.2.3.4"), b64("1:a.b.c.d"),
                   b64("1:+1.2.3.4"), b64("1:1_0.2.3.4"), b64(f"1:{2**64 - 1}.0.0.0")):  # fmt: skip
        with pytest.raises(Invalid, match="Last-Event-ID"):
            decode_token(forged)


def test_a_token_holds_positions_up_to_the_last_a_stream_can_resume_after():
    assert decode_token(encode_token([2**64 - 2, 0, 0, 0])) == [2**64 - 2, 0, 0, 0]


def test_an_event_is_framed_with_its_id_and_type_and_every_line_of_data():
    assert frame("incident", "T", b'{"a": 1}') == b'id: T\nevent: incident\ndata: {"a": 1}\n\n'
    assert frame("agent", "T", b"one\ntwo") == b"id: T\nevent: agent\ndata: one\ndata: two\n\n"


async def test_a_recreated_consumer_sends_nothing_already_sent():
    stream = EventStream(js=None, tenant_id="t", positions=[5, 0, 0, 0])  # type: ignore[arg-type]
    enqueue = stream._enqueuer(0)
    for sequence in (3, 5, 6, 6, 7, 1, 8):  # an ordered consumer recreated from the start replays 1..
        await enqueue(FakeMsg(sequence, b"{}"))
    queued = [stream.queue.get_nowait()[1].sequence for _ in range(stream.queue.qsize())]
    assert queued == [6, 7, 8]


async def test_a_reader_too_far_behind_gets_what_was_queued_then_the_stream_ends(monkeypatch):
    monkeypatch.setattr(events, "QUEUE_LIMIT", 3)
    stream = EventStream(js=None, tenant_id="t", positions=[0, 0, 0, 0])  # type: ignore[arg-type]
    for sequence in range(1, 6):
        await stream._enqueuer(0)(FakeMsg(sequence, b'{"n": %d}' % sequence))
    assert stream.overflowed

    async def allowed() -> None:
        return None

    relay = EventRelay(broker=NatsBroker(), max_streams_per_team=1, keepalive_seconds=5)
    sent = [chunk async for chunk in relay._events(stream, allowed)]
    assert [chunk.split(b"\n")[2] for chunk in sent[:3]] == [b'data: {"n": 1}', b'data: {"n": 2}', b'data: {"n": 3}']
    assert sent[-1].startswith(b": closed: this reader fell too far behind")
    last_id = sent[2].split(b"\n")[0].removeprefix(b"id: ").decode()
    assert decode_token(last_id) == [3, 0, 0, 0], "resuming from it replays 4 and 5"


async def test_a_credential_that_no_longer_holds_ends_the_stream_at_the_next_keep_alive():
    stream = EventStream(js=None, tenant_id="t", positions=[0, 0, 0, 0])  # type: ignore[arg-type]
    answers = iter([None, "access token expired; sign in again"])

    async def allowed() -> str | None:
        return next(answers)

    relay = EventRelay(broker=NatsBroker(), max_streams_per_team=1, keepalive_seconds=0.01)
    sent = [chunk async for chunk in relay._events(stream, allowed)]
    assert sent == [b": keep-alive\n\n", b": closed: access token expired; sign in again\n\n"]
