"""The alerting service as a unit: its database, router, three consumers (run events, manifest
changes, agent events), the notification dispatcher and the tick (missed runs, reminders)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from crontopus_alerting import dispatch, service
from crontopus_alerting.due import Watermark
from crontopus_alerting.handlers import Notifier, build_router
from crontopus_alerting.monitors import MonitoredJob
from crontopus_alerting.settings import AlertingSettings
from crontopus_kit.broker import rpc_call
from crontopus_kit.db import Database
from crontopus_kit.jetstream import BatchPuller
from crontopus_kit.locks import KeyedLocks
from crontopus_kit.logging import get_logger
from crontopus_kit.unit import cancel_and_wait
from crontopus_schemas import subjects
from crontopus_schemas.agents import AgentEvent
from crontopus_schemas.events import RecordedRun, RunsRecorded
from crontopus_schemas.gitops import JobListRequest, JobPage, JobSummary, TenantList, TenantListRequest, all_jobs
from crontopus_schemas.manifest import Monitor, duration_seconds

NAME = "alerting"
MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)
Handler = Callable[[list[Msg]], Awaitable[None]]
REQUEUE_EVERY = timedelta(minutes=1)
RESYNC_RETRY_SECONDS = 30
UNKNOWN_JOB_RESYNC_SECONDS = 10.0
# Runs of a job alerting has no row for, even after re-reading the team's jobs (a check-in sent
# before gitops indexed the manifest: a team's first minutes, a job created and run at once) wait
# for the team's next manifest change this long, this many a team, then count as runs of no job.
WAITING_FOR_JOB_SECONDS = 300.0
MAX_WAITING_RUNS = 1000


class AlertingUnit:
    name = NAME
    streams = (
        subjects.NOTIFICATIONS_STREAM, subjects.INCIDENTS_STREAM, subjects.RUNS_STREAM, subjects.GITOPS_STREAM,
        subjects.AGENTS_STREAM,
    )  # fmt: skip

    def __init__(self, settings: AlertingSettings | None = None, *, broker: NatsBroker) -> None:
        self.settings = settings or AlertingSettings()
        self.broker = broker
        self.db = Database(self.settings.database_url_for(NAME), schema=self.settings.database_schema_for(NAME))
        self.notifier = Notifier(db=self.db, broker=broker)
        self.router = build_router(db=self.db, settings=self.settings, notifier=self.notifier)
        self.dispatcher = dispatch.Dispatcher(db=self.db, settings=self.settings)
        settle = datetime.now(UTC) + timedelta(seconds=self.settings.settle_seconds)
        self.watermark = Watermark(settle_until=settle)
        self.pullers = [
            self._puller(subjects.RUNS_STREAM.name, subjects.ALERTING_RUNS_DURABLE,
                         subjects.run_recorded_subject("*"), self._on_runs),
            self._puller(subjects.GITOPS_STREAM.name, subjects.ALERTING_GITOPS_DURABLE,
                         subjects.manifests_changed_subject("*"), self._on_manifests),
            self._puller(subjects.AGENTS_STREAM.name, subjects.ALERTING_AGENTS_DURABLE,
                         subjects.agent_event_subject("*"), self._on_agents),
        ]  # fmt: skip
        self._tasks: list[asyncio.Task[None]] = []
        self._next_requeue = datetime.now(UTC)  # once at start, then every REQUEUE_EVERY
        self.backlog = Backlog(stuck_after=timedelta(seconds=self.settings.backlog_stuck_seconds))
        self._syncing = KeyedLocks()
        self._unknown_resyncs: dict[str, float] = {}  # team -> when runs of unknown jobs re-read its jobs
        self._waiting: dict[str, list[tuple[float, RecordedRun]]] = {}  # team -> (since, run) of unknown jobs

    @staticmethod
    def _puller(stream: str, durable: str, subject: str, handler: Handler) -> BatchPuller:
        return BatchPuller(stream=stream, durable=durable, filter_subject=subject, handler=handler,
                           batch_size=100, linger=0.05, ack_wait=60, max_ack_pending=1000)  # fmt: skip

    async def prepare(self) -> None:
        await self.db.migrate(script_location=MIGRATIONS, version_table="alembic_version_alerting")

    async def started(self) -> None:
        state = self.broker.config.connection_state
        await self.dispatcher.start(state.connection, state.stream)
        for puller in self.pullers:
            await puller.start(state.connection, state.stream)
        self._tasks = [
            asyncio.create_task(self._tick_forever(state.stream), name="alerting tick"),
            asyncio.create_task(self._resync_forever(), name="alerting jobs resync"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(*self._tasks)
        for puller in self.pullers:
            await puller.stop()
        await self.dispatcher.stop()
        await self.db.dispose()

    # --- consumers -----------------------------------------------------------------------------

    async def _on_runs(self, messages: list[Msg]) -> None:
        for msg in messages:
            try:
                event = RunsRecorded.model_validate_json(msg.data)
            except ValidationError as exc:
                log.warning("unreadable run event dropped", subject=msg.subject, error=str(exc)[:300])
                await msg.ack()
                continue
            await self.record_runs(subjects.tenant_from_subject(msg.subject), event)
            await msg.ack()

    async def record_runs(self, tenant_id: str, event: RunsRecorded) -> None:
        """Judge one RunsRecorded and send what it notifies. A run of a job this service has no
        row for may come before the job's ManifestsChanged was consumed (a job created and run at
        once): the team's jobs are re-read and that run judged then, else it never would be. At most
        every UNKNOWN_JOB_RESYNC_SECONDS per team: check-ins may name jobs no manifest has. A run
        whose job is still unknown (gitops has not indexed it yet) waits for the team's next
        manifest change, up to WAITING_FOR_JOB_SECONDS (in memory: a restart forgets it)."""
        async with self.db.session() as session:
            handled = await service.handle_runs(session=session, tenant_id=tenant_id, runs=event.runs)
        notices, unmonitored = handled.notices, handled.unmonitored
        if unmonitored and self._may_resync_for_unknown(tenant_id):
            await self.sync_tenant(tenant_id)
            late = [run for run in event.runs if run.job in unmonitored]
            async with self.db.session() as session:
                handled = await service.handle_runs(session=session, tenant_id=tenant_id, runs=late)
            notices, unmonitored = notices + handled.notices, handled.unmonitored
        now = time.monotonic()
        self._wait_for_jobs(tenant_id, [(now, run) for run in event.runs if run.job in unmonitored])
        await self.notifier.send(notices)
        self._observe(event)

    def _wait_for_jobs(self, tenant_id: str, runs: list[tuple[float, RecordedRun]]) -> None:
        """Keep ``runs`` (oldest first) for the team. The team's expired ones go, and every other
        team whose newest has expired: a team that never sends again must not keep its runs."""
        if not runs and not self._waiting:
            return  # the usual case: every job known, nothing waiting anywhere
        horizon = time.monotonic() - WAITING_FOR_JOB_SECONDS
        kept = [entry for entry in [*self._waiting.get(tenant_id, []), *runs] if entry[0] > horizon]
        self._waiting[tenant_id] = kept[-MAX_WAITING_RUNS:]
        self._waiting = {
            team: entries for team, entries in self._waiting.items() if entries and entries[-1][0] > horizon
        }

    async def _judge_waiting(self, tenant_id: str) -> None:
        """After the team's jobs were re-read: its runs that waited for their job."""
        waiting = self._waiting.pop(tenant_id, [])
        if not waiting:
            return
        async with self.db.session() as session:
            handled = await service.handle_runs(session=session, tenant_id=tenant_id, runs=[run for _, run in waiting])
        self._wait_for_jobs(tenant_id, [entry for entry in waiting if entry[1].job in handled.unmonitored])
        await self.notifier.send(handled.notices)

    def _may_resync_for_unknown(self, tenant_id: str) -> bool:
        now = time.monotonic()
        horizon = now - UNKNOWN_JOB_RESYNC_SECONDS
        self._unknown_resyncs = {team: at for team, at in self._unknown_resyncs.items() if at > horizon}
        if tenant_id in self._unknown_resyncs:
            return False
        self._unknown_resyncs[tenant_id] = now
        return True

    def _observe(self, event: RunsRecorded) -> None:
        now = datetime.now(UTC)
        for run in event.runs:
            moment = run.finished_at or run.started_at
            if moment is not None:
                self.watermark.observe(moment, processed_at=now)

    async def _on_manifests(self, messages: list[Msg]) -> None:
        for tenant_id in dict.fromkeys(subjects.tenant_from_subject(msg.subject) for msg in messages):
            await self.sync_tenant(tenant_id)
            await self._judge_waiting(tenant_id)
        for msg in messages:
            await msg.ack()

    async def sync_tenant(self, tenant_id: str) -> None:
        """Re-read the tenant's jobs from gitops, update the due-time index and resolve the
        incidents of jobs that are gone (``service.sync_jobs``), one sync of a team at a time: a
        manifest change and the periodic re-read of the same team at once would both insert its
        new jobs' monitors (the second failed on the unique key and was retried)."""

        async def fetch(page: JobListRequest) -> JobPage:
            return await rpc_call(self.broker, subjects.GitopsRpc.JOBS_LIST, page, JobPage)

        async with self._syncing(tenant_id):
            jobs = [_monitored(job) for job in await all_jobs(fetch, JobListRequest(tenant_id=tenant_id))]
            async with self.db.session() as session:
                notices = await service.sync_jobs(
                    session=session, tenant_id=tenant_id, jobs=jobs, now=datetime.now(UTC)
                )
        await self.notifier.send(notices)

    async def resync_all(self) -> int:
        """Re-read every team's jobs. Manifest-change events say what changed; this catches what
        they cannot: a team whose last change is older than the GITOPS stream keeps (a new or
        restored alerting database), or an event lost to a bug. Unchanged jobs cost no fire-time computation."""
        found = await rpc_call(self.broker, subjects.GitopsRpc.TENANTS_LIST, TenantListRequest(), TenantList)
        tenant_ids = found.tenant_ids
        for tenant_id in tenant_ids:
            await self.sync_tenant(tenant_id)
        return len(tenant_ids)

    async def _resync_forever(self) -> None:
        interval = self.settings.resync_interval
        while True:
            try:
                teams = await self.resync_all()
                log.info("every team's jobs re-read", teams=teams)
                await asyncio.sleep(interval)
            except Exception:  # e.g. gitops not answering yet: soon again, not in an hour
                log.warning("re-reading the teams' jobs failed; trying again", exc_info=True)
                await asyncio.sleep(min(RESYNC_RETRY_SECONDS, interval))

    async def _on_agents(self, messages: list[Msg]) -> None:
        for msg in messages:
            try:
                event = AgentEvent.model_validate_json(msg.data)
            except ValidationError as exc:
                log.warning("unreadable agent event dropped", subject=msg.subject, error=str(exc)[:300])
                await msg.ack()
                continue
            tenant_id = subjects.tenant_from_subject(msg.subject)
            async with self.db.session() as session:
                if event.kind == "offline":
                    notices = await service.agent_offline(
                        session=session, tenant_id=tenant_id, agent_id=event.agent_id, name=event.name, jobs=event.jobs
                    )
                elif event.kind in ("online", "revoked"):
                    notices = await service.agent_back(session=session, tenant_id=tenant_id, agent_id=event.agent_id)
                else:
                    notices = []
            await self.notifier.send(notices)
            await msg.ack()

    # --- the tick ------------------------------------------------------------------------------

    async def _tick_forever(self, js: JetStreamContext) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_interval)
            try:
                await self.tick(js)
            except Exception:
                log.exception("alerting tick failed; trying again at the next one")

    def problems(self) -> list[str]:
        """What /health reports (with a 503) while it lasts."""
        stuck = self.backlog.stuck(datetime.now(UTC))
        return [stuck] if stuck else []

    async def tick(self, js: JetStreamContext) -> None:
        now = datetime.now(UTC)
        caught_up, progress = await self._caught_up(js)
        self.backlog.seen(caught_up, progress=progress, at=now)
        self.watermark.caught_up(caught_up, at=now)
        judged_at = self.watermark.now(now)
        async with self.db.session() as session:
            notices = await service.tick(session=session, judged_at=judged_at)
            notices += await service.reminders(session=session, now=now)
            if now >= self._next_requeue:
                await self._requeue_stale(session, js, now)
        await self.notifier.send(notices)

    async def _requeue_stale(self, session: AsyncSession, js: JetStreamContext, now: datetime) -> None:
        """Deliveries whose message was never published (NATS down at that moment) or was lost
        are published again once they are older than any normal retry could keep them."""
        horizon = dispatch.retry_horizon(
            backoff=self.settings.delivery_backoff, max_attempts=self.settings.delivery_max_attempts,
            send_timeout=self.dispatcher.send_timeout,
        )  # fmt: skip
        if requeued := await dispatch.requeue_stale(session=session, js=js, older_than=2 * horizon, now=now):
            log.warning("stale notifications published again", deliveries=requeued)
        self._next_requeue = now + REQUEUE_EVERY

    async def _caught_up(self, js: JetStreamContext) -> tuple[bool, tuple[int, ...]]:
        """Whether nothing is pending in the check-in and run-event consumers (then lateness may be
        judged on the wall clock; otherwise a start may still be queued, and the watermark holds
        judgement back), and how far they have acknowledged (to tell a busy backlog from a stuck one)."""
        caught_up, progress = True, []
        for stream, durable in (
            (subjects.CHECKINS_STREAM.name, subjects.RUNS_CHECKINS_DURABLE),
            (subjects.RUNS_STREAM.name, subjects.ALERTING_RUNS_DURABLE),
        ):
            try:
                info = await js.consumer_info(stream, durable)
            except Exception as exc:  # whatever it is, nothing can be judged: say so, once
                self.backlog.unreadable(f"{stream}/{durable}: {type(exc).__name__}: {exc}")
                return False, ()
            caught_up &= not (info.num_pending or info.num_ack_pending)
            progress.append(info.ack_floor.stream_seq if info.ack_floor else 0)
        self.backlog.unreadable(None)
        return caught_up, tuple(progress)


class Backlog:
    """Since when the check-in pipeline has had something pending without moving on, and why it
    could not be read: while it has, missed and late runs are judged on the last event's time,
    not the clock, so nothing is alerted. A backlog that does not move is a fault (a consumer
    deleted, a consumer failing on every message, NATS refusing), and the service's health says
    so; one that is being worked off is a busy moment."""

    def __init__(self, *, stuck_after: timedelta) -> None:
        self.stuck_after = stuck_after
        self.since: datetime | None = None
        self.progress: tuple[int, ...] = ()
        self.error: str | None = None

    def seen(self, caught_up: bool, *, progress: tuple[int, ...], at: datetime) -> None:
        moved, self.progress = progress != self.progress, progress
        if caught_up:
            self.since = None
        elif moved or self.since is None:
            self.since = at

    def unreadable(self, error: str | None) -> None:
        if error and error != self.error:
            log.warning("the check-in consumers cannot be read: missed-run alerts are held back", error=error)
        elif self.error and not error:
            log.info("the check-in consumers can be read again")
        self.error = error

    def stuck(self, now: datetime) -> str | None:
        if self.since is None or now - self.since < self.stuck_after:
            return None
        minutes = int((now - self.since).total_seconds() // 60)
        why = f" ({self.error})" if self.error else ""
        return f"alerting: the check-in backlog has not moved for {minutes} min{why}: missed-run alerts are held back"


def _monitored(job: JobSummary) -> MonitoredJob:
    return MonitoredJob(
        ref=job.job, schedule=job.schedule, timezone=job.timezone, paused=job.paused, enabled=job.enabled,
        labels=job.labels, commit=job.commit, monitor=Monitor.model_validate(job.monitor),
        timeout_seconds=duration_seconds(job.timeout) if job.timeout else None,
    )  # fmt: skip
