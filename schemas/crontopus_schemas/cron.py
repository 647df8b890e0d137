"""Cron schedules: validation and fire times, in the job's time zone, with cron's own semantics.

Pure functions. Fire times are computed on the wall clock of the job's zone, as cron does:
- a wall time that a spring-forward skips runs at the first moment after the gap (02:30 -> 03:00);
- a wall time that a fall-back repeats runs once, at its first occurrence (croniter alone would
  fire 02:00 twice on such a day).
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, Options
from cron_descriptor.Exception import FormatException, MissingFieldException, WrongArgumentException
from croniter import CroniterBadCronError, croniter

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = "minute hour day-of-month month day-of-week"
_LEAP_YEAR = 2024  # February has 29 days: a schedule is possible if it fires in some year


class ScheduleError(ValueError):
    """A schedule that cron would not run, with a message that says why."""


def normalise_schedule(expression: str) -> str:
    """The 5-field form of a schedule (macros expanded), or ScheduleError."""
    text = " ".join(expression.split())
    if text.startswith("@"):
        return _expand_macro(text)
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise ScheduleError(f"a schedule has 5 fields ({FIELDS}) or is a macro like @daily; got {len(fields)} fields")
    try:
        expanded = croniter(text).expanded
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise ScheduleError(f"not a valid cron expression: {exc}") from exc
    _ensure_it_can_fire(expanded)
    return text


def _expand_macro(text: str) -> str:
    macro = text.lower()
    if macro == "@reboot":
        raise ScheduleError("@reboot is not supported: Crontopus schedules run at times, not at boot")
    if macro not in MACROS:
        raise ScheduleError(f"unknown macro {text}; use one of {', '.join(sorted(MACROS))}")
    return MACROS[macro]


def _ensure_it_can_fire(expanded: list[list[object]]) -> None:
    """Reject schedules like `0 0 31 2 *` at once, instead of searching years for a match.
    With a day-of-week restriction too, cron runs on either day, so that always fires."""
    _, _, days, months, weekdays = expanded
    if days == ["*"] or weekdays != ["*"] or not all(isinstance(d, int) for d in days):
        return
    month_numbers = range(1, 13) if months == ["*"] else [m for m in months if isinstance(m, int)]
    if any(day <= calendar.monthrange(_LEAP_YEAR, month)[1] for month in month_numbers for day in days):  # type: ignore[operator]
        return
    raise ScheduleError(f"never fires: day {_join(days)} does not exist in month {_join(months)}")


def _join(values: list[object]) -> str:
    return ",".join(str(v) for v in values)


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or ScheduleError naming the problem."""
    if name not in _zone_names():
        raise ScheduleError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}") from exc


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


@dataclass(frozen=True)
class FireTime:
    at: datetime  # aware, in the job's zone
    note: str | None = None  # set when a DST change moves or merges this run


def fire_times(schedule: str, timezone: str, *, after: datetime, count: int) -> list[FireTime]:
    """The next ``count`` times the schedule fires strictly after ``after``."""
    tz = zone(timezone)
    expression = normalise_schedule(schedule)
    start = after.astimezone(tz)
    times: list[FireTime] = []
    for wall in _wall_times(expression, start.replace(tzinfo=None)):
        fire = _resolve(wall, tz)
        if fire.at <= after or (times and fire.at <= times[-1].at):
            continue  # a gap moved it onto (or before) a run we already have: cron runs once
        times.append(fire)
        if len(times) == count:
            return times
    return times


def _wall_times(expression: str, start: datetime) -> Iterator[datetime]:
    iterator = croniter(expression, start - timedelta(minutes=1))
    while True:
        yield iterator.get_next(datetime)


def _resolve(wall: datetime, tz: ZoneInfo) -> FireTime:
    """Turn a wall-clock time into the instant cron runs it."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    round_trip = first.astimezone(UTC).astimezone(tz)
    if round_trip.replace(tzinfo=None) != wall:
        moved = _end_of_gap(wall, tz)
        return FireTime(moved, f"{wall:%H:%M} does not exist on {wall:%Y-%m-%d} (DST); runs at {moved:%H:%M}")
    if first.utcoffset() != second.utcoffset():
        return FireTime(first, f"{wall:%H:%M} happens twice on {wall:%Y-%m-%d} (DST); runs once, the first time")
    return FireTime(first)


def _end_of_gap(wall: datetime, tz: ZoneInfo) -> datetime:
    """Cron runs a wall time skipped by a spring-forward at the moment the clock jumps."""
    instant = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)  # before the jump, on the old offset
    while instant.astimezone(tz).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant.astimezone(tz)


_DESCRIBE = Options()
_DESCRIBE.use_24hour_time_format = True
_DESCRIBE.locale_code = "en_US"
_NOT_DESCRIBED = (FormatException, MissingFieldException, WrongArgumentException, ValueError, IndexError, KeyError)


@functools.lru_cache(maxsize=4096)  # ~240 µs each: a team's jobs share a few dozen schedules
def describe(schedule: str) -> str:
    """The schedule in English ("Every 5 minutes", "At 02:00, Monday through Friday"), from
    cron-descriptor; the expression itself where it has no words for one that cron accepts.
    Raises ScheduleError for a schedule cron would not run."""
    expression = normalise_schedule(schedule)
    try:
        return str(ExpressionDescriptor(expression, _DESCRIBE).get_description())
    except _NOT_DESCRIBED:
        return expression
