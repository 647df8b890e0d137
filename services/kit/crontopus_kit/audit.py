"""Publishing audit events (crontopus_schemas.audit): one helper for every publisher."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from crontopus_kit.broker import Publisher
from crontopus_kit.logging import correlation_id_var, get_logger
from crontopus_schemas.audit import AuditEvent
from crontopus_schemas.subjects import AUDIT_STREAM, audit_subject

log = get_logger(__name__)


def audit_event(**fields: Any) -> AuditEvent:
    """An event with a new id, the time now and the request's correlation id unless given."""
    fields.setdefault("correlation_id", correlation_id_var.get())
    return AuditEvent(id=uuid.uuid4().hex, at=datetime.now(UTC), **fields)


async def publish_audit(publisher: Publisher, event: AuditEvent) -> None:
    """Publish, waiting for the stream's ack; a failure is logged with the whole event (the change
    it records was made: the log then holds what the audit log misses)."""
    try:
        await publisher.publish(
            event.model_dump_json().encode(), audit_subject(event.tenant_id),
            headers={"Nats-Msg-Id": f"audit:{event.id}"}, stream=AUDIT_STREAM.name,
        )  # fmt: skip
    except Exception:
        log.error("audit event not published", audit=event.model_dump(mode="json"), exc_info=True)
