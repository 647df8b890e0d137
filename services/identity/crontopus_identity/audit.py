"""The audit log's keeper: collects AuditEvents from the AUDIT stream into the append-only
``audit_entries`` table (one consumer, each event once), answers queries, and forgets entries
older than the retention (CRONTOPUS_AUDIT_RETENTION_DAYS)."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError
from sqlalchemy import and_, delete, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_identity.models import ApiKey, AuditEntry, Tenant, User
from crontopus_kit.audit import audit_event
from crontopus_kit.db import Database
from crontopus_kit.errors import Invalid
from crontopus_kit.jetstream import BatchPuller
from crontopus_kit.logging import get_logger
from crontopus_kit.times import as_utc
from crontopus_schemas import audit as schema
from crontopus_schemas import subjects

log = get_logger(__name__)
BAD_CURSOR = "invalid cursor: pass next_cursor from the previous page as it is"


class AuditCollector:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.puller = BatchPuller(
            stream=subjects.AUDIT_STREAM.name, durable=subjects.IDENTITY_AUDIT_DURABLE,
            filter_subject=subjects.AUDIT_WILDCARD, handler=self.handle_batch, batch_size=100, linger=0.05,
            ack_wait=30, max_ack_pending=10_000,
        )  # fmt: skip

    async def start(self, nc: Client, js: JetStreamContext) -> None:
        await self.puller.start(nc, js)

    async def stop(self) -> None:
        await self.puller.stop()

    async def handle_batch(self, messages: list[Msg]) -> None:
        events: list[schema.AuditEvent] = []
        for msg in messages:
            try:
                events.append(schema.AuditEvent.model_validate_json(msg.data))
            except ValidationError:
                log.error("unreadable audit event dropped", subject=msg.subject)
                await msg.term()
        try:
            async with self.db.session() as session:
                await store(session, events)
        except IntegrityError:  # another instance stored one of them meanwhile: next time, it is skipped
            log.warning("audit batch raced another collector; redelivered")
            for msg in messages:
                await msg.nak(delay=1)
            return
        for msg in messages:
            await msg.ack()


async def store(session: AsyncSession, events: list[schema.AuditEvent]) -> None:
    """Each event once (a redelivered one is skipped), with the actor's name as it is now."""
    ids = [event.id for event in events]
    known = set((await session.execute(select(AuditEntry.id).where(col(AuditEntry.id).in_(ids)))).scalars())
    fresh = {event.id: event for event in events if event.id not in known}.values()
    names = await _actor_names(session, fresh)
    for event in fresh:
        row = AuditEntry(**event.model_dump(exclude={"actor"}), actor=event.actor or names.get(event.actor_id or ""))
        session.add(row)
    await session.commit()


async def record_for_every_team(session: AsyncSession, *, action: str, target: str, details: dict[str, str]) -> None:
    """An operator's change to the whole platform (run on the server, not through the API),
    written straight into every team's audit log: it touches every team's sign-ins."""
    teams = (await session.execute(select(Tenant.id))).scalars()
    operator = getpass.getuser()
    await store(session, [audit_event(tenant_id=team, actor_type="operator", actor=operator, action=action,
                                      target=target, details=details) for team in teams])  # fmt: skip


async def _actor_names(session: AsyncSession, events: object) -> dict[str, str]:
    users = {e.actor_id for e in events if e.actor_type == "user" and e.actor_id and not e.actor}  # type: ignore[attr-defined]
    keys = {e.actor_id for e in events if e.actor_type == "api_key" and e.actor_id and not e.actor}  # type: ignore[attr-defined]
    names: dict[str, str] = {}
    if users:
        rows = await session.execute(select(User.id, User.username).where(col(User.id).in_(users)))
        names.update({user_id: name for user_id, name in rows.all()})
    if keys:
        rows = await session.execute(select(ApiKey.id, ApiKey.name).where(col(ApiKey.id).in_(keys)))
        names.update({key_id: name for key_id, name in rows.all()})
    return names


def _encode(entry: AuditEntry) -> str:
    """A position: the entry's time in microseconds and its id (CURSOR_PATTERN)."""
    return f"{round(as_utc(entry.at).timestamp() * 1_000_000)}-{entry.id}"


def _decode(cursor: str) -> tuple[datetime, str]:
    micros, _, entry_id = cursor.partition("-")
    try:
        return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), entry_id
    except (ValueError, OverflowError, OSError) as exc:
        raise Invalid(BAD_CURSOR) from exc


async def list_entries(*, session: AsyncSession, query: schema.AuditQuery) -> schema.AuditPage:
    """Newest first, ``limit`` at a time, within the query's team only."""
    stmt = select(AuditEntry).where(col(AuditEntry.tenant_id) == query.tenant_id)
    if query.actor:
        stmt = stmt.where(or_(col(AuditEntry.actor) == query.actor, col(AuditEntry.actor_id) == query.actor))
    if query.action:
        action = col(AuditEntry.action)
        stmt = stmt.where(action.startswith(query.action) if query.action.endswith(".") else action == query.action)
    if query.target:
        stmt = stmt.where(col(AuditEntry.target) == query.target)
    if query.since:
        stmt = stmt.where(col(AuditEntry.at) >= query.since)
    if query.until:
        stmt = stmt.where(col(AuditEntry.at) < query.until)
    if query.cursor:
        at, entry_id = _decode(query.cursor)
        older = or_(col(AuditEntry.at) < at, and_(col(AuditEntry.at) == at, col(AuditEntry.id) < entry_id))
        stmt = stmt.where(older)
    stmt = stmt.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(query.limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    page = rows[: query.limit]
    entries = [schema.AuditEntry.model_validate(row, from_attributes=True) for row in page]
    return schema.AuditPage(entries=entries, next_cursor=_encode(page[-1]) if len(rows) > query.limit else None)


async def forget_old(*, session: AsyncSession, now: datetime, retention_days: int) -> int:
    result = await session.execute(delete(AuditEntry).where(col(AuditEntry.at) < now - timedelta(days=retention_days)))
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
