"""A job's effective alerting policy: its manifest's ``spec.monitor`` over the team's default rules.

Pure: no I/O. Every duration is in whole seconds, so the policy stores as small JSON in
``JobMonitor.policy`` and the due-time index needs nothing but the row to move a job forward.

How long a started run may go unfinished (``finish_after``, seconds after its start):

- the run's deadline: the job's ``timeout`` when it has one (the agent stops the run then and
  reports ``timeout``), else the effective ``maxDuration``, else none;
- plus an allowance: the monitor's ``finishGrace`` when set; otherwise the team's
  ``finish_grace`` (default 1h) for a job without a deadline, and for a job with one the start
  ``grace`` (the team's tolerance for a late check-in), at least ``MIN_REPORT_ALLOWANCE``
  seconds, so a run stopped at its timeout has time to report;
- never less than ``MIN_FINISH_AFTER`` in total.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from crontopus_kit.times import as_utc
from crontopus_schemas.alerting import AlertRules
from crontopus_schemas.manifest import Monitor, duration_seconds

MIN_REPORT_ALLOWANCE = 60
MIN_FINISH_AFTER = 60


@dataclass(frozen=True)
class Window:
    """A maintenance window: incidents are recorded, nobody is notified."""

    start: datetime
    end: datetime
    reason: str = ""


@dataclass(frozen=True)
class Policy:
    grace: int = 300  # a run may start this late before its slot counts as missed
    missed: bool = True  # watch for runs that never start
    finish_after: int = 3600  # a run unfinished this long after its start never finished
    max_duration: int | None = None
    min_duration: int | None = None
    max_runs: int | None = None  # more runs than this ...
    max_runs_per: int | None = None  # ... within this many seconds: too often
    failures_consecutive: int = 1
    failures_ratio: float | None = None
    failures_window: int = 10
    maintenance: tuple[Window, ...] = ()
    snooze_until: datetime | None = None

    @property
    def outcomes_kept(self) -> int:
        """How many runs' outcomes the failure rules need: the ratio's window, and a streak of
        ``consecutive`` failures (longer than the window, it was never seen whole)."""
        return max(self.failures_window, self.failures_consecutive)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, UTC times): equal policies give equal text, so a sync
        compares the stored column with a string comparison."""
        return json.dumps(asdict(self), sort_keys=True, default=_json_default, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Policy:
        """The stored form back; ``{}`` (a row written without one) gives the defaults."""
        data: dict[str, Any] = json.loads(text or "{}")
        if "maintenance" in data:
            data["maintenance"] = tuple(
                Window(_parse_time(w["start"]), _parse_time(w["end"]), w.get("reason", "")) for w in data["maintenance"]
            )
        if data.get("snooze_until"):
            data["snooze_until"] = _parse_time(data["snooze_until"])
        return cls(**data)


def effective_policy(rules: AlertRules, monitor: Monitor, *, timeout_seconds: int | None) -> Policy:
    """Each field the monitor leaves unset takes the team's default (see the module docstring for
    ``finish_after``)."""
    grace = duration_seconds(monitor.grace if monitor.grace is not None else rules.grace)
    max_duration = _optional_seconds(monitor.max_duration or rules.max_duration)
    failures = monitor.failures or rules.failures
    max_runs = monitor.max_runs or rules.max_runs
    return Policy(
        grace=grace,
        missed=monitor.missed if monitor.missed is not None else rules.missed,
        finish_after=finish_after(
            rules=rules, monitor=monitor, grace=grace, timeout_seconds=timeout_seconds, max_duration=max_duration
        ),
        max_duration=max_duration,
        min_duration=_optional_seconds(monitor.min_duration or rules.min_duration),
        max_runs=max_runs.count if max_runs else None,
        max_runs_per=duration_seconds(max_runs.per) if max_runs else None,
        failures_consecutive=failures.consecutive,
        failures_ratio=failures.ratio,
        failures_window=failures.window,
        maintenance=tuple(Window(as_utc(w.start), as_utc(w.end), w.reason) for w in monitor.maintenance),
        snooze_until=as_utc(monitor.snooze_until) if monitor.snooze_until else None,
    )


def finish_after(
    *, rules: AlertRules, monitor: Monitor, grace: int, timeout_seconds: int | None, max_duration: int | None
) -> int:
    deadline = timeout_seconds if timeout_seconds is not None else max_duration
    if monitor.finish_grace is not None:
        allowance = duration_seconds(monitor.finish_grace)
    elif deadline is None:
        allowance = duration_seconds(rules.finish_grace)
    else:
        allowance = max(grace, MIN_REPORT_ALLOWANCE)
    return max((deadline or 0) + allowance, MIN_FINISH_AFTER)


def in_silence(policy: Policy, at: datetime) -> bool:
    """Inside one of the job's maintenance windows (start inclusive, end exclusive) or before its
    snooze ends: an incident opening now is recorded but not notified."""
    if policy.snooze_until is not None and at < policy.snooze_until:
        return True
    return any(window.start <= at < window.end for window in policy.maintenance)


def _optional_seconds(value: str | None) -> int | None:
    return duration_seconds(value) if value is not None else None


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a policy")


def _parse_time(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))
