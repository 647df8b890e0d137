"""Alerting's domain flow: runs and the clock in, incidents and notices out. No broker here.

Each function returns a notice (``Notice``) for every incident it opened, reminded, escalated or
resolved, silenced ones included; the handlers announce each change (the incident event) and
hand the notices of incidents that are not silenced to dispatch.
Incidents are opened before the due-time index is advanced, so a crash in between never loses an
alert: the next tick finds the slot again and the open incident's unique key keeps it single.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import inspect, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_alerting import channels, incidents, monitors, rules, silences
from crontopus_alerting.due import RunSeen
from crontopus_alerting.models import Channel, Incident, JobMonitor, OfflineAgent, TenantRules
from crontopus_alerting.monitors import MonitoredJob
from crontopus_alerting.policy import Policy, in_silence
from crontopus_kit.times import as_utc
from crontopus_schemas.alerting import AlertRules
from crontopus_schemas.events import FINAL_STATUSES, RecordedRun
from crontopus_schemas.manifest import Failures, RunCount, duration_seconds

_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class Notice:
    """Tell the incident's channels: trigger, resolve, renotify or escalate (see ``recipients``)."""

    incident: Incident
    event: str
    labels: dict[str, str] = field(default_factory=dict)  # the job's: a trigger and an escalation route by them


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- the team's rules ------------------------------------------------------------------------------


async def get_rules(*, session: AsyncSession, tenant_id: str) -> AlertRules:
    row = await session.get(TenantRules, tenant_id)
    return AlertRules.model_validate_json(row.rules) if row else AlertRules()


async def update_rules(*, session: AsyncSession, tenant_id: str, new: AlertRules) -> AlertRules:
    row = await session.get(TenantRules, tenant_id) or TenantRules(tenant_id=tenant_id, updated_at=utcnow())
    row.rules, row.updated_at = new.model_dump_json(), utcnow()
    session.add(row)
    await session.commit()
    return new


# --- the team's jobs ---------------------------------------------------------------------------------


async def sync_jobs(
    *, session: AsyncSession, tenant_id: str, jobs: Sequence[MonitoredJob], now: datetime | None = None
) -> list[Notice]:
    """Every job the team's manifests define now: the due-time index follows them, and the incidents
    of jobs no longer among them are resolved (``incidents.JOB_REMOVED``), their channels told. A
    paused or disabled job is still defined: its incidents stay, as its monitor row does."""
    now = now or utcnow()
    team_rules = await get_rules(session=session, tenant_id=tenant_id)
    await monitors.sync_monitors(session=session, tenant_id=tenant_id, jobs=jobs, rules=team_rules, now=now)
    removed = await incidents.resolve_removed_jobs(
        session=session, tenant_id=tenant_id, jobs={job.ref for job in jobs}, now=now
    )
    return [Notice(incident, "resolve") for incident in removed]


# --- runs ------------------------------------------------------------------------------------------


class HandledRuns(NamedTuple):
    notices: list[Notice]
    unmonitored: set[str]  # jobs of the batch with no monitor row: their runs were not judged


async def handle_runs(
    *, session: AsyncSession, tenant_id: str, runs: Sequence[RecordedRun], now: datetime | None = None
) -> HandledRuns:
    """A batch of run changes: the run rules first (they read the rows as they were), then the
    index. A few queries per batch, not per run: the batch's monitors in one, their memories
    committed once, incidents touched only where one opens or an open one may recover. Runs of
    jobs without a row change nothing: handled again once the row exists, they count once."""
    now = now or utcnow()
    judged = [run for run in runs if run.status != "log"]
    rows = await _monitors_of(session, tenant_id, {run.job for run in judged})
    verdicts = [(_Job.of(rows[run.job]), run, _judge_run(rows[run.job], run)) for run in judged if run.job in rows]
    await session.commit()
    open_keys = await incidents.open_keys(session=session, tenant_id=tenant_id, jobs=list(rows))
    notices: list[Notice] = []
    for job, run, found in verdicts:
        notices += await _apply(session, job, run, found, open_keys, now)
    seen = [run_seen for run in judged if (run_seen := RunSeen.from_recorded(run)) is not None]
    await monitors.record_runs(session=session, tenant_id=tenant_id, runs=seen)
    await _reload_expired(session, [notice.incident for notice in notices])
    return HandledRuns(notices, {run.job for run in judged} - rows.keys())


async def _reload_expired(session: AsyncSession, opened: Sequence[Incident]) -> None:
    """A rollback in the session (a retried monitor update, an incident another instance opened
    first) expires every object it holds, and notices are read after the session closed: an
    expired incident there raised DetachedInstanceError and the whole batch came back later."""
    for incident in opened:
        if inspect(incident).expired_attributes:
            await session.refresh(incident)


@dataclass(frozen=True)
class _Job:
    """What opening an incident needs of a monitor row, read once: a rolled-back claim of an
    incident expires the session's rows, and an async session cannot reload them lazily."""

    tenant_id: str
    job: str
    labels: dict[str, str]
    commit: str | None
    policy: Policy

    @classmethod
    def of(cls, row: JobMonitor) -> _Job:
        return cls(row.tenant_id, row.job, json.loads(row.labels), row.commit, Policy.from_json(row.policy))


async def _monitor(session: AsyncSession, tenant_id: str, job: str) -> JobMonitor | None:
    return (await _monitors_of(session, tenant_id, {job})).get(job)


async def _monitors_of(session: AsyncSession, tenant_id: str, jobs: set[str]) -> dict[str, JobMonitor]:
    if not jobs:
        return {}
    stmt = select(JobMonitor).where(col(JobMonitor.tenant_id) == tenant_id, col(JobMonitor.job).in_(sorted(jobs)))
    return {row.job: row for row in (await session.execute(stmt)).scalars()}


def _judge_run(row: JobMonitor, run: RecordedRun) -> list[rules.Verdict]:
    """What the run means under the job's policy; updates the row's memory of recent runs."""
    policy = Policy.from_json(row.policy)
    verdicts: list[rules.Verdict] = []
    starts = [datetime.fromisoformat(at) for at in json.loads(row.recent_starts)]
    if run.started_at and run.started_at not in starts:
        starts = rules.remember_start(starts, run.started_at, _max_runs(policy))
        row.recent_starts = json.dumps([at.isoformat() for at in starts])
        verdicts.append(rules.on_start(starts, _max_runs(policy)))
    outcomes: list[list[Any]] = json.loads(row.recent_outcomes or "[]")
    if run.status not in FINAL_STATUSES or run.run_id in {outcome[0] for outcome in outcomes}:
        return verdicts
    if run.replaced_by is not None:  # stopped by concurrency: replace, as asked: not an outcome
        verdicts.append(_finish_verdict(run, _recent(outcomes), policy, newer="", replaced=True))
        return verdicts
    # In the order the runs ran, not arrived (rules.py): a late check-in takes its place.
    outcomes, newer = rules.remember_outcome(
        outcomes, run.run_id, success=run.status == "success", ran_at=_ran_at(run), window=policy.outcomes_kept
    )
    row.recent_outcomes = json.dumps(outcomes)
    verdicts.append(_finish_verdict(run, _recent(outcomes), policy, newer=newer))
    return verdicts


def _recent(outcomes: list[list[Any]]) -> str:
    return "".join(outcome[1] for outcome in outcomes)


def _ran_at(run: RecordedRun) -> datetime:
    """When a run ran, as the runs service orders a job's runs for its last status: its start,
    or its finish for a run reported only by its finish."""
    moment = run.started_at or run.finished_at
    return as_utc(moment) if moment is not None else utcnow()


def _finish_verdict(
    run: RecordedRun, recent: str, policy: Policy, *, newer: str, replaced: bool = False
) -> rules.Verdict:
    failures = Failures(consecutive=policy.failures_consecutive, ratio=policy.failures_ratio,
                        window=max(policy.failures_window, 2))  # fmt: skip
    return rules.on_finish(
        status=run.status, duration_ms=run.duration_ms, exit_code=run.exit_code, recent=recent, failures=failures,
        max_duration=policy.max_duration, min_duration=policy.min_duration, newer=newer, replaced=replaced,
    )  # fmt: skip


def _max_runs(policy: Policy) -> RunCount | None:
    if policy.max_runs is None or policy.max_runs_per is None:
        return None
    return RunCount(count=policy.max_runs, per=f"{policy.max_runs_per}s")


async def _apply(
    session: AsyncSession, job: _Job, run: RecordedRun, verdicts: list[rules.Verdict], open_keys: set[str],
    now: datetime,
) -> list[Notice]:  # fmt: skip
    """Open and resolve the incidents the verdicts call for; ``open_keys`` (the batch's open
    incidents) is kept current, so a run that changes nothing costs no query."""
    notices = []
    for verdict in verdicts:
        recovering = tuple(c for c in verdict.recovered if incidents.open_key(job.tenant_id, job.job, c) in open_keys)
        for resolved in await incidents.resolve_by_recovery(
            session=session, tenant_id=job.tenant_id, job=job.job, causes=recovering, now=now
        ):
            open_keys.discard(incidents.open_key(job.tenant_id, job.job, resolved.cause))
            notices.append(Notice(resolved, "resolve", job.labels))
        for cause, detail in verdict.opened:
            if incidents.open_key(job.tenant_id, job.job, cause) in open_keys:
                continue  # still the same problem: its incident is open
            opened = await incidents.open_incident(
                session=session, tenant_id=job.tenant_id, job=job.job, cause=cause, detail=detail, run_id=run.run_id,
                commit=job.commit, silenced=await _quiet(session, job, now), now=now,
            )  # fmt: skip
            if opened is not None:
                open_keys.add(incidents.open_key(job.tenant_id, job.job, cause))
                notices.append(Notice(opened, "trigger", job.labels))
    return notices


# --- the clock --------------------------------------------------------------------------------------


async def tick(*, session: AsyncSession, judged_at: datetime, limit: int = 1000) -> list[Notice]:
    """Missed and unfinished runs up to ``judged_at`` (the watermark, not the wall clock)."""
    suppressed = await _suppressed_jobs(session)
    notices = []
    for row in await monitors.due_missed(session=session, now=judged_at, limit=limit):
        notices += await _report_due(session, row, "missed", judged_at, suppressed)
    for row in await monitors.due_unfinished(session=session, now=judged_at, limit=limit):
        notices += await _report_due(session, row, "not_finished", judged_at, suppressed)
    return notices


async def _report_due(
    session: AsyncSession, row: JobMonitor, cause: str, judged_at: datetime, suppressed: set[tuple[str, str]]
) -> list[Notice]:
    notices = []
    await _fresh(session, row)
    if (row.tenant_id, row.job) not in suppressed:
        opened = await _open_due(session, row, cause, judged_at)
        if opened is not None:
            notices.append(Notice(opened, "trigger", json.loads(row.labels)))
        await _fresh(session, row)
    if cause == "missed":
        await monitors.advance_missed(session=session, monitor=row, now=judged_at)
    else:
        await monitors.claim_unfinished(session=session, monitor=row)
    await session.commit()
    return notices


async def _fresh(session: AsyncSession, row: JobMonitor) -> None:
    """Reload a row that a rolled-back incident claim expired (an async session cannot load
    expired attributes lazily)."""
    if inspect(row).expired_attributes:
        await session.refresh(row)


async def _open_due(session: AsyncSession, row: JobMonitor, cause: str, judged_at: datetime) -> Incident | None:
    policy = Policy.from_json(row.policy)
    if cause == "missed":
        expected = row.expected_at.astimezone(UTC) if row.expected_at else judged_at
        detail = f"no run started within {policy.grace}s of {expected:%Y-%m-%d %H:%M} UTC"
        run_id = None
    else:
        detail = f"run {row.last_run_id} started and did not finish within {policy.finish_after}s"
        run_id = row.last_run_id
    return await incidents.open_incident(
        session=session, tenant_id=row.tenant_id, job=row.job, cause=cause, detail=detail, run_id=run_id,
        commit=row.commit, silenced=await _quiet(session, _Job.of(row), judged_at), now=utcnow(),
    )  # fmt: skip


async def _quiet(session: AsyncSession, job: _Job, at: datetime) -> bool:
    """A maintenance window or snooze: from the manifest, or one made through the API."""
    return in_silence(job.policy, at) or await silences.silenced(
        session=session, tenant_id=job.tenant_id, job=job.job, labels=job.labels, at=at
    )


# --- agents -------------------------------------------------------------------------------------------


async def agent_offline(
    *, session: AsyncSession, tenant_id: str, agent_id: str, name: str, jobs: list[str]
) -> list[Notice]:
    """One incident for the agent; its jobs' missed runs are not alerted while it is offline."""
    if await session.get(OfflineAgent, (tenant_id, agent_id)) is None:
        session.add(OfflineAgent(tenant_id=tenant_id, agent_id=agent_id, jobs=json.dumps(jobs), since=utcnow()))
        await session.commit()
    if not (await get_rules(session=session, tenant_id=tenant_id)).agent_offline:
        return []
    detail = incidents.offline_detail(name=name, jobs=len(jobs))
    quiet = await silences.silenced(session=session, tenant_id=tenant_id, job=None, at=utcnow())  # the team's only
    opened = await incidents.open_incident(
        session=session, tenant_id=tenant_id, agent_id=agent_id, cause="agent_offline", detail=detail, silenced=quiet
    )
    return [Notice(opened, "trigger", {})] if opened else []


async def agent_back(*, session: AsyncSession, tenant_id: str, agent_id: str) -> list[Notice]:
    row = await session.get(OfflineAgent, (tenant_id, agent_id))
    if row is not None:
        await session.delete(row)
        await session.commit()
    resolved = await incidents.resolve_by_recovery(
        session=session, tenant_id=tenant_id, agent_id=agent_id, causes=("agent_offline",)
    )
    return [Notice(incident, "resolve", {}) for incident in resolved]


async def _suppressed_jobs(session: AsyncSession) -> set[tuple[str, str]]:
    rows = (await session.execute(select(OfflineAgent))).scalars()
    return {(row.tenant_id, job) for row in rows for job in json.loads(row.jobs)}


# --- reminders and escalation ----------------------------------------------------------------------


async def reminders(*, session: AsyncSession, now: datetime | None = None) -> list[Notice]:
    """Open, unacknowledged incidents: remind (renotify_every) and escalate (escalate_after) once
    per period; each is claimed with a conditional update so workers never send it twice."""
    now = now or utcnow()
    stmt = select(Incident).where(col(Incident.status) == "open", col(Incident.silenced).is_(False))
    notices = []
    teams: dict[str, AlertRules] = {}
    for incident in (await session.execute(stmt)).scalars().all():
        if incident.tenant_id not in teams:
            teams[incident.tenant_id] = await get_rules(session=session, tenant_id=incident.tenant_id)
        team = teams[incident.tenant_id]
        if team.escalate_after and await _claim(session, incident, "escalated_at", team.escalate_after, now):
            notices.append(Notice(incident, "escalate", await incident_labels(session, incident)))
        elif team.renotify_every and await _claim(session, incident, "last_notified_at", team.renotify_every, now):
            notices.append(Notice(incident, "renotify"))
    return notices


async def _claim(session: AsyncSession, incident: Incident, field: str, after: str, now: datetime) -> bool:
    """Set ``field`` to now if the incident (or its last reminder) is older than ``after`` and it is
    still open: one resolved or acknowledged since it was read gets no reminder."""
    previous = getattr(incident, field)
    if field == "escalated_at" and previous is not None:
        return False
    since = previous or incident.opened_at
    if since.replace(tzinfo=since.tzinfo or UTC) > now - timedelta(seconds=duration_seconds(after)):
        return False
    column = col(getattr(Incident, field))
    claimed = await session.execute(
        update(Incident)
        .where(
            col(Incident.id) == incident.id,
            col(Incident.status) == "open",
            column.is_(None) if previous is None else column == previous,
        )
        .values({field: now}),
        execution_options=_NO_SYNC,
    )
    await session.commit()
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


async def recipients(*, session: AsyncSession, notice: Notice) -> list[Channel]:
    """The channels a notice goes to. A trigger goes to the ordinary channels routed to the job now,
    an escalation to the escalation ones; a reminder to the channels told of the trigger, and a
    resolve to every channel told of the incident. No channel hears of an incident first from a
    reminder or from its end: not an escalation channel it never escalated to, nor a channel
    created (or routed to the job by a label change) after it opened."""
    incident = notice.incident
    if notice.event in ("trigger", "escalate"):
        escalation = notice.event == "escalate"
        return await channels.channels_for(
            session=session, tenant_id=incident.tenant_id, labels=notice.labels, escalation=escalation
        )
    heard = ("trigger",) if notice.event == "renotify" else ("trigger", "renotify", "escalate")
    return await channels.channels_told(
        session=session, tenant_id=incident.tenant_id, incident_id=incident.id, events=heard
    )


async def incident_labels(session: AsyncSession, incident: Incident) -> dict[str, str]:
    """The labels of the incident's job (channels route by them); none for an agent's."""
    if incident.job is None:
        return {}
    row = await _monitor(session, incident.tenant_id, incident.job)
    return json.loads(row.labels) if row else {}
