"""Expected starts and lateness without a database: DST, grace, the watermark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crontopus_alerting.due import (
    EARLY_START,
    NOT_YET,
    MonitorState,
    RunSeen,
    Schedule,
    Watermark,
    after_missed,
    after_run,
    effective_now,
    next_expected_start,
    scheduled,
)
from crontopus_alerting.policy import Policy

BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def job(schedule: str, timezone: str = "UTC", *, grace: int = 300, **policy) -> Schedule:
    return Schedule(schedule, timezone, Policy(grace=grace, **policy))


def fresh(schedule: Schedule, now: datetime) -> MonitorState:
    return scheduled(MonitorState(), schedule, now=now, reschedule=True)


def ran(state: MonitorState, schedule: Schedule, at: datetime, run_id: str = "r") -> MonitorState:
    return after_run(state, RunSeen("ns/job", run_id, at, None), schedule)


def slots_reported(schedule: Schedule, start: datetime, end: datetime, *, step: timedelta) -> list[datetime]:
    """Tick every ``step`` with no runs at all; the slots reported missed."""
    state, reported, now = fresh(schedule, start), [], start
    while now <= end:
        if state.alert_at is not None and state.alert_at <= now:
            reported.append(state.expected_at)
            state = after_missed(state, schedule, now=now)
        now += step
    return reported


# --- DST ------------------------------------------------------------------------------------------


def test_a_daily_2am_job_is_expected_once_at_3am_cest_on_spring_forward_day():
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST; cron runs the 02:00 job at 03:00.
    daily = job("0 2 * * *", BERLIN)
    assert next_expected_start("0 2 * * *", BERLIN, utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)
    state = ran(fresh(daily, utc(2026, 3, 28, 12)), daily, utc(2026, 3, 29, 1, 0, 4))
    assert state.expected_at == utc(2026, 3, 30, 0)  # next day, 02:00 CEST


def test_a_daily_2am_job_is_expected_once_on_fall_back_day():
    # 2026-10-25 in Berlin: 02:00-03:00 happens twice; cron runs the 02:00 job once, the first time.
    daily = job("0 2 * * *", BERLIN)
    state = fresh(daily, utc(2026, 10, 24, 12))
    assert state.expected_at == utc(2026, 10, 25, 0)  # 02:00 CEST
    state = ran(state, daily, utc(2026, 10, 25, 0, 0, 3))
    assert state.expected_at == utc(2026, 10, 26, 1)  # not the second 02:00 (01:00 UTC) but tomorrow's, CET


def test_a_missed_2am_job_is_reported_once_on_each_dst_day():
    daily = job("0 2 * * *", BERLIN)
    spring = slots_reported(daily, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), step=timedelta(minutes=1))
    autumn = slots_reported(daily, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12), step=timedelta(minutes=1))
    assert spring == [utc(2026, 3, 29, 1)]
    assert autumn == [utc(2026, 10, 25, 0)]


def test_every_30_minutes_across_fall_back_follows_cron_and_never_double_counts():
    half_hourly = job("*/30 * * * *", BERLIN, grace=60)
    reported = slots_reported(
        half_hourly, utc(2026, 10, 24, 23, 40), utc(2026, 10, 25, 2, 45), step=timedelta(seconds=5)
    )
    # 02:00 and 02:30 CEST, 02:00 and 02:30 CET again (a job whose minute field starts with * follows
    # real time, as Debian's cron runs it), then 03:00 and 03:30 CET: each slot once.
    assert reported == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 30),
                        utc(2026, 10, 25, 2), utc(2026, 10, 25, 2, 30)]  # fmt: skip


def test_every_30_minutes_across_fall_back_a_host_that_also_runs_the_repeated_hour_raises_nothing():
    half_hourly = job("*/30 * * * *", BERLIN, grace=60)
    state = fresh(half_hourly, utc(2026, 10, 24, 23, 40))
    run_at = utc(2026, 10, 25, 0, 0, 2)
    for _ in range(6):  # every 30 real minutes: 00:00 ... 02:30 UTC, the repeated 02:00/02:30 CET included
        assert state.alert_at is None or state.alert_at > run_at
        state = ran(state, half_hourly, run_at, run_id=run_at.isoformat())
        run_at += timedelta(minutes=30)
    assert state.expected_at == utc(2026, 10, 25, 3)


# --- grace and slots ------------------------------------------------------------------------------


def test_a_slot_becomes_late_after_its_grace():
    hourly = job("0 * * * *", grace=300)
    state = fresh(hourly, utc(2026, 11, 27, 11, 50))
    assert (state.expected_at, state.alert_at) == (utc(2026, 11, 27, 12), utc(2026, 11, 27, 12, 5))


def test_a_run_starting_within_grace_fills_the_slot():
    hourly = job("0 * * * *", grace=300)
    state = ran(fresh(hourly, utc(2026, 11, 27, 11, 50)), hourly, utc(2026, 11, 27, 12, 4, 59))
    assert state.expected_at == utc(2026, 11, 27, 13)


def test_a_run_a_little_early_fills_the_slot_but_a_manual_run_long_before_does_not():
    hourly = job("0 * * * *")
    state = fresh(hourly, utc(2026, 11, 27, 11, 50))
    assert ran(state, hourly, utc(2026, 11, 27, 12) - EARLY_START).expected_at == utc(2026, 11, 27, 13)
    manual = ran(state, hourly, utc(2026, 11, 27, 11, 52))
    assert manual.expected_at == utc(2026, 11, 27, 12)
    assert manual.last_started_at == utc(2026, 11, 27, 11, 52)


def test_a_repeated_start_event_does_not_move_the_schedule_twice():
    minutely = job("* * * * *", grace=30)
    state = ran(fresh(minutely, utc(2026, 11, 27, 11, 59, 30)), minutely, utc(2026, 11, 27, 12, 0, 1))
    finished = after_run(
        state, RunSeen("ns/job", "r", utc(2026, 11, 27, 12, 0, 1), utc(2026, 11, 27, 12, 0, 40)), minutely
    )
    assert finished.expected_at == state.expected_at == utc(2026, 11, 27, 12, 1)


def test_a_ping_without_a_start_counts_as_the_run():
    hourly = job("0 * * * *")
    ping = RunSeen("ns/job", "p", None, utc(2026, 11, 27, 12, 0, 30))
    state = after_run(fresh(hourly, utc(2026, 11, 27, 11, 50)), ping, hourly)
    assert state.expected_at == utc(2026, 11, 27, 13)
    assert state.finish_alert_at is None


def test_slots_missed_while_the_evaluator_was_behind_are_reported_once():
    minutely = job("* * * * *", grace=60)
    state = fresh(minutely, utc(2026, 11, 27, 11, 59, 30))
    moved = after_missed(state, minutely, now=utc(2026, 11, 27, 12, 30))
    assert moved.expected_at == utc(2026, 11, 27, 12, 30)  # the first slot not yet late at 12:30
    assert moved.alert_at == utc(2026, 11, 27, 12, 31)


def test_paused_and_missed_false_jobs_have_no_alert_time():
    assert fresh(Schedule("0 * * * *", "UTC", Policy(), paused=True), utc(2026, 11, 27)).alert_at is None
    assert fresh(job("0 * * * *", missed=False), utc(2026, 11, 27)).alert_at is None


# --- started, never finished ----------------------------------------------------------------------


def test_a_started_run_gets_a_finish_deadline_that_its_finish_clears():
    hourly = job("0 * * * *", finish_after=900)
    started = ran(fresh(hourly, utc(2026, 11, 27, 11, 50)), hourly, utc(2026, 11, 27, 12), run_id="r1")
    assert started.finish_alert_at == utc(2026, 11, 27, 12, 15)
    done = after_run(started, RunSeen("ns/job", "r1", utc(2026, 11, 27, 12), utc(2026, 11, 27, 12, 3)), hourly)
    assert done.finish_alert_at is None
    assert done.last_finished_at == utc(2026, 11, 27, 12, 3)


def test_an_older_runs_finish_does_not_clear_the_newer_runs_deadline():
    minutely = job("* * * * *", finish_after=900)
    state = fresh(minutely, utc(2026, 11, 27, 11, 59, 30))
    state = ran(state, minutely, utc(2026, 11, 27, 12), run_id="r1")
    state = ran(state, minutely, utc(2026, 11, 27, 12, 1), run_id="r2")
    state = after_run(state, RunSeen("ns/job", "r1", utc(2026, 11, 27, 12), utc(2026, 11, 27, 12, 2)), minutely)
    assert (state.last_run_id, state.finish_alert_at) == ("r2", utc(2026, 11, 27, 12, 16))


# --- the watermark --------------------------------------------------------------------------------


def test_without_a_backlog_lateness_is_judged_at_the_wall_clock():
    wall = utc(2026, 11, 27, 12, 10)
    assert effective_now(wall, backlog=False, last_event_at=utc(2026, 11, 27, 11)) == wall


def test_with_a_backlog_lateness_is_judged_at_the_newest_processed_event():
    wall = utc(2026, 11, 27, 12, 10)
    assert effective_now(wall, backlog=True, last_event_at=utc(2026, 11, 27, 11, 58)) == utc(2026, 11, 27, 11, 58)
    assert effective_now(wall, backlog=True, last_event_at=wall + timedelta(hours=1)) == wall
    assert effective_now(wall, backlog=True, last_event_at=None) == NOT_YET


def test_a_restarted_watermark_judges_nothing_until_events_arrive_and_it_settles():
    wall = utc(2026, 11, 27, 12, 10)
    mark = Watermark(settle_until=wall + timedelta(minutes=2))
    assert mark.now(wall) == NOT_YET
    mark.observe(utc(2026, 11, 27, 11, 30), processed_at=wall)
    mark.caught_up(True, at=wall + timedelta(minutes=1))  # nothing pending, but agents may still flush spools
    assert mark.now(wall + timedelta(minutes=1)) == utc(2026, 11, 27, 11, 30)
    mark.caught_up(True, at=wall + timedelta(minutes=2))
    assert mark.now(wall + timedelta(minutes=2)) == wall + timedelta(minutes=2)


def test_the_watermark_never_moves_back_nor_ahead_of_processing():
    wall = utc(2026, 11, 27, 12, 10)
    mark = Watermark()
    mark.observe(utc(2026, 11, 27, 12), processed_at=wall)
    mark.observe(utc(2026, 11, 27, 9), processed_at=wall)  # a spooled check-in from hours ago
    assert mark.last_event_at == utc(2026, 11, 27, 12)
    mark.observe(utc(2026, 11, 27, 15), processed_at=wall)  # a reporter whose clock runs ahead
    assert mark.last_event_at == wall
