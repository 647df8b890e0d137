"""Thin NATS handlers: the check-in batch consumer and the run-history queries."""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.nats import NatsRouter
from nats.aio.msg import Msg
from prometheus_client import Counter
from pydantic import TypeAdapter, ValidationError

from crontopus_kit.broker import rpc_handler
from crontopus_kit.db import Database
from crontopus_kit.jetstream import BatchPuller
from crontopus_kit.logging import get_logger
from crontopus_runs import pairing, service, stats
from crontopus_runs.merge import state_from_checkin
from crontopus_runs.settings import RunsSettings
from crontopus_schemas import subjects
from crontopus_schemas.events import CheckIn, RunsRecorded
from crontopus_schemas.runs import (
    LastStatuses,
    LastStatusRequest,
    RunDetail,
    RunGetRequest,
    RunListRequest,
    RunPage,
    RunStats,
    RunStatsRequest,
)

log = get_logger(__name__)

CHECKINS_STORED = Counter("crontopus_runs_checkins_stored_total", "Check-ins stored")
CHECKINS_REJECTED = Counter("crontopus_runs_checkins_rejected_total", "Check-ins dropped as malformed")
CHECKINS_CONFLICTING = Counter(
    "crontopus_runs_checkins_conflicting_total", "Check-ins refused: their run id belongs to another job of the team"
)
BATCHES_RETRIED = Counter("crontopus_runs_batches_retried_total", "Check-in batches handed back after a database error")

RETRY_DELAY_SECONDS = 2
# A batch's payload at most: 2,000 check-ins of up to 1 MiB each would be two gigabytes in memory,
# twice over (one batch stored, the next one parsed meanwhile). Above NATS's largest
# message (8 MB as we configure it, 1 MB by default), or that message could never be pulled.
BATCH_MAX_BYTES = 16 * 1024 * 1024


def parse_checkins(messages: list[Msg]) -> list[tuple[str, CheckIn]]:
    """Valid check-ins with the tenant taken from the subject; malformed ones are logged and
    dropped, since redelivering them could never succeed."""
    parsed = []
    for msg in messages:
        try:
            tenant_id = subjects.tenant_from_checkin_subject(msg.subject)
            parsed.append((tenant_id, CheckIn.model_validate_json(msg.data)))  # the envelope unread
        except (ValueError, ValidationError) as exc:
            CHECKINS_REJECTED.inc()
            log.warning("malformed check-in dropped", subject=msg.subject, error=str(exc)[:500])
    return parsed


Announce = Callable[[list[tuple[str, bytes, str]]], Awaitable[None]]


def recorded_messages(recorded: list[tuple[str, service.Recorded]]) -> list[tuple[str, bytes, str]]:
    """One RunsRecorded per tenant. The message id is a digest of the runs' states, so the same
    batch redelivered after a crash is de-duplicated by the stream."""
    by_tenant: dict[str, list[service.Recorded]] = defaultdict(list)
    for tenant_id, run in recorded:
        by_tenant[tenant_id].append(run)
    return [
        (subjects.run_recorded_subject(tenant_id), _event_bytes(runs), _digest(tenant_id, runs))
        for tenant_id, runs in by_tenant.items()
    ]


def _event_bytes(runs: list[service.Recorded]) -> bytes:
    """``RunsRecorded``: the envelope from the model, the runs (our own rows) serialized as they
    are, in the same JSON as ``RecordedRun``'s; a model per run cost more than storing it."""
    return _JSON.dump_json({**RunsRecorded.model_construct(runs=[]).model_dump(), "runs": runs})


_JSON: TypeAdapter[Any] = TypeAdapter(Any)


def _digest(tenant_id: str, runs: list[service.Recorded]) -> str:
    states = sorted(f"{run.run_id}:{run.status}" for run in runs)
    return hashlib.sha256("\n".join([tenant_id, *states]).encode()).hexdigest()


class CheckinIngester:
    """Stores check-in batches: one transaction per batch, then run events, then the acks.

    Batches are stored one at a time, in the order they arrived, so row ids and run events
    follow arrival order. The next batch is pulled and parsed while one is being stored:
    otherwise the CPU would sit idle during every database round trip.
    """

    def __init__(self, *, db: Database, settings: RunsSettings, announce: Announce) -> None:
        """``announce`` publishes the stored runs' events ((subject, payload, msg id) each): to
        JetStream with ``publish_batch`` in the unit."""
        self.db = db
        self.settings = settings
        self.announce = announce
        self.puller = BatchPuller(
            stream=subjects.CHECKINS_STREAM.name,
            durable=subjects.RUNS_CHECKINS_DURABLE,
            # The stream's own subject, not the narrower "*.*" of a check-in subject: nats-server
            # then skips matching every message against the filter (measured: ~12% of its CPU
            # in a drain). A message on a malformed subject is dropped in parse_checkins.
            filter_subject=subjects.CHECKINS_STREAM.subjects[0],
            handler=self.store_batch,
            batch_size=settings.batch_size,
            linger=settings.batch_timeout,
            ack_wait=settings.ack_wait,
            max_ack_pending=settings.batch_size * 20,
            concurrency=2,  # one batch stored, the next one pulled and parsed meanwhile
            max_batch_bytes=BATCH_MAX_BYTES,
        )
        # FIFO: a batch's handler reaches it without awaiting anything first, so in arrival order.
        self._storing = asyncio.Lock()

    async def store_batch(self, messages: list[Msg]) -> None:
        checkins = parse_checkins(messages)
        states = [state_from_checkin(tenant_id, checkin) for tenant_id, checkin in checkins]
        # Folded while the previous batch is stored, unless finish pings must first be paired with it.
        batch = None if pairing.needs_pairing(states) else service.fold_states(states)
        async with self._storing:
            try:
                async with self.db.session() as session:
                    if batch is None:
                        batch = await service.fold_paired(session=session, states=states)
                    stored = await service.store_runs(session=session, batch=batch)
            except service.DATABASE_ERRORS as exc:
                BATCHES_RETRIED.inc()
                log.warning("check-in batch not stored; it will be redelivered", error=str(exc)[:500])
                for msg in messages:
                    await msg.nak(delay=RETRY_DELAY_SECONDS)
                return
            # Published before the acks: a crash in between redelivers, and the message ids
            # de-duplicate.
            await self.announce(recorded_messages(stored.recorded))
        for msg in messages:
            await msg.ack()
        CHECKINS_STORED.inc(len(checkins) - len(stored.refused))
        report_refused(stored.refused)


def report_refused(refused: list[service.Refused]) -> None:
    """Refused check-ins are acknowledged (they could never be stored), so the log line and the
    counter are all that is left of them: the API answered 202 when they were queued."""
    CHECKINS_CONFLICTING.inc(len(refused))
    for checkin in refused:
        log.warning(
            "check-in refused: its run id belongs to another job of the team",
            tenant_id=checkin.tenant_id, run_id=checkin.run_id, job=checkin.job, status=checkin.status,
            run_id_held_by=checkin.held_by,
        )  # fmt: skip


def build_router(*, db: Database) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(subjects.RunsRpc.LIST, queue=subjects.RunsRpc.QUEUE)
    @rpc_handler(RunListRequest)
    async def list_runs(request: RunListRequest) -> RunPage:
        async with db.read() as session:
            return await service.list_runs(session=session, query=request)

    @router.subscriber(subjects.RunsRpc.STATS, queue=subjects.RunsRpc.QUEUE)
    @rpc_handler(RunStatsRequest)
    async def run_stats(request: RunStatsRequest) -> RunStats:
        async with db.session() as session:
            return await stats.run_stats(session=session, request=request)

    @router.subscriber(subjects.RunsRpc.GET, queue=subjects.RunsRpc.QUEUE)
    @rpc_handler(RunGetRequest)
    async def get_run(request: RunGetRequest) -> RunDetail:
        async with db.read() as session:
            return await service.get_run(session=session, tenant_id=request.tenant_id, run_id=request.run_id)

    @router.subscriber(subjects.RunsRpc.LAST_STATUS, queue=subjects.RunsRpc.QUEUE)
    @rpc_handler(LastStatusRequest)
    async def last_statuses(request: LastStatusRequest) -> LastStatuses:
        async with db.read() as session:
            found = await service.last_statuses(session=session, tenant_id=request.tenant_id, jobs=request.jobs)
        return LastStatuses.model_validate({"statuses": found})

    return router
