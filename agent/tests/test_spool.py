"""The spool and the reporter: check-ins survive NATS outages, in order, and are stored once."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import nats
import pytest

from crontopus_agent import spool as spool_module
from crontopus_agent.home import Credentials
from crontopus_agent.reporting import MSG_ID_HEADER, CheckInReporter
from crontopus_agent.spool import MAX_FILES_ENV, RejectedCheckInError, Spool
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_schemas.events import CheckInEvent
from crontopus_schemas.subjects import CHECKINS_STREAM, checkin_msg_id, checkin_subject

AGENT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TENANT_ID = "f9e8d7c6b5a4938271605f4e3d2c1b0a"


def checkin(status: str = "running", run_id: str | None = None) -> CheckInEvent:
    return CheckInEvent(job="team/backup", run_id=run_id or uuid.uuid4().hex, status=status, source=AGENT_ID)


def credentials(url: str) -> Credentials:
    # The test server has no auth: nats-server ignores a login it did not ask for.
    return Credentials(
        agent_id=AGENT_ID,
        tenant_id=TENANT_ID,
        name="test-host",
        nats_urls=[url],
        nats_user="",
        nats_password="",
        server_url="http://127.0.0.1:9",
    )


class Recorder:
    """A publisher that acknowledges everything except the check-ins it is told to refuse."""

    def __init__(self, *, refuse: set[str] | None = None, reject: set[str] | None = None) -> None:
        self.sent: list[CheckInEvent] = []
        self.refuse = refuse or set()
        self.reject = reject or set()

    async def __call__(self, event: CheckInEvent) -> bool:
        if event.run_id in self.reject:
            raise RejectedCheckInError("too large")
        if event.run_id in self.refuse:
            return False
        await asyncio.sleep(0.001)
        self.sent.append(event)
        return True


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool")


async def stored_checkins(url: str) -> list[tuple[str, CheckInEvent]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(CHECKINS_STREAM.name)).state
        found = []
        for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
            msg = await js.get_msg(CHECKINS_STREAM.name, seq)
            assert msg.data is not None and msg.headers is not None
            found.append((msg.headers[MSG_ID_HEADER], CheckInEvent.model_validate_json(msg.data)))
        return found
    finally:
        await nc.close()


async def create_stream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(
            name=CHECKINS_STREAM.name,
            subjects=list(CHECKINS_STREAM.subjects),
            duplicate_window=CHECKINS_STREAM.duplicate_window_seconds,
        )
    finally:
        await nc.close()


# --- the spool on disk ------------------------------------------------------------------------


def test_checkins_come_back_in_the_order_they_were_written(spool: Spool) -> None:
    written = [checkin(run_id=f"run{number:03d}") for number in range(50)]
    for event in written:
        spool.write(event)

    assert [spool.read(path).run_id for path in spool.pending()] == [event.run_id for event in written]
    assert [p.name for p in spool.root.iterdir() if p.name.startswith(".tmp-")] == []
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in spool.pending())


def test_names_keep_write_order_even_when_the_clock_steps_back(spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([5_000_000_000_000_000_000, 4_000_000_000_000_000_000, 3_000_000_000_000_000_000])
    monkeypatch.setattr(spool_module.time, "time_ns", lambda: next(clock))
    first, second, third = (checkin(run_id=name) for name in ("first", "second", "third"))
    for event in (first, second, third):
        spool.write(event)

    assert [spool.read(path).run_id for path in spool.pending()] == ["first", "second", "third"]


def test_a_full_spool_drops_new_checkins_and_counts_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_files=3)
    kept = [spool.write(checkin()) for _ in range(3)]
    dropped = [spool.write(checkin()) for _ in range(2)]

    assert all(kept) and dropped == [None, None]
    assert spool.stats().pending == 3
    assert spool.stats().dropped == 2
    assert (spool.root / "dropped").read_text().strip() == "2"


def test_the_bound_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_FILES_ENV, "25")
    assert Spool.for_home(tmp_path).max_files == 25
    monkeypatch.delenv(MAX_FILES_ENV)
    assert Spool.for_home(tmp_path).max_files == 10_000


# --- draining -----------------------------------------------------------------------------------


async def test_drain_sends_oldest_first_and_empties_the_spool(spool: Spool) -> None:
    events = [checkin(run_id=f"run{number}") for number in range(5)]
    for event in events:
        spool.write(event)
    publish = Recorder()

    assert await spool.drain(publish) == 5
    assert [event.run_id for event in publish.sent] == [event.run_id for event in events]
    assert spool.is_empty()


async def test_drain_stops_at_the_first_failure_and_keeps_the_rest_in_order(spool: Spool) -> None:
    for number in range(5):
        spool.write(checkin(run_id=f"run{number}"))

    assert await spool.drain(Recorder(refuse={"run2"})) == 2
    assert [spool.read(path).run_id for path in spool.pending()] == ["run2", "run3", "run4"]

    later = Recorder()
    assert await spool.drain(later) == 3
    assert [event.run_id for event in later.sent] == ["run2", "run3", "run4"]


async def test_a_corrupt_file_is_moved_to_bad_and_the_drain_goes_on(spool: Spool) -> None:
    spool.write(checkin(run_id="before"))
    corrupt = spool.root / f"{time.time_ns():020d}-1.json"
    corrupt.write_text('{"job": "team/backup", "run_id": ')
    spool.write(checkin(run_id="after"))
    publish = Recorder()

    assert await spool.drain(publish) == 2
    assert [event.run_id for event in publish.sent] == ["before", "after"]
    assert (spool.bad_dir / corrupt.name).read_text() == '{"job": "team/backup", "run_id": '
    assert spool.stats().bad == 1


async def test_a_checkin_the_server_refuses_for_good_is_set_aside(spool: Spool) -> None:
    for run_id in ("first", "huge", "last"):
        spool.write(checkin(run_id=run_id))
    publish = Recorder(reject={"huge"})

    assert await spool.drain(publish) == 2
    assert [spool.read(path).run_id for path in spool.bad_dir.iterdir()] == ["huge"]


async def test_concurrent_drains_never_send_a_file_twice(spool: Spool) -> None:
    for number in range(40):
        spool.write(checkin(run_id=f"run{number:02d}"))
    publish = Recorder()

    counts = await asyncio.gather(*(spool.drain(publish, lock_timeout=10) for _ in range(3)))

    assert sum(counts) == 40
    assert [event.run_id for event in publish.sent] == [f"run{number:02d}" for number in range(40)]


async def test_a_drainer_that_cannot_get_the_lock_in_time_sends_nothing(spool: Spool) -> None:
    spool.write(checkin())
    release = asyncio.Event()

    async def slow(event: CheckInEvent) -> bool:
        await release.wait()
        return True

    first = asyncio.create_task(spool.drain(slow))
    await asyncio.sleep(0.05)
    assert await spool.drain(Recorder(), lock_timeout=0.1) == 0
    release.set()
    assert await first == 1


async def test_a_temp_file_left_by_a_crash_is_swept(spool: Spool) -> None:
    spool.write(checkin())
    stray = spool.root / ".tmp-00000000000000000001-1.json"
    stray.write_text("half a check-in")
    os.utime(stray, (time.time() - 3600, time.time() - 3600))

    await spool.drain(Recorder())

    assert not stray.exists()


# --- the reporter against a real nats-server ------------------------------------------------------


async def test_the_reporter_publishes_to_the_agents_subject_with_the_dedup_header(
    tmp_path: Path, nats_server: NatsServerProcess
) -> None:
    await create_stream(nats_server.url)
    event = checkin(status="running", run_id="r1")

    async with CheckInReporter(home=tmp_path, credentials=credentials(nats_server.url)) as reporter:
        assert await reporter.send(event)

    [(msg_id, stored)] = await stored_checkins(nats_server.url)
    assert msg_id == checkin_msg_id(TENANT_ID, AGENT_ID, "r1", "running") == f"{TENANT_ID}:{AGENT_ID}:r1:start"
    assert stored.run_id == "r1" and stored.source == AGENT_ID
    nc = await nats.connect(nats_server.url)
    last = await nc.jetstream().get_msg(CHECKINS_STREAM.name, subject=checkin_subject(TENANT_ID, AGENT_ID))
    await nc.close()
    assert last.seq == 1


async def test_a_checkin_sent_again_after_a_crash_is_stored_once(
    tmp_path: Path, nats_server: NatsServerProcess
) -> None:
    await create_stream(nats_server.url)
    event = checkin(status="success", run_id="r1")
    async with CheckInReporter(home=tmp_path, credentials=credentials(nats_server.url)) as reporter:
        assert await reporter.send(event)
        # A crash between the PubAck and the delete leaves the file in the spool.
        reporter.spool.write(event)
        assert await reporter.drain() == 1

    assert [msg_id for msg_id, _ in await stored_checkins(nats_server.url)] == [f"{TENANT_ID}:{AGENT_ID}:r1:finish"]
    assert Spool.for_home(tmp_path).is_empty()


async def test_a_file_an_older_agent_sent_under_its_old_id_still_flushes(
    tmp_path: Path, nats_server: NatsServerProcess
) -> None:
    """Older agents sent ``<run id>:<phase>``; the file they kept after a crash goes out under
    the new id (the spool keeps check-ins, not ids): stored once more, which the runs service
    merges by (team, run id), and the spool empties."""
    await create_stream(nats_server.url)
    event = checkin(status="success", run_id="r1")
    nc = await nats.connect(nats_server.url)
    await nc.jetstream().publish(
        checkin_subject(TENANT_ID, AGENT_ID), event.model_dump_json().encode(), headers={MSG_ID_HEADER: "r1:finish"}
    )
    await nc.close()
    Spool.for_home(tmp_path).write(event)

    async with CheckInReporter(home=tmp_path, credentials=credentials(nats_server.url)) as reporter:
        assert await reporter.drain() == 1

    stored = await stored_checkins(nats_server.url)
    assert [msg_id for msg_id, _ in stored] == ["r1:finish", f"{TENANT_ID}:{AGENT_ID}:r1:finish"]
    assert {checkin.run_id for _, checkin in stored} == {"r1"} and Spool.for_home(tmp_path).is_empty()


async def test_while_nats_is_down_checkins_wait_in_the_spool_and_go_first_later(
    tmp_path: Path, nats_server: NatsServerProcess
) -> None:
    await create_stream(nats_server.url)
    nats_server.stop()
    async with CheckInReporter(home=tmp_path, credentials=credentials(nats_server.url)) as reporter:
        started = time.monotonic()
        assert not await reporter.send(checkin("running", "r1"))
        assert time.monotonic() - started < 2
    assert Spool.for_home(tmp_path).count() == 1

    nats_server.start()
    async with CheckInReporter(home=tmp_path, credentials=credentials(nats_server.url)) as reporter:
        assert await reporter.send(checkin("success", "r1"))

    ids = [msg_id for msg_id, _ in await stored_checkins(nats_server.url)]
    assert ids == [f"{TENANT_ID}:{AGENT_ID}:r1:start", f"{TENANT_ID}:{AGENT_ID}:r1:finish"]
    assert Spool.for_home(tmp_path).is_empty()


async def test_without_a_stream_checkins_are_spooled_not_lost(tmp_path: Path, nats_server: NatsServerProcess) -> None:
    async with CheckInReporter(home=tmp_path, credentials=credentials(nats_server.url)) as reporter:
        assert not await reporter.send(checkin())

    assert Spool.for_home(tmp_path).count() == 1


async def test_a_silent_server_costs_at_most_the_budget(tmp_path: Path) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reporter = CheckInReporter(home=tmp_path, credentials=credentials(f"nats://127.0.0.1:{port}"), budget=0.5)
        started = time.monotonic()
        assert not await reporter.send(checkin())
        await reporter.close()
        assert time.monotonic() - started < 1.5
    finally:
        server.close()
    assert Spool.for_home(tmp_path).count() == 1


async def test_an_unenrolled_reporter_only_spools(tmp_path: Path) -> None:
    reporter = CheckInReporter(home=tmp_path, credentials=None, spool=Spool(tmp_path / "spool", max_files=1))

    assert not await reporter.send(checkin())
    assert not await reporter.send(checkin())
    assert await reporter.drain() == 0
    assert reporter.dropped == 1
    assert reporter.spool.stats().pending == 1 and reporter.spool.dropped() == 1
