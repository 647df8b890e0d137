"""Runs domain logic: store check-ins idempotently, answer run-history queries.
No broker imports; keyword-only arguments."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import Table, and_, bindparam, case, cast, exists, func, literal_column, tuple_, union_all
from sqlalchemy import delete as sa_delete
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable, Select
from sqlmodel import col, select

from crontopus_kit.errors import Invalid, NotFound
from crontopus_kit.times import as_utc
from crontopus_runs import pairing, quarters
from crontopus_runs.merge import RunState, conflicts, duration_ms, merge, state_from_checkin
from crontopus_runs.models import MOMENT, Run
from crontopus_schemas.events import CheckIn
from crontopus_schemas.runs import RUN_CURSOR_PATTERN, RunDetail, RunListRequest, RunPage, RunSummary

_RETURNED = (
    Run.tenant_id, Run.run_id, Run.job, Run.status, Run.started_at, Run.finished_at,
    Run.reported_duration_ms, Run.exit_code, Run.replaced_by,
)  # fmt: skip


_TABLE: Table = Run.__table__  # type: ignore[attr-defined]  # SQLModel leaves it untyped
_STATE_FIELDS = tuple(field.name for field in fields(RunState))
_COLUMNS = (*_STATE_FIELDS, "created_at", "updated_at")

# What a failed store can raise; the caller hands the batch back for redelivery. PostgreSQL is
# written through the raw asyncpg connection, so its own errors are not wrapped by SQLAlchemy.
DATABASE_ERRORS = (DBAPIError, OperationalError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(slots=True)
class Recorded:
    """A run's merged state as stored: the fields of ``RecordedRun``, without validating our own
    rows (a pydantic model per run cost more than storing it)."""

    run_id: str
    job: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    exit_code: int | None
    replaced_by: str | None


@dataclass(slots=True)
class Refused:
    """A check-in not stored: its run id belongs to another job of its team (``held_by``), see
    ``merge.conflicts``. Acknowledged all the same: redelivering it could never succeed."""

    tenant_id: str
    run_id: str
    job: str
    status: str
    held_by: str | None  # None: the run was deleted (retention) between the upsert and the lookup


@dataclass(slots=True)
class Folded:
    """A batch ready to store: its check-ins (``states``, in arrival order), one row per run
    (``runs``), and the check-ins refused because an earlier one of the batch gave their run id
    to another job."""

    states: list[RunState]
    runs: list[RunState]
    refused: list[Refused]


@dataclass(slots=True)
class Stored:
    """What storing a batch did: each stored run's merged state, and every check-in refused."""

    recorded: list[tuple[str, Recorded]]
    refused: list[Refused]


def fold_batch(checkins: Iterable[tuple[str, CheckIn]]) -> Folded:
    """Merge check-ins of the same run inside one batch: one upsert row per run."""
    return fold_states([state_from_checkin(tenant_id, checkin) for tenant_id, checkin in checkins])


def fold_states(states: list[RunState]) -> Folded:
    folded: dict[tuple[str, str], RunState] = {}
    refused: list[Refused] = []
    for state in states:
        key = (state.tenant_id, state.run_id)
        current = folded.get(key)
        if current is None:
            folded[key] = state
        elif conflicts(current, state):
            refused.append(_refused(state, held_by=current.job))
        else:
            folded[key] = merge(current, state)
    return Folded(states, list(folded.values()), refused)


def _refused(state: RunState, *, held_by: str | None) -> Refused:
    return Refused(state.tenant_id, state.run_id, state.job, state.status, held_by)


@functools.cache
def _postgres_upsert() -> tuple[str, tuple[str, ...]]:
    """INSERT ... SELECT FROM unnest(one array per column) ... ON CONFLICT, as SQL text for asyncpg:
    one statement with a fixed handful of parameters per batch, which PostgreSQL prepares once
    (VALUES lists of thousands it would parse and plan anew), that also marks the statistics'
    quarters the batch changed (quarters.py). Returns the SQL and the names of its positional
    parameters.

    Row ids are drawn in arrival order (a new run's id says which run arrived last), but rows are
    written in (tenant_id, run_id) order: several consumers storing batches that share runs then
    lock those rows in the same order and never deadlock."""
    arrays = [cast(bindparam(name), postgresql.ARRAY(_TABLE.c[name].type)) for name in _STATE_FIELDS]
    batch = func.unnest(*arrays).table_valued(*_STATE_FIELDS, with_ordinality="arrival").render_derived(name="batch")
    # unnest WITH ORDINALITY yields the rows in arrival order (the planner knows it and sorts
    # nothing), and the volatile nextval is evaluated row by row as they come.
    # Looked up once per statement (a scalar subquery): as a plain argument, PostgreSQL called
    # pg_get_serial_sequence for every row, at ~2 µs each.
    serial = func.pg_get_serial_sequence(literal_column(f"'{_TABLE.name}'"), literal_column("'id'"))
    sequence = sa_select(cast(serial, postgresql.REGCLASS)).scalar_subquery()
    next_id = func.nextval(sequence).label("id")
    numbered = select(next_id, *batch.c).order_by(batch.c.arrival).subquery("numbered")
    now = cast(bindparam("now"), _TABLE.c.created_at.type)
    values: list[Any] = [numbered.c.id, *(numbered.c[name] for name in _STATE_FIELDS), now, now]
    ordered = select(*values).order_by(numbered.c.tenant_id, numbered.c.run_id)
    stored = _merge_on_conflict(postgresql.insert(_TABLE).from_select(["id", *_COLUMNS], ordered)).cte("stored")
    # The quarters it changed are marked by the same statement: see quarters.mark_returned_postgres.
    marked = quarters.mark_returned_postgres(stored).cte("marked")
    stmt = sa_select(*stored.c).add_cte(marked)
    compiled = stmt.compile(dialect=postgresql_asyncpg.dialect())
    return str(compiled), tuple(compiled.positiontup or ())


# 16 parameters a row; RETURNING needs SQLite 3.35+, which allows 32,766 per statement.
SQLITE_ROWS_PER_STATEMENT = 1000


def _sqlite_upsert(rows: int) -> str:
    """INSERT ... VALUES (one tuple per row) ... ON CONFLICT ... RETURNING, as SQL text for the
    sqlite3 driver, for ``rows`` rows."""
    before, row, after = _sqlite_upsert_parts()
    return before + ", ".join([row] * rows) + after


@functools.cache
def _sqlite_upsert_parts() -> tuple[str, str, str]:
    """The one-row statement, compiled once, split around its VALUES tuple."""
    one_row = sqlite.insert(_TABLE).values(dict.fromkeys(_COLUMNS))
    sql = str(_merge_on_conflict(one_row).compile(dialect=_SQLITE))
    row = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
    before, after = sql.split(row)
    return before, row, after


_SQLITE = sqlite.dialect()
# SQLite has no datetime type: SQLAlchemy's own text format, so its queries read what we write.
_SQLITE_DATETIME = _TABLE.c.started_at.type.dialect_impl(_SQLITE)
_to_sqlite_datetime: Any = _SQLITE_DATETIME.bind_processor(_SQLITE)
_from_sqlite_datetime: Any = _SQLITE_DATETIME.result_processor(_SQLITE, None)
# Where started_at and finished_at are in a state's values; _RETURNED begins with the same
# columns, so in a returned row too.
_STARTED, _FINISHED = _STATE_FIELDS.index("started_at"), _STATE_FIELDS.index("finished_at")


def _merge_on_conflict(stmt: Any) -> Any:
    new, old = stmt.excluded, _TABLE.c
    finished = old.finished_at.is_not(None)

    def keep_if_finished(column: str) -> Any:
        return case((finished, old[column]), else_=new[column])

    def keep_if_finished_or_new_null(column: str) -> Any:
        return case((finished, old[column]), else_=func.coalesce(new[column], old[column]))

    return stmt.on_conflict_do_update(
        index_elements=[Run.tenant_id, Run.run_id],
        set_={
            "status": keep_if_finished("status"),
            "started_at": func.coalesce(old.started_at, new.started_at),
            "finished_at": func.coalesce(old.finished_at, new.finished_at),
            "reported_duration_ms": keep_if_finished("reported_duration_ms"),
            "exit_code": keep_if_finished("exit_code"),
            "output": keep_if_finished_or_new_null("output"),
            "output_size": keep_if_finished_or_new_null("output_size"),
            "source": func.coalesce(old.source, new.source),
            "manifest_commit": func.coalesce(old.manifest_commit, new.manifest_commit),
            "closed_by": func.coalesce(old.closed_by, new.closed_by),
            "replaced_by": keep_if_finished("replaced_by"),
            "updated_at": new.updated_at,
        },
        # merge.conflicts: a check-in of another job leaves the run as it is and returns no row,
        # which is how store_runs tells it was refused.
        where=old.job == new.job,
    ).returning(*_RETURNED)


async def store_checkins(*, session: AsyncSession, checkins: Sequence[tuple[str, CheckIn]]) -> Stored:
    """Upsert a batch of (tenant_id, check-in) in one transaction: each run's merged state, and
    the check-ins refused (see ``Refused``)."""
    states = [state_from_checkin(tenant_id, checkin) for tenant_id, checkin in checkins]
    return await store_runs(session=session, batch=await fold_paired(session=session, states=states))


async def fold_paired(*, session: AsyncSession, states: list[RunState]) -> Folded:
    """``fold_states`` after pairing finish pings with the open runs they close (pairing.py),
    which reads the runs stored so far: call it where the batch is stored, in arrival order."""
    if pairing.needs_pairing(states):
        states = await pairing.pair_finishes(session=session, states=states)
    return fold_states(states)


async def store_runs(*, session: AsyncSession, batch: Folded) -> Stored:
    """Upsert a folded batch (``fold_states``) in one transaction: each run's merged state, and
    the check-ins refused, in the batch or by a stored run of another job."""
    states = batch.runs
    if not states:
        return Stored([], list(batch.refused))
    # Kept in arrival order: a new run's row id follows it; the history pages are in id order,
    # and among runs of the same moment the last status is the highest id. On PostgreSQL the ids
    # are drawn in this order but the rows written sorted by key, so concurrent batches (several
    # runs-service instances) lock shared rows in one order (see _postgres_upsert).
    now = datetime.now(UTC)
    rows: Sequence[Any]
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        rows = await _upsert_postgres(session, states, now)
    else:
        rows = await _upsert_sqlite(session, states, now)
    recorded = [_recorded(row) for row in rows]
    refused = list(batch.refused)
    if len(recorded) < len(states):  # one row a run, but none for a run another job holds
        refused += await _refused_by_stored(session, batch, recorded)
    if not postgres:  # PostgreSQL's upsert marks them itself
        changed = ((tenant_id, run.started_at, run.finished_at) for tenant_id, run in recorded)
        await quarters.mark(session=session, quarters=quarters.changed_quarters(changed, now))
    await session.commit()
    return Stored(recorded, refused)


async def _refused_by_stored(
    session: AsyncSession, batch: Folded, recorded: list[tuple[str, Recorded]]
) -> list[Refused]:
    """The batch's check-ins of the runs the upsert left alone (their run id is another job's),
    each with the job that holds it. Rare, so it may cost a query."""
    stored = {(tenant_id, run.run_id) for tenant_id, run in recorded}
    left = {(run.tenant_id, run.run_id): run.job for run in batch.runs if (run.tenant_id, run.run_id) not in stored}
    holders = sa_select(_TABLE.c.tenant_id, _TABLE.c.run_id, _TABLE.c.job).where(
        tuple_(_TABLE.c.tenant_id, _TABLE.c.run_id).in_(list(left))
    )
    held_by = {(tenant_id, run_id): job for tenant_id, run_id, job in (await session.execute(holders)).all()}
    return [
        _refused(state, held_by=held_by.get(key))
        for state in batch.states
        if left.get(key := (state.tenant_id, state.run_id)) == state.job
    ]


async def _upsert_postgres(session: AsyncSession, states: list[RunState], now: datetime) -> list[Any]:
    """Straight through asyncpg: SQLAlchemy's parameter and result processing cost as much as
    the statement. Outside a transaction of its own, the one statement commits by itself (no
    BEGIN/COMMIT round trips); inside the session's transaction, if it has one, with it."""
    connection = await (await session.connection()).get_raw_connection()
    sql, names = _postgres_upsert()
    columns = zip(*map(_state_values, states), strict=True)
    params: dict[str, Any] = {name: list(values) for name, values in zip(_STATE_FIELDS, columns, strict=True)}
    params["now"] = now
    return await connection.driver_connection.fetch(sql, *(params[name] for name in names))  # type: ignore[union-attr]


_state_values = operator.attrgetter(*_STATE_FIELDS)


async def _upsert_sqlite(session: AsyncSession, states: list[RunState], now: datetime) -> list[Any]:
    """Straight through the sqlite3 driver, as for PostgreSQL: SQLAlchemy's executemany path cost
    the consumer ~6 µs a check-in. Within the session's transaction; the caller commits."""
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    stamp = _to_sqlite_datetime(now)
    rows: list[Any] = []
    for start in range(0, len(states), SQLITE_ROWS_PER_STATEMENT):
        chunk = states[start : start + SQLITE_ROWS_PER_STATEMENT]
        params = [value for state in chunk for value in _sqlite_row(state, stamp)]
        cursor = await driver.execute(_sqlite_upsert(len(chunk)), params)  # type: ignore[union-attr]
        rows.extend(await cursor.fetchall())
        await cursor.close()
    return [_with_datetimes(row, _from_sqlite_datetime) for row in rows]


def _sqlite_row(state: RunState, stamp: str) -> tuple[Any, ...]:
    return (*_with_datetimes(_state_values(state), _to_sqlite_datetime), stamp, stamp)


def _with_datetimes(values: Sequence[Any], convert: Any) -> list[Any]:
    converted = list(values)
    converted[_STARTED], converted[_FINISHED] = convert(values[_STARTED]), convert(values[_FINISHED])
    return converted


def _recorded(row: Any) -> tuple[str, Recorded]:
    tenant_id, run_id, job, status, started, finished, reported, exit_code, replaced_by = row
    started, finished = as_utc(started), as_utc(finished)
    return tenant_id, Recorded(
        run_id, job, status, started, finished, duration_ms(started, finished, reported), exit_code, replaced_by
    )


# --- queries ------------------------------------------------------------------


# A cursor is a position and a direction: "r<id>" the runs older than that row (next_cursor),
# "n<id>" the runs newer than it (prev_cursor).
OLDER, NEWER = "r", "n"


# Every string of RUN_CURSOR_PATTERN is a position (the API documents the pattern), so any
# cursor that matches it is answered, with an empty page if no run is there.
def encode_cursor(run_pk: int, direction: str = OLDER) -> str:
    return f"{direction}{run_pk}"


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(direction, row id)."""
    if not re.fullmatch(RUN_CURSOR_PATTERN, cursor):
        raise Invalid("cursor: not a cursor this server handed out")
    return cursor[0], int(cursor[1:])


# What a page shows of a run: never its output, which may be kilobytes a row (GET /api/runs/{id}).
SUMMARY_COLUMNS = tuple(
    _TABLE.c[name] for name in (
        "id", "run_id", "job", "status", "started_at", "finished_at", "reported_duration_ms", "exit_code", "source",
        "manifest_commit", "output_size",
    )
)  # fmt: skip


def _summary(run: Any) -> dict[str, Any]:
    started, finished = as_utc(run.started_at), as_utc(run.finished_at)
    return {
        "run_id": run.run_id, "job": run.job, "status": run.status,
        "started_at": started, "finished_at": finished,
        "duration_ms": duration_ms(started, finished, run.reported_duration_ms),
        "exit_code": run.exit_code, "source": run.source,
        "manifest_commit": run.manifest_commit, "output_size": run.output_size,
    }  # fmt: skip


async def list_runs(*, session: AsyncSession, query: RunListRequest) -> RunPage:
    """Newest first, keyset-paginated on the row id (stable under concurrent inserts), both ways:
    ``next_cursor`` pages to older runs, ``prev_cursor`` back to newer ones."""
    direction, position = decode_cursor(query.cursor) if query.cursor else (OLDER, None)
    statement, values = list_statement(query, direction, position)
    rows = list(await session.execute(statement, values))
    more = len(rows) > query.limit
    page = rows[: query.limit] if direction == OLDER else rows[: query.limit][::-1]
    if direction == OLDER:  # newer runs exist when we came from a newer page
        has_older, has_newer = more, position is not None
    else:  # ... and older ones when we came from an older page
        has_older, has_newer = True, more
    # An empty page (everything past the cursor is gone) leads back to where the cursor pointed.
    oldest = page[-1].id if page else (position or 0) + 1
    newest = page[0].id if page else (position or 0) - 1
    return RunPage(
        runs=[RunSummary(**_summary(run)) for run in page],
        next_cursor=encode_cursor(oldest, OLDER) if has_older else None,  # type: ignore[arg-type]
        prev_cursor=encode_cursor(newest, NEWER) if has_newer else None,  # type: ignore[arg-type]
    )


def list_statement(query: RunListRequest, direction: str, position: int | None) -> tuple[Select[Any], dict[str, Any]]:
    """One page and one row more (is there another page?), along the id in ``direction``: the
    statement and its values."""
    # In UTC: SQLite compares the stored UTC text, and would read another offset's wall time as UTC.
    values = {
        "tenant_id": query.tenant_id, "job": query.job, "status": query.status, "source": query.source,
        "since": as_utc(query.since), "until": as_utc(query.until), "position": position, "limit": query.limit + 1,
    }  # fmt: skip
    given = tuple(name for name, value in values.items() if value is not None)
    return _list_shape(given, direction), {name: values[name] for name in given}


@functools.cache
def _list_shape(given: tuple[str, ...], direction: str) -> Select[Any]:
    """The statement for one combination of filters and direction, values left as parameters:
    built and compiled once, not for each request (that took longer than PostgreSQL's answer)."""
    table = _TABLE.c
    conditions = [table.tenant_id == bindparam("tenant_id")]
    for name in ("job", "status", "source"):
        if name in given:
            conditions.append(table[name] == bindparam(name))
    if "since" in given:
        conditions.append(bindparam("since", type_=MOMENT.type) <= MOMENT)
    if "until" in given:
        conditions.append(bindparam("until", type_=MOMENT.type) > MOMENT)
    if "position" in given:
        conditions.append(table.id < bindparam("position") if direction == OLDER else table.id > bindparam("position"))
    order = table.id.desc() if direction == OLDER else table.id.asc()
    return sa_select(*SUMMARY_COLUMNS).where(and_(*conditions)).order_by(order).limit(bindparam("limit"))


async def get_run(*, session: AsyncSession, tenant_id: str, run_id: str) -> RunDetail:
    stmt = select(Run).where(col(Run.tenant_id) == tenant_id, col(Run.run_id) == run_id)
    run = (await session.execute(stmt)).scalar_one_or_none()
    if run is None:
        raise NotFound(f"run {run_id} not found")
    truncated = run.output is not None and (run.output_size or 0) > len(run.output.encode())
    return RunDetail(**_summary(run), output=run.output, output_truncated=truncated, replaced_by=run.replaced_by)


LAST_STATUS_CHUNK = 100
# A job's newest run: the latest moment (its start, or its finish for a run reported only by its
# finish), the last to arrive among runs of the same moment. Served by ix_runs_tenant_job_moment
# (migration 0003) read backwards, a few entries a job: on SQLite the index ends with the row id,
# on PostgreSQL an incremental sort orders the entries of one moment (measured at a million runs
# of 2,000 jobs: 100 jobs' statuses in ~1.2-1.6 ms either way, as by the id before).
NEWEST = (MOMENT.desc(), _TABLE.c.id.desc())


async def last_statuses(*, session: AsyncSession, tenant_id: str, jobs: list[str]) -> dict[str, str]:
    """Each job's newest run's status, newest by when it ran (``NEWEST``), not by arrival: an old
    run that arrives late (a spooled or backfilled check-in) does not become the job's status.
    One index lookup per job (a GROUP BY would read every run of every job), sent as UNION ALL
    in chunks."""
    statuses: dict[str, str] = {}
    unique = sorted(set(jobs))
    for start in range(0, len(unique), LAST_STATUS_CHUNK):
        chunk = unique[start : start + LAST_STATUS_CHUNK]
        params = {"tenant_id": tenant_id} | {f"job_{i}": job for i, job in enumerate(chunk)}
        rows = await session.execute(_newest_statuses(len(chunk)), params)
        statuses.update({job: status for job, status in rows.all()})
    return statuses


@functools.cache
def _newest_statuses(count: int) -> Executable:
    """The lookups of ``count`` jobs as one statement, built once per size: building and
    compiling a hundred subqueries anew for each request cost more than running them."""
    newest = [
        sa_select(_TABLE.c.job, _TABLE.c.status)
        .where(
            _TABLE.c.tenant_id == bindparam("tenant_id"),
            _TABLE.c.job == bindparam(f"job_{i}"),
            _TABLE.c.status != "log",
        )
        .order_by(*NEWEST)
        .limit(1)
        .subquery()
        .select()
        for i in range(count)
    ]
    return union_all(*newest) if count > 1 else newest[0]


# --- retention ---------------------------------------------------------------


async def prune_runs(*, session: AsyncSession, created_before: datetime, batch_size: int = 5000) -> int:
    """Delete the runs created before ``created_before``, ``batch_size`` rows per transaction so
    the ingester is never blocked long, except each job's newest run that is not a log entry
    (newest as ``last_statuses`` reads it): a job that runs once a year keeps its last status.
    Returns how many runs were deleted."""
    last_doomed_id = await _last_id_created_before(session, created_before)
    if last_doomed_id is None:
        return 0
    runs, newer = _TABLE.alias("r"), _TABLE.alias("newer")
    has_newer_run = exists().where(
        newer.c.tenant_id == runs.c.tenant_id, newer.c.job == runs.c.job,
        tuple_(_moment(newer), newer.c.id) > tuple_(_moment(runs), runs.c.id), newer.c.status != "log",
    )  # fmt: skip
    doomed = (
        sa_select(runs.c.id).where(runs.c.id <= last_doomed_id, has_newer_run).order_by(runs.c.id).limit(batch_size)
    )
    # The statistics' rollups of the quarters the deleted runs were in are marked, in the same
    # transaction: the next request over them builds them from the runs left (quarters.py).
    delete = sa_delete(_TABLE).where(_TABLE.c.id.in_(doomed.scalar_subquery())).returning(_TABLE.c.tenant_id, MOMENT)
    deleted = 0
    while True:
        gone = (await session.execute(delete)).all()
        await quarters.mark(session=session, quarters=sorted({(tenant_id, quarters.quarter_of(moment))
                                                              for tenant_id, moment in gone if moment}))  # fmt: skip
        await session.commit()
        deleted += len(gone)
        if len(gone) < batch_size:
            return deleted


def _moment(table: Any) -> Any:
    """``MOMENT`` of an alias of the runs table."""
    return func.coalesce(table.c.started_at, table.c.finished_at)


async def _last_id_created_before(session: AsyncSession, moment: datetime) -> int | None:
    """The highest row id created before ``moment``, by binary search over the primary key: ids
    are drawn in arrival order, so created_at grows with them (give or take the seconds between
    two consumers' batches), and ~30 index lookups replace an index on created_at that every
    insert would pay for."""
    low, high = (await session.execute(sa_select(func.min(_TABLE.c.id), func.max(_TABLE.c.id)))).one()
    found = None
    while low is not None and low <= high:
        middle = (low + high) // 2
        probe = sa_select(_TABLE.c.id, _TABLE.c.created_at).where(_TABLE.c.id >= middle).order_by(_TABLE.c.id)
        row = (await session.execute(probe.limit(1))).first()
        if row is None or as_utc(row.created_at) >= moment:  # type: ignore[operator]
            high = middle - 1
        else:
            found, low = row.id, row.id + 1
    return found


async def count_runs(*, session: AsyncSession, tenant_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(Run)
    if tenant_id:
        stmt = stmt.where(col(Run.tenant_id) == tenant_id)
    return int((await session.execute(stmt)).scalar_one())
