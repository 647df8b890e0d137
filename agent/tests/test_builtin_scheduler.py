"""The built-in scheduler: when jobs start (DST in Europe/Berlin, missed runs, reconciles) and how.

Most tests drive the real ``serve`` loop with a fake clock whose sleep advances it, so a night
passes in milliseconds; two tests use real time (a tenth of a second), one a real subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crontopus_agent.jobs import AgentJob
from crontopus_agent.schedulers import builtin
from crontopus_agent.schedulers.base import Scheduler
from crontopus_agent.schedulers.builtin import BuiltinScheduler, Launch, SubprocessLauncher, Timetable, launches
from crontopus_schemas.cron import fire_times

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    """A Berlin wall time; in a fall-back's repeated hour, its first pass (CEST)."""
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=BERLIN)


def job(name: str, schedule: str, **changes: Any) -> AgentJob:
    base = AgentJob(namespace="alice", name=name, schedule=schedule, timezone="Europe/Berlin", command="backup")
    return replace(base, **changes)


class FakeTime:
    """A clock and a sleep that advances it; when it passes ``until`` it parks for good.

    It counts in UTC: adding a timedelta to a Berlin datetime moves its wall time, which would
    skip or repeat an hour at a DST change."""

    def __init__(self, start: datetime, *, until: datetime) -> None:
        self.current = start.astimezone(UTC)
        self.until = until
        self.over = asyncio.Event()
        self.suspensions: dict[datetime, timedelta] = {}  # when reached, the host sleeps this long

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # started runs get the loop, as they would in real time
        self.current += timedelta(seconds=seconds)
        self.current += self.suspensions.pop(self.current, timedelta())
        if self.current >= self.until:
            self.over.set()
            await asyncio.Event().wait()


class Recorder:
    """A launcher that records (fire time, clock when started, ref)."""

    def __init__(self, clock: FakeTime) -> None:
        self.clock = clock
        self.calls: list[tuple[datetime, datetime, str]] = []
        self.then: Callable[[Launch], Awaitable[None]] | None = None  # what the run does next

    async def __call__(self, launch: Launch) -> None:
        self.calls.append((launch.at, self.clock.now(), launch.ref))
        if self.then is not None:
            await self.then(launch)

    @property
    def started_at(self) -> list[datetime]:
        return [at for at, _, _ in self.calls]


def night(start: datetime, until: datetime) -> tuple[FakeTime, Recorder, BuiltinScheduler]:
    clock = FakeTime(start, until=until)
    recorder = Recorder(clock)
    return (
        clock,
        recorder,
        BuiltinScheduler(Path("/nonexistent"), clock=clock.now, sleep=clock.sleep, launcher=recorder),
    )


async def serve_until_over(scheduler: BuiltinScheduler, clock: FakeTime) -> None:
    serving = asyncio.create_task(scheduler.serve())
    over = asyncio.create_task(clock.over.wait())
    done, _ = await asyncio.wait({serving, over}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    serving.cancel()
    over.cancel()
    if serving in done:
        serving.result()  # serve stopped by itself: show why
    assert over in done, "the simulated night did not end within 5 s"
    with contextlib.suppress(asyncio.CancelledError):
        await serving


def count_fire_times(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the schedule of every fire-time computation the scheduler makes."""
    computed: list[str] = []

    def counting(schedule: str, timezone: str, **kwargs: Any) -> Any:
        computed.append(schedule)
        return fire_times(schedule, timezone, **kwargs)

    monkeypatch.setattr(builtin, "fire_times", counting)
    return computed


# --- DST in Europe/Berlin -----------------------------------------------------------------

SPRING_DAY = (berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0))
FALL_DAY = (berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0))


@pytest.mark.parametrize("schedule", ["0 2 * * *", "30 2 * * *"])
def test_a_job_in_the_spring_forward_gap_runs_once_at_3am_cest(schedule: str) -> None:
    start, end = SPRING_DAY

    assert list(launches([job("backup", schedule)], start=start, end=end)) == [
        (utc(2026, 3, 29, 1, 0), "alice/backup")  # 03:00 CEST, when the clock jumps
    ]


@pytest.mark.parametrize(
    ("schedule", "first_pass"), [("0 2 * * *", utc(2026, 10, 25, 0, 0)), ("30 2 * * *", utc(2026, 10, 25, 0, 30))]
)
def test_a_job_in_the_repeated_fall_back_hour_runs_once_the_first_time(schedule: str, first_pass: datetime) -> None:
    start, end = FALL_DAY

    # first_pass is 02:xx CEST; the same wall time an hour later (02:xx CET) does not run again
    assert list(launches([job("backup", schedule)], start=start, end=end)) == [(first_pass, "alice/backup")]


def test_every_30_minutes_over_the_fall_back_night_follows_real_time() -> None:
    start, end = berlin(2026, 10, 25, 1, 0), berlin(2026, 10, 25, 4, 0)

    got = [at for at, _ in launches([job("poll", "*/30 * * * *")], start=start, end=end)]

    # As Debian's cron runs it: the minute field starts with *, so the job follows real time and
    # runs in both copies of the repeated hour (02:00 and 02:30 CEST, then CET), never pausing.
    assert got == [
        utc(2026, 10, 24, 23, 30),  # 01:30 CEST
        utc(2026, 10, 25, 0, 0),  # 02:00 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 0),  # 02:00 CET
        utc(2026, 10, 25, 1, 30),  # 02:30 CET
        utc(2026, 10, 25, 2, 0),  # 03:00 CET
        utc(2026, 10, 25, 2, 30),  # 03:30 CET
        utc(2026, 10, 25, 3, 0),  # 04:00 CET
    ]
    expected = fire_times("*/30 * * * *", "Europe/Berlin", after=start, count=len(got))
    assert got == [f.at.astimezone(UTC) for f in expected]  # a time in the fold never equals another zone's


async def test_the_loop_starts_each_job_on_time_through_the_fall_back_night() -> None:
    start, end = berlin(2026, 10, 24, 22, 0), berlin(2026, 10, 25, 5, 0)
    jobs = [job("nightly", "0 2 * * *"), job("half", "30 2 * * *"), job("poll", "*/30 * * * *")]
    clock, recorder, scheduler = night(start, until=end + timedelta(seconds=30))
    scheduler.reconcile(jobs)

    await serve_until_over(scheduler, clock)

    assert recorder.calls == [(at, at, ref) for at, ref in launches(jobs, start=start, end=end)]
    assert sum(1 for _, _, ref in recorder.calls if ref == "alice/nightly") == 1


# --- reconciles ------------------------------------------------------------------------------


async def test_a_job_reconciled_at_015959_runs_at_0200() -> None:
    clock, recorder, scheduler = night(berlin(2026, 6, 1, 1, 59, 59), until=berlin(2026, 6, 1, 2, 1, 30))
    scheduler.reconcile([job("backup", "0 2 * * *")])

    await serve_until_over(scheduler, clock)

    assert recorder.calls == [(berlin(2026, 6, 1, 2, 0), berlin(2026, 6, 1, 2, 0), "alice/backup")]


def test_reconcile_reports_added_updated_and_removed_and_never_drift() -> None:
    clock = FakeTime(berlin(2026, 6, 1, 12, 0), until=berlin(2027, 1, 1))
    scheduler = BuiltinScheduler(Path("/nonexistent"), clock=clock.now)
    scheduler.reconcile([job("a", "0 2 * * *"), job("b", "0 3 * * *"), job("c", "0 4 * * *")])

    report = scheduler.reconcile([job("a", "0 2 * * *", commit="new"), job("b", "15 3 * * *"), job("d", "0 5 * * *")])

    assert (report.backend, report.added, report.updated, report.removed) == (
        "builtin",
        ["alice/d"],
        ["alice/b"],
        ["alice/c"],
    )
    assert report.drift == [] and report.errors == []
    assert scheduler.installed() == {
        j.ref: j.fingerprint for j in [job("a", "0 2 * * *"), job("b", "15 3 * * *"), job("d", "0 5 * * *")]
    }
    assert not scheduler.reconcile([job("a", "0 2 * * *"), job("b", "15 3 * * *"), job("d", "0 5 * * *")]).changed


def test_a_job_whose_zone_this_host_does_not_know_is_reported_and_the_rest_applied() -> None:
    scheduler = BuiltinScheduler(Path("/nonexistent"))

    report = scheduler.reconcile([job("a", "0 2 * * *"), job("b", "0 2 * * *", timezone="Mars/Olympus")])

    assert report.added == ["alice/a"]
    assert len(report.errors) == 1 and report.errors[0].startswith("alice/b: unknown time zone")
    assert list(scheduler.installed()) == ["alice/a"]


async def test_removing_a_job_stops_it() -> None:
    clock, recorder, scheduler = night(berlin(2026, 6, 1, 1, 0), until=berlin(2026, 6, 1, 3, 0))
    scheduler.reconcile([job("poll", "*/10 * * * *")])

    async def remove(launch: Launch) -> None:
        scheduler.reconcile([])  # the daemon's next sync drops the job

    recorder.then = remove
    await serve_until_over(scheduler, clock)

    assert recorder.started_at == [berlin(2026, 6, 1, 1, 10)]
    assert scheduler.installed() == {}


def test_changing_a_schedule_recomputes_only_that_job(monkeypatch: pytest.MonkeyPatch) -> None:
    computed = count_fire_times(monkeypatch)
    scheduler = BuiltinScheduler(Path("/nonexistent"), clock=lambda: berlin(2026, 6, 1, 12, 0))
    scheduler.reconcile([job("a", "0 2 * * *"), job("b", "0 3 * * *")])
    computed.clear()

    scheduler.reconcile([job("a", "0 2 * * *"), job("b", "45 4 * * *")])

    assert computed == ["45 4 * * *"]
    assert scheduler.next_at("alice/a") == berlin(2026, 6, 2, 2, 0)
    assert scheduler.next_at("alice/b") == berlin(2026, 6, 2, 4, 45)


async def test_a_tick_recomputes_only_the_jobs_that_fired(monkeypatch: pytest.MonkeyPatch) -> None:
    computed = count_fire_times(monkeypatch)
    clock, recorder, scheduler = night(berlin(2026, 6, 1, 1, 0), until=berlin(2026, 6, 1, 4, 0, 30))
    scheduler.reconcile([job("nightly", "0 2 * * *"), job("noon", "0 12 * * *"), job("hourly", "0 * * * *")])
    computed.clear()

    await serve_until_over(scheduler, clock)

    assert len(recorder.calls) == 4  # nightly at 02:00, hourly at 02:00, 03:00 and 04:00
    assert sorted(computed) == ["0 * * * *"] * 3 + ["0 2 * * *"]


async def test_a_paused_job_is_installed_but_never_started() -> None:
    clock, recorder, scheduler = night(berlin(2026, 6, 1, 0, 0), until=berlin(2026, 6, 2, 0, 0))
    paused = job("poll", "* * * * *", paused=True)
    scheduler.reconcile([paused])

    await serve_until_over(scheduler, clock)

    assert recorder.calls == []
    assert scheduler.installed() == {"alice/poll": paused.fingerprint}
    assert list(launches([paused], start=berlin(2026, 6, 1, 0, 0), end=berlin(2026, 6, 8, 0, 0))) == []


# --- missed runs -----------------------------------------------------------------------------


async def test_a_late_wakeup_skips_the_missed_runs_instead_of_bursting(caplog: pytest.LogCaptureFixture) -> None:
    clock, recorder, scheduler = night(berlin(2026, 6, 1, 0, 59), until=berlin(2026, 6, 1, 4, 21))
    scheduler.reconcile([job("poll", "*/5 * * * *")])
    clock.suspensions[berlin(2026, 6, 1, 1, 5)] = timedelta(hours=3, minutes=2)  # asleep 01:05 to 04:07

    with caplog.at_level("WARNING", logger=builtin.__name__):
        await serve_until_over(scheduler, clock)

    # 01:05 to 04:05 (37 runs) are skipped; the job resumes at 04:10
    assert recorder.started_at == [berlin(2026, 6, 1, 1, 0), *(berlin(2026, 6, 1, 4, m) for m in (10, 15, 20))]
    assert "skipped missed runs ref=alice/poll since=2026-05-31T23:05:00+00:00 resumes=2026-06-01T02:10:00+00:00" in (
        caplog.text
    )


def test_a_run_late_by_less_than_the_tolerance_still_starts_once() -> None:
    table = Timetable(tolerance=timedelta(seconds=60))
    table.replace([job("poll", "*/5 * * * *")], now=berlin(2026, 6, 1, 0, 59))

    due = table.take_due(berlin(2026, 6, 1, 1, 0, 45))  # a busy loop, 45 s late

    assert [launch.at for launch in due.launches] == [berlin(2026, 6, 1, 1, 0)]
    assert due.missed == []
    assert table.next_at("alice/poll") == berlin(2026, 6, 1, 1, 5)


def test_after_a_long_stop_only_the_fire_time_within_the_tolerance_runs() -> None:
    table = Timetable(tolerance=timedelta(seconds=60))
    table.replace([job("poll", "* * * * *")], now=berlin(2026, 6, 1, 0, 0))

    due = table.take_due(berlin(2026, 6, 1, 9, 0, 30))  # woke 9 h later

    assert [launch.at for launch in due.launches] == [berlin(2026, 6, 1, 9, 0)]
    assert [(m.first, m.resumes) for m in due.missed] == [(berlin(2026, 6, 1, 0, 1), berlin(2026, 6, 1, 9, 0))]


# --- the loop in real time -------------------------------------------------------------------


def real_clock_from(start: datetime) -> tuple[Any, float]:
    """A clock that reads ``start`` now and then moves with real time."""
    origin = time.monotonic()
    start = start.astimezone(UTC)
    return (lambda: start + timedelta(seconds=time.monotonic() - origin)), origin


async def test_a_reconcile_from_a_worker_thread_wakes_the_loop_in_real_time() -> None:
    clock, origin = real_clock_from(berlin(2026, 6, 1, 1, 59, 59, 850_000))
    started: asyncio.Queue[Launch] = asyncio.Queue()

    async def launcher(launch: Launch) -> None:
        started.put_nowait(launch)

    scheduler = BuiltinScheduler(Path("/nonexistent"), clock=clock, launcher=launcher)
    serving = asyncio.create_task(scheduler.serve())
    await asyncio.sleep(0.01)  # the loop is now napping with nothing to do (up to 30 s)
    try:
        await asyncio.to_thread(scheduler.reconcile, [job("backup", "0 2 * * *")])
        launch = await asyncio.wait_for(started.get(), timeout=2)
    finally:
        serving.cancel()

    assert launch.at == berlin(2026, 6, 1, 2, 0)
    assert 0.1 <= time.monotonic() - origin < 1.0  # at 02:00, not at the end of the nap


FAKE_AGENT = """
import json, os, sys
from pathlib import Path
home = Path(sys.argv[sys.argv.index("--home") + 1])
(home / "ran.tmp").write_text(json.dumps({"argv": sys.argv[1:], "pid": os.getpid()}))
os.replace(home / "ran.tmp", home / "ran.json")
"""


async def test_a_due_job_runs_the_exec_wrapper_as_a_subprocess_and_leaves_no_zombie(tmp_path: Path) -> None:
    agent = tmp_path / "fake_agent.py"
    agent.write_text(FAKE_AGENT)
    clock, _ = real_clock_from(berlin(2026, 6, 1, 1, 59, 59, 900_000))
    launcher = SubprocessLauncher(tmp_path, agent_command=[sys.executable, str(agent)])
    scheduler = BuiltinScheduler(tmp_path, clock=clock, launcher=launcher)
    scheduler.reconcile([job("backup", "0 2 * * *", command="pg_dump", args=("--all",))])

    serving = asyncio.create_task(scheduler.serve())
    try:
        ran = tmp_path / "ran.json"
        for _ in range(300):
            if ran.exists():
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(scheduler.drain(), timeout=3)
    finally:
        serving.cancel()

    record = json.loads(ran.read_text())
    assert record["argv"] == ["exec", "--home", str(tmp_path), "alice/backup", "--", "pg_dump", "--all"]
    assert not in_process_table(record["pid"]), "the finished wrapper is still in the process table (a zombie)"


def in_process_table(pid: int) -> bool:
    """True for a running process and for a zombie (an exited child nobody reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_long_run_does_not_delay_the_next_job() -> None:
    clock, recorder, scheduler = night(berlin(2026, 6, 1, 1, 0), until=berlin(2026, 6, 1, 2, 30))
    scheduler.reconcile([job("slow", "5 1 * * *"), job("quick", "10 1 * * *")])
    forever = asyncio.Event()

    async def slow_runs_forever(launch: Launch) -> None:
        if launch.ref == "alice/slow":
            await forever.wait()

    recorder.then = slow_runs_forever
    await serve_until_over(scheduler, clock)

    assert recorder.calls[1] == (berlin(2026, 6, 1, 1, 10), berlin(2026, 6, 1, 1, 10), "alice/quick")
    assert scheduler.running == 1
    forever.set()
    await scheduler.drain()
    assert scheduler.running == 0


def test_it_is_a_scheduler_backend() -> None:
    backend: Scheduler = BuiltinScheduler(Path("/nonexistent"))

    assert backend.name == "builtin"
