from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from itertools import permutations

from crontopus_runs.merge import merge, state_from_checkin
from crontopus_runs.service import fold_batch
from crontopus_schemas.events import MAX_STORED_OUTPUT_BYTES, CheckInEvent

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def checkin(status: str, at: datetime, **extra: object) -> CheckInEvent:
    return CheckInEvent(job="production/backup", run_id="r1", status=status, timestamp=at, **extra)


def test_start_then_finish_gives_duration_and_final_status():
    state = merge(
        state_from_checkin("t", checkin("running", T0)),
        state_from_checkin("t", checkin("success", T0 + timedelta(seconds=90), exit_code=0)),
    )
    assert state.status == "success"
    assert state.duration_ms == 90_000
    assert state.exit_code == 0


def test_any_arrival_order_and_duplicates_give_the_same_run():
    parts = [
        checkin("running", T0),
        checkin("failure", T0 + timedelta(seconds=3), exit_code=2, output="boom"),
        checkin("running", T0),  # duplicate start
    ]
    results = {
        tuple(sorted(asdict(fold_batch(("t", c) for c in order).runs[0]).items())) for order in permutations(parts)
    }
    assert len(results) == 1
    (state,) = fold_batch(("t", c) for c in parts).runs
    assert (state.status, state.exit_code, state.output, state.duration_ms) == ("failure", 2, "boom", 3000)


def test_the_first_finish_wins_over_a_later_conflicting_one():
    first = state_from_checkin("t", checkin("success", T0, exit_code=0))
    later = state_from_checkin("t", checkin("failure", T0 + timedelta(seconds=5), exit_code=1))
    assert merge(first, later).status == "success"


def test_a_replaced_runs_finish_keeps_the_run_that_replaced_it_whatever_arrives_after():
    start = checkin("running", T0)
    replaced = checkin("failure", T0 + timedelta(seconds=5), exit_code=143, replaced_by="r2")
    again = checkin("failure", T0 + timedelta(seconds=6), exit_code=1)  # a later finish has no say
    runs = {fold_batch(("t", c) for c in order).runs[0].replaced_by for order in permutations([start, replaced])}
    assert runs == {"r2"}
    assert merge(state_from_checkin("t", replaced), state_from_checkin("t", again)).replaced_by == "r2"
    assert merge(state_from_checkin("t", again), state_from_checkin("t", replaced)).replaced_by is None
    assert state_from_checkin("t", checkin("running", T0, replaced_by="r2")).replaced_by is None, "a finish field"


def test_reported_duration_wins_over_clock_difference():
    state = merge(
        state_from_checkin("t", checkin("running", T0)),
        state_from_checkin("t", checkin("success", T0 + timedelta(seconds=10), duration_ms=9_876)),
    )
    assert state.duration_ms == 9_876


def test_huge_output_keeps_its_tail_and_notes_the_original_size():
    output = "a" * (MAX_STORED_OUTPUT_BYTES * 3) + "THE END"
    state = state_from_checkin("t", checkin("success", T0, output=output))
    assert state.output.endswith("THE END")
    assert len(state.output.encode()) == MAX_STORED_OUTPUT_BYTES
    assert state.output_size == len(output)
