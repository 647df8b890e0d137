"""Time zones on schedulers that only know the host's clock (cron on Debian has no per-entry zone).

A job whose zone keeps the same offset as the host's all year is installed as written. Any other
job is installed on every host (hour, minute) it could fall on, whatever the offsets are during
the year, and the entry runs the wrapper with ``--guard``: the wrapper then runs the command only
when now is one of the job's fire times in its own zone (``is_due``), which also makes a
DST fall-back run a 02:00 job once, as cron in that zone would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from crontopus_schemas.cron import fire_times, normalise_schedule, parse, zone

_SAMPLE_STEP = timedelta(hours=1)
_SAMPLE_SPAN = timedelta(days=366)


def _offset_differences(timezone: str, start: datetime) -> frozenset[int]:
    """Minutes the job's zone is ahead of the host's clock, at each hour of the coming year."""
    tz = zone(timezone)
    differences: set[int] = set()
    at = start
    while at < start + _SAMPLE_SPAN:
        job_offset = at.astimezone(tz).utcoffset() or timedelta()
        host_offset = at.astimezone().utcoffset() or timedelta()  # the host's local rules at that instant
        differences.add(int((job_offset - host_offset).total_seconds() // 60))
        at += _SAMPLE_STEP
    return frozenset(differences)


@lru_cache(maxsize=512)
def _differences_this_year(timezone: str, day: str) -> frozenset[int]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return _offset_differences(timezone, start)


def offset_differences(timezone: str, *, now: datetime | None = None) -> frozenset[int]:
    now = now or datetime.now(UTC)
    return _differences_this_year(timezone, now.date().isoformat())


def runs_on_host_clock(timezone: str, *, now: datetime | None = None) -> bool:
    """True when the zone reads the same as the host's clock all year: install as written."""
    return offset_differences(timezone, now=now) == frozenset({0})


def host_fields(schedule: str, timezone: str, *, now: datetime | None = None) -> str:
    """A 5-field cron expression on the host's clock that fires at least whenever the job does.

    Minutes and hours are shifted by every offset difference of the year; day, month and
    weekday become ``*`` (a shift can cross midnight; the guard keeps the days exact).
    """
    expression = normalise_schedule(schedule)
    differences = offset_differences(timezone, now=now)
    if differences == frozenset({0}):
        return expression
    cron = parse(expression)
    host_minutes: set[int] = set()
    host_hours: set[int] = set()
    for hour in cron.hours:
        for minute in cron.minutes:
            for difference in differences:
                at = (hour * 60 + minute - difference) % 1440
                host_hours.add(at // 60)
                host_minutes.add(at % 60)
    return f"{_field(host_minutes, 60)} {_field(host_hours, 24)} * * *"


def _field(values: set[int], size: int) -> str:
    return "*" if len(values) == size else ",".join(str(v) for v in sorted(values))


def is_due(schedule: str, timezone: str, now: datetime) -> bool:
    """Whether the minute containing ``now`` is one of the job's fire times in its own zone."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    upcoming = fire_times(schedule, timezone, after=minute - timedelta(microseconds=1), count=1)
    return bool(upcoming) and upcoming[0].at.astimezone(UTC) == minute
