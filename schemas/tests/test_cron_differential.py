"""The cron engine against two independent models of Debian's cron, on a generated corpus.

1. ``cronsim``, the Debian-cron-compatible engine Healthchecks uses (a test dependency only): the
   first 12 fire times of every (expression, zone, start) of the corpus.
2. A minute-by-minute model of Debian's ``cron.c`` main loop, written below from its source: the
   daemon wakes every minute of real time, compares the wall clock with its "virtual" clock and
   runs wildcard and fixed-time entries as its four cases say. This one arbitrates DST: where
   cronsim and the engine disagree, the model must side with the engine.

Where cronsim is wrong, as judged by that model and by reading cron.c (examples are kept in
``test_where_cronsim_is_wrong``): it drops runs after a 30-minute DST change (Lord Howe Island),
starts a day whose first hour is skipped (Santiago, Havana: the clock jumps from 00:00 to 01:00)
late when the day of the month is restricted, skips the second copy of Chatham's repeated
02:45-03:44, and, asked from inside the second copy of a repeated hour, runs a fixed-time job a
second time (cronsim has no memory of the first copy; the daemon has, and the engine knows the
rule). All disagreements are within a day of a DST change: the syntax and the day rules agree
everywhere.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crontopus_schemas.cron import ScheduleError, fire_times, parse

cronsim = pytest.importorskip("cronsim", reason="cronsim is a test dependency (requirements-dev.txt)")

# One-hour DST at 02:00/03:00 (Berlin, New York, Sydney), a 30-minute shift (Lord Howe), a two-hour
# one (Troll), transitions at midnight (Santiago, Havana), at 02:45 (Chatham), DST in winter
# (Dublin's negative DST), DST suspended for Ramadan (Casablanca), and none (UTC, Kolkata).
ZONES = (
    "UTC", "Asia/Kolkata", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe",
    "Antarctica/Troll", "America/Santiago", "America/Havana", "Pacific/Chatham", "Europe/Dublin",
    "Africa/Casablanca",
)  # fmt: skip
FIRES = 12
EPOCH = datetime(1970, 1, 1)


def _item(rng: random.Random, low: int, high: int) -> str:
    kind = rng.random()
    a, b = sorted((rng.randint(low, high), rng.randint(low, high)))
    if kind < 0.25:
        return "*"
    if kind < 0.4:
        return f"*/{rng.randint(2, max(2, (high - low) // 2))}"
    if kind < 0.6:
        return str(a)
    if kind < 0.8:
        return f"{a}-{b}"
    return f"{a}-{b}/{rng.randint(1, 5)}"


def _field(rng: random.Random, low: int, high: int) -> str:
    items = [_item(rng, low, high) for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3))]
    return ",".join(item for item in items if item != "*" or len(items) == 1) or "*"


def corpus(size: int, seed: int = 17) -> list[str]:
    """Random valid expressions, with every field's forms (lists, ranges, steps, starred steps),
    plus the everyday ones."""
    rng = random.Random(seed)
    everyday = ["* * * * *", "*/15 * * * *", "0 * * * *", "30 2 * * *", "0 2,3 * * *", "*/30 1-3 * * *",
                "0 9 */2 * 1-5", "0 0 1 * 1", "0 0 29 2 *", "15 2 29 2 1", "0 0 * * 7", "45 23 31 * *"]  # fmt: skip
    found = []
    while len(found) < size:
        expression = " ".join(
            [_field(rng, 0, 59), _field(rng, 0, 23), _field(rng, 1, 31), _field(rng, 1, 12), _field(rng, 0, 7)]
        )
        try:
            parse(expression)
        except ScheduleError:  # e.g. day 31 of a month without one, with days that must match both fields
            continue
        found.append(expression)
    return everyday + found


@functools.cache
def transitions(zone: str, year: int) -> tuple[datetime, ...]:
    """The instants the zone's UTC offset changes during ``year`` (to the quarter hour)."""
    return tuple(_transitions(ZoneInfo(zone), year))


def _transitions(tz: ZoneInfo, year: int) -> Iterator[datetime]:
    at = datetime(year, 1, 1, tzinfo=UTC)
    offset = at.astimezone(tz).utcoffset()
    while at.year == year:
        at += timedelta(minutes=15)
        if (now := at.astimezone(tz).utcoffset()) != offset:
            offset = now
            yield at


def starts(zone: str) -> list[datetime]:
    """Moments to start from: hours before and inside each DST change of 2026, leap days, a plain day."""
    found = [datetime(2026, 6, 1, 8, 7, tzinfo=UTC), datetime(2028, 2, 28, 12, tzinfo=UTC)]
    for change in transitions(zone, 2026):
        found += [change - timedelta(hours=5), change - timedelta(minutes=30), change + timedelta(minutes=20)]
    return found


def ours(expression: str, zone: str, after: datetime, count: int = FIRES) -> list[datetime]:
    return [fire.at.astimezone(UTC) for fire in fire_times(expression, zone, after=after, count=count)]


def ours_until(expression: str, zone: str, after: datetime, end: datetime) -> list[datetime]:
    found: list[datetime] = []
    while (batch := ours(expression, zone, found[-1] if found else after, count=60)) and batch[0] <= end:
        found += [t for t in batch if t <= end]
    return found


def theirs(expression: str, zone: str, after: datetime, count: int = FIRES) -> list[datetime]:
    times = cronsim.CronSim(expression, after.astimezone(ZoneInfo(zone)))
    return [next(times).astimezone(UTC) for _ in range(count)]


def debian_cron(expression: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """When Debian's cron daemon starts the entry, after ``start`` (a whole minute, UTC) until ``end``:
    its main loop (cron.c), one wake-up per minute of real time. ``timeRunning`` is the wall
    clock in minutes since the epoch, ``virtualTime`` the minute whose jobs ran last."""
    parsed, tz = parse(expression), ZoneInfo(zone)

    def wall_minutes(at: datetime) -> int:
        return int((at.astimezone(tz).replace(tzinfo=None) - EPOCH).total_seconds() // 60)

    def matches(minutes: int, *, wild: bool, fixed: bool) -> bool:
        wall = EPOCH + timedelta(minutes=minutes)
        fields = wall.minute in parsed.minutes and wall.hour in parsed.hours and parsed.runs_on(wall.date())
        return fields and (fixed if parsed.fixed_time else wild)

    runs, at = [], start - timedelta(hours=4)  # running for a while: its virtual clock knows the last DST change
    virtual = wall_minutes(at)
    while at < end:
        at += timedelta(minutes=1)
        running = wall_minutes(at)
        difference, due = running - virtual, False
        if difference == 1:
            virtual = running
            due = matches(virtual, wild=True, fixed=True)
        elif 5 < difference <= 180:  # the clock jumped forward (DST begins)
            due = matches(running, wild=True, fixed=False)  # wildcard entries: the current minute only
            while virtual < running:  # fixed-time entries: every minute skipped
                virtual += 1
                due |= matches(virtual, wild=False, fixed=True)
        elif 0 < difference <= 5:  # woke up late: every minute missed, all entries
            while virtual < running:
                virtual += 1
                due |= matches(virtual, wild=True, fixed=True)
        elif -180 < difference <= 0:  # the clock went back (DST ends): wildcard entries only
            due = matches(running, wild=True, fixed=False)
        else:  # a jump of hours: start over from the new time
            virtual = running
            due = matches(running, wild=True, fixed=True)
        if due and at > start:
            runs.append(at)  # an entry queued several times in one wake-up runs once (job_add)
    return runs


@pytest.mark.parametrize("zone", ZONES)
def test_the_engine_agrees_with_cronsim_or_the_daemons_own_loop_settles_it(zone: str) -> None:
    changes = [change for year in range(2026, 2031) for change in transitions(zone, year)]
    for expression in corpus(60):
        for after in starts(zone):
            mine, other = ours(expression, zone, after), theirs(expression, zone, after)
            if mine == other:
                continue
            first_difference = min(min(a, b) for a, b in zip(mine, other, strict=True) if a != b)
            assert any(abs(first_difference - change) < timedelta(days=1) for change in changes), (expression, after)
            end = min(mine[-1], other[-1], after + timedelta(days=60))
            model = debian_cron(expression, zone, after, end)
            assert [t for t in mine if t <= end] == model, (expression, zone, after)


@pytest.mark.parametrize("zone", ZONES)
def test_around_every_dst_change_the_engine_runs_what_the_daemon_runs(zone: str) -> None:
    changes = [*transitions(zone, 2026), *transitions(zone, 2027)] or [datetime(2026, 3, 29, 1, tzinfo=UTC)]
    for expression in corpus(30, seed=29):
        for change in changes:
            start, end = change - timedelta(hours=4), change + timedelta(hours=4)
            assert ours_until(expression, zone, start, end) == debian_cron(expression, zone, start, end), (
                expression,
                zone,
                change,
            )


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected", "cronsim_says"),
    [
        # Lord Howe's clocks go back 30 minutes at 02:00 on 2026-04-05. A job at 20:00 that evening
        # is 18 hours away from the change; cron runs it (20:00, 20:09, 20:20, ...). cronsim skips
        # from 20:00 to 20:40 that day.
        ("*/29,*/20,9 20 * * *", "Australia/Lord_Howe", datetime(2026, 4, 4, 10, tzinfo=UTC),
         ["04-05 20:00 +1030", "04-05 20:09 +1030"], ["04-05 20:40 +1030", "04-05 20:58 +1030"]),
        # Santiago's clock jumps from 00:00 to 01:00 on 2026-09-06. A wildcard entry for hour 1 of
        # the 6th runs at 01:00, which exists (the daemon runs the wildcard entries of the minute
        # it lands on); cronsim starts that day at 05:00, the entry's next hour.
        ("* 1,5 6 * *", "America/Santiago", datetime(2026, 9, 5, 23, tzinfo=UTC),
         ["09-06 01:00 -0300", "09-06 01:01 -0300"], ["09-06 05:00 -0300", "09-06 05:01 -0300"]),
        # Chatham's clocks go back from 03:45 to 02:45 on 2026-04-05. A wildcard entry for hour 2,
        # asked at 03:15 (first pass), runs again in the repeated 02:45-02:59; cronsim goes on to 07:00.
        ("* 2,7 * * *", "Pacific/Chatham", datetime(2026, 4, 4, 13, 30, tzinfo=UTC),
         ["04-05 02:45 +1245", "04-05 02:46 +1245"], ["04-05 07:00 +1245", "04-05 07:01 +1245"]),
    ],
)  # fmt: skip
def test_where_cronsim_is_wrong(expression, zone, after, expected, cronsim_says) -> None:
    tz = ZoneInfo(zone)

    def shown(times: list[datetime]) -> list[str]:
        return [f"{t.astimezone(tz):%m-%d %H:%M %z}" for t in times]

    assert shown(ours(expression, zone, after, count=2)) == expected
    assert shown(theirs(expression, zone, after, count=2)) == cronsim_says
    end = ours(expression, zone, after, count=2)[-1]
    assert shown(debian_cron(expression, zone, after, end)) == expected
