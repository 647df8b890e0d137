"""Silences made through the API: a maintenance window or a snooze, with an expiry, for one job,
every job of a namespace, every job whose labels include a set of pairs, or every job of a team.
Incidents opening inside one are kept but not notified. No broker here."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_alerting.models import Silence
from crontopus_kit.errors import Invalid, NotFound
from crontopus_kit.times import as_utc
from crontopus_schemas.alerting import SilenceCreateRequest, SilencePublic, SilenceScope
from crontopus_schemas.manifest import duration_seconds

MAX_SILENCE = timedelta(days=90)


def _labels(row: Silence) -> dict[str, str]:
    return dict(json.loads(row.match_labels or "{}"))


def scope_of(row: Silence) -> SilenceScope:
    if row.job is not None:
        return "job"
    if row.namespace is not None:
        return "namespace"
    return "labels" if _labels(row) else "team"


def silence_public(row: Silence) -> SilencePublic:
    return SilencePublic(
        id=row.id, scope=scope_of(row), job=row.job, namespace=row.namespace, match_labels=_labels(row),
        starts_at=as_utc(row.starts_at), ends_at=as_utc(row.ends_at), reason=row.reason, created_by=row.created_by,
    )  # fmt: skip


async def create_silence(
    *, session: AsyncSession, request: SilenceCreateRequest, now: datetime | None = None
) -> SilencePublic:
    body = request.body
    starts = as_utc(body.starts_at) if body.starts_at else now or datetime.now(UTC)
    if (body.ends_at is None) == (body.duration is None):
        raise Invalid("give either ends_at or duration: a silence always expires")
    ends = as_utc(body.ends_at) if body.ends_at else starts + timedelta(seconds=duration_seconds(body.duration or ""))
    if ends <= starts:
        raise Invalid("ends_at: must be after starts_at")
    if ends - starts > MAX_SILENCE:
        raise Invalid(f"a silence lasts at most {MAX_SILENCE.days} days")
    if (now or datetime.now(UTC)) >= ends:
        raise Invalid("ends_at: already past; a silence must end in the future")
    row = Silence(
        id=uuid.uuid4().hex, tenant_id=request.tenant_id, job=body.job, namespace=body.namespace,
        match_labels=json.dumps(body.match_labels or {}, sort_keys=True), starts_at=starts, ends_at=ends,
        reason=body.reason, created_by=request.created_by,
    )  # fmt: skip
    session.add(row)
    await session.commit()
    return silence_public(row)


async def list_silences(*, session: AsyncSession, tenant_id: str, now: datetime | None = None) -> list[SilencePublic]:
    """Current and future silences (expired ones are history and not listed)."""
    stmt = (
        select(Silence)
        .where(col(Silence.tenant_id) == tenant_id, col(Silence.ends_at) > (now or datetime.now(UTC)))
        .order_by(col(Silence.starts_at), col(Silence.id))
    )
    return [silence_public(row) for row in (await session.execute(stmt)).scalars()]


async def delete_silence(*, session: AsyncSession, tenant_id: str, silence_id: str) -> None:
    row = await session.get(Silence, silence_id) if len(silence_id) <= 32 else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no silence {silence_id}")
    await session.delete(row)
    await session.commit()


def covers(row: Silence, job: str | None, labels: Mapping[str, str]) -> bool:
    """Whether ``row`` covers ``job`` (with these labels). ``job`` None is the team itself (an
    agent going offline): only a silence of every job covers it."""
    wanted = _labels(row)
    if job is None:
        return row.job is None and row.namespace is None and not wanted
    if row.job is not None:
        return row.job == job
    if row.namespace is not None:
        return job.split("/", 1)[0] == row.namespace
    return all(labels.get(key) == value for key, value in wanted.items())


async def silenced(
    *, session: AsyncSession, tenant_id: str, job: str | None, at: datetime, labels: Mapping[str, str] | None = None
) -> bool:
    """Whether a silence covers ``at`` for this job (by its ref, its namespace or its labels), or
    for the whole team. One lookup by the tenant's index; the few label selectors among its
    active silences are matched here."""
    scopes = [and_(col(Silence.job).is_(None), col(Silence.namespace).is_(None))]  # the team, or labels
    if job is not None:
        scopes += [col(Silence.job) == job, col(Silence.namespace) == job.split("/", 1)[0]]
    stmt = select(Silence).where(
        col(Silence.tenant_id) == tenant_id, col(Silence.starts_at) <= at, col(Silence.ends_at) > at, or_(*scopes)
    )
    rows = (await session.execute(stmt)).scalars()
    return any(covers(row, job, labels or {}) for row in rows)
