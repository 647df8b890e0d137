"""Notification dispatch over JetStream: one message per delivery (one notification to one channel).

``enqueue`` stores the deliveries (status pending) and publishes one NOTIFICATIONS message each.
The ``Dispatcher`` consumes them: it claims an attempt with a conditional update (so a duplicate
message or a second instance never sends the same attempt twice), sends, records the outcome,
and then acks, or naks with a delay that doubles from ``delivery_backoff`` until
``delivery_max_attempts``, after which the delivery has given up. Each delivery is its own message,
so a dead channel is retried on its own schedule and never holds up the others; within a batch
the channels are sent to concurrently. Every attempt is logged with its outcome.

Delivery is at least once: a crash between sending and recording means one more send.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_alerting import notify
from crontopus_alerting.channels import get_channel_row, open_url
from crontopus_alerting.models import Channel, Delivery, Incident
from crontopus_alerting.notify import Event, Outcome
from crontopus_alerting.settings import AlertingSettings
from crontopus_kit.broker import publish_batch
from crontopus_kit.db import Database
from crontopus_kit.jetstream import BatchPuller
from crontopus_kit.logging import get_logger
from crontopus_schemas import subjects
from crontopus_schemas.alerting import DeliveryPublic
from crontopus_schemas.events import EventMeta

log = get_logger(__name__)

ATTEMPTS = Counter("crontopus_alerting_notification_attempts_total", "Notification attempts", ["kind", "outcome"])

RETRY_AFTER_ERROR = 5.0  # seconds: our own database failed, not the channel
_OPEN = ("pending", "failed")
_NO_SYNC = {"synchronize_session": False}


class NotifyRequest(EventMeta):
    """A NOTIFICATIONS message: send this delivery. The tenant is the subject's last token."""

    delivery_id: str


def retry_delay(attempt: int, *, backoff: float) -> float:
    """Seconds before the next try after failed attempt number ``attempt`` (1, 2, ...)."""
    return backoff * 2 ** (attempt - 1)


def to_public(row: Delivery) -> DeliveryPublic:
    return DeliveryPublic.model_validate(row, from_attributes=True)


async def deliveries_of(*, session: AsyncSession, tenant_id: str, incident_id: str) -> list[DeliveryPublic]:
    """What was sent for an incident, oldest first, with each channel's name (shown with the
    incident; a deleted channel has none)."""
    stmt = (
        select(Delivery, Channel.name)
        .outerjoin(Channel, col(Channel.id) == col(Delivery.channel_id))
        .where(col(Delivery.tenant_id) == tenant_id, col(Delivery.incident_id) == incident_id)
        .order_by(col(Delivery.created_at), col(Delivery.id))
    )
    rows = (await session.execute(stmt)).all()
    return [to_public(row).model_copy(update={"channel_name": name}) for row, name in rows]


# --- enqueueing ----------------------------------------------------------------------------------


def create_deliveries(
    *,
    session: AsyncSession,
    tenant_id: str,
    event: Event,
    channel_ids: Iterable[str],
    incident_id: str | None,
    now: datetime | None = None,
) -> list[Delivery]:
    """Pending deliveries, added to the session: commit with the change that caused them, then
    ``publish_deliveries``."""
    created_at = now or datetime.now(UTC)
    rows = [
        Delivery(id=uuid.uuid4().hex, tenant_id=tenant_id, incident_id=incident_id, channel_id=channel_id,
                 event=event, status="pending", attempts=0, created_at=created_at)
        for channel_id in dict.fromkeys(channel_ids)
    ]  # fmt: skip
    session.add_all(rows)
    return rows


async def publish_deliveries(*, js: JetStreamContext, deliveries: Sequence[Delivery]) -> None:
    """One message each; the delivery id is the message id, so a repeated publish is dropped."""
    await publish_batch(
        js,
        [
            (
                subjects.notify_subject(row.tenant_id),
                NotifyRequest(delivery_id=row.id).model_dump_json().encode(),
                row.id,
            )
            for row in deliveries
        ],
    )


async def enqueue(
    *,
    session: AsyncSession,
    js: JetStreamContext,
    tenant_id: str,
    event: Event,
    channel_ids: Iterable[str],
    incident_id: str | None,
    now: datetime | None = None,
) -> list[DeliveryPublic]:
    """Store and publish one delivery per channel. Should the publish fail, the rows stay pending
    and ``requeue_stale`` publishes them again."""
    rows = create_deliveries(session=session, tenant_id=tenant_id, event=event, channel_ids=channel_ids,
                             incident_id=incident_id, now=now)  # fmt: skip
    await session.commit()
    await publish_deliveries(js=js, deliveries=rows)
    return [to_public(row) for row in rows]


async def send_test(
    *, session: AsyncSession, js: JetStreamContext, tenant_id: str, channel_id: str, now: datetime | None = None
) -> DeliveryPublic:
    """A test notification through the same queue as real ones; poll the delivery for its outcome.
    Another tenant's channel is NotFound."""
    await get_channel_row(session=session, tenant_id=tenant_id, channel_id=channel_id)
    [delivery] = await enqueue(session=session, js=js, tenant_id=tenant_id, event="test",
                               channel_ids=[channel_id], incident_id=None, now=now)  # fmt: skip
    return delivery


async def list_deliveries(
    *,
    session: AsyncSession,
    tenant_id: str,
    incident_id: str | None = None,
    channel_id: str | None = None,
    limit: int = 100,
) -> list[DeliveryPublic]:
    """Newest first: what was sent where, how many attempts, the last error."""
    query = select(Delivery).where(col(Delivery.tenant_id) == tenant_id)
    if incident_id is not None:
        query = query.where(col(Delivery.incident_id) == incident_id)
    if channel_id is not None:
        query = query.where(col(Delivery.channel_id) == channel_id)
    rows = await session.scalars(query.order_by(col(Delivery.created_at).desc(), col(Delivery.id)).limit(limit))
    return [to_public(row) for row in rows]


async def get_delivery(*, session: AsyncSession, tenant_id: str, delivery_id: str) -> DeliveryPublic | None:
    row = await session.get(Delivery, delivery_id)
    return to_public(row) if row is not None and row.tenant_id == tenant_id else None


def retry_horizon(*, backoff: float, max_attempts: int, send_timeout: float) -> timedelta:
    """How long a delivery can stay open while it is being retried normally: requeue only older ones."""
    waits = sum(retry_delay(attempt, backoff=backoff) for attempt in range(1, max_attempts))
    return timedelta(seconds=waits + max_attempts * (send_timeout + 2))


async def requeue_stale(
    *, session: AsyncSession, js: JetStreamContext, older_than: timedelta, now: datetime | None = None
) -> int:
    """Publish again the deliveries that are still open long after they were created (their
    message was never published, or lost). Safe with the original still queued: attempts are
    claimed, so the two messages cannot send the same attempt."""
    cutoff = (now or datetime.now(UTC)) - older_than
    rows = list(
        await session.scalars(
            select(Delivery).where(col(Delivery.status).in_(_OPEN), col(Delivery.created_at) < cutoff).limit(1000)
        )
    )
    await publish_deliveries(js=js, deliveries=rows)
    return len(rows)


# --- the consumer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One attempt this worker owns: what to send, where."""

    delivery_id: str
    tenant_id: str
    channel_id: str
    kind: str
    attempt: int
    url: str
    notification: notify.Notification


class Dispatcher:
    """Consumes NOTIFICATIONS (a BatchPuller on a durable consumer) and sends each delivery."""

    def __init__(
        self,
        *,
        db: Database,
        settings: AlertingSettings,
        send_timeout: float = notify.DEFAULT_TIMEOUT,
        batch_size: int = 32,
    ) -> None:
        self.db = db
        self.settings = settings
        self.secret = settings.secret_bytes()
        self.send_timeout = send_timeout
        self.ack_wait = max(30.0, send_timeout * 3)
        # One batch at a time keeps a channel's trigger and resolve of an incident in order
        # (they are sent one after the other within a batch); channels go concurrently.
        self.puller = BatchPuller(
            stream=subjects.NOTIFICATIONS_STREAM.name, durable=subjects.ALERTING_NOTIFY_DURABLE,
            filter_subject=subjects.NOTIFY_WILDCARD, handler=self.handle_batch, batch_size=batch_size,
            linger=0.05, ack_wait=self.ack_wait, max_ack_pending=10_000,
        )  # fmt: skip

    async def start(self, nc: Client, js: JetStreamContext) -> None:
        await self.puller.start(nc, js)

    async def stop(self) -> None:
        await self.puller.stop()

    async def handle_batch(self, messages: list[Msg]) -> None:
        requests = [parsed for msg in messages if (parsed := await _parse(msg))]
        groups = await self._in_order(requests)
        pending = {id(msg): msg for msg, _, _ in requests}
        async with self._keeping_alive(pending):
            results = await asyncio.gather(*(self._deliver_in_turn(group, pending) for group in groups),
                                           return_exceptions=True)  # fmt: skip
        for error in (result for result in results if isinstance(result, BaseException)):
            log.error("notification group failed; its messages return after ack_wait", error=repr(error))

    async def _in_order(self, requests: list[tuple[Msg, str, str]]) -> list[list[tuple[Msg, str, str]]]:
        """Deliveries of one incident to one channel go one after the other (a PagerDuty resolve must
        not overtake its trigger); all other groups go at once."""
        ids = [delivery_id for _, _, delivery_id in requests]
        async with self.db.session() as session:
            rows = {row.id: row for row in await session.scalars(select(Delivery).where(col(Delivery.id).in_(ids)))}
        groups: dict[Any, list[tuple[Msg, str, str]]] = defaultdict(list)
        for request in requests:
            row = rows.get(request[2])
            groups[(row.channel_id, row.incident_id) if row else request[2]].append(request)
        return list(groups.values())

    async def _deliver_in_turn(self, group: list[tuple[Msg, str, str]], pending: dict[int, Msg]) -> None:
        for msg, tenant_id, delivery_id in group:
            try:
                retry_in = await self.attempt(tenant_id=tenant_id, delivery_id=delivery_id)
            except Exception:  # our database, not the channel: try this message again soon
                log.exception("notification not processed; retrying", delivery_id=delivery_id)
                retry_in = RETRY_AFTER_ERROR
            pending.pop(id(msg), None)
            await (msg.ack() if retry_in is None else msg.nak(delay=retry_in))

    @contextlib.asynccontextmanager
    async def _keeping_alive(self, pending: dict[int, Msg]) -> AsyncIterator[None]:
        """Messages waiting behind a slow channel tell JetStream they are still being worked on."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.ack_wait / 3)
                for msg in list(pending.values()):
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def attempt(self, *, tenant_id: str, delivery_id: str) -> float | None:
        """One attempt at one delivery; the seconds until the next, or None when it is done."""
        async with self.db.session() as session:
            claim = await self._claim(session, tenant_id=tenant_id, delivery_id=delivery_id)
        if claim is None:
            return None
        outcome = await notify.send(
            team=tenant_id, url=claim.url, notification=claim.notification,
            allow_private=self.settings.allow_private_networks, timeout=self.send_timeout,
        )  # fmt: skip
        async with self.db.session() as session:
            return await self._record(session, claim, outcome)

    async def _claim(self, session: AsyncSession, *, tenant_id: str, delivery_id: str) -> Claim | None:
        delivery = await session.get(Delivery, delivery_id)
        if delivery is None or delivery.tenant_id != tenant_id:
            log.warning("notification for an unknown delivery dropped", delivery_id=delivery_id, tenant_id=tenant_id)
            return None
        if delivery.status not in _OPEN:
            return None  # a redelivered or repeated message: already sent or given up
        channel = await session.get(Channel, delivery.channel_id)
        incident = await session.get(Incident, delivery.incident_id) if delivery.incident_id else None
        reason = _not_sendable(delivery, channel, incident)
        url = self._open(channel) if channel is not None and reason is None else None
        if channel is None or url is None:
            await _close(session, delivery, reason or "cannot open the channel URL (was the server secret changed?)")
            return None
        if not await _take_attempt(session, delivery):
            return None  # someone else is on this attempt
        notification = notify.build_message(event=_event(delivery), incident=incident,
                                            base_url=self.settings.base_url, channel_name=channel.name)  # fmt: skip
        return Claim(delivery.id, tenant_id, channel.id, channel.kind, delivery.attempts + 1, url, notification)

    def _open(self, channel: Channel) -> str | None:
        try:
            return open_url(channel.url_sealed, secret=self.secret)
        except ValueError:
            return None

    async def _record(self, session: AsyncSession, claim: Claim, outcome: Outcome) -> float | None:
        now = datetime.now(UTC)
        retry_in: float | None = None
        if outcome.ok:
            values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
        elif claim.attempt >= self.settings.delivery_max_attempts:
            values = {"status": "gave_up", "last_error": outcome.error}
        else:
            values = {"status": "failed", "last_error": outcome.error}
            retry_in = retry_delay(claim.attempt, backoff=self.settings.delivery_backoff)
        await session.execute(
            update(Delivery).where(col(Delivery.id) == claim.delivery_id).values(**values), execution_options=_NO_SYNC
        )
        await session.commit()
        ATTEMPTS.labels(kind=claim.kind, outcome=values["status"]).inc()
        log.info(
            "notification attempt", delivery_id=claim.delivery_id, tenant_id=claim.tenant_id,
            channel_id=claim.channel_id, kind=claim.kind, notify_event=claim.notification.event,
            attempt=claim.attempt, outcome=values["status"], error=outcome.error, retry_in=retry_in,
        )  # fmt: skip
        return retry_in


async def _parse(msg: Msg) -> tuple[Msg, str, str] | None:
    """(message, tenant, delivery id); a malformed message is acked and dropped: it can never succeed."""
    try:
        return msg, subjects.tenant_from_subject(msg.subject), NotifyRequest.model_validate_json(msg.data).delivery_id
    except ValidationError as exc:
        log.warning("malformed notification message dropped", subject=msg.subject, error=str(exc)[:300])
        await msg.ack()
        return None


def _event(delivery: Delivery) -> Event:
    event = delivery.event
    return event if event in ("trigger", "resolve", "renotify", "escalate") else "test"  # type: ignore[return-value]


def _not_sendable(delivery: Delivery, channel: Channel | None, incident: Incident | None) -> str | None:
    """Why this delivery gives up without sending, if it does."""
    if channel is None or channel.tenant_id != delivery.tenant_id:
        return "channel deleted"
    if not channel.enabled:
        return "channel disabled"
    if delivery.incident_id and incident is None:
        return "incident not found"
    if incident and incident.status == "resolved" and delivery.event != "resolve" and delivery.attempts:
        # A late retry would reopen what is already over (PagerDuty: a new alert).
        return "not retried: the incident was resolved meanwhile"
    return None


async def _close(session: AsyncSession, delivery: Delivery, reason: str) -> None:
    await session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery.id, col(Delivery.status).in_(_OPEN))
        .values(status="gave_up", last_error=reason),
        execution_options=_NO_SYNC,
    )
    await session.commit()
    ATTEMPTS.labels(kind="-", outcome="gave_up").inc()
    log.info("notification given up", delivery_id=delivery.id, tenant_id=delivery.tenant_id, reason=reason)


async def _take_attempt(session: AsyncSession, delivery: Delivery) -> bool:
    """Count the attempt before sending it, only if nobody else did: duplicates never both send."""
    claimed = await session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery.id, col(Delivery.attempts) == delivery.attempts,
               col(Delivery.status).in_(_OPEN))
        .values(attempts=delivery.attempts + 1),
        execution_options=_NO_SYNC,
    )  # fmt: skip
    await session.commit()
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
