"""Which run a finish ping without ?rid= closes: the newest open one of that job and source,
started within the last 24 hours, paired at ingest in arrival order (SQLite and PostgreSQL)."""

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from crontopus_runs import service
from crontopus_runs.models import Run
from crontopus_runs.unit import RunsUnit
from crontopus_schemas.events import CheckInEvent

NOW = datetime.now(UTC).replace(microsecond=0)
ALICE, BOB = "a" * 32, "b" * 32
JOB = "staging/hello"


def start(run_id: str, *, ago: timedelta = timedelta(minutes=1), job: str = JOB, source: str = "ping") -> CheckInEvent:
    return CheckInEvent(job=job, run_id=run_id, status="running", timestamp=NOW - ago, source=source)


def finish(own_id: str, status: str = "success", *, job: str = JOB) -> CheckInEvent:
    """A finish ping without ?rid=: the gateway gave it an id of its own."""
    return CheckInEvent(job=job, run_id=own_id, status=status, timestamp=NOW, source="ping", closes_open_run=True)


async def store(unit: RunsUnit, *checkins: CheckInEvent, tenant_id: str = ALICE) -> None:
    """One batch, as the ingester stores it."""
    async with unit.db.session() as session:
        await service.store_checkins(session=session, checkins=[(tenant_id, checkin) for checkin in checkins])


async def stored(unit: RunsUnit, tenant_id: str = ALICE) -> dict[str, str]:
    """run id -> status, for the tenant's runs."""
    async with unit.db.session() as session:
        rows = await session.execute(select(Run.run_id, Run.status).where(col(Run.tenant_id) == tenant_id))
        return dict(rows.all())  # type: ignore[arg-type]


async def test_a_finish_closes_the_newest_stored_open_run(runs):
    await store(runs, start("older", ago=timedelta(hours=2)))
    await store(runs, start("newer"))
    await store(runs, finish("f1"))
    assert await stored(runs) == {"older": "running", "newer": "success"}


async def test_a_start_and_its_finish_in_one_batch_are_one_run(runs):
    await store(runs, start("r1"), finish("f1", "failure"))
    assert await stored(runs) == {"r1": "failure"}


async def test_finishes_close_open_runs_newest_first_across_the_batch_and_the_database(runs):
    await store(runs, start("stored"))
    await store(runs, start("in-batch"), finish("f1", "failure"), finish("f2"), finish("f3"))
    assert await stored(runs) == {"in-batch": "failure", "stored": "success", "f3": "success"}


async def test_a_run_finished_by_its_own_id_earlier_in_the_batch_is_not_closed_again(runs):
    await store(runs, start("older", ago=timedelta(minutes=5)), start("newer"))
    explicit = CheckInEvent(job=JOB, run_id="newer", status="failure", timestamp=NOW, source="ping")
    await store(runs, explicit, finish("f1"))
    assert await stored(runs) == {"older": "success", "newer": "failure"}


async def test_with_no_open_run_a_finish_is_a_run_of_its_own(runs):
    await store(
        runs,
        start("stale", ago=timedelta(hours=24, seconds=1)),
        start("other-job", job="production/backup"),
        start("from-an-agent", source="agent-1"),
    )
    await store(runs, start("bobs"), tenant_id=BOB)
    await store(runs, finish("f1"))
    assert (await stored(runs))["f1"] == "success"
    assert {status for run_id, status in (await stored(runs)).items() if run_id != "f1"} == {"running"}
    assert await stored(runs, BOB) == {"bobs": "running"}


async def test_a_redelivered_finish_merges_into_the_run_it_closed_not_the_next_open_one(runs):
    await store(runs, start("older", ago=timedelta(minutes=5)), start("newer"))
    await store(runs, finish("f1"))
    await store(runs, finish("f1"))  # the same message again: stored, then a crash before its ack
    assert await stored(runs) == {"older": "running", "newer": "success"}
    await store(runs, finish("f2", "failure"))
    await store(runs, finish("f2", "failure"))
    assert await stored(runs) == {"older": "failure", "newer": "success"}


async def test_a_redelivered_unpaired_finish_stays_one_run(runs):
    await store(runs, finish("f1"))
    await store(runs, start("later"))
    await store(runs, finish("f1"))
    assert await stored(runs) == {"f1": "success", "later": "running"}
