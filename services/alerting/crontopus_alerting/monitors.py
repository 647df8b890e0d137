"""The due-time index (``job_monitors``): one row per job, kept so that a tick reads only the jobs
that are due. No broker imports; keyword-only arguments.

- ``sync_monitors``: from the manifests (gitops) and the team's rules; recomputes a row's next
  expected start only when it is new or its schedule, time zone, pause or policy changed.
- ``record_runs`` (``record_start``, ``record_finish``): from the runs service's events; moves the
  jobs that ran forward, computing the next fire time for those jobs only.
- ``due_missed`` / ``due_unfinished``: index range scans on ``alert_at`` / ``finish_alert_at``.
- ``advance_missed`` / ``claim_unfinished``: claim one due row with a conditional UPDATE (``WHERE
  alert_at = <the value read>``), so two workers never report the same slot.
- ``sweep_missed`` / ``sweep_unfinished``: a tick: the due rows, each claimed, split into
  reported and suppressed (jobs whose agents are offline).

``sync_monitors`` and ``record_runs`` commit. The claims and sweeps do not: the caller opens the
incidents in the same session and commits once, so a crash between the claim and the incident
loses neither (the claim rolls back and the next tick finds the slot again).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_alerting.due import MonitorState, RunSeen, Schedule, after_missed, after_run, scheduled
from crontopus_alerting.models import JobMonitor
from crontopus_alerting.policy import Policy, effective_policy
from crontopus_kit.times import as_utc
from crontopus_schemas.alerting import AlertRules
from crontopus_schemas.cron import ScheduleError
from crontopus_schemas.manifest import JobManifest, Monitor, duration_seconds

T = TypeVar("T")
CHUNK = 500  # jobs per IN (...) list
_NO_SYNC = {"synchronize_session": False}
# Rows already in the session's identity map are refreshed from what the query read: a claim
# compares against the value read, so a stale one would never match again.
_FRESH = {"populate_existing": True}
_STATE_FIELDS = tuple(f.name for f in fields(MonitorState))
_TABLE: Table = JobMonitor.__table__  # type: ignore[attr-defined]  # SQLModel leaves it untyped
# executemany: the SET columns are the parameters' keys (the state's fields and updated_at).
_UPDATE_STATE = update(_TABLE).where(_TABLE.c.id == bindparam("_id"), _TABLE.c.updated_at == bindparam("_seen"))


@dataclass(frozen=True)
class MonitoredJob:
    """What the index needs of a job's manifest."""

    ref: str  # namespace/name
    schedule: str
    timezone: str = "UTC"
    paused: bool = False
    enabled: bool = True  # a disabled job is installed nowhere: watched like a paused one (not at all)
    labels: Mapping[str, str] = field(default_factory=dict)
    commit: str | None = None
    monitor: Monitor = field(default_factory=Monitor)
    timeout_seconds: int | None = None

    @classmethod
    def from_manifest(cls, manifest: JobManifest, *, commit: str | None = None) -> MonitoredJob:
        spec = manifest.spec
        return cls(
            ref=manifest.ref, schedule=spec.schedule, timezone=spec.timezone, paused=spec.paused,
            enabled=spec.enabled, labels=dict(manifest.metadata.labels), commit=commit, monitor=spec.monitor,
            timeout_seconds=duration_seconds(spec.timeout) if spec.timeout else None,
        )  # fmt: skip


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)  # new schedule, time zone, pause or policy
    updated: list[str] = field(default_factory=list)  # labels or commit only: no cron math
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Claimed:
    """A due slot this worker claimed: report it (or suppress it) exactly once."""

    monitor: JobMonitor  # the row as read, before the claim
    due_at: datetime  # the claimed alert_at / finish_alert_at
    expected_at: datetime | None  # the missed slot (missed runs)
    run_id: str | None  # the run that never finished (unfinished runs)


@dataclass
class Sweep:
    reported: list[Claimed] = field(default_factory=list)
    suppressed: list[Claimed] = field(default_factory=list)  # claimed and passed over, not reported
    rows_read: int = 0  # rows the due query returned
    rows_claimed: int = 0  # rows this worker updated (the others were taken by another worker)


# --- sync from manifests ------------------------------------------------------------------------


async def sync_monitors(
    *,
    session: AsyncSession,
    tenant_id: str,
    jobs: Sequence[MonitoredJob],
    rules: AlertRules,
    now: datetime,
    removed: Collection[str] | None = None,
) -> SyncResult:
    """Bring a tenant's rows in line with its jobs. ``removed=None``: ``jobs`` is the whole set and
    every other row of the tenant goes; otherwise only ``jobs`` and ``removed`` are looked at (a
    manifests-changed event's added/changed/removed lists), so a push touches what it changed."""
    now = _utc(now)
    wanted = {job.ref: job for job in jobs}
    if removed is None:
        rows = await _tenant_rows(session, tenant_id)
    else:
        rows = await _rows_of(session, tenant_id, [*wanted, *removed])
    result = SyncResult(removed=sorted(ref for ref in rows if ref not in wanted))
    await _delete(session, tenant_id, result.removed)
    for ref, job in wanted.items():
        _sync_one(session, tenant_id, job, rows.get(ref), rules=rules, now=now, result=result)
    await session.commit()
    return result


def _sync_one(
    session: AsyncSession,
    tenant_id: str,
    job: MonitoredJob,
    row: JobMonitor | None,
    *,
    rules: AlertRules,
    now: datetime,
    result: SyncResult,
) -> None:
    policy = effective_policy(rules, job.monitor, timeout_seconds=job.timeout_seconds)
    paused = job.paused or not job.enabled
    labels = json.dumps(dict(job.labels), sort_keys=True)
    if row is None:
        row = JobMonitor(
            tenant_id=tenant_id,
            job=job.ref,
            schedule=job.schedule,
            timezone=job.timezone,
            paused=paused,
            updated_at=now,
        )
        session.add(row)
        result.added.append(job.ref)
        reschedule = True
    else:
        reschedule = (row.schedule, row.timezone, row.paused) != (job.schedule, job.timezone, paused)
        if not reschedule and row.policy == policy.to_json():
            if (row.labels, row.commit) != (labels, job.commit):
                row.labels, row.commit, row.updated_at = labels, job.commit, now
                result.updated.append(job.ref)
            return
        result.rescheduled.append(job.ref)
    row.schedule, row.timezone, row.paused, row.policy = job.schedule, job.timezone, paused, policy.to_json()
    row.labels, row.commit, row.updated_at = labels, job.commit, now
    _store_state(row, _resync(_state(row), _schedule(row), now=now, reschedule=reschedule))


def _resync(state: MonitorState, job: Schedule, *, now: datetime, reschedule: bool) -> MonitorState:
    try:
        return scheduled(state, job, now=now, reschedule=reschedule)
    except ScheduleError:
        # gitops validates schedules before publishing them; should one slip through, the job is
        # not watched for missed runs rather than breaking the whole tenant's sync.
        return scheduled(state, Schedule(job.schedule, job.timezone, job.policy, paused=True), now=now, reschedule=True)


async def _tenant_rows(session: AsyncSession, tenant_id: str) -> dict[str, JobMonitor]:
    stmt = select(JobMonitor).where(col(JobMonitor.tenant_id) == tenant_id)
    return {row.job: row for row in (await session.execute(stmt, execution_options=_FRESH)).scalars()}


async def _rows_of(session: AsyncSession, tenant_id: str, refs: Iterable[str]) -> dict[str, JobMonitor]:
    rows: dict[str, JobMonitor] = {}
    unique = sorted(set(refs))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        stmt = select(JobMonitor).where(col(JobMonitor.tenant_id) == tenant_id, col(JobMonitor.job).in_(chunk))
        rows.update({row.job: row for row in (await session.execute(stmt, execution_options=_FRESH)).scalars()})
    return rows


async def _delete(session: AsyncSession, tenant_id: str, refs: list[str]) -> None:
    for start in range(0, len(refs), CHUNK):
        stmt = delete(JobMonitor).where(
            col(JobMonitor.tenant_id) == tenant_id, col(JobMonitor.job).in_(refs[start : start + CHUNK])
        )
        await session.execute(stmt, execution_options=_NO_SYNC)
    # The deleted rows' objects must leave the identity map: SQLite reuses their ids for rows
    # added in the same sync (a repository replaced by another with other jobs).
    for row in [obj for obj in session.identity_map.values() if isinstance(obj, JobMonitor)]:
        if row.tenant_id == tenant_id and row.job in refs:
            session.expunge(row)


# --- runs -----------------------------------------------------------------------------------------


async def record_runs(*, session: AsyncSession, tenant_id: str, runs: Sequence[RunSeen]) -> int:
    """Move the jobs of these runs forward (one tenant's RunsRecorded batch): one lookup per chunk
    of jobs, the next fire time computed only for jobs whose slot a run filled, one executemany
    UPDATE of the rows that changed. Runs of jobs without a row (not in the manifests) are
    ignored. Commits; returns the number of rows changed."""
    if not runs:
        return 0
    for _ in range(RECORD_ATTEMPTS):
        changed = await _record_once(session, tenant_id, runs)
        if changed is not None:
            await session.commit()
            return changed
        await session.rollback()
    raise ConcurrentUpdate(f"job monitors of tenant {tenant_id} kept changing while runs were recorded")


class ConcurrentUpdate(RuntimeError):
    """Rows changed under ``record_runs`` every time it tried (SQLite only; PostgreSQL locks them)."""


RECORD_ATTEMPTS = 3


async def _record_once(session: AsyncSession, tenant_id: str, runs: Sequence[RunSeen]) -> int | None:
    """The changed row count, or None when a row changed since it was read (a tick claimed it)."""
    found = await _states_of(session, tenant_id, {run.job for run in runs})
    changed: dict[int, tuple[MonitorState, datetime]] = {}
    for run in sorted(runs, key=lambda r: r.moment):
        if run.job not in found:
            continue
        row_id, job, state, seen = found[run.job]
        after = _after_run(state, run, job)
        if after != state:
            found[run.job] = (row_id, job, after, seen)
            changed[row_id] = (after, seen)
    if not changed:
        return 0
    now = datetime.now(UTC)
    params = [{"_id": i, "_seen": seen, **vars(state), "updated_at": now} for i, (state, seen) in changed.items()]
    written = await session.execute(_UPDATE_STATE, params, execution_options=_NO_SYNC)
    # On SQLite the rows were read without a lock: each update holds only if the row is as read
    # (its updated_at). PostgreSQL locked them (FOR UPDATE) and reports no per-batch row count.
    if session.get_bind().dialect.supports_sane_multi_rowcount and written.rowcount != len(params):  # type: ignore[attr-defined]
        return None
    return len(changed)


async def _states_of(
    session: AsyncSession, tenant_id: str, refs: Collection[str]
) -> dict[str, tuple[int, Schedule, MonitorState, datetime]]:
    """Each job's row id, schedule, state and updated_at, by unique-index lookups; FOR UPDATE on
    PostgreSQL (in job order, so two batches sharing jobs never deadlock): a tick's claim of one
    of these rows waits for this transaction and then finds the row moved."""
    names = ("id", "job", "schedule", "timezone", "policy", "paused", "updated_at", *_STATE_FIELDS)
    columns = [_TABLE.c[name] for name in names]
    found: dict[str, tuple[int, Schedule, MonitorState, datetime]] = {}
    unique = sorted(refs)
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        stmt = (
            sa_select(*columns)
            .where(_TABLE.c.tenant_id == tenant_id, _TABLE.c.job.in_(chunk))
            .order_by(_TABLE.c.job)
            .with_for_update()
        )
        for row in await session.execute(stmt):
            row_id, job, schedule, timezone, policy, paused, seen, *state = row
            values = {name: _utc(value) for name, value in zip(_STATE_FIELDS, state, strict=True)}
            job_schedule = Schedule(schedule, timezone, Policy.from_json(policy), paused=paused)
            found[job] = (row_id, job_schedule, MonitorState(**values), _utc(seen))
    return found


def _after_run(state: MonitorState, run: RunSeen, job: Schedule) -> MonitorState:
    try:
        return after_run(state, run, job)
    except ScheduleError:
        return after_run(state, run, Schedule(job.schedule, job.timezone, job.policy, paused=True))


async def record_start(*, session: AsyncSession, tenant_id: str, job: str, run_id: str, started_at: datetime) -> bool:
    """One run's start (see ``record_runs``). True if the job's row changed."""
    run = RunSeen(job, run_id, _utc(started_at), None)
    return await record_runs(session=session, tenant_id=tenant_id, runs=[run]) == 1


async def record_finish(
    *,
    session: AsyncSession,
    tenant_id: str,
    job: str,
    run_id: str,
    finished_at: datetime,
    started_at: datetime | None = None,
) -> bool:
    """One run's finish; without ``started_at`` (a ping with no start) it also counts as the run."""
    run = RunSeen(job, run_id, _utc(started_at) if started_at else None, _utc(finished_at))
    return await record_runs(session=session, tenant_id=tenant_id, runs=[run]) == 1


# --- the tick -------------------------------------------------------------------------------------


async def due_missed(*, session: AsyncSession, now: datetime, limit: int) -> list[JobMonitor]:
    """Rows whose pending slot is late at ``now`` (pass the watermark, ``due.effective_now``),
    oldest first: a range scan of ``ix_job_monitors_alert_at``; paused jobs and jobs with
    ``missed: false`` have no alert_at and are never read."""
    stmt = (
        select(JobMonitor).where(col(JobMonitor.alert_at) <= _utc(now)).order_by(col(JobMonitor.alert_at)).limit(limit)
    )
    return list((await session.execute(stmt, execution_options=_FRESH)).scalars())


async def due_unfinished(*, session: AsyncSession, now: datetime, limit: int) -> list[JobMonitor]:
    """Rows whose tracked run should have finished by ``now``: a range scan of
    ``ix_job_monitors_finish_alert_at``."""
    stmt = (
        select(JobMonitor)
        .where(col(JobMonitor.finish_alert_at) <= _utc(now))
        .order_by(col(JobMonitor.finish_alert_at))
        .limit(limit)
    )
    return list((await session.execute(stmt, execution_options=_FRESH)).scalars())


async def advance_missed(*, session: AsyncSession, monitor: JobMonitor, now: datetime) -> Claimed | None:
    """Move a due row past its missed slot (to the first slot not yet late at ``now``), claiming
    the slot: None when another worker, or a run recorded meanwhile, moved the row first."""
    if monitor.alert_at is None or monitor.expected_at is None:
        return None
    state = _state(monitor)
    try:
        moved = after_missed(state, _schedule(monitor), now=_utc(now))
    except ScheduleError:
        moved = MonitorState(**{**_state_values(monitor), "expected_at": None, "alert_at": None})
    claimed = await session.execute(
        update(JobMonitor)
        .where(col(JobMonitor.id) == monitor.id, col(JobMonitor.alert_at) == _utc(monitor.alert_at))
        .values(expected_at=moved.expected_at, alert_at=moved.alert_at, updated_at=datetime.now(UTC)),
        execution_options=_NO_SYNC,
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Claimed(monitor, _utc(monitor.alert_at), _utc(monitor.expected_at), None)


async def claim_unfinished(*, session: AsyncSession, monitor: JobMonitor) -> Claimed | None:
    """Take a due unfinished run: its deadline is cleared (reported once; its finish, should it
    come, still records normally). None when another worker or the run's finish came first."""
    if monitor.finish_alert_at is None:
        return None
    claimed = await session.execute(
        update(JobMonitor)
        .where(col(JobMonitor.id) == monitor.id, col(JobMonitor.finish_alert_at) == _utc(monitor.finish_alert_at))
        .values(finish_alert_at=None, updated_at=datetime.now(UTC)),
        execution_options=_NO_SYNC,
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Claimed(monitor, _utc(monitor.finish_alert_at), None, monitor.last_run_id)


async def sweep_missed(
    *,
    session: AsyncSession,
    now: datetime,
    limit: int = 1000,
    suppressed: Container[tuple[str, str]] = frozenset(),
) -> Sweep:
    """One tick's missed-run work: read the due rows, claim each. Slots of jobs in ``suppressed``
    ((tenant_id, job) pairs: jobs whose agents are all offline) are claimed and passed over, so
    they are not reported later either. Does not commit (see the module docstring). A tick
    with more than ``limit`` due rows leaves the rest for the next call."""
    sweep = Sweep()
    for monitor in await due_missed(session=session, now=now, limit=limit):
        sweep.rows_read += 1
        claim = await advance_missed(session=session, monitor=monitor, now=now)
        _file(sweep, claim, suppressed)
    return sweep


async def sweep_unfinished(
    *,
    session: AsyncSession,
    now: datetime,
    limit: int = 1000,
    suppressed: Container[tuple[str, str]] = frozenset(),
) -> Sweep:
    """One tick's started-but-never-finished work, as ``sweep_missed``."""
    sweep = Sweep()
    for monitor in await due_unfinished(session=session, now=now, limit=limit):
        sweep.rows_read += 1
        _file(sweep, await claim_unfinished(session=session, monitor=monitor), suppressed)
    return sweep


def _file(sweep: Sweep, claim: Claimed | None, suppressed: Container[tuple[str, str]]) -> None:
    if claim is None:
        return
    sweep.rows_claimed += 1
    key = (claim.monitor.tenant_id, claim.monitor.job)
    (sweep.suppressed if key in suppressed else sweep.reported).append(claim)


# --- row <-> state ------------------------------------------------------------------------------


def _schedule(row: JobMonitor) -> Schedule:
    return Schedule(row.schedule, row.timezone, Policy.from_json(row.policy), paused=row.paused)


def _state(row: JobMonitor) -> MonitorState:
    return MonitorState(**_state_values(row))


def _state_values(row: JobMonitor) -> dict[str, Any]:
    return {name: _utc(getattr(row, name)) for name in _STATE_FIELDS}


def _store_state(row: JobMonitor, state: MonitorState) -> None:
    for name in _STATE_FIELDS:
        setattr(row, name, getattr(state, name))


@overload
def _utc(moment: datetime) -> datetime: ...
@overload
def _utc(moment: T) -> T: ...
def _utc(moment: Any) -> Any:
    """SQLite hands back naive datetimes; everything stored is UTC (and must be passed as UTC:
    SQLite compares the stored text). Anything else passes through."""
    return as_utc(moment) if isinstance(moment, datetime) else moment
