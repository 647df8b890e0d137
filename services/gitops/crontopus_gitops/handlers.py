"""Thin NATS handlers: tenant setup, push notices, polling, and job queries."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from faststream.nats import NatsBroker, NatsRouter
from faststream.nats.annotations import NatsMessage
from nats.aio.msg import Msg
from pydantic import ValidationError

from crontopus_gitops import service
from crontopus_gitops.models import Repository
from crontopus_gitops.service import HookCommand
from crontopus_gitops.settings import GitopsSettings
from crontopus_kit.broker import rpc_handler
from crontopus_kit.db import Database
from crontopus_kit.jetstream import BatchPuller
from crontopus_kit.logging import get_logger
from crontopus_schemas import subjects
from crontopus_schemas.gitops import (
    JobDetail,
    JobGetRequest,
    JobList,
    JobListRequest,
    ManifestsChanged,
    RepositoryPublic,
    TenantCreated,
)
from crontopus_schemas.rpc import TenantScoped

log = get_logger(__name__)
RETRY_DELAY_SECONDS = 5


class Syncer:
    """Syncs repositories, one at a time per tenant, and announces each new commit."""

    def __init__(self, *, db: Database, settings: GitopsSettings, hook: HookCommand) -> None:
        self.db, self.settings, self.hook = db, settings, hook
        self.secret = settings.secret_bytes()
        self.links = service.Links(base_url=settings.base_url, secret=self.secret)
        self.broker: NatsBroker | None = None
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def repository(self, tenant_id: str) -> Repository:
        async with self.db.session() as session:
            return await service.ensure_repository(
                session=session, settings=self.settings, hook=self.hook, tenant_id=tenant_id
            )

    async def sync(self, tenant_id: str) -> None:
        async with self._locks[tenant_id], self.db.session() as session:
            row = await service.ensure_repository(
                session=session, settings=self.settings, hook=self.hook, tenant_id=tenant_id
            )
            try:
                changed = await service.sync(session=session, row=row, secret=self.secret)
            except Exception as exc:
                log.warning("repository sync failed", tenant_id=tenant_id, error=str(exc)[:500])
                await session.rollback()
                await service.record_sync_error(session=session, row=row, error=str(exc))
                return
        if changed:
            await self._announce(tenant_id, changed)

    async def _announce(self, tenant_id: str, event: ManifestsChanged) -> None:
        assert self.broker is not None
        await self.broker.publish(
            event.model_dump_json().encode(),
            subjects.manifests_changed_subject(tenant_id),
            headers={"Nats-Msg-Id": f"{tenant_id}:{event.commit}"},
            stream=subjects.GITOPS_STREAM.name,
        )
        log.info("manifests changed", tenant_id=tenant_id, commit=event.commit, added=len(event.added),
                 changed=len(event.changed), removed=len(event.removed), errors=event.errors)  # fmt: skip

    async def sync_all(self) -> None:
        async with self.db.session() as session:
            tenants = [row.tenant_id for row in await service.all_repositories(session=session)]
        for tenant_id in tenants:
            await self.sync(tenant_id)

    async def poll_forever(self) -> None:
        """The fallback when a push notice or webhook never arrives."""
        while True:
            try:
                await self.sync_all()
            except Exception:
                log.exception("repository poll failed")
            await asyncio.sleep(self.settings.poll_seconds)

    async def on_tenants_created(self, messages: list[Msg]) -> None:
        for msg in messages:
            try:
                event = TenantCreated.model_validate_json(msg.data)
            except ValidationError:
                log.warning("malformed tenant-created event dropped", subject=msg.subject)
                await msg.ack()
                continue
            try:
                await self.sync(event.tenant_id)
            except Exception:
                log.exception("tenant repository not set up; retrying", tenant_id=event.tenant_id)
                await msg.nak(delay=RETRY_DELAY_SECONDS)
                continue
            await msg.ack()

    def tenants_puller(self) -> BatchPuller:
        return BatchPuller(
            stream=subjects.TENANTS_STREAM.name, durable=subjects.GITOPS_TENANTS_DURABLE,
            filter_subject=f"{subjects.TENANTS_ROOT}.created.*", handler=self.on_tenants_created,
            batch_size=16, linger=0.01, ack_wait=60, max_ack_pending=256,
        )  # fmt: skip


def build_router(*, db: Database, syncer: Syncer) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(subjects.PUSHED_WILDCARD, queue=subjects.GitopsRpc.QUEUE)
    async def on_push(message: NatsMessage) -> None:
        """A repository's post-receive hook: the tenant is the subject's last token."""
        await syncer.sync(subjects.tenant_from_subject(message.raw_message.subject))

    @router.subscriber(subjects.GitopsRpc.REPOSITORY_GET, queue=subjects.GitopsRpc.QUEUE)
    @rpc_handler(TenantScoped)
    async def get_repository(request: TenantScoped) -> RepositoryPublic:
        await syncer.sync(request.tenant_id)
        return service.repository_public(await syncer.repository(request.tenant_id))

    @router.subscriber(subjects.GitopsRpc.JOBS_LIST, queue=subjects.GitopsRpc.QUEUE)
    @rpc_handler(JobListRequest)
    async def list_jobs(request: JobListRequest) -> JobList:
        await syncer.repository(request.tenant_id)  # a new team's examples, even before the first poll
        await syncer.sync(request.tenant_id)
        async with db.session() as session:
            return await service.list_jobs(session=session, query=request, links=syncer.links)

    @router.subscriber(subjects.GitopsRpc.JOBS_GET, queue=subjects.GitopsRpc.QUEUE)
    @rpc_handler(JobGetRequest)
    async def get_job(request: JobGetRequest) -> JobDetail:
        row = await syncer.repository(request.tenant_id)
        async with db.session() as session:
            return await service.get_job(session=session, query=request, row=row, links=syncer.links)

    return router
