"""Thin NATS handlers: subscriber -> service -> publisher."""

from __future__ import annotations

from typing import Annotated

from faststream import AckPolicy, Context
from faststream.nats import JStream, NatsRouter, PullSub
from faststream.nats.message import NatsBatchMessage
from faststream.nats.annotations import JsClient
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from crontopus_kit.broker import publish_batch, rpc_handler
from crontopus_kit.db import Database
from crontopus_kit.logging import get_logger
from crontopus_runs import service
from crontopus_runs.settings import RunsSettings
from crontopus_schemas import subjects
from crontopus_schemas.events import CheckInEvent, RunRecorded
from crontopus_schemas.runs import RunDetail, RunGetRequest, RunListRequest, RunPage

log = get_logger(__name__)

CHECKINS_STORED = Counter("crontopus_runs_checkins_stored_total", "Check-ins stored")
CHECKINS_REJECTED = Counter("crontopus_runs_checkins_rejected_total", "Check-ins dropped as malformed")
BATCHES_RETRIED = Counter("crontopus_runs_batches_retried_total", "Check-in batches handed back after a database error")


def parse_checkins(messages: list[Msg]) -> list[tuple[str, CheckInEvent]]:
    """Valid check-ins with the tenant taken from the subject; malformed ones are logged and
    dropped, since redelivering them could never succeed."""
    parsed = []
    for msg in messages:
        try:
            tenant_id = subjects.tenant_from_checkin_subject(msg.subject)
            parsed.append((tenant_id, CheckInEvent.model_validate_json(msg.data)))
        except (ValueError, ValidationError) as exc:
            CHECKINS_REJECTED.inc()
            log.warning("malformed check-in dropped", subject=msg.subject, error=str(exc)[:500])
    return parsed


def recorded_messages(recorded: list[tuple[str, RunRecorded]]) -> list[tuple[str, bytes, str]]:
    return [
        (subjects.run_recorded_subject(tenant_id), event.model_dump_json().encode(), f"{event.run_id}:{event.status}")
        for tenant_id, event in recorded
    ]


def build_router(*, db: Database, settings: RunsSettings) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        f"{subjects.CHECKINS_ROOT}.*.*",
        stream=JStream(subjects.CHECKINS_STREAM.name, declare=False),
        durable=subjects.RUNS_CHECKINS_DURABLE,
        pull_sub=PullSub(batch_size=settings.batch_size, timeout=settings.batch_timeout, batch=True),
        config=ConsumerConfig(ack_wait=settings.ack_wait, max_ack_pending=settings.batch_size * 20),
        ack_policy=AckPolicy.MANUAL,
    )
    async def ingest_checkins(msg: Annotated[NatsBatchMessage, Context("message")], js: JsClient) -> None:
        checkins = parse_checkins(msg.raw_message)
        try:
            async with db.session() as session:
                recorded = await service.store_checkins(session=session, checkins=checkins)
        except (DBAPIError, OperationalError, OSError) as exc:
            BATCHES_RETRIED.inc()
            log.warning("check-in batch not stored; it will be redelivered", error=str(exc)[:500])
            await msg.nack(delay=2)
            return
        # Published before the ack: a crash in between redelivers, and the message ids de-duplicate.
        await publish_batch(js, recorded_messages(recorded))
        await msg.ack()
        CHECKINS_STORED.inc(len(checkins))

    @router.subscriber(subjects.RunsRpc.LIST, queue=subjects.RunsRpc.QUEUE)
    @rpc_handler(RunListRequest)
    async def list_runs(request: RunListRequest) -> RunPage:
        async with db.session() as session:
            return await service.list_runs(session=session, query=request)

    @router.subscriber(subjects.RunsRpc.GET, queue=subjects.RunsRpc.QUEUE)
    @rpc_handler(RunGetRequest)
    async def get_run(request: RunGetRequest) -> RunDetail:
        async with db.session() as session:
            return await service.get_run(session=session, tenant_id=request.tenant_id, run_id=request.run_id)

    return router
