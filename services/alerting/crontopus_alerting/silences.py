"""Silences made through the API: a maintenance window or a snooze, for one job or every job of a
team, with an expiry. Incidents opening inside one are kept but not notified. No broker here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_alerting.models import Silence
from crontopus_kit.errors import Invalid, NotFound
from crontopus_kit.times import as_utc
from crontopus_schemas.alerting import SilenceCreateRequest, SilencePublic
from crontopus_schemas.manifest import duration_seconds

MAX_SILENCE = timedelta(days=90)


def silence_public(row: Silence) -> SilencePublic:
    return SilencePublic(id=row.id, job=row.job, starts_at=as_utc(row.starts_at), ends_at=as_utc(row.ends_at),
                         reason=row.reason, created_by=row.created_by)  # fmt: skip


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
    row = Silence(id=uuid.uuid4().hex, tenant_id=request.tenant_id, job=body.job, starts_at=starts, ends_at=ends,
                  reason=body.reason, created_by=request.created_by)  # fmt: skip
    session.add(row)
    await session.commit()
    return silence_public(row)


async def list_silences(*, session: AsyncSession, tenant_id: str, now: datetime | None = None) -> list[SilencePublic]:
    """Current and future silences (expired ones are history and not listed)."""
    stmt = (
        select(Silence)
        .where(col(Silence.tenant_id) == tenant_id, col(Silence.ends_at) > (now or datetime.now(UTC)))
        .order_by(col(Silence.starts_at))
    )
    return [silence_public(row) for row in (await session.execute(stmt)).scalars()]


async def delete_silence(*, session: AsyncSession, tenant_id: str, silence_id: str) -> None:
    row = await session.get(Silence, silence_id) if len(silence_id) <= 32 else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no silence {silence_id}")
    await session.delete(row)
    await session.commit()


async def silenced(*, session: AsyncSession, tenant_id: str, job: str | None, at: datetime) -> bool:
    """Whether a silence for this job (or for the whole team) covers ``at``."""
    stmt = select(Silence.id).where(
        col(Silence.tenant_id) == tenant_id, col(Silence.starts_at) <= at, col(Silence.ends_at) > at,
        or_(col(Silence.job).is_(None), col(Silence.job) == job),
    )  # fmt: skip
    return (await session.execute(stmt.limit(1))).first() is not None
