"""The due-time index on SQLite and PostgreSQL: each missed slot reported once, runs moving jobs
forward, unfinished runs, syncs recomputing only what changed, the watermark, and a tick reading
only the rows that are due."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel, col, select

from crontopus_alerting import due, monitors
from crontopus_alerting.due import RunSeen, Watermark
from crontopus_alerting.models import JobMonitor
from crontopus_alerting.monitors import MonitoredJob
from crontopus_alerting.settings import AlertingSettings
from crontopus_alerting.unit import NAME
from crontopus_kit.db import Database
from crontopus_schemas.alerting import AlertRules
from crontopus_schemas.manifest import Monitor

ALICE, BOB = "a" * 32, "b" * 32
T0 = datetime(2026, 11, 27, 11, 50, tzinfo=UTC)  # hourly jobs expect 12:00, late at 12:05
RULES = AlertRules()  # grace 5m
MIGRATIONS = Path(monitors.__file__).parent / "migrations"


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, 27, hour, minute, second, tzinfo=UTC)


def hourly(name: str = "ns/backup", **fields) -> MonitoredJob:
    return MonitoredJob(ref=name, schedule="0 * * * *", **fields)


async def sync(db: Database, jobs, *, tenant: str = ALICE, now: datetime = T0, **kwargs):
    async with db.session() as session:
        return await monitors.sync_monitors(
            session=session, tenant_id=tenant, jobs=jobs, rules=RULES, now=now, **kwargs
        )


async def sweep(db: Database, now: datetime, **kwargs) -> monitors.Sweep:
    async with db.session() as session:
        result = await monitors.sweep_missed(session=session, now=now, **kwargs)
        await session.commit()
    return result


async def sweep_unfinished(db: Database, now: datetime) -> monitors.Sweep:
    async with db.session() as session:
        result = await monitors.sweep_unfinished(session=session, now=now)
        await session.commit()
    return result


async def start(db: Database, job: str, started_at: datetime, *, run_id: str = "r1", tenant: str = ALICE) -> None:
    async with db.session() as session:
        await monitors.record_start(session=session, tenant_id=tenant, job=job, run_id=run_id, started_at=started_at)


async def rows(db: Database, tenant: str = ALICE) -> dict[str, JobMonitor]:
    async with db.session() as session:
        found = await session.execute(select(JobMonitor).where(col(JobMonitor.tenant_id) == tenant))
        return {row.job: row for row in found.scalars()}


def reported(result: monitors.Sweep) -> list[tuple[str, datetime | None]]:
    return [(claim.monitor.job, claim.expected_at) for claim in result.reported]


# --- missed runs ------------------------------------------------------------------------------------


async def test_a_missed_slot_is_reported_once_when_its_grace_has_passed(db):
    await sync(db, [hourly()])
    assert reported(await sweep(db, at(12, 4, 59))) == []
    assert reported(await sweep(db, at(12, 5))) == [("ns/backup", at(12))]
    assert reported(await sweep(db, at(12, 5, 5))) == []
    assert reported(await sweep(db, at(13, 5))) == [("ns/backup", at(13))]


async def test_two_workers_sweeping_at_once_report_a_slot_once(db):
    await sync(db, [hourly(f"ns/job-{i}") for i in range(20)])
    results = await asyncio.gather(*(sweep(db, at(12, 5)) for _ in range(4)))
    jobs = [job for result in results for job, _ in reported(result)]
    assert sorted(jobs) == sorted(f"ns/job-{i}" for i in range(20))


async def test_a_started_run_moves_the_expected_start_forward(db):
    await sync(db, [hourly()])
    await start(db, "ns/backup", at(12, 0, 2))
    row = (await rows(db))["ns/backup"]
    assert monitors._utc(row.expected_at) == at(13)
    assert monitors._utc(row.alert_at) == at(13, 5)
    assert reported(await sweep(db, at(12, 30))) == []


async def test_a_run_recorded_between_read_and_claim_wins_over_the_claim(db):
    await sync(db, [hourly()])
    async with db.session() as session:
        (due_row,) = await monitors.due_missed(session=session, now=at(12, 5), limit=10)
        await start(db, "ns/backup", at(12, 4, 30))  # the start arrives from the pipeline meanwhile
        assert await monitors.advance_missed(session=session, monitor=due_row, now=at(12, 5)) is None
        await session.commit()
    assert monitors._utc((await rows(db))["ns/backup"].expected_at) == at(13)


async def test_recording_runs_never_overwrites_a_claim_made_meanwhile(db, monkeypatch):
    await sync(db, [hourly()])
    read_rows, claims = monitors._states_of, []

    async def read_then_claim(session, tenant_id, refs):
        found = await read_rows(session, tenant_id, refs)
        if not claims:  # a tick claims the missed 12:00 slot between this batch's read and write
            claims.append(asyncio.create_task(sweep(db, at(12, 5))))
            if not db.is_postgres:  # PostgreSQL: the claim waits for this batch's row lock instead
                await claims[0]
        return found

    monkeypatch.setattr(monitors, "_states_of", read_then_claim)
    await start(db, "ns/backup", at(12, 4, 50) - timedelta(minutes=10), run_id="manual")  # before its slot
    assert reported(await claims[0]) == [("ns/backup", at(12))]
    row = (await rows(db))["ns/backup"]
    assert monitors._utc(row.expected_at) == at(13)
    assert row.last_run_id == "manual"


async def test_an_offline_agents_jobs_are_passed_over_not_reported_later(db):
    await sync(db, [hourly("ns/on-a"), hourly("ns/on-b")])
    result = await sweep(db, at(12, 5), suppressed={(ALICE, "ns/on-b")})
    assert reported(result) == [("ns/on-a", at(12))]
    assert [claim.monitor.job for claim in result.suppressed] == ["ns/on-b"]
    assert reported(await sweep(db, at(12, 6))) == []


async def test_paused_jobs_and_jobs_without_missed_alerts_are_never_due(db):
    quiet = hourly("ns/quiet", monitor=Monitor(missed=False))
    await sync(db, [hourly("ns/paused", paused=True), hourly("ns/disabled", enabled=False), quiet])
    assert {row.alert_at for row in (await rows(db)).values()} == {None}
    assert reported(await sweep(db, at(18))) == []


async def test_each_tenant_has_its_own_jobs(db):
    await sync(db, [hourly()], tenant=ALICE)
    await sync(db, [hourly()], tenant=BOB)
    await start(db, "ns/backup", at(12, 0, 1), tenant=ALICE)
    result = await sweep(db, at(12, 5))
    assert [(claim.monitor.tenant_id, claim.monitor.job) for claim in result.reported] == [(BOB, "ns/backup")]


# --- unfinished runs --------------------------------------------------------------------------------


async def test_a_run_that_never_finishes_is_reported_once_after_its_finish_grace(db):
    await sync(db, [hourly(timeout_seconds=600)])  # deadline 10m + grace 5m
    await start(db, "ns/backup", at(12, 0, 1), run_id="r1")
    assert (await sweep_unfinished(db, at(12, 15))).reported == []
    result = await sweep_unfinished(db, at(12, 15, 1))
    assert [(claim.monitor.job, claim.run_id) for claim in result.reported] == [("ns/backup", "r1")]
    assert (await sweep_unfinished(db, at(12, 30))).reported == []


async def test_a_finish_clears_the_unfinished_deadline(db):
    await sync(db, [hourly(timeout_seconds=600)])
    await start(db, "ns/backup", at(12, 0, 1), run_id="r1")
    async with db.session() as session:
        await monitors.record_finish(
            session=session,
            tenant_id=ALICE,
            job="ns/backup",
            run_id="r1",
            finished_at=at(12, 3),
            started_at=at(12, 0, 1),
        )
    assert (await rows(db))["ns/backup"].finish_alert_at is None
    assert (await sweep_unfinished(db, at(13))).reported == []


# --- syncs ----------------------------------------------------------------------------------------


async def test_a_schedule_change_recomputes_only_that_row(db, monkeypatch):
    await sync(db, [hourly("ns/a"), hourly("ns/b"), hourly("ns/c", labels={"team": "x"})])
    before = await rows(db)
    computed = []

    def counting(schedule, timezone, after):
        computed.append(schedule)
        return original(schedule, timezone, after)

    original = due.next_expected_start
    monkeypatch.setattr(due, "next_expected_start", counting)
    changed = [
        MonitoredJob(ref="ns/a", schedule="30 * * * *"), hourly("ns/b"), hourly("ns/c", labels={"team": "y"})
    ]  # fmt: skip
    result = await sync(db, changed, now=at(12, 40))
    after = await rows(db)
    assert (result.rescheduled, result.updated, result.added, result.removed) == (["ns/a"], ["ns/c"], [], [])
    assert computed == ["30 * * * *"]
    assert monitors._utc(after["ns/a"].expected_at) == at(13, 30)
    assert after["ns/b"].updated_at == before["ns/b"].updated_at
    assert after["ns/c"].expected_at == before["ns/c"].expected_at


async def test_a_grace_change_moves_the_alert_time_but_keeps_the_pending_slot(db):
    await sync(db, [hourly()])
    await sync(db, [hourly(monitor=Monitor(grace="1m"))], now=at(11, 55))
    row = (await rows(db))["ns/backup"]
    assert (monitors._utc(row.expected_at), monitors._utc(row.alert_at)) == (at(12), at(12, 1))


async def test_a_sync_removes_jobs_no_longer_in_the_manifests(db):
    await sync(db, [hourly("ns/a"), hourly("ns/b"), hourly("ns/c")])
    partial = await sync(db, [hourly("ns/a", commit="c2")], removed=["ns/b"])
    assert partial.removed == ["ns/b"] and set(await rows(db)) == {"ns/a", "ns/c"}
    full = await sync(db, [hourly("ns/a", commit="c2")])
    assert full.removed == ["ns/c"] and set(await rows(db)) == {"ns/a"}


# --- the watermark ----------------------------------------------------------------------------------


async def test_a_tick_during_a_backlog_waits_for_checkins_still_in_the_backlog(db):
    await sync(db, [hourly("ns/ran", monitor=Monitor(grace="1m")), hourly("ns/missed", monitor=Monitor(grace="1m"))])
    wall = at(12, 10)  # the control plane was down; its check-in backlog is draining
    mark = Watermark()
    mark.observe(at(11, 59, 50), processed_at=wall)
    assert reported(await sweep(db, mark.now(wall))) == []

    async with db.session() as session:  # the pipeline reaches ns/ran's start, and a later event
        runs = [RunSeen("ns/ran", "r1", at(12, 0, 1), None), RunSeen("ns/other", "x", at(12, 3), None)]
        await monitors.record_runs(session=session, tenant_id=ALICE, runs=runs)
    mark.observe(at(12, 3), processed_at=wall)
    assert reported(await sweep(db, mark.now(wall))) == [("ns/missed", at(12))]

    mark.caught_up(True, at=wall)
    assert mark.now(wall) == wall
    assert reported(await sweep(db, wall)) == []


# --- cost ---------------------------------------------------------------------------------------------


async def test_a_tick_touches_only_the_rows_that_are_due(db):
    jobs = [MonitoredJob(ref=f"ns/daily-{i}", schedule=f"{i} 3 * * *") for i in range(40)]
    jobs += [hourly(f"ns/hourly-{i}") for i in range(5)]
    await sync(db, jobs)
    before = await rows(db)
    result = await sweep(db, at(12, 5))
    after = await rows(db)
    assert result.rows_read == result.rows_claimed == len(result.reported) == 5
    untouched = [job for job in after if after[job].updated_at == before[job].updated_at]
    assert sorted(untouched) == sorted(f"ns/daily-{i}" for i in range(40))


async def test_the_due_queries_are_index_range_scans(db):
    async with db.engine.connect() as conn:
        for column, index in (
            ("alert_at", "ix_job_monitors_alert_at"),
            ("finish_alert_at", "ix_job_monitors_finish_alert_at"),
        ):
            query = f"SELECT * FROM job_monitors WHERE {column} <= :now ORDER BY {column} LIMIT 1000"
            if db.is_postgres:
                await conn.execute(text("SET enable_seqscan = off"))  # an empty table: ask whether it can
                plan = (await conn.execute(text("EXPLAIN " + query), {"now": at(12)})).scalars().all()
            else:
                plan = [row[-1] for row in await conn.execute(text("EXPLAIN QUERY PLAN " + query), {"now": at(12)})]
            assert any(index in line for line in plan), plan
            assert not any("Seq Scan" in line or line.startswith("SCAN") for line in plan), plan


async def test_the_migration_builds_exactly_the_models_tables(db):
    models = importlib.import_module("crontopus_alerting.models")
    tables = {value.__tablename__ for value in vars(models).values() if hasattr(value, "__table__")}

    def diff(connection):
        def include_object(obj, name, type_, _reflected, _compare_to):
            table = obj if type_ == "table" else getattr(obj, "table", None)
            return table is None or table.name in tables

        opts = {"include_name": lambda name, type_, _p: type_ != "table" or name in tables}
        context = MigrationContext.configure(connection, opts={**opts, "include_object": include_object})
        return compare_metadata(context, SQLModel.metadata)

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_migrating_moves_slots_stored_by_the_old_cron_rules_to_times_cron_runs(settings_factory):
    """Migration 0002: before it, ``0 9 */2 * 1-5`` was expected on Sunday 13 December (croniter's
    "odd day OR weekday"); Debian's cron runs it next on Tuesday 15th. Left alone, that slot
    would be a false missed-run alert."""
    settings = settings_factory(AlertingSettings)
    database = Database(settings.database_url_for(NAME), schema=settings.database_schema_for(NAME))
    sunday, hour = datetime(2026, 12, 13, 8, tzinfo=UTC), datetime(2026, 12, 13, 10, tzinfo=UTC)
    slots = {"ns/weekdays": ("0 9 */2 * 1-5", "Europe/Berlin", sunday), "ns/hourly": ("0 * * * *", "UTC", hour),
             "ns/last-day": ("0 0 L * *", "UTC", hour)}  # fmt: skip
    try:
        await database.migrate(script_location=MIGRATIONS, version_table="alembic_version_alerting", revision="0001")
        async with database.session() as session:
            for job, (schedule, zone, expected) in slots.items():
                session.add(JobMonitor(tenant_id=ALICE, job=job, schedule=schedule, timezone=zone, expected_at=expected,
                                       alert_at=expected + timedelta(minutes=5), updated_at=T0))  # fmt: skip
            await session.commit()

        await database.migrate(script_location=MIGRATIONS, version_table="alembic_version_alerting")

        async with database.session() as session:
            rows = {row.job: row for row in (await session.execute(select(JobMonitor))).scalars()}
        tuesday = datetime(2026, 12, 15, 8, tzinfo=UTC)
        assert (utc(rows["ns/weekdays"].expected_at), utc(rows["ns/weekdays"].alert_at)) == (
            tuesday, tuesday + timedelta(minutes=5))  # fmt: skip
        assert utc(rows["ns/hourly"].expected_at) == hour  # right by both rules: untouched
        assert (rows["ns/last-day"].expected_at, rows["ns/last-day"].alert_at) == (None, None)  # cron refuses L
    finally:
        await database.dispose()


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
