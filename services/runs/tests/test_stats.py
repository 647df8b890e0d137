"""Run statistics: the same numbers on SQLite and PostgreSQL for the same runs, checked against a
plain Python reference: counts per status, and percentiles that are PostgreSQL's percentile_cont
over the durations' sketch buckets (sketch.py), within 1 % of the exact ones. A team's closed
quarter-hours come from rollups (quarters.py), and answer as the runs do."""

from __future__ import annotations

import math
import random
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker
from sqlalchemy import insert, text

from crontopus_kit.errors import Invalid
from crontopus_runs import quarters, service, sketch, stats
from crontopus_runs.merge import RunState
from crontopus_runs.models import Run
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import MIGRATIONS, RunsUnit
from crontopus_schemas.events import CheckInEvent
from crontopus_schemas.runs import RunStatsRequest

ALICE, BOB = "a" * 32, "b" * 32
NOW = datetime(2026, 10, 26, 12, 0, tzinfo=UTC)  # the day after Berlin's clocks went back


def dataset(seed: int = 7) -> list[tuple[str, CheckInEvent]]:
    """Three days of runs of two jobs, durations to the microsecond, some only started, some
    finished without a start, a log entry, and bob's runs in the same hours."""
    rng = random.Random(seed)
    checkins: list[tuple[str, CheckInEvent]] = []
    for n in range(400):
        job = ("production/backup", "production/report")[n % 2]
        at = NOW - timedelta(hours=72) + timedelta(seconds=rng.randrange(72 * 3600))
        run_id = f"run-{n}"
        status = rng.choice(["success", "success", "success", "failure", "timeout", "running"])
        if n % 17 != 0:  # every 17th run reports its finish only
            checkins.append((ALICE, CheckInEvent(job=job, run_id=run_id, status="running", timestamp=at)))
        if status != "running":
            took = timedelta(microseconds=rng.randrange(1, 600_000_000))
            reported = rng.randrange(1, 90_000) if n % 5 == 0 else None  # the agent measured it itself
            finish = CheckInEvent(job=job, run_id=run_id, status=status, timestamp=at + took, duration_ms=reported)
            checkins.append((ALICE, finish))
    checkins.append((ALICE, CheckInEvent(job="production/backup", run_id="log-1", status="log", timestamp=NOW)))
    for n in range(30):
        at = NOW - timedelta(hours=rng.randrange(72))
        checkins.append((BOB, CheckInEvent(job="production/backup", run_id=f"b-{n}", status="failure", timestamp=at)))
    return checkins


async def stored(unit: RunsUnit) -> list[Run]:
    async with unit.db.session() as session:
        await service.store_checkins(session=session, checkins=dataset())
        return list((await session.execute(text("SELECT * FROM runs"))).all())


async def stored_at_0005(unit: RunsUnit) -> None:
    """The data set's runs as a runs service of migration 0005 stored them: without the columns
    later migrations added, which today's upsert writes."""
    later = {"replaced_by"}  # 0007
    now = datetime.now(UTC)
    rows = [
        {
            **{name: value for name, value in vars_of(run).items() if name not in later},
            "created_at": now,
            "updated_at": now,
        }
        for run in service.fold_batch(dataset()).runs
    ]
    async with unit.db.session() as session:
        await session.execute(insert(Run.__table__), rows)  # type: ignore[attr-defined]
        await session.commit()


def vars_of(run: RunState) -> dict[str, object]:
    return {field.name: getattr(run, field.name) for field in fields(run)}


async def ask(unit: RunsUnit, now: datetime = NOW + timedelta(hours=1), **fields):
    """The statistics at ``now`` (by default, when every quarter of the window has closed)."""
    request = RunStatsRequest(tenant_id=ALICE, **{"since": NOW - timedelta(hours=24), "until": NOW, **fields})
    async with unit.db.session() as session:
        return await stats.run_stats(session=session, request=request, now=now)


async def from_runs(unit: RunsUnit, **fields):
    """The statistics as if every quarter of the window were still open: from the runs alone."""
    return await ask(unit, now=NOW - timedelta(days=100), **fields)


# --- the reference -------------------------------------------------------------------------------


def percentile_cont(values: list[int], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def exact_ms(started: datetime, finished: datetime) -> int:
    micros = (finished - started) // timedelta(microseconds=1)
    return 0 if micros < 0 else (micros + 500) // 1000


def reference(rows, *, tenant: str, job: str | None, start: datetime, until: datetime, key, exact=False) -> dict:
    """key(moment) -> bucket start; what the statistics must say: percentiles over the sketch's
    bucket values, or over the durations themselves (unrounded) with ``exact``."""
    found: dict = {}
    for row in rows:
        started, finished = (service.as_utc(_as_dt(row.started_at)), service.as_utc(_as_dt(row.finished_at)))
        moment = started or finished
        if row.tenant_id != tenant or (job and row.job != job) or row.status == "log" or not start <= moment < until:
            continue
        bucket = found.setdefault(key(moment), {"success": 0, "failure": 0, "timeout": 0, "running": 0, "d": []})
        bucket[row.status] += 1
        duration = row.reported_duration_ms
        if duration is None and started and finished:
            duration = exact_ms(started, finished)
        if duration is not None:
            bucket["d"].append(duration)
    return {at: {**{k: v for k, v in b.items() if k != "d"}, **_percentiles(b["d"], exact)} for at, b in found.items()}


def _percentiles(durations: list[int], exact: bool) -> dict:
    if exact:
        return {"p50_ms": percentile_cont(durations, 0.5), "p95_ms": percentile_cont(durations, 0.95)}
    values = [sketch.value(sketch.index(d)) for d in durations]
    return {"p50_ms": _round(percentile_cont(values, 0.5)), "p95_ms": _round(percentile_cont(values, 0.95))}


def assert_within_one_percent(answer: dict, exact: dict) -> None:
    """The answer's counts are the exact ones; its percentiles (whole ms) within 1 % of them."""
    assert answer.keys() == exact.keys()
    for at, bucket in answer.items():
        for field, value in bucket.items():
            truth = exact[at][field]
            if field.endswith("_ms") and truth is not None:
                assert abs(value - truth) <= 0.01 * truth + 0.5, (at, field, value, truth)
            else:
                assert value == truth, (at, field)


def _as_dt(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _round(value: float | None) -> int | None:
    return None if value is None else round(value)


def answered(result) -> dict:
    return {
        bucket.start.astimezone(UTC): bucket.model_dump(exclude={"start"})
        for bucket in result.buckets
        if bucket.success + bucket.failure + bucket.timeout + bucket.running
    }


# --- the tests -----------------------------------------------------------------------------------


async def test_hourly_counts_and_percentiles_are_those_of_the_reference(runs):
    rows = await stored(runs)
    result = await ask(runs)
    hour = lambda moment: moment.replace(minute=0, second=0, microsecond=0)  # noqa: E731
    expected = reference(rows, tenant=ALICE, job=None, start=NOW - timedelta(hours=24), until=NOW, key=hour)
    assert answered(result) == expected
    exact = reference(rows, tenant=ALICE, job=None, start=NOW - timedelta(hours=24), until=NOW, key=hour, exact=True)
    assert_within_one_percent(answered(result), exact)
    assert len(result.buckets) == 24 and result.buckets[0].start == NOW - timedelta(hours=24)
    assert [b.start for b in result.buckets] == [NOW - timedelta(hours=24 - n) for n in range(24)]
    assert any(b.p95_ms is not None and b.p50_ms != b.p95_ms for b in result.buckets)
    totals = result.totals
    assert totals.runs == sum(
        sum(b[s] for s in ("success", "failure", "timeout", "running")) for b in expected.values()
    )
    assert totals.success_rate == pytest.approx(totals.success / (totals.success + totals.failure + totals.timeout))


async def test_a_jobs_statistics_count_only_that_job_and_empty_hours_are_zeros(runs):
    rows = await stored(runs)
    since = NOW - timedelta(hours=30, minutes=20)  # not on the hour: the first bucket starts at its hour
    result = await ask(runs, job="production/report", since=since)
    hour = lambda moment: moment.replace(minute=0, second=0, microsecond=0)  # noqa: E731
    start = since.replace(minute=0)
    assert result.since == start and len(result.buckets) == 31
    assert answered(result) == reference(rows, tenant=ALICE, job="production/report", start=start, until=NOW, key=hour)
    exact = reference(rows, tenant=ALICE, job="production/report", start=start, until=NOW, key=hour, exact=True)
    assert_within_one_percent(answered(result), exact)
    empty = await ask(runs, job="production/nothing")
    assert len(empty.buckets) == 24
    assert {(b.success, b.failure, b.timeout, b.running, b.p50_ms) for b in empty.buckets} == {(0, 0, 0, 0, None)}
    assert empty.totals.runs == 0 and empty.totals.success_rate is None


async def test_days_begin_at_midnight_in_the_asked_zone_and_a_dst_day_has_25_hours(runs):
    rows = await stored(runs)
    result = await ask(runs, bucket="day", timezone="Europe/Berlin", since=NOW - timedelta(days=3))
    starts = [b.start.isoformat() for b in result.buckets]
    assert starts == ["2026-10-23T00:00:00+02:00", "2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00",
                      "2026-10-26T00:00:00+01:00"]  # fmt: skip
    assert result.buckets[3].start.astimezone(UTC) - result.buckets[2].start.astimezone(UTC) == timedelta(hours=25)
    berlin = stats.zone("Europe/Berlin")

    def midnight(moment: datetime) -> datetime:
        local = moment.astimezone(berlin)
        return datetime(local.year, local.month, local.day, tzinfo=berlin).astimezone(UTC)

    start = result.since.astimezone(UTC)
    assert answered(result) == reference(rows, tenant=ALICE, job=None, start=start, until=NOW, key=midnight)
    exact = reference(rows, tenant=ALICE, job=None, start=start, until=NOW, key=midnight, exact=True)
    assert_within_one_percent(answered(result), exact)


async def test_another_teams_runs_are_never_counted(runs):
    await stored(runs)
    request = RunStatsRequest(tenant_id=BOB, since=NOW - timedelta(hours=72), until=NOW)
    async with runs.db.session() as session:
        bobs = await stats.run_stats(session=session, request=request)
    assert bobs.totals.failure == bobs.totals.runs <= 30 and bobs.totals.success == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"until": NOW - timedelta(days=2)}, "until: must be later than since"),
        ({"since": NOW - timedelta(days=32)}, "since: at most 31 days by hour"),
        ({"since": NOW - timedelta(days=93), "bucket": "day"}, "since: at most 92 days by day"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone"),
    ],
)
async def test_a_window_it_cannot_answer_is_a_clear_error(runs, fields, message):
    with pytest.raises(Invalid, match=message):
        await ask(runs, **fields)


async def test_the_statistics_read_the_moment_indexes(runs):
    """The planner walks (tenant, moment) or (tenant, job, moment) instead of every run."""
    for job, index in ((None, "_moment"), ("production/report", "ix_runs_tenant_job_moment")):
        request = RunStatsRequest(tenant_id=ALICE, job=job, since=NOW - timedelta(hours=24), until=NOW)
        async with runs.db.session() as session:
            window = stats.plan(request)
            postgres = session.get_bind().dialect.name == "postgresql"
            query = stats.stats_query(request, window, postgres)
            compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            if postgres:
                await session.execute(text("SET LOCAL enable_seqscan = off"))
                plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {compiled}")))
            else:
                plan = "\n".join(str(row[-1]) for row in await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert index in plan, plan


# --- quarter-hour rollups ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "now"),
    [
        ({}, NOW + timedelta(hours=1)),
        ({"bucket": "day", "timezone": "Europe/Berlin", "since": NOW - timedelta(days=3)}, NOW),  # a 25-hour day
        ({"bucket": "day", "timezone": "Asia/Kolkata", "since": NOW - timedelta(days=3)}, NOW),  # days at 18:30 UTC
        ({"until": NOW - timedelta(minutes=7, seconds=30)}, NOW - timedelta(hours=5)),  # the last 5 h from the runs
    ],
    ids=["hours", "berlin-days", "kolkata-days", "recent-quarters-open"],
)
async def test_a_teams_answer_from_rollups_is_its_answer_from_the_runs(runs, fields, now):
    rows = await stored(runs)
    rolled_up = await ask(runs, now=now, **fields)
    assert await count_rollups(runs) > 0
    assert rolled_up == await from_runs(runs, **fields)
    assert rolled_up == await ask(runs, now=now, **fields)  # the second time, every quarter read from rollups
    if fields.get("timezone") == "Asia/Kolkata":
        assert rolled_up.buckets[1].start.astimezone(UTC) == datetime(2026, 10, 23, 18, 30, tzinfo=UTC)
        kolkata = stats.zone("Asia/Kolkata")

        def midnight(moment: datetime) -> datetime:
            local = moment.astimezone(kolkata)
            return datetime(local.year, local.month, local.day, tzinfo=kolkata).astimezone(UTC)

        start = rolled_up.since.astimezone(UTC)
        assert answered(rolled_up) == reference(rows, tenant=ALICE, job=None, start=start, until=NOW, key=midnight)


async def test_closed_quarters_are_read_from_their_rollups_not_from_the_runs(runs):
    await stored(runs)
    before = await ask(runs)
    async with runs.db.session() as session:  # behind the statistics' back: no quarter is marked
        await session.execute(text("DELETE FROM runs"))
        await session.commit()
    assert await ask(runs) == before
    assert (await from_runs(runs)).totals.runs == 0


async def test_every_quarter_of_the_range_gets_a_row_the_empty_ones_too(runs):
    await stored(runs)
    await ask(runs, since=NOW - timedelta(days=5), until=NOW - timedelta(days=4))  # before the first run
    async with runs.db.session() as session:
        rows = (await session.execute(text("SELECT success, running, durations FROM run_quarters"))).all()
    assert len(rows) == 96 and set(rows) == {(0, 0, b"")}


async def test_windows_older_than_the_rollups_kept_are_read_from_the_runs(runs):
    await stored(runs)
    much_later = NOW + quarters.KEPT + timedelta(days=1)
    assert await ask(runs, now=much_later) == await from_runs(runs)
    assert await count_rollups(runs) == 0


async def count_rollups(unit: RunsUnit) -> int:
    async with unit.db.session() as session:
        return int((await session.execute(text("SELECT count(*) FROM run_quarters"))).scalar_one())


async def test_rollups_kept_as_text_before_migration_0006_are_built_again(settings_factory):
    unit = RunsUnit(settings_factory(RunsSettings), broker=NatsBroker())
    try:
        await unit.db.migrate(script_location=MIGRATIONS, version_table="alembic_version_runs", revision="0005")
        await stored_at_0005(unit)
        a_closed_quarter = quarters.quarter_of(NOW - timedelta(hours=2))
        async with unit.db.session() as session:  # an old sketch, and counts the runs do not have
            await session.execute(
                text("INSERT INTO run_quarters VALUES (:tenant, :quarter, 999, 0, 0, 0, '1:AQAAAA==')"),
                {"tenant": ALICE, "quarter": a_closed_quarter},
            )
            await session.commit()
        await unit.prepare()
        assert await ask(unit) == await from_runs(unit)
        assert await count_rollups(unit) == 96
    finally:
        await unit.close()
