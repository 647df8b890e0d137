"""Which fire time a guarded wrapper runs (slots.py): the rules, with a clock the test sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from crontopus_agent.jobs import AgentJob
from crontopus_agent.slots import SlotBook, book_path, plan_turn, start_books, take_turn

# 09:00 to 09:59 in Berlin, every minute; in December that is 08:00 to 08:59 UTC.
EVERY_MINUTE_AT_NINE = AgentJob(
    namespace="prod", name="poll", schedule="* 9 * * *", timezone="Europe/Berlin", command="true"
)
DAILY_AT_TWO = AgentJob(namespace="prod", name="backup", schedule="0 2 * * *", timezone="Europe/Berlin", command="true")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def book_for(job: AgentJob, settled_through: str) -> SlotBook:
    return SlotBook(job.schedule, job.timezone, settled_through=at(settled_through))


def test_a_wrapper_on_time_runs_the_fire_time_of_its_minute() -> None:
    turn, _ = plan_turn(book_for(DAILY_AT_TWO, "2026-12-08T00:00"), now=at("2026-12-08T01:00:01"))

    assert (turn.slot, turn.missed) == (at("2026-12-08T01:00"), ())
    assert turn.notes(DAILY_AT_TWO) == []


def test_a_wrapper_two_minutes_late_still_runs_its_fire_time_and_says_how_late() -> None:
    turn, book = plan_turn(book_for(DAILY_AT_TWO, "2026-12-08T00:00"), now=at("2026-12-08T01:02:10"))

    assert turn.slot == at("2026-12-08T01:00")
    assert turn.notes(DAILY_AT_TWO) == [
        "started 2 min 10 s after its time, 2026-12-08 02:00 Europe/Berlin (01:00 UTC); "
        "a run may start up to 5 min late"
    ]
    again, _ = plan_turn(book, now=at("2026-12-08T01:02:30"))
    assert again.slot is None and again.missed == ()  # claimed: a second wrapper runs nothing, says nothing


def test_a_wrapper_more_than_five_minutes_late_runs_nothing_and_says_which_run_was_missed() -> None:
    turn, book = plan_turn(book_for(DAILY_AT_TWO, "2026-12-08T00:00"), now=at("2026-12-08T01:05:00"))

    assert turn.slot is None
    assert turn.missed_message(DAILY_AT_TWO) == (
        "prod/backup: the run due at 2026-12-08 02:00 Europe/Berlin (01:00 UTC) was not run: no wrapper "
        "started within 5 min of the time (a busy host, or cron or the host was not running then)"
    )
    later, _ = plan_turn(book, now=at("2026-12-08T01:06:00"))
    assert later.missed == ()  # said once


def test_a_late_wrapper_and_the_next_minutes_wrapper_each_run_one_minute_whatever_their_order() -> None:
    book = book_for(EVERY_MINUTE_AT_NINE, "2026-12-08T08:01:30")
    # The wrapper for 08:03 starts on time; the one for 08:02 only after it, at 08:03:20.
    on_time, book = plan_turn(book, now=at("2026-12-08T08:03:01"))
    late, book = plan_turn(book, now=at("2026-12-08T08:03:20"))
    third, _ = plan_turn(book, now=at("2026-12-08T08:03:40"))

    assert {on_time.slot, late.slot} == {at("2026-12-08T08:02"), at("2026-12-08T08:03")}
    assert third.slot is None


def test_fire_times_before_the_book_started_are_neither_run_nor_reported() -> None:
    # Installed at 01:02:30 UTC: the 02:00 Berlin run of that day came before the job did.
    turn, _ = plan_turn(book_for(DAILY_AT_TWO, "2026-12-08T01:02:30"), now=at("2026-12-08T01:03:00"))

    assert (turn.slot, turn.missed) == (None, ())


def test_a_host_that_was_off_for_a_weekend_says_so_in_one_message() -> None:
    book = book_for(EVERY_MINUTE_AT_NINE, "2026-12-04T09:00")

    turn, after = plan_turn(book, now=at("2026-12-07T08:00:05"))

    assert turn.slot == at("2026-12-07T08:00")
    assert len(turn.missed) == 2 * 60  # 08:00 to 08:59 UTC on Saturday and Sunday
    assert turn.missed_message(EVERY_MINUTE_AT_NINE).startswith(
        "prod/poll: 120 runs due from 2026-12-05 09:00 Europe/Berlin (08:00 UTC) on were not run"
    )
    assert after.settled_through == at("2026-12-07T07:55:05")


def test_the_daemon_starts_a_book_for_a_new_or_rescheduled_job_and_keeps_a_running_one(tmp_path: Path) -> None:
    start_books(tmp_path, [DAILY_AT_TWO], now=at("2026-12-07T12:00"))
    take_turn(tmp_path, DAILY_AT_TWO, now=at("2026-12-08T01:00:02"))
    start_books(tmp_path, [DAILY_AT_TWO], now=at("2026-12-08T01:30"))  # the next sync: unchanged

    assert SlotBook.from_json(book_path(tmp_path, DAILY_AT_TWO.ref).read_bytes()).claimed == {at("2026-12-08T01:00")}
    moved = AgentJob(namespace="prod", name="backup", schedule="0 3 * * *", timezone="Europe/Berlin", command="true")
    start_books(tmp_path, [moved], now=at("2026-12-08T01:30"))
    book = SlotBook.from_json(book_path(tmp_path, DAILY_AT_TWO.ref).read_bytes())
    assert (book.schedule, book.settled_through, book.claimed) == ("0 3 * * *", at("2026-12-08T01:30"), frozenset())


def test_a_wrapper_without_a_book_runs_its_own_fire_time_even_a_little_late(tmp_path: Path) -> None:
    turn = take_turn(tmp_path, DAILY_AT_TWO, now=at("2026-12-08T01:03:00"))

    assert turn.slot == at("2026-12-08T01:00")
    assert take_turn(tmp_path, DAILY_AT_TWO, now=at("2026-12-08T01:03:05")).slot is None


def test_a_run_is_taken_once_at_the_daylight_saving_fall_back() -> None:
    # 2026-10-25 in Berlin: 02:00 CEST (00:00 UTC), then 02:00 CET (01:00 UTC) again; cron runs it once.
    book = book_for(DAILY_AT_TWO, "2026-10-24T23:00")

    first, book = plan_turn(book, now=at("2026-10-25T00:00:01"))
    second, _ = plan_turn(book, now=at("2026-10-25T01:00:01"))

    assert first.slot == at("2026-10-25T00:00")
    assert (second.slot, second.missed) == (None, ())


def test_now_between_checks_does_not_move_the_window_past_a_claimed_run() -> None:
    book = book_for(DAILY_AT_TWO, "2026-12-08T00:00")
    _, book = plan_turn(book, now=at("2026-12-08T01:00:01"))

    turn, _ = plan_turn(book, now=at("2026-12-08T01:00:00") + timedelta(minutes=7))

    assert (turn.slot, turn.missed) == (None, ())  # run in time: not reported as missed later


def test_a_clock_set_back_an_hour_does_not_stop_the_job_nor_repeat_a_run() -> None:
    book = book_for(EVERY_MINUTE_AT_NINE, "2026-12-08T08:10")
    _, book = plan_turn(book, now=at("2026-12-08T08:15:01"))

    back, book = plan_turn(book, now=at("2026-12-08T08:05:01"))
    forward, _ = plan_turn(book, now=at("2026-12-08T08:15:02"))

    assert back.slot == at("2026-12-08T08:05")
    assert forward.slot == at("2026-12-08T08:14")  # 08:15 ran before the clock went back
