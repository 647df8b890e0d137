"""GET /api/events on a live stack: a team's runs, incidents, agents and job changes as
Server-Sent Events, within a second; never another team's; resumed after a disconnect with
nothing missed and nothing twice; consumers gone when the client goes."""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import nats
import pytest

from crontopus_gateway.events import SOURCES
from crontopus_server.testing import NIGHTLY_EXPORT, Account, Stack, create_api_key, sign_up, wait_until

OPENAPI = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
DOCUMENTED_EVENT = jsonschema_rs.validator_for(
    json.loads(OPENAPI.read_text())["paths"]["/api/events"]["get"]["responses"]["200"]["content"]["text/event-stream"][
        "schema"
    ]
)


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # events come from NATS; the database does not matter here


@pytest.fixture
def stack_env(stack_env, request):
    return {**stack_env, "CRONTOPUS_GATEWAY_EVENTS_KEEPALIVE": 0.5, **getattr(request, "param", {})}


@dataclass
class Event:
    type: str | None
    id: str | None
    data: Any = None
    comment: str | None = None


@dataclass
class Listener:
    """Reads GET /api/events in a thread; events (and comments) arrive in ``received``."""

    stack: Stack
    headers: dict[str, str]
    received: queue.Queue[Event] = field(default_factory=queue.Queue)
    status: int | None = None
    last_id: str | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    seen: list[Event] = field(default_factory=list)
    taken: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.stack.url, timeout=httpx.Timeout(10, read=None))
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.opened.wait(10), "the stream did not answer"

    def _read(self) -> None:
        try:
            with self.client.stream("GET", "/api/events", headers=self.headers) as response:
                self.content_type = response.headers.get("content-type", "")
                if response.status_code != 200:
                    self.body = response.read().decode()
                self.status = response.status_code
                self.opened.set()
                if response.status_code != 200:
                    return
                self._parse(response.iter_lines())
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by close()
        finally:
            self.opened.set()
            self.ended.set()

    def _parse(self, lines) -> None:
        block: dict[str, Any] = {"data": []}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                block.setdefault(name or "comment", []).append(value.removeprefix(" "))
                continue
            event = Event(type=(block.get("event") or [None])[0], id=(block.get("id") or [None])[0],
                          comment=(block.get("comment") or [None])[0])  # fmt: skip
            if block["data"]:
                event.data = json.loads("\n".join(block["data"]))
            self.last_id = event.id or self.last_id
            self.received.put(event)
            block = {"data": []}

    def next(self, kind: str, *, timeout: float = 5.0, where=lambda data: True) -> Event:
        """The first event of this type (matching ``where``) not asked for before, in the order
        they came, waiting for it if it has not come yet."""
        deadline = time.monotonic() + timeout
        while True:
            self._collect()
            for event in self.seen:
                if event.type == kind and id(event) not in self.taken and where(event.data):
                    self.taken.add(id(event))
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind} event within {timeout}s")
            time.sleep(0.02)

    def _collect(self) -> None:
        while not self.received.empty():
            self.seen.append(self.received.get())

    def drain(self, seconds: float) -> list[Event]:
        """What comes within ``seconds`` that was not collected before."""
        time.sleep(seconds)
        before = len(self.seen)
        self._collect()
        return self.seen[before:]

    def close(self) -> None:
        self.client.close()
        self.thread.join(timeout=10)


@pytest.fixture
def listeners():
    opened: list[Listener] = []

    def listen(stack: Stack, headers: dict[str, str], last_event_id: str | None = None) -> Listener:
        extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
        listener = Listener(stack, {**headers, **extra})
        opened.append(listener)
        return listener

    yield listen
    for listener in opened:
        listener.close()


def checkin(api: httpx.Client, account: Account, status: str = "success", job: str = "staging/hello") -> str:
    run_id = uuid.uuid4().hex
    answer = api.post("/api/checkins", json={"job": job, "run_id": run_id, "status": status}, headers=account.headers)
    assert answer.status_code == 202, answer.text
    return run_id


def ran(run_id: str):
    return lambda data: run_id in {run["run_id"] for run in data["runs"]}


def test_a_checkin_shows_up_as_runs_recorded_within_a_second(stack, api, listeners):
    alice = sign_up(api, "alice")
    listener = listeners(stack, alice.headers)
    assert (listener.status, listener.content_type.split(";")[0]) == (200, "text/event-stream")
    opening = listener.drain(0.2)[0]
    assert opening.comment == "connected" and opening.id
    started = time.monotonic()
    run_id = checkin(api, alice, "failure")
    event = listener.next("runs.recorded", timeout=1.0, where=ran(run_id))
    assert time.monotonic() - started < 1.0
    [run] = [run for run in event.data["runs"] if run["run_id"] == run_id]
    assert (run["job"], run["status"]) == ("staging/hello", "failure") and event.id
    sent = {"id": event.id, "event": event.type, "data": json.dumps(event.data)}
    assert DOCUMENTED_EVENT.is_valid(sent), "each event as docs/openapi.json describes it (contract tools check it)"


def test_a_read_key_may_listen_and_keep_alives_come(stack, api, listeners):
    alice = sign_up(api, "alice")
    listener = listeners(stack, {"X-Api-Key": create_api_key(api, alice, "read")})
    assert listener.status == 200
    assert any(event.comment == "keep-alive" for event in listener.drain(1.5))
    run_id = checkin(api, alice)
    listener.next("runs.recorded", where=ran(run_id))


def enroll_agent(api: httpx.Client, account: Account, name: str) -> dict:
    token = api.post("/api/agents/enrollment-tokens", headers=account.headers).json()["token"]
    enrolled = api.post("/api/agents/enroll", json={"token": token, "name": name})
    assert enrolled.status_code == 201, enrolled.text
    return enrolled.json()


def test_another_teams_stream_never_carries_the_first_teams_events(stack, api, listeners):
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    hers, his = listeners(stack, alice.headers), listeners(stack, bob.headers)
    run_id = checkin(api, alice, "failure")  # a run, and an incident (one failure opens one)
    created = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT}, headers=alice.headers)
    assert created.status_code == 201, created.text
    agent = enroll_agent(api, alice, "alice-host")
    hers.next("runs.recorded", where=ran(run_id))
    opened = hers.next("incident", where=lambda data: data["job"] == "staging/hello")
    assert (opened.data["change"], opened.data["status"], opened.data["cause"]) == ("opened", "open", "failed")
    changed = hers.next("manifests.changed", where=lambda data: "production/nightly-export" in data["added"])
    assert changed.data["author"].startswith("alice")
    hers.next("agent", where=lambda data: (data["kind"], data["agent_id"]) == ("enrolled", agent["agent_id"]))
    acked = api.post(f"/api/incidents/{opened.data['id']}/ack", headers=alice.headers)
    assert acked.status_code == 200, acked.text
    assert hers.next("incident", where=lambda data: data["change"] == "acknowledged").data["id"] == opened.data["id"]

    seen_by_bob = [event for event in his.drain(1.0) if event.type]
    assert seen_by_bob == []
    bobs_run = checkin(api, bob)
    assert his.next("runs.recorded", where=ran(bobs_run)).data["runs"][0]["run_id"] == bobs_run


def test_a_resumed_stream_delivers_what_was_missed_and_nothing_twice(stack, api, listeners):
    alice = sign_up(api, "alice")
    first = listeners(stack, alice.headers)
    before = checkin(api, alice)
    resume_at = first.next("runs.recorded", where=ran(before)).id
    first.close()
    missed = [checkin(api, alice) for _ in range(3)]
    wait_until(lambda: len(api.get("/api/runs", headers=alice.headers).json()["runs"]) == 4)
    time.sleep(0.3)  # their events are published right after the runs are stored
    second = listeners(stack, alice.headers, last_event_id=resume_at)
    replayed = [event for event in second.drain(1.5) if event.type == "runs.recorded"]
    run_ids = [run["run_id"] for event in replayed for run in event.data["runs"]]
    assert sorted(run_ids) == sorted(missed), "each missed run once, the one before not again"
    after = checkin(api, alice)
    live = second.next("runs.recorded", where=ran(after))
    assert live.id != replayed[-1].id
    third = listeners(stack, alice.headers, last_event_id=live.id)
    assert [event for event in third.drain(1.0) if event.type] == [], "nothing after the last id yet"


def test_a_last_event_id_this_server_did_not_send_is_a_422(stack, api, listeners):
    alice = sign_up(api, "alice")
    listener = listeners(stack, alice.headers, last_event_id="not-a-token")
    [error] = json.loads(listener.body)["detail"]
    assert listener.status == 422 and error["loc"] == ["header", "Last-Event-ID"] and "not an event id" in error["msg"]
    assert listeners(stack, {}).status == 401


def test_a_last_event_id_beyond_any_stream_sequence_is_a_422_not_a_503(stack, api, listeners):
    alice = sign_up(api, "alice")
    forged = base64.b64encode(b"1:99999999999999999999.0.0.0").decode()  # over a JetStream sequence (uint64)
    listener = listeners(stack, alice.headers, last_event_id=forged)
    [error] = json.loads(listener.body)["detail"]
    assert listener.status == 422 and error["loc"] == ["header", "Last-Event-ID"] and "not an event id" in error["msg"]
    assert listeners(stack, alice.headers).status == 200, "and the team's stream still opens"


async def purge_runs_stream(url: str) -> None:
    connection = await nats.connect(url)
    try:
        await connection.jetstream().purge_stream(SOURCES[0].stream)
    finally:
        await connection.close()


def test_a_resume_the_streams_cannot_serve_whole_is_a_422_so_the_console_reloads(stack, api, listeners):
    alice = sign_up(api, "alice")
    first = listeners(stack, alice.headers)
    resume_at = first.next("runs.recorded", where=ran(checkin(api, alice))).id
    first.close()
    ahead = [int(part) for part in base64.urlsafe_b64decode(resume_at + "==").decode().split(":")[1].split(".")]
    ahead[0] += 1000  # the streams were made anew since (a NATS server reinstalled): they are behind it
    future = base64.urlsafe_b64encode(("1:" + ".".join(map(str, ahead))).encode()).decode().rstrip("=")
    assert listeners(stack, alice.headers, last_event_id=future).status == 422
    checkin(api, alice)
    time.sleep(0.3)  # its event published
    asyncio.run(purge_runs_stream(stack.nats.url))  # what came after resume_at is gone
    aged_out = listeners(stack, alice.headers, last_event_id=resume_at)
    assert aged_out.status == 422 and "no longer hold" in aged_out.body
    fresh = listeners(stack, alice.headers)
    run_id = checkin(api, alice)
    assert fresh.next("runs.recorded", where=ran(run_id)).data["runs"][0]["run_id"] == run_id


async def consumer_counts(url: str) -> list[int]:
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        return [(await js.stream_info(source.stream)).state.consumer_count for source in SOURCES]
    finally:
        await connection.close()


def test_the_streams_consumers_are_gone_when_the_client_goes(stack, api, listeners):
    alice = sign_up(api, "alice")
    counts = lambda: asyncio.run(consumer_counts(stack.nats.url))  # noqa: E731
    before = counts()
    listener = listeners(stack, alice.headers)
    assert counts() == [n + 1 for n in before], "one ordered consumer per stream"
    listener.close()
    wait_until(lambda: counts() == before, timeout=5)
    gateway = stack.server.config.app.state.gateway
    # The count drops once the last consumer's deletion has come back, a moment after NATS shows it.
    wait_until(lambda: dict(gateway.events.open_streams) == {}, timeout=5)


def test_a_revoked_key_ends_its_stream(stack, api, listeners):
    alice = sign_up(api, "alice")
    key = create_api_key(api, alice, "read")
    listener = listeners(stack, {"X-Api-Key": key})
    [key_id] = [k["id"] for k in api.get("/api/api-keys", headers=alice.headers).json()["api_keys"]]
    assert api.delete(f"/api/api-keys/{key_id}", headers=alice.headers).status_code == 204
    assert listener.ended.wait(5), "the stream ends at the next keep-alive"
    closing = [event.comment for event in listener.drain(0) if event.comment]
    assert closing[-1].startswith("closed: ")


@pytest.mark.parametrize("stack_env", [{"CRONTOPUS_GATEWAY_EVENTS_MAX_STREAMS": 2}], indirect=True)
def test_a_team_holds_a_bounded_number_of_streams_open(stack, api, listeners):
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    assert [listeners(stack, alice.headers).status for _ in range(2)] == [200, 200]
    refused = listeners(stack, alice.headers)
    assert refused.status == 429 and "live event streams open" in json.loads(refused.body)["detail"]
    assert listeners(stack, bob.headers).status == 200, "another team is not held up"


# One request a minute refills the bucket: the requests below find it as the check-ins left it,
# however slow the machine (at 60 a minute, a slow loop got one back).
@pytest.mark.parametrize(
    "stack_env", [{"CRONTOPUS_GATEWAY_RATE_LIMIT_CREDENTIAL": 1, "CRONTOPUS_GATEWAY_RATE_LIMIT_CREDENTIAL_BURST": 3}],
    indirect=True,
)  # fmt: skip
def test_a_stream_counts_once_against_the_rate_limit_however_many_events_it_carries(stack, api, listeners):
    alice = sign_up(api, "alice")
    key = {"X-Api-Key": create_api_key(api, alice, "read")}
    listener = listeners(stack, key)  # one request of this key's three
    writer = {"X-Api-Key": create_api_key(api, alice, "write")}
    for _ in range(3):  # the writer's own three
        run_id = uuid.uuid4().hex
        assert api.post("/api/checkins", json={"job": "staging/hello", "run_id": run_id, "status": "success"},
                        headers=writer).status_code == 202  # fmt: skip
        listener.next("runs.recorded", where=ran(run_id))
    assert [api.get("/api/jobs", headers=key).status_code for _ in range(3)] == [200, 200, 429]
