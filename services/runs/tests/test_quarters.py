"""The statistics' quarter-hour rollups stay true: whatever changes the runs of a quarter already
rolled up (a late run, a late finish, a start after its finish, retention) marks it, and the next
request builds it again from the runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from crontopus_runs import quarters, service, stats
from crontopus_runs.retention import Pruner
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit
from crontopus_schemas.events import CheckInEvent
from crontopus_schemas.runs import RunStatsRequest

ALICE = "a" * 32
NOW = datetime(2026, 10, 26, 12, 0, tzinfo=UTC)  # long past: every quarter of the day closed


def run(run_id: str, at: datetime, *, seconds: int | None = 60, status: str = "success") -> list[CheckInEvent]:
    """A run's start at ``at`` and, unless ``seconds`` is None, its finish that much later."""
    checkins = [CheckInEvent(job="production/backup", run_id=run_id, status="running", timestamp=at)]
    if seconds is not None:
        checkins.append(finish(run_id, at + timedelta(seconds=seconds), status=status))
    return checkins


def finish(run_id: str, at: datetime, status: str = "success") -> CheckInEvent:
    return CheckInEvent(job="production/backup", run_id=run_id, status=status, timestamp=at)


async def store(unit: RunsUnit, *checkins: CheckInEvent) -> None:
    async with unit.db.session() as session:
        await service.store_checkins(session=session, checkins=[(ALICE, checkin) for checkin in checkins])


async def ask(unit: RunsUnit, now: datetime = NOW + timedelta(hours=1)):
    request = RunStatsRequest(tenant_id=ALICE, since=NOW - timedelta(hours=24), until=NOW)
    async with unit.db.session() as session:
        return await stats.run_stats(session=session, request=request, now=now)


async def from_runs(unit: RunsUnit):
    return await ask(unit, now=NOW - timedelta(days=2))


def hour(result, hours_ago: int):
    (bucket,) = [b for b in result.buckets if b.start == NOW - timedelta(hours=hours_ago)]
    return bucket


async def marks(unit: RunsUnit) -> list[tuple[int, int]]:
    async with unit.db.session() as session:
        return [tuple(row) for row in await session.execute(text("SELECT quarter, generation FROM run_quarter_marks"))]


async def test_a_late_run_stored_after_its_quarter_was_rolled_up_is_counted_next_time(runs):
    await store(runs, *run("r1", NOW - timedelta(hours=2, minutes=10)))
    assert hour(await ask(runs), 3).success == 1
    await store(runs, *run("late", NOW - timedelta(hours=2, minutes=10), seconds=600))  # a spooled run
    after = await ask(runs)
    assert hour(after, 3).success == 2 and hour(after, 3).p95_ms > 60_000
    assert after == await from_runs(runs)
    assert await marks(runs) == []  # the rebuild took them


async def test_a_late_finish_and_a_start_after_its_finish_move_the_numbers(runs):
    await store(runs, *run("long", NOW - timedelta(hours=2), seconds=None))  # still running
    await store(runs, finish("early-finish", NOW - timedelta(hours=5)))  # its finish came first
    before = await ask(runs)
    assert (hour(before, 2).running, hour(before, 2).p50_ms, hour(before, 5).success) == (1, None, 1)
    await store(runs, finish("long", NOW - timedelta(hours=1)))  # an hour later
    await store(runs, *run("early-finish", NOW - timedelta(hours=7), seconds=None))  # its start, two hours earlier
    after = await ask(runs)
    assert (hour(after, 2).success, hour(after, 2).running) == (1, 0)
    assert abs(hour(after, 2).p50_ms - 3_600_000) <= 36_000
    assert (hour(after, 5).success, hour(after, 7).success) == (0, 1)
    assert after == await from_runs(runs)


async def test_a_mark_bumped_while_its_quarter_is_rebuilt_survives_the_rebuild(runs, monkeypatch):
    await store(runs, *run("r1", NOW - timedelta(hours=3)))
    await ask(runs)
    await store(runs, *run("late", NOW - timedelta(hours=3)))
    ((quarter, generation),) = await marks(runs)
    read_marks = quarters.marks

    async def read_then_another_change(*, session, tenant_id, quarters):
        seen = await read_marks(session=session, tenant_id=tenant_id, quarters=quarters)
        await mark(session=session, quarters=[(ALICE, quarter)])  # as an ingest committing meanwhile would
        return seen

    mark = quarters.mark
    monkeypatch.setattr(quarters, "marks", read_then_another_change)
    await ask(runs)
    assert await marks(runs) == [(quarter, generation + 1)]
    monkeypatch.undo()
    assert hour(await ask(runs), 3).success == 2
    assert await marks(runs) == []


async def test_quarters_another_request_built_while_this_one_waited_are_not_built_again(runs, monkeypatch):
    await store(runs, *run("r1", NOW - timedelta(hours=3)))
    await ask(runs)
    monkeypatch.setattr(stats, "tally_query", None)  # reading the runs would fail
    first = quarters.quarter_of(NOW - timedelta(hours=3))
    async with runs.db.session() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        found = await stats._rebuild(session, ALICE, [first - 1, first], postgres)
    assert (found[first - 1].counts["success"], found[first].counts["success"]) == (0, 1)


async def test_retention_marks_the_quarters_it_deletes_runs_from(runs):
    for n in range(3):
        await store(runs, *run(f"r{n}", NOW - timedelta(hours=4 + n)))
    assert (await ask(runs)).totals.success == 3
    async with runs.db.session() as session:  # all but the job's newest run: r0, 4 hours ago
        assert await service.prune_runs(session=session, created_before=datetime.now(UTC) + timedelta(minutes=1)) == 2
    after = await ask(runs)
    assert after.totals.success == 1 and hour(after, 4).success == 1
    assert after == await from_runs(runs)


async def test_retention_deletes_the_rollups_no_request_reads_any_more(runs):
    await store(runs, *run("r1", NOW - timedelta(hours=3)))
    await ask(runs)
    await store(runs, *run("late", NOW - timedelta(hours=3)))
    pruner = Pruner(db=runs.db, settings=RunsSettings(retention_days=90, secret_key="s" * 48))
    await pruner.prune_once(now=NOW + quarters.KEPT)
    assert (await count(runs, "run_quarters"), await count(runs, "run_quarter_marks")) == (96, 1)
    await pruner.prune_once(now=NOW + quarters.KEPT + timedelta(days=2))
    assert (await count(runs, "run_quarters"), await count(runs, "run_quarter_marks")) == (0, 0)


async def count(unit: RunsUnit, table: str) -> int:
    async with unit.db.session() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_a_checkin_of_now_marks_nothing(runs):
    soon = datetime.now(UTC) + timedelta(minutes=1)  # never in a quarter before the current one
    await store(runs, *run("now", soon))
    await store(runs, *run("old", NOW))
    assert [quarter for quarter, _ in await marks(runs)] == [quarters.quarter_of(NOW)]


def test_the_quarters_marked_are_those_before_now_of_the_moment_and_the_finish():
    now = NOW + timedelta(minutes=20)  # quarter 12:15
    stored = [
        (ALICE, NOW + timedelta(minutes=16), None),  # a start of now
        (ALICE, NOW - timedelta(minutes=1), NOW + timedelta(minutes=17)),  # started in the 11:45 quarter
        (ALICE, NOW + timedelta(minutes=20), NOW + timedelta(minutes=2)),  # its start came after its finish
        (ALICE, None, NOW - timedelta(minutes=1)),  # a finish only
    ]
    assert quarters.changed_quarters(stored, now) == [
        (ALICE, quarters.quarter_of(NOW) - 1), (ALICE, quarters.quarter_of(NOW))
    ]  # fmt: skip


def test_quarters_to_build_are_read_in_a_few_ranges():
    start = quarters.start_of
    assert quarters.ranges([4, 5, 6, 9]) == [(start(4), start(7)), (start(9), start(10))]
    assert quarters.ranges([1, 3, 5], most=2) == [(start(1), start(6))]
