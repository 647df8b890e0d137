"""Thin NATS handlers: tenant setup, push notices, polling, and job queries."""

from __future__ import annotations

from faststream.nats import NatsRouter
from faststream.nats.annotations import NatsMessage

from crontopus_gitops import editing, external, external_handlers, service
from crontopus_gitops.pings import add_ping_handlers
from crontopus_gitops.settings import RPC_WORKERS
from crontopus_gitops.syncer import Syncer
from crontopus_kit.broker import rpc_handler
from crontopus_kit.db import Database
from crontopus_kit.logging import get_logger
from crontopus_schemas import subjects
from crontopus_schemas.gitops import (
    JobDetail,
    JobGetRequest,
    JobListRequest,
    JobPage,
    JobStatePage,
    RepositoryPublic,
    TenantList,
    TenantListRequest,
    UpcomingRequest,
    UpcomingRuns,
)
from crontopus_schemas.rpc import RpcReply, TenantScoped

__all__ = ["Syncer", "build_router"]

log = get_logger(__name__)


def build_router(*, db: Database, syncer: Syncer) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(subjects.PUSHED_WILDCARD, queue=subjects.GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    async def on_push(message: NatsMessage) -> None:
        """A repository's post-receive hook: the tenant is the subject's last token."""
        await syncer.sync(subjects.tenant_from_subject(message.raw_message.subject))

    # no_reply: FastStream would answer on whatever reply subject the message names, even with
    # None; the asker chose it, so we answer ourselves, and only through the agents' import.
    @router.subscriber(subjects.REPOSITORY_LOCATION_WILDCARD, queue=subjects.GitopsRpc.QUEUE, no_reply=True)
    async def repository_location(message: NatsMessage) -> None:
        """An agent asks where its team's jobs are. Tenant and agent are the subject's (the NATS
        server lets an agent publish only its own); the answer goes back through the agents'
        service import, to the asker only."""
        msg = message.raw_message
        tenant_id, agent_id = subjects.tenant_and_agent_from_location_subject(msg.subject)
        # Agents ask from their own account, so the reply subject here is one the server made
        # (``_R_.``), leading back into the agents' account only. Any other was named by a
        # client of this account (no agent is here since 2026-12): answering it would publish,
        # with gitops' rights, wherever that client said.
        if not subjects.is_service_import_reply(msg.reply):
            log.warning("repository location request dropped: it did not come through the agents' import",
                        tenant=tenant_id, agent=agent_id, reply=msg.reply[:200])  # fmt: skip
            return
        row = await syncer.repository(tenant_id)
        await msg.respond(RpcReply(result=service.repository_location(row)).model_dump_json().encode())

    @router.subscriber(subjects.GitopsRpc.REPOSITORY_GET, queue=subjects.GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(TenantScoped)
    async def get_repository(request: TenantScoped) -> RepositoryPublic:
        # A running sync may wait on a slow host for up to the fetch timeout: show what is known.
        locked = syncer.busy(request.tenant_id)
        row = await (syncer.repository(request.tenant_id) if locked else syncer.sync(request.tenant_id))
        return external.describe(service.repository_public(row), row, secret=syncer.secret,
                                 base_url=syncer.settings.base_url)  # fmt: skip

    @router.subscriber(subjects.GitopsRpc.TENANTS_LIST, queue=subjects.GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(TenantListRequest)
    async def list_tenants(_: TenantListRequest) -> TenantList:
        async with db.session() as session:
            return TenantList(tenant_ids=await service.tenant_ids(session=session))

    @router.subscriber(subjects.GitopsRpc.JOBS_LIST, queue=subjects.GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(JobListRequest)
    async def list_jobs(request: JobListRequest) -> JobPage:
        if not syncer.busy(request.tenant_id):  # a running sync may take seconds: list what is indexed
            await syncer.sync(request.tenant_id)  # a new team's examples, even before the first poll
        async with db.session() as session:
            return await service.list_jobs(
                session=session, query=request, links=syncer.links, schedules=syncer.schedules
            )

    @router.subscriber(subjects.GitopsRpc.JOB_STATES, queue=subjects.GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(JobListRequest)
    async def job_states(request: JobListRequest) -> JobStatePage:
        if not syncer.busy(request.tenant_id):  # as list_jobs: a new team's examples count too
            await syncer.sync(request.tenant_id)
        async with db.session() as session:
            return await service.job_states(session=session, query=request)

    @router.subscriber(subjects.GitopsRpc.JOBS_GET, queue=subjects.GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(JobGetRequest)
    async def get_job(request: JobGetRequest) -> JobDetail:
        row = await syncer.repository(request.tenant_id)
        async with db.session() as session:
            return await service.get_job(
                session=session, query=request, row=row, links=syncer.links, schedules=syncer.schedules
            )

    @router.subscriber(subjects.GitopsRpc.JOBS_UPCOMING, queue=subjects.GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(UpcomingRequest)
    async def upcoming_runs(request: UpcomingRequest) -> UpcomingRuns:
        async with db.session() as session:
            return await service.upcoming_runs(session=session, query=request, schedules=syncer.schedules)

    external_handlers.add_external_handlers(router, db=db, syncer=syncer)
    editing.add_editing_handlers(router, db=db, syncer=syncer)
    add_ping_handlers(router, db=db, secret=syncer.secret)
    return router
