"""When a check-in backlog counts as stuck (reported by /health) and when it is only busy."""

from datetime import UTC, datetime, timedelta

from crontopus_alerting.unit import Backlog

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_backlog_being_worked_off_is_busy_not_stuck():
    backlog = Backlog(stuck_after=timedelta(minutes=5))
    for minute in range(20):  # always something pending, acknowledged further each time
        backlog.seen(False, progress=(minute * 100, minute * 10), at=at(minute * 60))
    assert backlog.stuck(at(20 * 60)) is None


def test_a_backlog_that_does_not_move_is_stuck_after_the_limit_and_caught_up_clears_it():
    backlog = Backlog(stuck_after=timedelta(minutes=5))
    for minute in range(7):
        backlog.seen(False, progress=(500, 40), at=at(minute * 60))
    assert backlog.stuck(at(4 * 60)) is None
    assert backlog.stuck(at(6 * 60)) == (
        "alerting: the check-in backlog has not moved for 6 min: missed-run alerts are held back"
    )
    backlog.seen(True, progress=(600, 41), at=at(7 * 60))
    assert backlog.stuck(at(20 * 60)) is None


def test_unreadable_consumers_are_stuck_with_the_reason():
    backlog = Backlog(stuck_after=timedelta(seconds=30))
    backlog.unreadable("CHECKINS/runs-checkins: NotFoundError: consumer not found")
    backlog.seen(False, progress=(), at=at(0))
    backlog.seen(False, progress=(), at=at(60))
    assert backlog.stuck(at(60)) == (
        "alerting: the check-in backlog has not moved for 1 min (CHECKINS/runs-checkins: NotFoundError: "
        "consumer not found): missed-run alerts are held back"
    )
    backlog.unreadable(None)
    backlog.seen(True, progress=(1, 1), at=at(61))
    assert backlog.stuck(at(120)) is None
