"""The run rules: what one run's start or finish means for a job's incidents. Pure functions.

A job keeps a short memory of its own history on its monitor row (``recent_outcomes``: run id,
"s"/"f" and when it ran per finished run, in the order they ran; ``recent_starts``: start times
within the maxRuns period), so a rule never has to ask the runs service for history.

A job's present is its newest run by when it ran, as its last status is (the runs service's
``last_statuses``), not the last run event to arrive: a check-in spooled on a host or backfilled
through the API may arrive after runs that ran later. So the memory is kept in the order the runs
ran, and ``on_finish`` is told what ran after the run it judges (``newer``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crontopus_schemas.manifest import Failures, RunCount, duration_seconds

MAX_REMEMBERED_OUTCOMES = 1000


@dataclass(frozen=True)
class Verdict:
    """What a run changes: incidents to open (cause, detail) and causes it recovers from."""

    opened: tuple[tuple[str, str], ...] = ()
    recovered: tuple[str, ...] = ()


def remember_outcome(
    recent: list[list[Any]], run_id: str, *, success: bool, ran_at: datetime, window: int
) -> tuple[list[list[Any]], str]:
    """The [run id, "s"|"f", when it ran (epoch ms)] outcomes of the latest runs with this one
    added, in the order they ran (of equal times, the last to arrive last), as many as the failure
    window needs; and the outcomes of the remembered runs that ran after this one ("": it is the
    newest). The run ids make a redelivered run event count once. Entries remembered before the
    time was kept ([run id, outcome]) count as older than any other."""
    kept = min(max(window, 1), MAX_REMEMBERED_OUTCOMES)
    moment = round(ran_at.timestamp() * 1000)
    at = bisect_right(recent, moment, key=_ran_at)
    newer = "".join(outcome[1] for outcome in recent[at:])
    return [*recent[:at], [run_id, "s" if success else "f", moment], *recent[at:]][-kept:], newer


def _ran_at(outcome: list[Any]) -> int:
    return int(outcome[2]) if len(outcome) > 2 else 0


def failing(recent: str, failures: Failures) -> str | None:
    """Why the latest runs call for a failure incident (None: they do not)."""
    streak = len(recent) - len(recent.rstrip("f"))
    if streak >= failures.consecutive:
        return "failed" if failures.consecutive == 1 else f"{streak} failed runs in a row"
    if failures.ratio is not None and len(recent) >= failures.window:
        last = recent[-failures.window :]
        share = last.count("f") / len(last)
        if share >= failures.ratio:
            return f"{last.count('f')} of the last {len(last)} runs failed"
    return None


def remember_start(starts: Sequence[datetime], started_at: datetime, max_runs: RunCount | None) -> list[datetime]:
    """The start times still inside the maxRuns period ending at this start, this one included."""
    if max_runs is None:
        return []
    since = started_at - timedelta(seconds=duration_seconds(max_runs.per))
    return sorted([at for at in starts if at > since] + [started_at])


def too_often(starts: Sequence[datetime], max_runs: RunCount | None) -> str | None:
    if max_runs is None or len(starts) <= max_runs.count:
        return None
    return f"{len(starts)} runs within {max_runs.per} (at most {max_runs.count} expected)"


def on_start(starts: Sequence[datetime], max_runs: RunCount | None) -> Verdict:
    """A run started: it was not missed; it may be one too many."""
    reason = too_often(starts, max_runs)
    if reason:
        return Verdict(opened=(("too_often", reason),), recovered=("missed",))
    return Verdict(recovered=("missed", "too_often"))


def on_finish(
    *,
    status: str,
    duration_ms: int | None,
    exit_code: int | None,
    recent: str,
    failures: Failures,
    max_duration: int | None,
    min_duration: int | None,
    newer: str = "",
    replaced: bool = False,
) -> Verdict:
    """A run finished (``recent`` already holds its outcome, in the order the runs ran).

    ``newer``: the outcomes of the runs already judged that ran after this one. A failure with a
    newer success is history, not the job's present: it opens no failure incident (it still
    counts in ``recent``, so toward a later failure's ratio). Only the newest run recovers an
    incident: an old success arriving late does not resolve the failure of a run after it.

    ``replaced``: stopped by a newer run of the job (``concurrency: replace``), as its user asked:
    not an outcome (``recent`` does not hold it), so no failure. Cut short, it recovers nothing
    but ``not_finished`` (it did finish), and opens ``too_long`` only when it had already run
    longer than ``max_duration``."""
    opened: list[tuple[str, str]] = []
    recovered = ["not_finished"]
    newest = not newer and not replaced
    if status == "success":
        if newest:
            recovered.append("failed")
    elif not replaced and "s" not in newer:
        failure = failing(recent, failures)
        if failure:
            opened.append(("failed", _failure_detail(failure, status, exit_code)))
    seconds = duration_ms / 1000 if duration_ms is not None else None
    if seconds is not None and max_duration is not None and seconds > max_duration:
        opened.append(("too_long", f"ran {seconds:.0f}s, longer than {max_duration}s"))
    elif seconds is not None and newest:
        recovered.append("too_long")
    too_fast = seconds is not None and min_duration is not None and seconds < min_duration
    if status == "success" and not replaced and too_fast:
        opened.append(("too_fast", f"ran {seconds:.1f}s, shorter than {min_duration}s"))
    elif status == "success" and newest:
        recovered.append("too_fast")
    return Verdict(opened=tuple(opened), recovered=tuple(recovered))


def _failure_detail(reason: str, status: str, exit_code: int | None) -> str:
    if status == "timeout":
        what = "timed out"
    elif exit_code is not None:
        what = f"exited with {exit_code}"
    else:  # what happened, beside the cause ("failed"): not "failed" again
        what = "reported a failure without an exit code"
    return what if reason == "failed" else f"{reason}; the last {what}"
