"""The run rules, without a database: each fires for its violation and recovers on a good run."""

from datetime import UTC, datetime, timedelta

from crontopus_alerting.rules import failing, on_finish, on_start, remember_outcome, remember_start
from crontopus_schemas.manifest import Failures, RunCount

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def finish(status: str = "success", *, recent: str = "s", seconds: float = 10, failures=None, newer="",
           replaced=False, **limits):  # fmt: skip
    return on_finish(
        status=status, duration_ms=int(seconds * 1000), exit_code=0 if status == "success" else 1, recent=recent,
        failures=failures or Failures(), max_duration=limits.get("max_duration"),
        min_duration=limits.get("min_duration"), newer=newer, replaced=replaced,
    )  # fmt: skip


def test_a_failed_run_opens_a_failure_incident_and_a_success_recovers_it():
    assert finish("failure", recent="sf").opened == (("failed", "exited with 1"),)
    no_code = on_finish(status="failure", duration_ms=None, exit_code=None, recent="f", failures=Failures(),
                        max_duration=None, min_duration=None)  # fmt: skip
    assert no_code.opened == (("failed", "reported a failure without an exit code"),), "not 'failed: failed'"
    assert "failed" in finish("success", recent="sfs").recovered


def test_a_timeout_is_a_failure_that_says_so():
    verdict = on_finish(status="timeout", duration_ms=60_000, exit_code=124, recent="f", failures=Failures(),
                        max_duration=None, min_duration=None)  # fmt: skip
    assert verdict.opened == (("failed", "timed out"),)


def test_consecutive_failures_alert_only_at_the_nth():
    three = Failures(consecutive=3)
    assert finish("failure", recent="sff", failures=three).opened == ()
    assert finish("failure", recent="sfff", failures=three).opened[0][1].startswith("3 failed runs in a row")


def test_a_failure_ratio_over_the_window_alerts():
    half = Failures(consecutive=100, ratio=0.5, window=4)
    assert failing("sfsf", half) == "2 of the last 4 runs failed"
    assert failing("ssfs", half) is None
    assert failing("ff", half) is None  # not enough runs yet for the window


def test_the_remembered_outcomes_are_bounded_by_the_window():
    recent: list[list] = []
    for index in range(30):
        recent, _ = remember_outcome(recent, f"r{index}", success=index % 2 == 0, ran_at=T0 + timedelta(minutes=index),
                                     window=10)  # fmt: skip
    assert len(recent) == 10 and recent[0][:2] == ["r20", "s"] and recent[-1][:2] == ["r29", "f"]


def test_a_run_that_arrives_late_takes_its_place_in_the_order_the_runs_ran():
    recent: list[list] = []
    for run_id, success, minutes in (("r1", True, 0), ("r3", True, 2), ("r2", False, 1)):
        recent, newer = remember_outcome(recent, run_id, success=success, ran_at=T0 + timedelta(minutes=minutes),
                                         window=10)  # fmt: skip
    assert [outcome[:2] for outcome in recent] == [["r1", "s"], ["r2", "f"], ["r3", "s"]]
    assert newer == "s", "r3 ran after it"
    _, newest = remember_outcome(recent, "r4", success=False, ran_at=T0 + timedelta(minutes=3), window=10)
    assert newest == ""


def test_a_memory_kept_before_run_times_were_remembered_counts_as_older_than_any_new_run():
    recent, newer = remember_outcome([["old1", "s"], ["old2", "f"]], "r1", success=True, ran_at=T0, window=10)
    assert [outcome[:2] for outcome in recent] == [["old1", "s"], ["old2", "f"], ["r1", "s"]] and newer == ""


def test_a_failure_that_ran_before_a_success_already_judged_opens_no_incident():
    assert finish("failure", recent="sfs", newer="s").opened == ()
    assert finish("failure", recent="sff", newer="f").opened == (("failed", "exited with 1"),), (
        "after the last success: the job is failing now"
    )
    two = Failures(consecutive=2)
    assert finish("failure", recent="sff", newer="f", failures=two).opened[0][1].startswith("2 failed runs in a row")


def test_only_the_newest_run_recovers_an_incident():
    late_success = finish("success", recent="sf", newer="f", seconds=60, max_duration=600, min_duration=5)
    assert late_success.recovered == ("not_finished",), "the run after it failed (or ran too long, or too fast)"
    assert {"failed", "too_long", "too_fast"} <= set(finish(seconds=60, max_duration=600, min_duration=5).recovered)


def test_a_replaced_run_is_no_failure_and_recovers_only_not_finished_having_been_cut_short():
    assert finish("failure", recent="ff", replaced=True).opened == ()
    assert finish("failure", recent="f", seconds=60, replaced=True, max_duration=600).recovered == ("not_finished",)
    overran = finish("failure", recent="", seconds=700, replaced=True, max_duration=600)
    assert overran.opened == (("too_long", "ran 700s, longer than 600s"),), "it did run that long"


def test_a_run_longer_than_max_duration_is_too_long_and_a_normal_one_recovers():
    assert finish(seconds=700, max_duration=600).opened == (("too_long", "ran 700s, longer than 600s"),)
    assert "too_long" in finish(seconds=60, max_duration=600).recovered


def test_a_successful_run_shorter_than_min_duration_is_too_fast_but_a_failed_one_is_not():
    assert finish(seconds=0.5, min_duration=5).opened == (("too_fast", "ran 0.5s, shorter than 5s"),)
    assert all(cause != "too_fast" for cause, _ in finish("failure", recent="f", seconds=0.5, min_duration=5).opened)


def test_more_starts_than_max_runs_within_the_period_is_too_often():
    limit = RunCount(count=2, per="1h")
    starts: list[datetime] = []
    verdicts = []
    for minutes in (0, 10, 20):
        starts = remember_start(starts, T0 + timedelta(minutes=minutes), limit)
        verdicts.append(on_start(starts, limit))
    assert [v.opened for v in verdicts[:2]] == [(), ()]
    assert verdicts[2].opened == (("too_often", "3 runs within 1h (at most 2 expected)"),)
    later = remember_start(starts, T0 + timedelta(minutes=75), limit)
    assert later == [T0 + timedelta(minutes=20), T0 + timedelta(minutes=75)]
    assert "too_often" in on_start(later, limit).recovered


def test_a_start_recovers_a_missed_run():
    assert "missed" in on_start([], None).recovered
