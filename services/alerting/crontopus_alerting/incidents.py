"""Incidents: opened once per job (or agent) and cause, acknowledged, resolved. No broker here.

Opening is a claim: ``open_key`` is unique while an incident is open, so two workers seeing the
same violation open one incident; the loser gets None and sends nothing.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import get_args

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_alerting.models import Incident
from crontopus_kit.errors import Invalid, NotFound
from crontopus_kit.times import as_utc
from crontopus_schemas.alerting import (
    INCIDENT_CURSOR_PATTERN,
    Cause,
    DeliveryPublic,
    IncidentDetail,
    IncidentList,
    IncidentListRequest,
    IncidentPublic,
    IncidentStep,
    IncidentStepKind,
)

_NO_SYNC = {"synchronize_session": False}
# Who resolved an incident (``resolved_by``) when no user did:
RECOVERY = "recovery"  # the job ran well again, the agent came back
JOB_REMOVED = "job_removed"  # the job left the team's manifests: there is nothing left to fix
# An agent-offline incident names its agent only in its detail (the agents service sends the name,
# not the hostname, with its status events), written once when it opens; notifications read the
# name back from there, also for incidents opened by earlier versions, which wrote the same words.
_OFFLINE_DETAIL = "agent {name} stopped sending heartbeats; {jobs} job(s) on it are not watched for missed runs"
_OFFLINE_NAME = re.compile(r"^agent ([A-Za-z0-9][A-Za-z0-9._-]*) stopped sending heartbeats")


def offline_detail(*, name: str, jobs: int) -> str:
    return _OFFLINE_DETAIL.format(name=name, jobs=jobs)


def offline_agent_name(incident: Incident) -> str | None:
    """The agent's name (agent names are DNS-like: no spaces), or None if the detail has none."""
    found = _OFFLINE_NAME.match(incident.detail or "")
    return found.group(1) if found else None


def utcnow() -> datetime:
    return datetime.now(UTC)


def open_key(tenant_id: str, subject: str, cause: str) -> str:
    return f"{tenant_id}/{subject}/{cause}"


async def open_incident(
    *,
    session: AsyncSession,
    tenant_id: str,
    cause: str,
    detail: str,
    job: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    commit: str | None = None,
    silenced: bool = False,
    now: datetime | None = None,
) -> Incident | None:
    """The new incident, or None when this job (or agent) already has one open for the cause."""
    subject = job or f"agent:{agent_id}"
    key = open_key(tenant_id, subject, cause)
    if (await session.execute(select(Incident.id).where(col(Incident.open_key) == key))).first():
        return None  # the usual case of "still failing": no doomed insert, no rollback
    incident = Incident(
        id=uuid.uuid4().hex, tenant_id=tenant_id, job=job, agent_id=agent_id, cause=cause,
        open_key=key, detail=detail, run_id=run_id, commit=commit,
        silenced=silenced, opened_at=now or utcnow(),
    )  # fmt: skip
    session.add(incident)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return None
    return incident


async def open_keys(*, session: AsyncSession, tenant_id: str, jobs: list[str]) -> set[str]:
    """The open keys of the open incidents of these jobs (one query)."""
    if not jobs:
        return set()
    keys = [key for job in jobs for key in (open_key(tenant_id, job, cause) for cause in get_args(Cause))]
    stmt = select(Incident.open_key).where(col(Incident.open_key).in_(keys))
    return {key for (key,) in (await session.execute(stmt)).all() if key}


async def resolve_by_recovery(
    *,
    session: AsyncSession,
    tenant_id: str,
    causes: tuple[str, ...],
    job: str | None = None,
    agent_id: str | None = None,
    now: datetime | None = None,
) -> list[Incident]:
    """Resolve the open incidents of these causes; each is claimed by a conditional update, so a
    recovery notification goes out once."""
    if not causes:
        return []
    subject = job or f"agent:{agent_id}"
    keys = [open_key(tenant_id, subject, cause) for cause in causes]
    found = (await session.execute(select(Incident).where(col(Incident.open_key).in_(keys)))).scalars().all()
    return [incident for incident in found if await _claim_resolution(session, incident, RECOVERY, now)]


async def resolve_removed_jobs(
    *, session: AsyncSession, tenant_id: str, jobs: Collection[str], now: datetime | None = None
) -> list[Incident]:
    """Resolve the open and acknowledged incidents of the team's jobs that are not in ``jobs`` (every
    job its manifests define now, paused and disabled ones included): a job that is gone can never
    recover, and its reminders would point at a page that no longer exists. Each is claimed as in
    ``resolve_by_recovery``, so the channels are told once.

    The team's whole set is compared, not a change's list of removed jobs: an incident left open by
    a lost change, a crash after the job's monitor went, or a deletion older than this rule is
    resolved by the next re-read. It reads the team's incidents (``ix_incidents_tenant_opened``)."""
    stmt = select(Incident).where(
        col(Incident.tenant_id) == tenant_id, col(Incident.open_key).is_not(None), col(Incident.job).is_not(None)
    )
    found = (await session.execute(stmt)).scalars().all()
    gone = [incident for incident in found if incident.job not in jobs]
    return [incident for incident in gone if await _claim_resolution(session, incident, JOB_REMOVED, now)]


async def _claim_resolution(session: AsyncSession, incident: Incident, by: str, now: datetime | None) -> bool:
    at = now or utcnow()
    claimed = await session.execute(
        update(Incident)
        .where(col(Incident.id) == incident.id, col(Incident.open_key).is_not(None))
        .values(status="resolved", open_key=None, resolved_at=at, resolved_by=by),
        execution_options=_NO_SYNC,
    )
    await session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    incident.status, incident.open_key, incident.resolved_at, incident.resolved_by = "resolved", None, at, by
    return True


async def get_incident(*, session: AsyncSession, tenant_id: str, incident_id: str) -> Incident:
    incident = await session.get(Incident, incident_id) if len(incident_id) <= 32 else None
    if incident is None or incident.tenant_id != tenant_id:
        raise NotFound(f"no incident {incident_id}")
    return incident


async def acknowledge(
    *, session: AsyncSession, tenant_id: str, incident_id: str, user_id: str, now: datetime | None = None
) -> tuple[Incident, bool]:
    """Someone is on it: no more reminders or escalation. A resolved incident stays resolved.
    (the incident, whether this call acknowledged it)."""
    incident = await get_incident(session=session, tenant_id=tenant_id, incident_id=incident_id)
    if incident.status != "open":
        return incident, False
    incident.status, incident.acknowledged_at, incident.acknowledged_by = "acknowledged", now or utcnow(), user_id
    session.add(incident)
    await session.commit()
    return incident, True


async def resolve_by_hand(
    *, session: AsyncSession, tenant_id: str, incident_id: str, user_id: str, now: datetime | None = None
) -> tuple[Incident, bool]:
    """(the incident, whether this call resolved it)."""
    incident = await get_incident(session=session, tenant_id=tenant_id, incident_id=incident_id)
    if incident.status == "resolved":
        return incident, False
    return incident, await _claim_resolution(session, incident, user_id, now)


def incident_public(incident: Incident) -> IncidentPublic:
    return IncidentPublic(
        id=incident.id, job=incident.job, agent_id=incident.agent_id, cause=incident.cause,  # type: ignore[arg-type]
        status=incident.status, detail=incident.detail, run_id=incident.run_id,  # type: ignore[arg-type]
        commit=incident.commit, silenced=incident.silenced, opened_at=as_utc(incident.opened_at),  # type: ignore[arg-type]
        acknowledged_at=as_utc(incident.acknowledged_at), acknowledged_by=incident.acknowledged_by,
        resolved_at=as_utc(incident.resolved_at), resolved_by=incident.resolved_by,
    )  # fmt: skip


def incident_detail(incident: Incident, deliveries: Sequence[DeliveryPublic]) -> IncidentDetail:
    """The incident with its timeline and the notifications sent for it (``deliveries_of``)."""
    return IncidentDetail(
        **incident_public(incident).model_dump(),
        last_notified_at=as_utc(incident.last_notified_at),
        escalated_at=as_utc(incident.escalated_at),
        timeline=timeline(incident, deliveries),
        deliveries=list(deliveries),
    )


# Steps at the same instant keep the order they happen in.
_STEP_ORDER: dict[IncidentStepKind, int] = {
    "opened": 0, "notified": 1, "acknowledged": 2, "renotified": 3, "escalated": 4, "resolved": 5,
}  # fmt: skip


def timeline(incident: Incident, deliveries: Sequence[DeliveryPublic]) -> list[IncidentStep]:
    """What happened to an incident, oldest first. A notice's deliveries (one per routed channel)
    share their creation time: each trigger or reminder is one step with its number of channels.
    A reminder or escalation that found no channel to tell is a step with none (the incident's
    ``last_notified_at`` / ``escalated_at``); a silenced incident notifies nobody."""
    told = Counter((delivery.event, delivery.created_at) for delivery in deliveries)
    per_event = Counter(delivery.event for delivery in deliveries)
    kinds: dict[str, IncidentStepKind] = {"trigger": "notified", "renotify": "renotified"}
    steps = [IncidentStep(step="opened", at=as_utc(incident.opened_at))]
    steps += [IncidentStep(step=kinds[event], at=at, channels=n) for (event, at), n in told.items() if event in kinds]
    if incident.last_notified_at is not None and not per_event["renotify"]:
        steps.append(IncidentStep(step="renotified", at=as_utc(incident.last_notified_at)))
    if incident.escalated_at is not None:
        steps.append(IncidentStep(step="escalated", at=as_utc(incident.escalated_at), channels=per_event["escalate"]))
    if incident.acknowledged_at is not None:
        steps.append(
            IncidentStep(step="acknowledged", at=as_utc(incident.acknowledged_at), by=incident.acknowledged_by)
        )
    if incident.resolved_at is not None:
        resolved_at = as_utc(incident.resolved_at)
        steps.append(
            IncidentStep(step="resolved", at=resolved_at, by=incident.resolved_by, channels=per_event["resolve"])
        )
    return sorted(steps, key=lambda step: (step.at, _STEP_ORDER[step.step]))


async def list_incidents(*, session: AsyncSession, request: IncidentListRequest) -> IncidentList:
    """Newest first, keyset-paginated on (opened_at, id)."""
    stmt = select(Incident).where(col(Incident.tenant_id) == request.tenant_id)
    if request.status:
        stmt = stmt.where(col(Incident.status).in_(request.status))
    if request.job:
        stmt = stmt.where(col(Incident.job) == request.job)
    if request.cursor:
        at, last_id = _decode_cursor(request.cursor)
        stmt = stmt.where(
            or_(col(Incident.opened_at) < at, (col(Incident.opened_at) == at) & (col(Incident.id) < last_id))
        )
    stmt = stmt.order_by(col(Incident.opened_at).desc(), col(Incident.id).desc()).limit(request.limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    page = rows[: request.limit]
    cursor = _encode_cursor(page[-1]) if len(rows) > request.limit else None
    return IncidentList(incidents=[incident_public(row) for row in page], next_cursor=cursor)


# "<opened_at in microseconds since 1970>-<id>": every string of INCIDENT_CURSOR_PATTERN is a
# position (the API documents the pattern), answered with an empty page if nothing is older.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _encode_cursor(incident: Incident) -> str:
    since_epoch = as_utc(incident.opened_at) - EPOCH  # type: ignore[operator]
    return f"{since_epoch // timedelta(microseconds=1)}-{incident.id}"


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    if not re.fullmatch(INCIDENT_CURSOR_PATTERN, cursor):
        raise Invalid("cursor: not a cursor this API returned")
    micros, last_id = cursor.split("-", 1)
    return EPOCH + timedelta(microseconds=int(micros)), last_id
