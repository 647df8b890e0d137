from datetime import UTC, datetime

import pytest

from crontopus_schemas.cron import ScheduleError, fire_times, normalise_schedule


@pytest.mark.parametrize(
    ("schedule", "complaint"),
    [
        ("0 0 31 2 *", "never fires"),
        ("0 0 30,31 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("* * * *", "5 fields"),
        ("0 0 * * * *", "5 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("@reboot", "not supported"),
        ("@every 5m", "unknown macro"),
        ("", "5 fields"),
    ],
)
def test_schedules_cron_would_not_run_are_rejected_with_the_reason(schedule, complaint):
    with pytest.raises(ScheduleError, match=complaint):
        normalise_schedule(schedule)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [("@daily", "0 0 * * *"), ("@HOURLY", "0 * * * *"), ("0 0 29 2 *", "0 0 29 2 *"), ("0 0 31 2 1", "0 0 31 2 1")],
)
def test_possible_schedules_and_macros_are_accepted(schedule, expected):
    assert normalise_schedule(schedule) == expected


def local(times):
    return [f"{fire.at:%m-%d %H:%M %Z}" for fire in times]


def test_a_fall_back_day_runs_a_0200_job_once_in_europe_berlin():
    times = fire_times("0 2 * * *", "Europe/Berlin", after=datetime(2026, 10, 24, 12, tzinfo=UTC), count=2)
    assert local(times) == ["10-25 02:00 CEST", "10-26 02:00 CET"]
    assert "happens twice" in times[0].note


def test_a_spring_forward_day_runs_a_skipped_time_when_the_clock_jumps():
    times = fire_times("30 2 * * *", "Europe/Berlin", after=datetime(2026, 3, 28, 12, tzinfo=UTC), count=2)
    assert local(times) == ["03-29 03:00 CEST", "03-30 02:30 CEST"]
    assert "does not exist" in times[0].note


def test_two_times_merged_by_a_gap_run_once():
    times = fire_times("0 2,3 * * *", "Europe/Berlin", after=datetime(2026, 3, 28, 12, tzinfo=UTC), count=3)
    assert local(times) == ["03-29 03:00 CEST", "03-30 02:00 CEST", "03-30 03:00 CEST"]


def test_fire_times_are_strictly_after_the_given_moment():
    times = fire_times("*/15 * * * *", "UTC", after=datetime(2026, 1, 1, 10, 15, tzinfo=UTC), count=2)
    assert [t.at.isoformat() for t in times] == ["2026-01-01T10:30:00+00:00", "2026-01-01T10:45:00+00:00"]


def test_an_unknown_time_zone_is_rejected():
    with pytest.raises(ScheduleError, match="unknown time zone"):
        fire_times("@daily", "Europe/Atlantis", after=datetime(2026, 1, 1, tzinfo=UTC), count=1)
