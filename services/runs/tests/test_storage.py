"""The runs store on SQLite and PostgreSQL: idempotent merging and keyset pagination."""

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from crontopus_kit.errors import Invalid, NotFound
from crontopus_runs import handlers, service
from crontopus_runs.models import Run
from crontopus_runs.retention import Pruner
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit
from crontopus_schemas.events import CheckInEvent, RunsRecorded
from crontopus_schemas.runs import RunListRequest

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
ALICE, BOB = "a" * 32, "b" * 32


def start(run_id: str, job: str = "production/backup", at: datetime = T0) -> CheckInEvent:
    return CheckInEvent(job=job, run_id=run_id, status="running", timestamp=at)


def finish(run_id: str, status: str = "success", seconds: int = 42, job: str = "production/backup") -> CheckInEvent:
    return CheckInEvent(job=job, run_id=run_id, status=status, exit_code=0 if status == "success" else 1,
                        timestamp=T0 + timedelta(seconds=seconds))  # fmt: skip


async def store(unit: RunsUnit, *checkins: tuple[str, CheckInEvent]) -> list[tuple[str, service.Recorded]]:
    return (await store_all(unit, *checkins)).recorded


async def store_all(unit: RunsUnit, *checkins: tuple[str, CheckInEvent]) -> service.Stored:
    async with unit.db.session() as session:
        return await service.store_checkins(session=session, checkins=list(checkins))


async def test_start_and_finish_in_separate_batches_become_one_run(runs):
    await store(runs, (ALICE, start("r1")))
    recorded = await store(runs, (ALICE, finish("r1")))
    assert recorded[0][1].status == "success"
    assert recorded[0][1].duration_ms == 42_000
    async with runs.db.session() as session:
        run = await service.get_run(session=session, tenant_id=ALICE, run_id="r1")
        assert await service.count_runs(session=session) == 1
    assert (run.status, run.duration_ms, run.exit_code) == ("success", 42_000, 0)


async def test_times_come_back_as_sent_in_utc_whatever_offset_they_were_sent_with(runs):
    berlin = timezone(timedelta(hours=1))
    await store(runs, (ALICE, start("r1", at=T0.astimezone(berlin))))
    ((_, recorded),) = await store(runs, (ALICE, finish("r1", seconds=90)))
    async with runs.db.session() as session:
        run = await service.get_run(session=session, tenant_id=ALICE, run_id="r1")
    for started, finished in ((recorded.started_at, recorded.finished_at), (run.started_at, run.finished_at)):
        assert (started, finished) == (T0, T0 + timedelta(seconds=90))
        assert started.utcoffset() == timedelta(0)


async def test_finish_before_start_and_repeated_checkins_still_merge(runs):
    await store(runs, (ALICE, finish("r1", "failure")))
    await store(runs, (ALICE, start("r1")), (ALICE, start("r1")))
    await store(runs, (ALICE, finish("r1", "failure")))
    async with runs.db.session() as session:
        run = await service.get_run(session=session, tenant_id=ALICE, run_id="r1")
        assert await service.count_runs(session=session) == 1
    assert (run.status, run.duration_ms, run.exit_code) == ("failure", 42_000, 1)


async def test_a_checkin_of_another_job_under_a_stored_run_id_leaves_that_run_alone(runs):
    await store(runs, (ALICE, start("r1")))
    other = "staging/report"
    stored = await store_all(runs, (ALICE, start("r1", job=other)), (ALICE, finish("r1", "failure", job=other)))
    await store(runs, (ALICE, finish("r1")))
    async with runs.db.session() as session:
        run = await service.get_run(session=session, tenant_id=ALICE, run_id="r1")
        others = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, job=other))
        last = await service.last_statuses(session=session, tenant_id=ALICE, jobs=["production/backup", other])
    assert (run.job, run.status, run.exit_code, run.duration_ms) == ("production/backup", "success", 0, 42_000)
    assert others.runs == [] and last == {"production/backup": "success"}
    assert stored.recorded == []
    assert [(r.run_id, r.job, r.status, r.held_by) for r in stored.refused] == [
        ("r1", other, "running", "production/backup"), ("r1", other, "failure", "production/backup"),
    ]  # fmt: skip


async def test_a_checkin_of_another_job_under_a_run_id_taken_earlier_in_the_batch_is_refused(runs):
    stored = await store_all(
        runs, (ALICE, start("r1")), (ALICE, finish("r1", "failure", job="staging/report")), (ALICE, finish("r1")),
        (BOB, finish("r1", "failure", job="staging/report")),  # another team's r1: its own run
    )  # fmt: skip
    async with runs.db.session() as session:
        run = await service.get_run(session=session, tenant_id=ALICE, run_id="r1")
        bobs = await service.get_run(session=session, tenant_id=BOB, run_id="r1")
    assert (run.job, run.status, run.duration_ms) == ("production/backup", "success", 42_000)
    assert (bobs.job, bobs.status) == ("staging/report", "failure")
    assert sorted((tenant, r.job, r.status) for tenant, r in stored.recorded) == [
        (ALICE, "production/backup", "success"), (BOB, "staging/report", "failure"),
    ]  # fmt: skip
    assert [(r.tenant_id, r.job, r.held_by) for r in stored.refused] == [(ALICE, "staging/report", "production/backup")]


async def test_a_replaced_run_names_the_run_that_replaced_it_in_its_event_and_its_detail(runs):
    await store(runs, (ALICE, start("r1")))
    stopped = finish("r1", "failure").model_copy(update={"exit_code": 143, "replaced_by": "r2"})
    batch = await store(runs, (ALICE, stopped), (ALICE, start("r2", at=T0 + timedelta(seconds=50))))
    recorded = {run.run_id: run for _, run in batch}["r1"]
    [(_, again)] = await store(runs, (ALICE, finish("r1", "failure")))  # the first finish wins
    [(_, other)] = await store(runs, (ALICE, finish("r2")))
    async with runs.db.session() as session:
        detail = await service.get_run(session=session, tenant_id=ALICE, run_id="r1")
        newer = await service.get_run(session=session, tenant_id=ALICE, run_id="r2")
    [(_, event, _)] = handlers.recorded_messages([(ALICE, recorded)])  # what alerting reads
    assert RunsRecorded.model_validate_json(event).runs[0].replaced_by == "r2"
    assert (recorded.replaced_by, again.replaced_by, detail.replaced_by) == ("r2", "r2", "r2")
    assert (detail.status, detail.exit_code) == ("failure", 143)
    assert (other.replaced_by, newer.replaced_by) == (None, None)


async def test_a_tenant_never_sees_another_tenants_runs(runs):
    await store(runs, (ALICE, start("shared-id")), (BOB, finish("bob-only")))
    async with runs.db.session() as session:
        page = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE))
        assert [r.run_id for r in page.runs] == ["shared-id"]
        with pytest.raises(NotFound):
            await service.get_run(session=session, tenant_id=ALICE, run_id="bob-only")


async def test_pages_walk_every_run_once_newest_first_with_filters(runs):
    await store(runs, *[(ALICE, finish(f"r{i:03}", "success" if i % 3 else "failure")) for i in range(25)])
    seen, cursor = [], None
    async with runs.db.session() as session:
        while True:
            page = await service.list_runs(
                session=session, query=RunListRequest(tenant_id=ALICE, limit=7, cursor=cursor)
            )
            seen += [r.run_id for r in page.runs]
            cursor = page.next_cursor
            if cursor is None:
                break
        failures = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, status="failure"))
        other_job = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, job="staging/x"))
    assert len(seen) == 25 and len(set(seen)) == 25
    assert {r.status for r in failures.runs} == {"failure"} and len(failures.runs) == 9
    assert other_job.runs == []


async def walk(unit: RunsUnit, *, cursor_field: str, start: str | None, **filters) -> list[list[str]]:
    pages, cursor = [], start
    async with unit.db.session() as session:
        while True:
            query = RunListRequest(tenant_id=ALICE, limit=7, cursor=cursor, **filters)
            page = await service.list_runs(session=session, query=query)
            pages.append([r.run_id for r in page.runs])
            cursor = getattr(page, cursor_field)
            if cursor is None:
                return pages


async def test_pages_walk_back_to_the_newest_with_prev_cursor_and_show_the_same_pages(runs):
    await store(runs, *[(ALICE, finish(f"r{i:03}")) for i in range(25)])
    forward = await walk(runs, cursor_field="next_cursor", start=None)
    assert [len(page) for page in forward] == [7, 7, 7, 4]
    async with runs.db.session() as session:
        first = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, limit=7))
        assert first.prev_cursor is None, "the newest page has nothing newer"
        last = None
        cursor = first.next_cursor
        while cursor:
            last = await service.list_runs(
                session=session, query=RunListRequest(tenant_id=ALICE, limit=7, cursor=cursor)
            )
            cursor = last.next_cursor
    backward = await walk(runs, cursor_field="prev_cursor", start=last.prev_cursor)
    assert backward == forward[-2::-1], "each page back is the page seen before, newest first"
    assert [r for page in forward for r in page] == [f"r{i:03}" for i in reversed(range(25))]


async def test_paging_back_from_an_emptied_page_finds_the_runs_before_it(runs):
    await store(runs, *[(ALICE, finish(f"r{i:03}")) for i in range(7)])
    async with runs.db.session() as session:
        first = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, limit=7))
        assert first.next_cursor is None
        beyond = service.encode_cursor(1)  # older than the oldest run: an empty page
        empty = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, cursor=beyond))
        back = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, cursor=empty.prev_cursor))
    assert empty.runs == [] and empty.next_cursor is None
    assert [r.run_id for r in back.runs] == [f"r{i:03}" for i in reversed(range(7))]


async def test_runs_filter_by_source(runs):
    by_agent = CheckInEvent(job="production/backup", run_id="a1", status="success", timestamp=T0, source="f" * 32)
    by_ping = CheckInEvent(job="production/backup", run_id="p1", status="success", timestamp=T0, source="ping")
    await store(runs, (ALICE, by_agent), (ALICE, by_ping), (ALICE, finish("api1")))
    async with runs.db.session() as session:
        listed = {
            source: [r.run_id for r in (await service.list_runs(
                session=session, query=RunListRequest(tenant_id=ALICE, source=source))).runs]
            for source in ("ping", "f" * 32, "api", "nobody")
        }  # fmt: skip
    assert listed == {"ping": ["p1"], "f" * 32: ["a1"], "api": ["api1"], "nobody": []}


async def test_since_and_until_with_an_offset_mean_that_instant(runs):
    berlin = timezone(timedelta(hours=2))
    await store(runs, (ALICE, start("early", at=T0)), (ALICE, start("late", at=T0 + timedelta(hours=1))))
    since = (T0 + timedelta(minutes=30)).astimezone(berlin)  # 04:30+02:00, after "early" (02:00Z)
    async with runs.db.session() as session:
        page = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, since=since))
        before = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, until=since))
    assert [r.run_id for r in page.runs] == ["late"] and [r.run_id for r in before.runs] == ["early"]


async def test_a_forged_cursor_is_a_clear_error(runs):
    async with runs.db.session() as session:
        with pytest.raises(Invalid, match="cursor"):
            await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE, cursor="not-ours"))


async def test_migrating_again_at_a_restart_keeps_what_is_stored(runs):
    await store(runs, (ALICE, finish("before")))
    await runs.prepare()  # a restart migrates again
    await store(runs, (ALICE, finish("after")))
    async with runs.db.session() as session:
        page = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE))
    assert sorted(run.run_id for run in page.runs) == ["after", "before"]


async def test_a_long_output_comes_back_whole_and_on_postgresql_is_compressed_with_lz4(runs):
    output = "\n".join(f"{n:05d} copied 4096 bytes to s3://backups/db-{n}.tar.gz" for n in range(400))  # ~19 KB
    checkin = finish("r1").model_copy(update={"output": output})
    await store(runs, (ALICE, checkin))
    async with runs.db.session() as session:
        assert (await service.get_run(session=session, tenant_id=ALICE, run_id="r1")).output == output
        if runs.db.engine.dialect.name == "postgresql":
            # pglz took a quarter of PostgreSQL's CPU in the ingest benchmark (migration 0002)
            method = await session.scalar(text("SELECT pg_column_compression(output) FROM runs"))
            assert method == "lz4"


async def test_last_status_is_the_newest_runs_per_job_and_tenant(runs):
    await store(runs, (ALICE, finish("old", "failure")), (ALICE, finish("new", "success")))
    await store(runs, (ALICE, start("other", job="staging/other")), (BOB, finish("bobs", "failure")))
    async with runs.db.session() as session:
        found = await service.last_statuses(
            session=session, tenant_id=ALICE, jobs=["production/backup", "staging/other", "staging/never-ran"]
        )
    assert found == {"production/backup": "success", "staging/other": "running"}


async def test_an_old_failure_arriving_after_newer_runs_does_not_become_the_jobs_last_status(runs):
    """A spooled or backfilled check-in arrives late: the last status is the run that ran last (by
    its start, or its finish for a ping without one), not the last to arrive."""
    day = timedelta(days=1)
    await store(runs, (ALICE, start("today", at=T0 + day)), (ALICE, finish("today", seconds=86_442)))
    await store(runs, (ALICE, finish("ping", seconds=3_600, job="ops/ping")))  # a finish alone, at 03:00
    await store(runs, (ALICE, start("yesterday")), (ALICE, finish("yesterday", "failure")))
    await store(
        runs, (ALICE, start("at-two", at=T0, job="ops/ping")), (ALICE, finish("at-two", "failure", job="ops/ping"))
    )
    async with runs.db.session() as session:
        found = await service.last_statuses(session=session, tenant_id=ALICE, jobs=["production/backup", "ops/ping"])
    assert found == {"production/backup": "success", "ops/ping": "success"}


async def test_the_newest_run_is_the_last_to_arrive_even_when_its_id_sorts_first(runs):
    await store(runs, (ALICE, start("r3")), (ALICE, start("r1")), (ALICE, start("r2")))
    async with runs.db.session() as session:
        page = await service.list_runs(session=session, query=RunListRequest(tenant_id=ALICE))
    assert [r.run_id for r in page.runs] == ["r2", "r1", "r3"]


async def test_two_instances_storing_the_same_runs_in_opposite_orders_both_commit(runs):
    """Several consumers share the durable, so two batches holding the same runs can be stored
    at once; neither may fail (on PostgreSQL a deadlock would hand a batch back)."""
    for round_ in range(5):
        ids = [f"round{round_}-r{i:03}" for i in range(300)]
        starts = [(ALICE, start(run_id)) for run_id in ids]
        finishes = [(ALICE, finish(run_id)) for run_id in reversed(ids)]
        await asyncio.gather(store(runs, *starts), store(runs, *finishes))
    async with runs.db.session() as session:
        assert await service.count_runs(session=session) == 1500
        run = await service.get_run(session=session, tenant_id=ALICE, run_id="round4-r150")
    assert (run.status, run.duration_ms) == ("success", 42_000)


async def age(unit: RunsUnit, days: int) -> None:
    """Make every run stored so far look ``days`` old (created_at grows with the row id, as in life)."""
    async with unit.db.session() as session:
        await session.execute(Run.__table__.update().values(created_at=datetime.now(UTC) - timedelta(days=days)))
        await session.commit()


async def run_ids(unit: RunsUnit) -> set[str]:
    async with unit.db.session() as session:
        return set((await session.execute(select(Run.run_id))).scalars())


async def test_retention_deletes_old_runs_but_keeps_each_jobs_newest_run(runs):
    for i in range(5):
        await store(runs, (ALICE, start(f"old-backup-{i}")), (ALICE, finish(f"old-backup-{i}")))
    await store(runs, (ALICE, finish("yearly-1", job="production/yearly")), (BOB, finish("bob-1")))
    await store(runs, (ALICE, CheckInEvent(job="production/yearly", run_id="yearly-log", status="log")))
    await age(runs, days=100)
    await store(runs, (ALICE, finish("new-backup")))

    pruner = Pruner(db=runs.db, settings=RunsSettings(retention_days=90, secret_key="s" * 48))
    async with runs.db.session() as session:
        deleted = await service.prune_runs(session=session, created_before=datetime.now(UTC) - timedelta(days=90),
                                           batch_size=2)  # fmt: skip
    assert deleted == 5  # every old backup run: a newer one exists
    # the yearly job keeps its last real run (and the log entry after it), bob his only run
    assert await run_ids(runs) == {"yearly-1", "yearly-log", "bob-1", "new-backup"}
    assert await pruner.prune_once() == 0
    async with runs.db.session() as session:
        assert await service.last_statuses(session=session, tenant_id=ALICE, jobs=["production/yearly"]) == {
            "production/yearly": "success"
        }


async def test_retention_keeps_the_run_that_ran_last_not_the_last_to_arrive(runs):
    yearly = "production/yearly"
    await store(
        runs,
        (ALICE, start("2026", at=T0 + timedelta(days=1), job=yearly)),
        (ALICE, finish("2026", seconds=86_442, job=yearly)),
    )
    await store(runs, (ALICE, start("2025", job=yearly)), (ALICE, finish("2025", "failure", job=yearly)))  # backfilled
    await age(runs, days=100)
    async with runs.db.session() as session:
        assert await service.prune_runs(session=session, created_before=datetime.now(UTC) - timedelta(days=90)) == 1
        assert await service.last_statuses(session=session, tenant_id=ALICE, jobs=[yearly]) == {yearly: "success"}
    assert await run_ids(runs) == {"2026"}


async def test_retention_leaves_runs_younger_than_the_cutoff_and_an_empty_table_alone(runs):
    async with runs.db.session() as session:
        assert await service.prune_runs(session=session, created_before=datetime.now(UTC)) == 0
    await store(runs, (ALICE, finish("r1")), (ALICE, finish("r2")))
    await age(runs, days=10)
    async with runs.db.session() as session:
        assert await service.prune_runs(session=session, created_before=datetime.now(UTC) - timedelta(days=90)) == 0
    assert await run_ids(runs) == {"r1", "r2"}


async def test_the_pruner_runs_by_itself_every_interval(runs):
    await store(runs, (ALICE, finish("old")))
    await age(runs, days=100)
    await store(runs, (ALICE, finish("new")))
    pruner = Pruner(db=runs.db, settings=RunsSettings(prune_interval=0.05, secret_key="s" * 48))
    pruner.start()
    try:
        for _ in range(200):
            if await run_ids(runs) == {"new"}:
                break
            await asyncio.sleep(0.02)
    finally:
        await pruner.stop()
    assert await run_ids(runs) == {"new"}
