"""The run rules: what one run's start or finish means for a job's incidents. Pure functions.

A job keeps a short memory of its own history on its monitor row (``recent_outcomes``: run id
and "s"/"f" per finished run, newest last; ``recent_starts``: start times within the maxRuns period), so
a rule never has to ask the runs service for history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crontopus_schemas.manifest import Failures, RunCount, duration_seconds

MAX_REMEMBERED_OUTCOMES = 1000


@dataclass(frozen=True)
class Verdict:
    """What a run changes: incidents to open (cause, detail) and causes it recovers from."""

    opened: tuple[tuple[str, str], ...] = ()
    recovered: tuple[str, ...] = ()


def remember_outcome(recent: list[list[str]], run_id: str, *, success: bool, window: int) -> list[list[str]]:
    """The [run id, "s"|"f"] outcomes of the latest runs with this one added, newest last, as many
    as the failure window needs. The run ids make a redelivered run event count once."""
    kept = min(max(window, 1), MAX_REMEMBERED_OUTCOMES)
    return [*recent, [run_id, "s" if success else "f"]][-kept:]


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
) -> Verdict:
    """A run finished (``recent`` already holds its outcome)."""
    opened: list[tuple[str, str]] = []
    recovered = ["not_finished"]
    failure = failing(recent, failures) if status != "success" else None
    if failure:
        opened.append(("failed", _failure_detail(failure, status, exit_code)))
    elif status == "success":
        recovered.append("failed")
    seconds = duration_ms / 1000 if duration_ms is not None else None
    if seconds is not None and max_duration is not None and seconds > max_duration:
        opened.append(("too_long", f"ran {seconds:.0f}s, longer than {max_duration}s"))
    elif seconds is not None:
        recovered.append("too_long")
    if status == "success" and seconds is not None and min_duration is not None and seconds < min_duration:
        opened.append(("too_fast", f"ran {seconds:.1f}s, shorter than {min_duration}s"))
    elif status == "success":
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
