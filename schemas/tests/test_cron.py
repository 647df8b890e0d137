from datetime import UTC, datetime

import pytest

from crontopus_schemas.cron import ScheduleError, dst_warnings, fire_times, normalise_schedule


@pytest.mark.parametrize(
    ("schedule", "complaint"),
    [
        ("0 0 31 2 *", "never fires"),
        ("0 0 30,31 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("* * * *", "5 fields"),
        ("0 0 * * * *", "5 fields"),
        ("61 * * * *", "minute: 61 is out of range 0-59"),
        ("0 0 L * *", "extensions Debian's cron does not run"),
        ("0 0 * * 5#2", "extensions Debian's cron does not run"),
        ("0 0 15W * *", "extensions Debian's cron does not run"),
        ("0 0 ? * *", "extensions Debian's cron does not run"),
        ("H * * * *", "is not cron syntax"),
        ("5/10 * * * *", "write 5-59/10"),
        ("0 0 * * fri-mon", "runs backwards"),
        ("*/0 * * * *", "a step of 0"),
        ("0 0 * * 8", "out of range 0-7"),
        ("0 0 * january *", "is not cron syntax"),
        ("0 0 30 2 */2", "never fires"),  # a starred day-of-week: both fields must match
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
    [
        ("@daily", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("0 0 31 2 1", "0 0 31 2 1"),  # both day fields restricted: every Monday of February
        ("0 9 * JAN-mar Mon-FRI", "0 9 * JAN-mar Mon-FRI"),
        ("0 0 * * 7", "0 0 * * 7"),
        ("*/5,7 1-5/2 * * *", "*/5,7 1-5/2 * * *"),
    ],
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


def test_every_real_zone_and_utc_still_work_but_localtime_does_not():
    from zoneinfo import available_timezones

    real = [*sorted(available_timezones() - {"localtime", "Factory", "posixrules"}), "UTC", "Etc/UTC"]
    for name in real:
        assert fire_times("@daily", name, after=datetime(2026, 1, 1, tzinfo=UTC), count=1)
    with pytest.raises(ScheduleError, match="each host's own clock setting"):
        fire_times("@daily", "localtime", after=datetime(2026, 1, 1, tzinfo=UTC), count=1)


def berlin(times):
    return [f"{fire.at:%a %d %H:%M %Z}" for fire in times]


def test_a_starred_day_field_and_a_restricted_one_run_on_days_matching_both():
    """Debian's cron: "every other day on weekdays" runs on odd dates that are weekdays, never on a
    Sunday (croniter ran it on every date that was odd or a weekday)."""
    after = datetime(2026, 12, 6, tzinfo=UTC)
    times = fire_times("0 9 */2 * 1-5", "Europe/Berlin", after=after, count=5)
    assert berlin(times) == ["Mon 07 09:00 CET", "Wed 09 09:00 CET", "Fri 11 09:00 CET", "Tue 15 09:00 CET",
                             "Thu 17 09:00 CET"]  # fmt: skip


def test_two_restricted_day_fields_run_on_days_matching_either():
    times = fire_times("0 0 1 * 1", "UTC", after=datetime(2026, 12, 1, 12, tzinfo=UTC), count=4)
    assert [f"{fire.at:%a %d}" for fire in times] == ["Mon 07", "Mon 14", "Mon 21", "Mon 28"]
    times = fire_times("0 0 1 * 1", "UTC", after=datetime(2026, 12, 28, 12, tzinfo=UTC), count=2)
    assert [f"{fire.at:%a %m-%d}" for fire in times] == ["Fri 01-01", "Mon 01-04"]


def test_a_wildcard_job_runs_in_both_copies_of_a_repeated_hour():
    times = fire_times("*/30 1-3 * * *", "Europe/Berlin", after=datetime(2026, 10, 24, 22, tzinfo=UTC), count=7)
    assert berlin(times) == ["Sun 25 01:00 CEST", "Sun 25 01:30 CEST", "Sun 25 02:00 CEST", "Sun 25 02:30 CEST",
                             "Sun 25 02:00 CET", "Sun 25 02:30 CET", "Sun 25 03:00 CET"]  # fmt: skip
    assert "runs both times" in times[2].note
    assert times[4].at > times[3].at  # instants: the second 02:00 is after the first 02:30


def test_a_wildcard_job_does_not_run_in_the_hour_a_spring_forward_skips():
    times = fire_times("*/15 2 1-7 * 7", "Europe/Berlin", after=datetime(2026, 3, 28, 12, tzinfo=UTC), count=2)
    assert berlin(times) == ["Wed 01 02:00 CEST", "Wed 01 02:15 CEST"]  # not Sunday 29 at 03:00
    hourly = fire_times("0 * * * *", "Europe/Berlin", after=datetime(2026, 3, 28, 23, 30, tzinfo=UTC), count=3)
    assert berlin(hourly) == ["Sun 29 01:00 CET", "Sun 29 03:00 CEST", "Sun 29 04:00 CEST"]


def test_dst_warnings_name_each_change_a_wildcard_job_crosses_and_what_it_does_there():
    year = {"start": datetime(2026, 1, 1, tzinfo=UTC), "end": datetime(2027, 1, 1, tzinfo=UTC)}
    skipped, repeated = dst_warnings("*/5 * * * *", "Europe/Berlin", **year)
    assert "2026-03-29" in skipped and "does not run in the skipped time" in skipped
    assert "2026-10-25" in repeated and "runs twice in the repeated time" in repeated
    assert dst_warnings("30 2 * * *", "Europe/Berlin", **year) == []  # fixed-time: the wall clock rules
    assert dst_warnings("*/5 * * * *", "UTC", **year) == []


def test_dst_warnings_leave_out_changes_on_days_or_at_hours_the_job_does_not_run():
    year = {"start": datetime(2026, 1, 1, tzinfo=UTC), "end": datetime(2027, 1, 1, tzinfo=UTC)}
    # Berlin's clocks change on Sundays (29 March, 25 October) at 02:00-03:00.
    assert dst_warnings("*/15 * * * 1", "Europe/Berlin", **year) == []  # Mondays only
    assert dst_warnings("*/30 2 1 * *", "Europe/Berlin", **year) == []  # the 1st of the month only
    assert dst_warnings("*/10 9-17 * * *", "Europe/Berlin", **year) == []  # office hours only
    skipped, repeated = dst_warnings("*/30 2 * * 0", "Europe/Berlin", **year)
    assert skipped.startswith("on 2026-03-29 ") and skipped.endswith("the skipped time (its runs at 02:00 to 02:30)")
    assert repeated.startswith("on 2026-10-25 ") and repeated.endswith("the repeated time (its runs at 02:00 to 02:30)")
    (hourly, _) = dst_warnings("0 * * * *", "America/New_York", **year)  # 8 March, 02:00 does not exist
    assert hourly.startswith("on 2026-03-08 ") and hourly.endswith("the skipped time (its run at 02:00)")
