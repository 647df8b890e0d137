"""Which run a finish ping without ?rid= closes: the newest open one of that job and source,
started within the last 24 hours (SQLite and PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker

from crontopus_runs import service
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit
from crontopus_schemas.events import CheckInEvent

NOW = datetime.now(UTC).replace(microsecond=0)
ALICE, BOB = "a" * 32, "b" * 32
JOB = "staging/hello"


@pytest.fixture
async def runs(settings_factory):
    unit = RunsUnit(settings_factory(RunsSettings), broker=NatsBroker())
    await unit.prepare()
    yield unit
    await unit.close()


def checkin(run_id: str, status: str = "running", *, ago: timedelta = timedelta(minutes=1), job: str = JOB,
            source: str = "ping") -> CheckInEvent:  # fmt: skip
    return CheckInEvent(job=job, run_id=run_id, status=status, timestamp=NOW - ago, source=source)


async def store(unit: RunsUnit, *checkins: tuple[str, CheckInEvent]) -> None:
    async with unit.db.session() as session:
        await service.store_checkins(session=session, checkins=list(checkins))


async def open_run(unit: RunsUnit, tenant_id: str = ALICE, job: str = JOB, source: str = "ping") -> str | None:
    async with unit.db.session() as session:
        return await service.find_open_run(session=session, tenant_id=tenant_id, job=job, source=source, now=NOW)


async def test_the_newest_started_unfinished_run_is_the_open_one(runs):
    await store(runs, (ALICE, checkin("older", ago=timedelta(hours=2))))
    await store(runs, (ALICE, checkin("newer")))
    assert await open_run(runs) == "newer"


async def test_a_finished_run_is_not_open(runs):
    await store(runs, (ALICE, checkin("r1")), (ALICE, checkin("r1", "success", ago=timedelta(0))))
    assert await open_run(runs) is None


async def test_a_finish_without_a_start_is_not_open(runs):
    await store(runs, (ALICE, checkin("r1", "failure")))
    assert await open_run(runs) is None


async def test_a_start_older_than_a_day_is_not_open(runs):
    await store(runs, (ALICE, checkin("stale", ago=timedelta(hours=24, seconds=1))))
    assert await open_run(runs) is None


async def test_other_jobs_sources_and_tenants_do_not_count(runs):
    await store(
        runs,
        (ALICE, checkin("other-job", job="production/backup")),
        (ALICE, checkin("from-an-agent", source="agent-1")),
        (BOB, checkin("bobs")),
    )
    assert await open_run(runs) is None
    assert await open_run(runs, source="agent-1") == "from-an-agent"
    assert await open_run(runs, tenant_id=BOB) == "bobs"
