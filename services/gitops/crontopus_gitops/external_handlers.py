"""The RPC handlers of external repositories: connecting one (``GitopsRpc.REPOSITORY_UPDATE``) and
its push webhooks (``GitopsRpc.WEBHOOK``). A webhook only says "fetch now": what is indexed is
always what the fetch brings, so a replayed or forged payload can never roll a branch back; a
delivery is recorded once its push is synced, so the Git host's retry of a failed one is served.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from faststream.nats import NatsRouter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crontopus_gitops import service, webhooks
from crontopus_gitops.external import connect, describe
from crontopus_gitops.models import Repository, WebhookDelivery
from crontopus_gitops.sealed import webhook_secret
from crontopus_gitops.settings import RPC_WORKERS
from crontopus_gitops.syncer import Syncer
from crontopus_kit.broker import rpc_handler
from crontopus_kit.db import Database
from crontopus_kit.errors import Invalid, NotFound, Unavailable
from crontopus_schemas.gitops import RepositoryPublic, RepositoryUpdateRequest, WebhookReply, WebhookRequest
from crontopus_schemas.subjects import GitopsRpc


async def delivery_handled(*, session: AsyncSession, tenant_id: str, delivery_id: str) -> bool:
    """Whether a delivery with this id was synced before (a replay, or the host redelivering)."""
    return await session.get(WebhookDelivery, (tenant_id, delivery_id[:128])) is not None


async def record_delivery(*, session: AsyncSession, tenant_id: str, delivery_id: str) -> None:
    """Note a delivery once its push is synced: one that failed may be delivered again."""
    session.add(WebhookDelivery(tenant_id=tenant_id, delivery_id=delivery_id[:128], received_at=datetime.now(UTC)))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()  # the same delivery, synced at the same time by another worker


def add_external_handlers(router: NatsRouter, *, db: Database, syncer: Syncer) -> None:
    @router.subscriber(GitopsRpc.REPOSITORY_UPDATE, queue=GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(RepositoryUpdateRequest)
    async def update_repository(request: RepositoryUpdateRequest) -> RepositoryPublic:
        async with syncer.lock(request.tenant_id):
            row = await syncer.repository(request.tenant_id)
            async with db.session() as session:
                row = await session.merge(row)
                hook_secret = await connect(
                    session=session, settings=syncer.settings, remotes=syncer.remotes, secret=syncer.secret,
                    row=row, request=request,
                )  # fmt: skip
        await syncer.sync(request.tenant_id, fetch_remote=False)
        public = describe(service.repository_public(await syncer.repository(request.tenant_id)), row,
                          secret=syncer.secret, base_url=syncer.settings.base_url)  # fmt: skip
        return public.model_copy(update={"webhook_secret": hook_secret})

    @router.subscriber(GitopsRpc.WEBHOOK, queue=GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(WebhookRequest)
    async def webhook(request: WebhookRequest) -> WebhookReply:
        row = await _external_row(syncer, request.tenant_id)
        hook_secret = webhook_secret(syncer.secret, row)
        body = _decode_body(request.body)
        provider = webhooks.verify(headers=request.headers, body=body, secret=hook_secret or "-")
        if webhooks.event_kind(request.headers, provider) == "ping":
            return WebhookReply(status="pong")
        delivery = webhooks.delivery_id(request.headers, provider)
        if delivery:
            async with db.session() as session:
                if await delivery_handled(session=session, tenant_id=row.tenant_id, delivery_id=delivery):
                    return WebhookReply(status="duplicate", detail=f"delivery {delivery} was handled before")
        push = webhooks.parse_push(body, provider)
        if push.branch != row.branch:
            return WebhookReply(status="ignored", detail=f"a push to {push.ref}, not to branch {row.branch}")
        synced = await syncer.sync(row.tenant_id, fetch_remote=True)
        if synced.last_error:  # a 503 marks the delivery failed at the Git host, which may send it again
            raise Unavailable(f"the push was received but the repository could not be synced: {synced.last_error}")
        if delivery:
            async with db.session() as session:
                await record_delivery(session=session, tenant_id=row.tenant_id, delivery_id=delivery)
        return WebhookReply(status="synced", commit=synced.synced_commit)


async def _external_row(syncer: Syncer, tenant_id: str) -> Repository:
    """404, not 401, for tenants without a webhook: nobody learns which tenants exist."""
    async with syncer.db.session() as session:
        row = await session.get(Repository, tenant_id)
    if row is None or row.kind != "external" or not row.webhook_secret:
        raise NotFound("no webhook here")
    return row


def _decode_body(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("body: not base64") from exc
