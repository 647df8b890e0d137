"""When a job is next expected to start, when that becomes late, and what "now" is for lateness.

Pure: no I/O. ``monitors.py`` keeps these states in the ``job_monitors`` table. All times are
aware UTC datetimes.

A job's state holds one pending *slot* (``expected_at``, the next scheduled start not yet seen)
and ``alert_at = expected_at + grace``, when that slot counts as missed. A run that starts at or
after ``expected_at - EARLY_START`` fills the slot and the next one is computed from the schedule,
after the run's start: so a late run (within grace) also covers any slots it overlapped, as cron
monitors do (healthchecks' semantics). A ping with only a finish counts at its finish time. The
fire-time work happens only here, for one job at a time: when a run of it is recorded, a missed
slot is passed, or its schedule or policy changed.

The clock the slots are judged against is the *watermark* (``effective_now``), not the wall clock,
whenever the check-in pipeline is behind: see ``effective_now``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from crontopus_alerting.policy import Policy
from crontopus_kit.times import as_utc
from crontopus_schemas.cron import fire_times
from crontopus_schemas.events import RecordedRun

# A run may start this much before its slot and still fill it: ping URLs carry the control plane's
# clock, the cron that started the run the host's. Kept under half a minute so that one run
# never fills the slot of an every-minute job's *next* run.
EARLY_START = timedelta(seconds=30)
# Judged at this time, no slot is late: the pipeline has not shown how far it got yet.
NOT_YET = datetime(1970, 1, 1, tzinfo=UTC)


def next_expected_start(schedule: str, timezone: str, after: datetime) -> datetime | None:
    """The first time strictly after ``after`` that the schedule fires, in UTC (cron's DST rules:
    a skipped wall time runs when the clock jumps, a repeated one runs once). None if never.

    Cron fires on whole minutes, so the answer is the same for any ``after`` within one minute:
    jobs sharing a schedule and zone (every ``*/5 * * * *`` job in UTC) that ran in the same
    minute share one computation (~0.15 ms each here)."""
    return _next_fire(schedule, timezone, after.astimezone(UTC).replace(second=0, microsecond=0))


@functools.lru_cache(maxsize=65536)
def _next_fire(schedule: str, timezone: str, minute: datetime) -> datetime | None:
    times = fire_times(schedule, timezone, after=minute, count=1)
    return times[0].at.astimezone(UTC) if times else None


# --- the watermark ------------------------------------------------------------------------------


def effective_now(wall_clock: datetime, *, backlog: bool, last_event_at: datetime | None) -> datetime:
    """The time lateness is judged at.

    - Pipeline caught up (no backlog): the wall clock.
    - Backlog (check-ins published but not yet processed, or the service just (re)started and
      does not know yet): the time of the newest processed run event, never later than the wall
      clock. A slot whose start may still sit in the backlog is not late yet; slots that came
      due before that event are judged as usual, so a backlog delays alerts but loses none.
    - Backlog and no event processed yet: ``NOT_YET``: nothing is judged.
    """
    if not backlog:
        return wall_clock
    if last_event_at is None:
        return NOT_YET
    return min(wall_clock, last_event_at)


class Watermark:
    """How far the check-in pipeline has been processed, as the evaluator's tick needs it.

    The service feeds it: ``observe`` with each processed run event's time (a run's start or
    finish, as its reporter stamped it) and the time it was processed; ``caught_up`` with whether
    the consumers have anything pending (JetStream ``num_pending`` + ``num_ack_pending`` of the
    check-in and run-event consumers). A new Watermark counts as backlogged until the first
    ``caught_up(True)`` at or after ``settle_until`` (set it a little past the agents' offline
    threshold after a restart: agents that spooled check-ins while the control plane was down have
    reconnected and flushed by then, or are offline and their jobs suppressed).
    """

    def __init__(self, *, settle_until: datetime | None = None) -> None:
        self.last_event_at: datetime | None = None
        self.backlog = True
        self.settle_until = settle_until

    def observe(self, event_at: datetime, *, processed_at: datetime) -> None:
        # Clamped to when we processed it: a reporter whose clock runs ahead must not push the
        # watermark past check-ins that are still queued. Monotonic: a late spooled check-in
        # (old timestamp) never moves it back.
        moment = min(event_at, processed_at)
        if self.last_event_at is None or moment > self.last_event_at:
            self.last_event_at = moment

    def caught_up(self, value: bool, *, at: datetime) -> None:
        settling = self.settle_until is not None and at < self.settle_until
        self.backlog = not value or settling

    def now(self, wall_clock: datetime) -> datetime:
        return effective_now(wall_clock, backlog=self.backlog, last_event_at=self.last_event_at)


# --- a job's state ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """What the state machine needs of a job besides its state."""

    schedule: str
    timezone: str
    policy: Policy
    paused: bool = False  # paused (or disabled): no alerts of any kind

    @property
    def watches_missed(self) -> bool:
        return self.policy.missed and not self.paused


@dataclass(frozen=True)
class MonitorState:
    expected_at: datetime | None = None  # the pending slot (None: missed runs are not watched)
    alert_at: datetime | None = None  # expected_at + grace
    finish_alert_at: datetime | None = None  # the tracked run's start + finish_after, until it finishes
    last_started_at: datetime | None = None  # newest run moment counted against the schedule
    last_finished_at: datetime | None = None
    last_run_id: str | None = None  # the run finish_alert_at waits for


@dataclass(frozen=True)
class RunSeen:
    """A run as the evaluator sees it (from the runs service's RunsRecorded event)."""

    job: str
    run_id: str
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_recorded(cls, run: RecordedRun) -> RunSeen | None:
        """None for what is not a run (a /log ping's output)."""
        if run.status == "log" or (run.started_at is None and run.finished_at is None):
            return None
        return cls(run.job, run.run_id, as_utc(run.started_at), as_utc(run.finished_at))

    @property
    def moment(self) -> datetime:
        """When it ran, for the schedule: its start; a finish-only ping's finish."""
        moment = self.started_at or self.finished_at
        assert moment is not None
        return moment


def scheduled(state: MonitorState, job: Schedule, *, now: datetime, reschedule: bool) -> MonitorState:
    """The state after a sync: a new job, or a changed schedule/time zone/pause (``reschedule``),
    expects its first fire after ``now``; a changed policy only re-derives the alert times."""
    if not job.watches_missed:
        expected = None
    elif reschedule or state.expected_at is None:
        expected = next_expected_start(job.schedule, job.timezone, now)
    else:
        expected = state.expected_at
    finish_alert_at = state.finish_alert_at
    if job.paused:
        finish_alert_at = None
    elif finish_alert_at is not None and state.last_started_at is not None:
        finish_alert_at = state.last_started_at + timedelta(seconds=job.policy.finish_after)
    return replace(state, expected_at=expected, alert_at=_alert(expected, job.policy), finish_alert_at=finish_alert_at)


def after_run(state: MonitorState, run: RunSeen, job: Schedule) -> MonitorState:
    """Record a run's start and/or finish. Idempotent: a start seen before (a redelivered event,
    or the finish event repeating its start) does not move the schedule again."""
    state = _count_start(state, run, job)
    if run.finished_at is not None and run.run_id == state.last_run_id:
        state = replace(state, finish_alert_at=None)
    if run.finished_at is not None and (state.last_finished_at is None or run.finished_at > state.last_finished_at):
        state = replace(state, last_finished_at=run.finished_at)
    return state


def _count_start(state: MonitorState, run: RunSeen, job: Schedule) -> MonitorState:
    moment = run.moment
    if state.last_started_at is not None and moment <= state.last_started_at:
        return state  # seen already, or older than a run we counted
    state = replace(state, last_started_at=moment, last_run_id=run.run_id)
    finishing = run.finished_at is None and not job.paused
    deadline = moment + timedelta(seconds=job.policy.finish_after) if finishing else None
    state = replace(state, finish_alert_at=deadline)
    expected = state.expected_at
    if expected is None or moment < expected - EARLY_START:
        return state  # not watched, or ran before its slot (a manual run): the slot stays pending
    expected = next_expected_start(job.schedule, job.timezone, max(moment, expected))
    return replace(state, expected_at=expected, alert_at=_alert(expected, job.policy))


def after_missed(state: MonitorState, job: Schedule, *, now: datetime) -> MonitorState:
    """Past a missed slot: expect the first slot that is not late yet at ``now``. Slots missed in a
    row before ``now`` (the evaluator or its pipeline was behind) are covered by this one report."""
    assert state.expected_at is not None
    after = max(state.expected_at, now - timedelta(seconds=job.policy.grace))
    expected = next_expected_start(job.schedule, job.timezone, after) if job.watches_missed else None
    return replace(state, expected_at=expected, alert_at=_alert(expected, job.policy))


def _alert(expected: datetime | None, policy: Policy) -> datetime | None:
    if expected is None or not policy.missed:
        return None
    return expected + timedelta(seconds=policy.grace)
