"""Quarter-hour rollups of a team's runs for the statistics, and the marks that keep them true.

A quarter is ``epoch seconds // 900`` of a run's moment. ``run_quarters`` holds one row per team
and closed quarter once a statistics request has needed it (stats.py builds it from the runs);
``run_quarter_marks`` names the quarters whose runs changed since: a row of a marked quarter is
not read but built again.

Who marks: every transaction that changes a run whose quarter may already be rolled up, in the
same transaction as the change. Ingest marks the quarters of a stored run's moment and of its
finish when they lie before the current quarter (a late finish of a long run, a spooled run, a
start arriving after its finish, which moves the moment away from the finish's quarter); a
check-in of now marks nothing. Retention marks the quarters of the runs it deletes.

Why a generation: a rebuild reads the marks, then the runs, and deletes each mark only if its
generation is still the one it read. A change committed after the runs were read bumped or
inserted its mark after the marks were read, so that mark survives and the quarter is built
again next time. Rebuilds of a team take a lock (``lock``) first, so one never deletes a mark
that another deleted and ingest inserted again with the same generation, and a slower rebuild
never writes older numbers over a newer one's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Table, and_, bindparam, cast, false, func, literal_column, union
from sqlalchemy import delete as sa_delete
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crontopus_kit.times import as_utc
from crontopus_runs import sketch
from crontopus_runs.models import COUNTED, RunQuarter, RunQuarterMark
from crontopus_runs.sketch import Tally

QUARTER_SECONDS = 900
# How far back rollups are kept and used: the longest window (92 days by day) and a day more.
KEPT = timedelta(days=93)
_QUARTER = timedelta(seconds=QUARTER_SECONDS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ROLLUPS: Table = RunQuarter.__table__  # type: ignore[attr-defined]
MARKS: Table = RunQuarterMark.__table__  # type: ignore[attr-defined]


def quarter_of(moment: datetime) -> int:
    return (as_utc(moment) - _EPOCH) // _QUARTER


def start_of(quarter: int) -> datetime:
    return _EPOCH + quarter * _QUARTER


# --- marking -------------------------------------------------------------------------------------


def changed_quarters(
    runs: Iterable[tuple[str, datetime | None, datetime | None]], now: datetime
) -> list[tuple[str, int]]:
    """(tenant, quarter) to mark for stored runs given as (tenant, started_at, finished_at): the
    quarters before now's of their moment and of their finish, sorted (the order marks are
    locked in, as runs are: concurrent batches never deadlock)."""
    current = start_of(quarter_of(now))
    found = set()
    for tenant_id, started, finished in runs:
        for at in (started or finished, finished):
            if at is not None and at < current:
                found.add((tenant_id, quarter_of(at)))
    return sorted(found)


async def mark(*, session: AsyncSession, quarters: Sequence[tuple[str, int]]) -> None:
    """Mark (tenant, quarter) pairs, in the session's transaction."""
    if not quarters:
        return
    rows = [{"tenant_id": tenant_id, "quarter": quarter, "generation": 1} for tenant_id, quarter in quarters]
    await session.execute(_bump_on_conflict(_insert(session)(MARKS)), rows)


def _bump_on_conflict(insert: Any) -> Any:
    return insert.on_conflict_do_update(
        index_elements=[MARKS.c.tenant_id, MARKS.c.quarter],
        set_={"generation": MARKS.c.generation + literal_column("1")},
    )


def mark_returned_postgres(stored: Any) -> Any:
    """The marks of ``stored`` (a CTE of upserted runs: tenant_id, started_at, finished_at) as an
    INSERT for a CTE beside it: PostgreSQL's upsert runs as one statement outside a transaction
    (service._upsert_postgres), and the marks must commit with it. Now's quarter comes from the
    statement's ``now`` parameter."""
    current = _quarter_sql(cast(bindparam("now"), DateTime(timezone=True)))
    moment = func.coalesce(stored.c.started_at, stored.c.finished_at)
    quarters = [
        sa_select(stored.c.tenant_id, _quarter_sql(at).label("quarter")).where(_quarter_sql(at) < current)
        for at in (moment, stored.c.finished_at)
    ]
    changed = union(*quarters).subquery("changed")  # UNION: a pair once, or ON CONFLICT fails
    ordered = sa_select(changed.c.tenant_id, changed.c.quarter, literal_column("1")).order_by(
        changed.c.tenant_id, changed.c.quarter
    )
    return _bump_on_conflict(postgresql.insert(MARKS).from_select(["tenant_id", "quarter", "generation"], ordered))


def _quarter_sql(at: Any) -> Any:
    # Constants as SQL text: the statement's parameters are the batch's (service._postgres_upsert).
    return cast(func.floor(func.extract("epoch", at) / literal_column(str(QUARTER_SECONDS))), postgresql.BIGINT)


# --- reading -------------------------------------------------------------------------------------


async def read(*, session: AsyncSession, tenant_id: str, first: int, end: int) -> tuple[dict[int, Tally], list[int]]:
    """The rollups of quarters ``first`` to ``end`` (excluded) that can be used, and the quarters
    to build: those without a row or with a mark. One statement, so one snapshot of both."""
    joined = ROLLUPS.outerjoin(
        MARKS, and_(MARKS.c.tenant_id == ROLLUPS.c.tenant_id, MARKS.c.quarter == ROLLUPS.c.quarter)
    )
    query = (
        sa_select(ROLLUPS.c.quarter, *(ROLLUPS.c[status] for status in COUNTED), ROLLUPS.c.durations,
                  MARKS.c.generation)
        .select_from(joined)
        .where(ROLLUPS.c.tenant_id == tenant_id, ROLLUPS.c.quarter >= first, ROLLUPS.c.quarter < end)
    )  # fmt: skip
    usable = {}
    for quarter, *counts, durations, generation in await session.execute(query):
        if generation is None:
            usable[quarter] = Tally(dict(zip(COUNTED, counts, strict=True)), sketch.loads(durations))
    return usable, [quarter for quarter in range(first, end) if quarter not in usable]


# --- rebuilding ----------------------------------------------------------------------------------


async def lock(*, session: AsyncSession, tenant_id: str) -> None:
    """Serialize the team's rebuilds, until the session commits (see the module docstring)."""
    if _postgres(session):
        key = func.hashtext(literal_column("'run_quarters:'") + bindparam("tenant_id", tenant_id))
        await session.execute(sa_select(func.pg_advisory_xact_lock(key)))
    else:
        # A write that changes nothing: the sqlite3 driver begins the transaction before it, and
        # SQLite holds its one write lock from there to the commit.
        await session.execute(sa_update(MARKS).where(false()).values(generation=MARKS.c.generation))


async def marks(*, session: AsyncSession, tenant_id: str, quarters: Sequence[int]) -> dict[int, int]:
    """The generation of each marked quarter among ``quarters``; read after ``lock``."""
    query = sa_select(MARKS.c.quarter, MARKS.c.generation).where(
        MARKS.c.tenant_id == tenant_id, MARKS.c.quarter >= min(quarters), MARKS.c.quarter <= max(quarters)
    )
    wanted = set(quarters)
    return {quarter: generation for quarter, generation in await session.execute(query) if quarter in wanted}


async def save(*, session: AsyncSession, tenant_id: str, built: dict[int, Tally], seen: dict[int, int]) -> None:
    """Store the quarters built, delete the marks seen that are unchanged, and commit."""
    rows = [_row(tenant_id, quarter, tally) for quarter, tally in sorted(built.items())]
    upsert = _insert(session)(ROLLUPS)
    replace = {name: upsert.excluded[name] for name in (*COUNTED, "durations")}
    await session.execute(upsert.on_conflict_do_update(index_elements=[ROLLUPS.c.tenant_id, ROLLUPS.c.quarter],
                                                       set_=replace), rows)  # fmt: skip
    if seen:
        unchanged = sa_delete(MARKS).where(
            MARKS.c.tenant_id == tenant_id, MARKS.c.quarter == bindparam("q"), MARKS.c.generation == bindparam("g")
        )
        await session.execute(
            unchanged, [{"q": quarter, "g": generation} for quarter, generation in sorted(seen.items())]
        )
    await session.commit()


def _row(tenant_id: str, quarter: int, tally: Tally) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "quarter": quarter, **tally.counts, "durations": sketch.dumps(tally.durations)}


async def forget_before(*, session: AsyncSession, moment: datetime) -> int:
    """Delete the rollups and marks of the quarters before ``moment``'s (retention; statistics
    read nothing older than ``KEPT`` from rollups) and commit; how many rollups went."""
    quarter = quarter_of(moment)
    gone = await session.execute(sa_delete(ROLLUPS).where(ROLLUPS.c.quarter < quarter))
    await session.execute(sa_delete(MARKS).where(MARKS.c.quarter < quarter))
    await session.commit()
    return int(gone.rowcount)  # type: ignore[attr-defined]


def ranges(quarters: Sequence[int], most: int = 20) -> list[tuple[datetime, datetime]]:
    """Sorted quarters as few [start, end) time ranges, at most ``most`` of them (one span from
    the first to the last beyond that: the caller keeps only the quarters it asked for)."""
    spans: list[list[int]] = []
    for quarter in quarters:
        if spans and spans[-1][1] == quarter:
            spans[-1][1] = quarter + 1
        else:
            spans.append([quarter, quarter + 1])
    if len(spans) > most:
        spans = [[spans[0][0], spans[-1][1]]]
    return [(start_of(first), start_of(end)) for first, end in spans]


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if _postgres(session) else sqlite.insert
