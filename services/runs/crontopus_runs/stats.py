"""Run statistics: counts by status and duration percentiles per hour or day, for a team or a job.

Computed in SQL, on PostgreSQL and SQLite alike, over the indexes on (tenant_id, moment) and
(tenant_id, job, moment), where a run's moment is ``coalesce(started_at, finished_at)`` (when it
started, or finished for a run reported only by its finish, as the runs list filters). The two
backends give the same numbers: bucket keys and durations are integer arithmetic on both, and the
percentiles are PostgreSQL's ``percentile_cont`` (linear interpolation between the two nearest
ranks), on SQLite from window functions with the same floating-point steps.

One pass over the window's runs gives counts and percentiles together. Measured with 100,000
runs of one team over 30 days (2 shared cores): 30 days by day 625 ms on SQLite, 124 ms on
PostgreSQL (two passes, counts and then percentiles, took 1,376 and 263 ms); 24 hours by hour
37 / 10 ms; one job's 30 days 6 / 5 ms.

Hours are whole UTC hours. Days begin at midnight in the asked time zone: a bucket key is the
local day number, ``(epoch + offset) // 86400``, with the zone's offset written into the query as
a CASE over the transitions inside the window (a DST day is a 23- or 25-hour bucket).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, Table, and_, case, cast, func, literal, literal_column
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession

from crontopus_kit.errors import Invalid
from crontopus_kit.times import as_utc
from crontopus_runs.models import MOMENT, Run
from crontopus_schemas.cron import ScheduleError, zone
from crontopus_schemas.runs import FINISHED_STATUSES, RunStats, RunStatsBucket, RunStatsRequest, RunStatsTotals

_TABLE: Table = Run.__table__  # type: ignore[attr-defined]
WIDTH = {"hour": 3600, "day": 86400}
MAX_WINDOW = {"hour": timedelta(days=31), "day": timedelta(days=92)}
PERCENTILES = (0.5, 0.95)
COUNTED = (*FINISHED_STATUSES, "running")  # "log" entries are output, not runs


@dataclass(frozen=True)
class Window:
    """The buckets of a request: keys (hour or local day numbers) and where each begins."""

    since: datetime  # the first bucket's start
    until: datetime
    width: int
    keys: list[int]
    starts: list[datetime]
    offsets: list[tuple[int, int]]  # (epoch from which, UTC offset in seconds); the first from -inf


async def run_stats(*, session: AsyncSession, request: RunStatsRequest) -> RunStats:
    window = plan(request)
    postgres = session.get_bind().dialect.name == "postgresql"
    found = {row.key: row for row in await session.execute(stats_query(request, window, postgres))}
    buckets = [_bucket(start, found.get(key)) for key, start in zip(window.keys, window.starts, strict=True)]
    return RunStats(
        bucket=request.bucket, since=window.since, until=window.until, timezone=request.timezone,
        buckets=buckets, totals=_totals(buckets),
    )  # fmt: skip


# --- the window ----------------------------------------------------------------------------------


def plan(request: RunStatsRequest) -> Window:
    """Validate the request and lay out its buckets; Invalid names the field to fix."""
    since, until = as_utc(request.since), as_utc(request.until)
    if until <= since:
        raise Invalid("until: must be later than since")
    if until - since > MAX_WINDOW[request.bucket]:
        days = MAX_WINDOW[request.bucket].days
        raise Invalid(f"since: at most {days} days by {request.bucket}; shorten the window or ask for bucket=day")
    try:
        tz = zone(request.timezone)
    except ScheduleError as exc:
        raise Invalid(f"timezone: {exc}") from exc
    if request.bucket == "hour":
        return _hours(since, until, tz)
    return _days(since, until, tz)


def _hours(since: datetime, until: datetime, tz: ZoneInfo) -> Window:
    first, last = _epoch(since) // 3600, (_epoch(until) - 1) // 3600
    keys = list(range(first, last + 1))
    starts = [datetime.fromtimestamp(key * 3600, UTC).astimezone(tz) for key in keys]
    return Window(since=starts[0], until=until.astimezone(tz), width=3600, keys=keys, starts=starts, offsets=[(0, 0)])


def _days(since: datetime, until: datetime, tz: ZoneInfo) -> Window:
    first, last = since.astimezone(tz).date(), (until - timedelta(microseconds=1)).astimezone(tz).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    keys = [(day - date(1970, 1, 1)).days for day in days]
    starts = [datetime(day.year, day.month, day.day, tzinfo=tz) for day in days]
    offsets = _offsets(tz, starts[0] - timedelta(days=1), until + timedelta(days=1))
    return Window(since=starts[0], until=until.astimezone(tz), width=86400, keys=keys, starts=starts, offsets=offsets)


def _offsets(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[int, int]]:
    """The zone's UTC offsets between start and end, each with the epoch second it begins at."""
    moment = start.astimezone(UTC)
    offsets = [(0, _offset(tz, moment))]
    while moment < end:
        later = moment + timedelta(hours=1)
        if _offset(tz, later) != offsets[-1][1]:
            changed_at = _transition(tz, moment, later)
            offsets.append((_epoch(changed_at), _offset(tz, changed_at)))
        moment = later
    return offsets


def _transition(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first second at which the offset of ``after`` applies (bisection)."""
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        if _offset(tz, middle) == _offset(tz, before):
            before = middle
        else:
            after = middle
    return after.replace(microsecond=0)


def _offset(tz: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(tz).utcoffset()
    return int(offset.total_seconds()) if offset else 0


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp() // 1)


# --- the query -----------------------------------------------------------------------------------


def stats_query(request: RunStatsRequest, window: Window, postgres: bool) -> Any:
    """One pass over the window's runs: per bucket key, the count of each status and the p50
    and p95 duration."""
    rows = _scope(request, window, postgres)
    return _aggregates_postgres(rows) if postgres else _aggregates_sqlite(rows)


def _scope(request: RunStatsRequest, window: Window, postgres: bool) -> Any:
    """The window's runs as (bucket key, status, duration in ms), from the moment index."""
    conditions = [_TABLE.c.tenant_id == request.tenant_id, window.since.astimezone(UTC) <= MOMENT,
                  window.until.astimezone(UTC) > MOMENT, _TABLE.c.status.in_(COUNTED)]  # fmt: skip
    if request.job:
        conditions.insert(1, _TABLE.c.job == request.job)
    found = sa_select(
        _TABLE.c.status, _TABLE.c.reported_duration_ms, MOMENT.label("moment"), _micros_sql(postgres).label("micros")
    ).where(and_(*conditions))  # fmt: skip
    if not postgres:
        # OFFSET keeps SQLite from flattening this into the query around it, which would
        # compute each run's microseconds twice (there are two uses below); a third less time.
        found = found.limit(literal_column("-1")).offset(literal_column("0"))
    runs = found.subquery("runs_in_window")
    epoch = _epoch_sql(runs.c.moment, postgres)
    key = (epoch + _offset_sql(epoch, window.offsets)) // window.width
    duration = func.coalesce(
        runs.c.reported_duration_ms, case((runs.c.micros < 0, 0), else_=(runs.c.micros + 500) // 1000)
    )
    return sa_select(key.label("key"), runs.c.status.label("status"), duration.label("d")).subquery("scope")


def _epoch_sql(moment: Any, postgres: bool) -> Any:
    """Whole seconds since 1970 (UTC), as an integer on both backends."""
    if postgres:
        return cast(func.floor(func.extract("epoch", moment)), BigInteger)
    return cast(func.strftime("%s", moment), Integer)  # SQLite keeps UTC text, microseconds included


def _offset_sql(epoch: Any, offsets: Sequence[tuple[int, int]]) -> Any:
    if len(offsets) == 1:
        return literal(offsets[0][1])
    whens = [(epoch < begins, offsets[n][1]) for n, (begins, _) in enumerate(offsets[1:])]
    return case(*whens, else_=offsets[-1][1])


def _micros_sql(postgres: bool) -> Any:
    """finish - start in whole microseconds (null while either is missing); the duration is this
    rounded half up to milliseconds, never negative."""
    started, finished = _TABLE.c.started_at, _TABLE.c.finished_at
    if postgres:
        return cast(func.extract("epoch", finished - started) * 1_000_000, BigInteger)
    # SQLite's text: seconds from strftime, microseconds from characters 21-26
    seconds = cast(func.strftime("%s", finished), Integer) - cast(func.strftime("%s", started), Integer)
    fraction = cast(func.substr(finished, 21, 6), Integer) - cast(func.substr(started, 21, 6), Integer)
    return seconds * 1_000_000 + fraction


def _per_status(rows: Any) -> list[Any]:
    return [func.sum(case((rows.c.status == status, 1), else_=0)).label(status) for status in COUNTED]


def _aggregates_postgres(rows: Any) -> Any:
    p50, p95 = (func.percentile_cont(p).within_group(rows.c.d) for p in PERCENTILES)  # nulls left out
    return sa_select(rows.c.key, *_per_status(rows), p50.label("p50"), p95.label("p95")).group_by(rows.c.key)


def _aggregates_sqlite(rows: Any) -> Any:
    """percentile_cont by hand: rank the durations per bucket (runs without one after them),
    take the two ranks around p * (n - 1) and interpolate between them, step for step as
    PostgreSQL does."""
    ranked = sa_select(
        rows.c.key, rows.c.status, rows.c.d,
        func.row_number().over(partition_by=rows.c.key, order_by=(rows.c.d.is_(None), rows.c.d)).label("rn"),
        func.count(rows.c.d).over(partition_by=rows.c.key).label("n"),
    ).subquery("ranked")  # fmt: skip
    percentiles = (_interpolated(ranked, p).label(name) for p, name in zip(PERCENTILES, ("p50", "p95"), strict=True))
    return sa_select(ranked.c.key, *_per_status(ranked), *percentiles).group_by(ranked.c.key)


def _interpolated(ranked: Any, p: float) -> Any:
    """Null for a bucket without durations (n = 0: no rank matches one)."""
    position = literal(p) * (ranked.c.n - 1)
    lower = cast(position, Integer)  # floor, for n > 0
    upper = lower + case((position > lower, 1), else_=0)
    low = func.max(case((ranked.c.rn == lower + 1, ranked.c.d)))
    high = func.max(case((ranked.c.rn == upper + 1, ranked.c.d)))
    return low + (high - low) * func.max(position - lower)


# --- the answer ----------------------------------------------------------------------------------


def _bucket(start: datetime, row: Any) -> RunStatsBucket:
    if row is None:
        return RunStatsBucket(start=start, **dict.fromkeys(COUNTED, 0), p50_ms=None, p95_ms=None)
    counts = {status: int(getattr(row, status) or 0) for status in COUNTED}
    return RunStatsBucket(start=start, **counts, p50_ms=_ms(row.p50), p95_ms=_ms(row.p95))


def _ms(value: float | None) -> int | None:
    return None if value is None else round(float(value))


def _totals(buckets: list[RunStatsBucket]) -> RunStatsTotals:
    sums = {status: sum(getattr(bucket, status) for bucket in buckets) for status in COUNTED}
    finished = sums["success"] + sums["failure"] + sums["timeout"]
    return RunStatsTotals(
        runs=finished + sums["running"], **sums, success_rate=sums["success"] / finished if finished else None
    )
