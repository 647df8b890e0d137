"""Next fire times of jobs (pure): what the job list, a job's page and the upcoming runs show,
taken from the one cron engine and remembered per (schedule, zone) until they pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crontopus_gitops import schedules
from crontopus_gitops.schedules import NextFireCache, Scheduled, next_runs, upcoming
from crontopus_schemas.cron import fire_times

NOW = datetime(2027, 3, 27, 12, 0, 30, tzinfo=UTC)  # the day before Berlin springs forward


def job(name: str, schedule: str, timezone: str = "UTC", *, enabled: bool = True, paused: bool = False) -> Scheduled:
    return Scheduled(job=f"production/{name}", schedule=schedule, timezone=timezone, enabled=enabled, paused=paused)


def test_the_next_run_is_the_engines_first_fire_time_in_the_jobs_zone():
    cache = NextFireCache()
    backup = job("backup", "0 2 * * *", "Europe/Berlin")
    assert cache.next_run(backup, now=NOW) == fire_times("0 2 * * *", "Europe/Berlin", after=NOW, count=1)[0].at
    assert cache.next_run(backup, now=NOW).isoformat() == "2027-03-28T03:00:00+02:00"  # 02:00 does not exist


@pytest.mark.parametrize("flags", [{"paused": True}, {"enabled": False}])
def test_a_paused_or_disabled_job_has_no_next_run(flags):
    assert NextFireCache().next_run(job("backup", "0 2 * * *", **flags), now=NOW) is None
    assert next_runs(job("backup", "0 2 * * *", **flags), now=NOW) == []


def test_each_schedule_is_computed_once_until_its_fire_time_passes(monkeypatch):
    calls = []
    real = schedules.fire_times
    monkeypatch.setattr(schedules, "fire_times", lambda *a, **k: calls.append(a) or real(*a, **k))
    cache = NextFireCache()
    fleet = [job(f"host-{i}", "*/15 * * * *", "Europe/Berlin") for i in range(2000)]
    first = {cache.next_run(j, now=NOW) for j in fleet}
    later = {cache.next_run(j, now=NOW + timedelta(minutes=10)) for j in fleet}
    assert first == later == {datetime(2027, 3, 27, 12, 15, tzinfo=UTC)}
    assert len(calls) == 1, "2,000 jobs sharing a schedule cost one computation"
    after = cache.next_run(fleet[0], now=NOW + timedelta(minutes=15))
    assert after == datetime(2027, 3, 27, 12, 30, tzinfo=UTC) and len(calls) == 2


def test_the_cache_never_answers_for_a_moment_before_the_one_it_computed():
    cache = NextFireCache()
    hourly = job("rotate", "0 * * * *")
    cache.next_run(hourly, now=NOW)
    earlier = NOW - timedelta(hours=3)
    assert cache.next_run(hourly, now=earlier) == datetime(2027, 3, 27, 10, 0, tzinfo=UTC)


def test_the_cache_is_bounded():
    cache = NextFireCache(max_entries=3)
    for minute in range(10):
        cache.next_fire(f"{minute} * * * *", "UTC", now=NOW)
    assert len(cache._next) == 3


def test_next_runs_carry_the_dst_note_where_a_change_moves_a_run():
    found = next_runs(job("night", "30 2 * * *", "Europe/Berlin"), now=NOW)
    assert [fire.at.isoformat() for fire in found[:2]] == ["2027-03-28T03:00:00+02:00", "2027-03-29T02:30:00+02:00"]
    assert found[0].note == "02:30 does not exist on 2027-03-28 (DST); runs at 03:00" and found[1].note is None
    assert len(found) == 5


def test_upcoming_merges_every_running_jobs_fire_times_soonest_first():
    jobs = [
        job("every-five", "*/5 * * * *"),
        job("noon-berlin", "5 13 * * *", "Europe/Berlin"),  # 12:05 UTC
        job("paused", "* * * * *", paused=True),
        job("disabled", "* * * * *", enabled=False),
        job("yearly", "@yearly"),
    ]
    found = upcoming(jobs, now=NOW, limit=4, cache=NextFireCache())
    assert [(run.job, run.at.astimezone(UTC).strftime("%H:%M")) for run in found] == [
        ("production/every-five", "12:05"), ("production/noon-berlin", "12:05"),
        ("production/every-five", "12:10"), ("production/every-five", "12:15"),
    ]  # fmt: skip
    assert found[1].timezone == "Europe/Berlin" and found[1].at.isoformat() == "2027-03-27T13:05:00+01:00"
    assert upcoming([], now=NOW, limit=10, cache=NextFireCache()) == []
