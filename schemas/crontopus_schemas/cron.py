"""Cron schedules: validation and fire times, in the job's time zone, with the semantics of the cron
daemon the jobs run under (Debian's cron, a descendant of Vixie cron). The one cron engine of
Crontopus: validation, ``jobs plan``, the API and the console, alerting's due index, the built-in
scheduler and the Windows trigger translation all compute fire times here.

The rules (``docs/job-manifest-spec.md`` gives examples):
- Syntax: 5 fields (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week
  0-7 or sun-sat, 0 and 7 both Sunday), each a list of ``*``, numbers and names, ranges ``a-b``,
  and steps ``*/n`` or ``a-b/n``; or a macro (@hourly, @daily, @weekly, @monthly, @yearly). What
  Debian's cron refuses (``L``, ``W``, ``#``, ``?``, ``H``, ``5/10``, a range running backwards)
  is refused here too, since a crontab host would not run it.
- Days: when both the day-of-month and the day-of-week field are restricted, a day matches if
  either does (``0 0 1 * 1``: the 1st and every Monday); when either field starts with ``*``
  (``*``, ``*/2``), a day must match both (``0 9 */2 * 1-5``: odd days that are weekdays).
- Daylight saving time, in the job's zone. A *fixed-time* job (neither the minute nor the hour
  field starts with ``*``) runs by the wall clock: a time that a spring-forward skips runs at the
  moment the clock jumps (several such times run once), a time that a fall-back repeats runs
  once, the first time. Any other job follows real time: it does not run in the skipped hour,
  and runs in both copies of the repeated one.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, Options
from cron_descriptor.Exception import FormatException, MissingFieldException, WrongArgumentException

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
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names for lowest..): as Debian's cron reads each field
_FIELD_RULES = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _WEEKDAYS),
)
_ITEM = re.compile(r"^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?$", re.IGNORECASE)  # names in any case
_EXTENSION = re.compile(r"[#?]|^\d*L\d*$|^\d*W$|^LW$", re.IGNORECASE)  # Quartz's and croniter's: 5#2, L, 15W
_LEAP_YEAR = 2024  # February has 29 days: a schedule is possible if it fires in some year
_SEARCH_DAYS = 366 * 30  # days between two runs, at most: the calendar repeats every 28 years


class ScheduleError(ValueError):
    """A schedule that cron would not run, with a message that says why."""


@dataclass(frozen=True)
class CronExpression:
    """A parsed 5-field schedule: the values each field allows, and the two rules that depend on
    how the fields were written (see the module docstring)."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    days_either: bool  # both day fields restricted: a day matches if either field does
    fixed_time: bool  # neither the minute nor the hour field starts with "*"

    def matches(self, wall: datetime) -> bool:
        """Whether the fields match a wall-clock minute (naive; seconds ignored)."""
        return wall.minute in self.minutes and wall.hour in self.hours and self.runs_on(wall.date())

    def runs_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_date, by_weekday = day.day in self.days, (day.weekday() + 1) % 7 in self.weekdays
        return (by_date or by_weekday) if self.days_either else (by_date and by_weekday)


def normalise_schedule(expression: str) -> str:
    """The 5-field form of a schedule (macros expanded), or ScheduleError."""
    text = " ".join(expression.split())
    if text.startswith("@"):
        return _expand_macro(text)
    parse(text)
    return text


@functools.lru_cache(maxsize=4096)
def parse(schedule: str) -> CronExpression:
    """The schedule (5 fields or a macro) parsed, or ScheduleError saying what is wrong."""
    text = " ".join(schedule.split())
    if text.startswith("@"):
        text = _expand_macro(text)
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise ScheduleError(f"a schedule has 5 fields ({FIELDS}) or is a macro like @daily; got {len(fields)} fields")
    values = [_field(field, *rule) for field, rule in zip(fields, _FIELD_RULES, strict=True)]
    minutes, hours, days, months, weekdays = values
    starred = [field.startswith("*") for field in fields]
    parsed = CronExpression(
        minutes=tuple(sorted(minutes)), hours=tuple(sorted(hours)), days=frozenset(days), months=frozenset(months),
        weekdays=frozenset(day % 7 for day in weekdays), days_either=not (starred[2] or starred[4]),
        fixed_time=not (starred[0] or starred[1]),
    )  # fmt: skip
    _ensure_it_can_fire(parsed)
    return parsed


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        found = _ITEM.match(item)
        if not found:
            raise _invalid(name, item, names)
        star, first, last, step_text = found.groups()
        step = int(step_text) if step_text else 1
        if step == 0:
            raise ScheduleError(f"not a valid cron expression: {name}: a step of 0 in {item!r}")
        if star:
            start, end = low, high
        else:
            start = _value(first, name, low, high, names)
            end = _value(last, name, low, high, names) if last else start
            if step_text and not last:
                raise ScheduleError(
                    f"not a valid cron expression: {name}: {item!r} steps from a single value, which cron does not "
                    f"accept; write {first}-{high}/{step}"
                )
            if start > end:
                raise ScheduleError(
                    f"not a valid cron expression: {name}: the range {first}-{last} runs backwards (cron does not wrap "
                    f"ranges); write it as two, e.g. {first}-{high},{low}-{last}"
                )
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text.isdigit():
        number = int(text)
        if not low <= number <= high:
            raise ScheduleError(f"not a valid cron expression: {name}: {number} is out of range {low}-{high}")
        return number
    if text.lower() in names:
        return low + names.index(text.lower())
    raise _invalid(name, text, names)


def _invalid(name: str, item: str, names: tuple[str, ...]) -> ScheduleError:
    extension = " (L, W, # and ? are extensions Debian's cron does not run)" if _EXTENSION.search(item) else ""
    words = f", names ({names[0]}..{names[-1]})" if names else ""
    return ScheduleError(
        f"not a valid cron expression: {name}: {item!r} is not cron syntax{extension}; use *, numbers{words}, "
        f"ranges (a-b), lists (a,b) and steps (*/n, a-b/n)"
    )


def _expand_macro(text: str) -> str:
    macro = text.lower()
    if macro == "@reboot":
        raise ScheduleError("@reboot is not supported: Crontopus schedules run at times, not at boot")
    if macro not in MACROS:
        raise ScheduleError(f"unknown macro {text}; use one of {', '.join(sorted(MACROS))}")
    return MACROS[macro]


def _ensure_it_can_fire(parsed: CronExpression) -> None:
    """Reject schedules like `0 0 31 2 *` at once, instead of searching years for a match. Only a
    schedule whose days must match both fields can be impossible: with "either", the weekdays
    always come round; every date, 29 February too, falls on every weekday in some year."""
    if parsed.days_either:
        return
    if any(day <= calendar.monthrange(_LEAP_YEAR, month)[1] for month in parsed.months for day in parsed.days):
        return
    raise ScheduleError(f"never fires: day {_join(parsed.days)} does not exist in month {_join(parsed.months)}")


def _join(values: frozenset[int]) -> str:
    return ",".join(str(v) for v in sorted(values))


# Files in the zone database that are not zones: "localtime" is each host's own clock setting (so
# the control plane and every agent would read the schedule in a different zone), "Factory" a
# placeholder for "zone not set yet", "posixrules" a template for POSIX TZ strings.
_NOT_ZONES = {
    "localtime": "is each host's own clock setting, so the server and every agent could read the schedule differently",
    "Factory": "is the placeholder for a zone not yet set, not a time zone",
    "posixrules": "is a template for POSIX TZ strings, not a time zone",
}


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or ScheduleError naming the problem."""
    if name in _NOT_ZONES:
        raise ScheduleError(f"{name!r} {_NOT_ZONES[name]}; use an IANA name such as Europe/Berlin or UTC")
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
        _ZONES = (frozenset(available_timezones()) | {"UTC"}) - _NOT_ZONES.keys()
    return _ZONES


@dataclass(frozen=True)
class FireTime:
    # Aware, on the offset the job's zone has at that moment (a fixed-offset tzinfo named as the
    # zone names it, e.g. CEST): comparisons and differences are between instants, even in a
    # repeated hour, where two ZoneInfo datetimes of one zone would compare by wall clock.
    at: datetime
    note: str | None = None  # set when a DST change moves, merges or repeats this run


# DST shifts are at most this long; Debian's cron treats a bigger clock change as a reset, not DST.
_MAX_DST_SHIFT = timedelta(hours=3)


def fire_times(schedule: str, timezone: str, *, after: datetime, count: int) -> list[FireTime]:
    """The next ``count`` times the schedule fires strictly after ``after``."""
    tz = zone(timezone)
    expression = parse(schedule)
    start = after.astimezone(tz).replace(tzinfo=None)
    if _offset_changes_near(after, tz):
        start -= _MAX_DST_SHIFT  # the second copy of a repeated hour may still be ahead
    times: list[FireTime] = []
    for fire in _fires(expression, tz, start):
        if fire.at <= after or (times and fire.at <= times[-1].at):
            continue  # a gap moved it onto (or before) a run we already have: cron runs once
        times.append(fire)
        if len(times) == count:
            break
    return times


def _offset_changes_near(moment: datetime, tz: ZoneInfo) -> bool:
    before, later = moment - _MAX_DST_SHIFT, moment + _MAX_DST_SHIFT
    return before.astimezone(tz).utcoffset() != later.astimezone(tz).utcoffset()


def _fires(expression: CronExpression, tz: ZoneInfo, start: datetime) -> Iterator[FireTime]:
    """Every run from the wall time ``start`` on, in the order of real time (the module's DST
    rules). Wall times come in order; the second copies of a repeated hour come after the first
    ones, so they wait until the next wall time past the repeated hour."""
    second_copies: list[FireTime] = []
    for wall in _wall_times(expression, start):
        first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
        day, time = f"{wall:%Y-%m-%d}", f"{wall:%H:%M}"
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:  # skipped by a spring-forward
            if expression.fixed_time:
                moved = _end_of_gap(wall, tz)
                yield FireTime(_fixed(moved), f"{time} does not exist on {day} (DST); runs at {moved:%H:%M}")
            continue
        if first.utcoffset() == second.utcoffset():
            yield from second_copies
            second_copies.clear()
            yield FireTime(_fixed(first))
        elif expression.fixed_time:
            yield FireTime(_fixed(first), f"{time} happens twice on {day} (DST); runs once, the first time")
        else:
            note = f"{time} happens twice on {day} (DST); runs both times (its minute or hour is *)"
            yield FireTime(_fixed(first), note)
            second_copies.append(FireTime(_fixed(second), note))
    yield from second_copies


def _fixed(moment: datetime) -> datetime:
    offset, name = moment.utcoffset() or timedelta(), moment.tzname()
    return moment.astimezone(timezone(offset, name) if name else timezone(offset))


def _wall_times(expression: CronExpression, start: datetime) -> Iterator[datetime]:
    """The wall-clock times the fields match, from ``start`` (naive) on, in order."""
    day, quiet_days = start.date(), 0
    while quiet_days < _SEARCH_DAYS:
        if day.month not in expression.months:  # a month off: on to the 1st of the next one
            following = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            quiet_days, day = quiet_days + (following - day).days, following
            continue
        quiet_days += 1
        if expression.runs_on(day):
            quiet_days = 0
            first_day = day == start.date()
            for hour in expression.hours:
                if first_day and hour < start.hour:
                    continue
                for minute in expression.minutes:
                    wall = datetime(day.year, day.month, day.day, hour, minute)
                    if wall >= start:
                        yield wall
        day += timedelta(days=1)


def _end_of_gap(wall: datetime, tz: ZoneInfo) -> datetime:
    """Cron runs a wall time skipped by a spring-forward at the moment the clock jumps."""
    instant = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)  # before the jump, on the old offset
    while instant.astimezone(tz).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant.astimezone(tz)


# --- what a person should be told about a schedule -------------------------------------------


def day_rule_warning(schedule: str) -> str | None:
    """Set when a day field starting with ``*`` (``*/2``) meets a restricted other one: cron then
    runs only on days matching both, which surprises whoever expected "either"."""
    parsed = parse(schedule)
    if parsed.days_either or len(parsed.days) == 31 or len(parsed.weekdays) == 7:
        return None
    _, _, days, _, weekdays = normalise_schedule(schedule).split(" ")
    return (
        f"runs only on days that are both day-of-month {days} and day-of-week {weekdays}: cron's rule when a day "
        f"field starts with * (with neither starting with *, either would do)"
    )


def dst_warnings(schedule: str, timezone: str, *, start: datetime, end: datetime) -> list[str]:
    """For a job whose minute or hour field starts with ``*``: each DST change between ``start``
    and ``end`` (at most two years) that skips or repeats a time the job runs at, where it follows
    real time instead of the wall clock. A change on a day or at an hour the job does not run
    changes nothing for it and is not mentioned (a fixed-time job's moved runs carry notes)."""
    expression = parse(schedule)
    if expression.fixed_time:
        return []
    warnings = []
    for change in _clock_changes(zone(timezone), start, min(end, start + timedelta(days=731))):
        affected = [wall for wall in change.walls() if expression.matches(wall)]
        if not affected:
            continue
        what = "does not run in the skipped time" if change.skips else "runs twice in the repeated time"
        runs = f"{affected[0]:%H:%M}" + (f" to {affected[-1]:%H:%M}" if len(affected) > 1 else "")
        warnings.append(
            f"on {affected[0]:%Y-%m-%d} the clocks change (DST): its minute or hour field starts with *, so it "
            f"follows real time and {what} ({'its runs at' if len(affected) > 1 else 'its run at'} {runs})"
        )
    return warnings


@dataclass(frozen=True)
class _ClockChange:
    before: datetime  # the wall time (naive) the clock shows as it changes, on the old offset
    after: datetime  # ... on the new one

    @property
    def skips(self) -> bool:
        return self.after > self.before

    def walls(self) -> Iterator[datetime]:
        """Every wall-clock minute the change skips (spring-forward) or repeats (fall-back)."""
        wall, last = min(self.before, self.after), max(self.before, self.after)
        while wall < last:
            yield wall
            wall += timedelta(minutes=1)


def _clock_changes(tz: ZoneInfo, start: datetime, end: datetime) -> Iterator[_ClockChange]:
    """The changes of ``tz``'s UTC offset between ``start`` and ``end``, to the minute."""
    at, end = start.astimezone(UTC), end.astimezone(UTC)
    offset = at.astimezone(tz).utcoffset()
    while at < end:
        at += timedelta(hours=1)  # changes never undo themselves within the hour: ~17,500 steps for 2 years
        now = at.astimezone(tz).utcoffset()
        if now == offset or now is None or offset is None:
            continue
        moment = at - timedelta(hours=1)
        while moment.astimezone(tz).utcoffset() == offset:  # the minute it changed in
            moment += timedelta(minutes=1)
        yield _ClockChange(before=(moment + offset).replace(tzinfo=None), after=(moment + now).replace(tzinfo=None))
        offset = now


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
