"""External repositories (Forgejo, Gitea, GitHub, GitLab, any Git server) and their push webhooks.

The repository is mirrored with pygit2 into a local bare repository and read from its commit
trees. Credentials and the webhook secret are stored sealed (crontopus_kit.crypto.SecretBox) and
never echoed back. A webhook only says "fetch now": what is indexed is always what the fetch
brings, so a replayed or forged payload can never roll a branch back.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from faststream.nats import NatsRouter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crontopus_gitops import repo, service, webhooks
from crontopus_gitops.models import Repository, WebhookDelivery
from crontopus_gitops.remote_url import RefusedUrl
from crontopus_gitops.remotes import Remotes
from crontopus_gitops.settings import RPC_WORKERS, GitopsSettings
from crontopus_kit.broker import rpc_handler
from crontopus_kit.crypto import SecretBox, mask
from crontopus_kit.db import Database
from crontopus_kit.errors import Invalid, NotFound, Unavailable
from crontopus_schemas.gitops import (
    RepositoryCredentials,
    RepositoryPublic,
    RepositoryUpdateRequest,
    WebhookReply,
    WebhookRequest,
)
from crontopus_schemas.subjects import GitopsRpc

if TYPE_CHECKING:
    from crontopus_gitops.syncer import Syncer

CREDENTIALS_PURPOSE = "gitops credentials v1"
WEBHOOK_PURPOSE = "gitops webhook secret v1"


def seal_credentials(secret: bytes, credentials: RepositoryCredentials | None) -> str | None:
    return SecretBox(secret, CREDENTIALS_PURPOSE).seal(credentials.model_dump_json()) if credentials else None


def open_credentials(secret: bytes, sealed: str | None) -> repo.Credentials | None:
    """The pygit2-side credentials of a repository row."""
    if not sealed:
        return None
    data = json.loads(SecretBox(secret, CREDENTIALS_PURPOSE).open(sealed))
    kind = data.pop("kind")
    if kind == "token":
        return repo.TokenAuth(**data)
    if kind == "basic":
        return repo.BasicAuth(**data)
    return repo.SshKeyAuth(**data)


def credentials_kind(secret: bytes, sealed: str | None) -> str | None:
    if not sealed:
        return None
    return str(json.loads(SecretBox(secret, CREDENTIALS_PURPOSE).open(sealed))["kind"])


def webhook_secret(secret: bytes, row: Repository) -> str | None:
    return SecretBox(secret, WEBHOOK_PURPOSE).open(row.webhook_secret) if row.webhook_secret else None


async def fetch(remotes: Remotes, row: Repository, secret: bytes) -> str:
    """Bring the mirror up to date, within every bound of crontopus_gitops.remotes. RefusedUrl
    for a URL stored before the rule existed (a local path, git://): it is never used again."""
    if row.url is None:
        raise repo.GitError(f"the repository of {row.tenant_id} is external but has no URL")
    try:
        return await remotes.fetch(
            path=Path(row.path), url=row.url, branch=row.branch, credentials=open_credentials(secret, row.credentials)
        )
    except RefusedUrl as refused:  # connect() checks first, so only a URL stored earlier gets here
        raise RefusedUrl(
            f"{refused.message}. The repository was connected before such URLs were refused: connect it again "
            "with an https:// or ssh:// URL (PUT /api/gitops/repository)"
        ) from None


async def connect(
    *,
    session: AsyncSession,
    settings: GitopsSettings,
    remotes: Remotes,
    secret: bytes,
    row: Repository,
    request: RepositoryUpdateRequest,
) -> str:
    """Point the tenant at an external repository after one successful fetch; returns the webhook
    secret (shown to the user this once). Nothing is stored when the URL is refused or the fetch
    fails."""
    await remotes.check(request.url)  # before anything touches the disk: a clear 422 naming `url`
    candidate = Repository(
        tenant_id=row.tenant_id, kind="external", path=str(settings.repositories / f"{row.tenant_id}.external.git"),
        branch=request.branch, folder=request.folder.strip("/"), url=request.url, created_at=row.created_at,
        credentials=seal_credentials(secret, request.credentials),
    )  # fmt: skip
    try:
        await fetch(remotes, candidate, secret)
    except repo.RemoteError as exc:
        raise Invalid(f"url: {exc.message}") from exc
    hook_secret = request.webhook_secret or secrets.token_urlsafe(32)
    for field in ("kind", "path", "branch", "folder", "url", "credentials"):
        setattr(row, field, getattr(candidate, field))
    row.webhook_secret = SecretBox(secret, WEBHOOK_PURPOSE).seal(hook_secret)
    row.synced_commit, row.file_errors, row.last_error = None, "[]", None
    session.add(row)
    await session.commit()
    return hook_secret


def describe(public: RepositoryPublic, row: Repository, *, secret: bytes, base_url: str) -> RepositoryPublic:
    """Add what only external repositories have, with secrets masked."""
    if row.kind != "external" or row.url is None:
        return public
    hook = webhook_secret(secret, row)
    return public.model_copy(
        update={
            "webhook_url": f"{base_url.rstrip('/')}/api/gitops/webhooks/{row.tenant_id}",
            "webhook_secret": mask(hook) if hook else None,
            "credentials": credentials_kind(secret, row.credentials),
        }
    )


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
