"""Ping keys: each job's unguessable, Healthchecks-style ping URL.

A key is derived from the server secret and the job (HMAC), so it can be shown again at any
time without being stored; the index keeps only a keyed hash of it, for lookups. Changing the
server secret changes every ping URL.

``resolve`` answers the gateway's ``GitopsRpc.PING_RESOLVE``: the key is hashed the same way and
looked up in the index, so a job deleted from Git stops answering at its next sync.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from faststream.nats import NatsRouter
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_gitops.models import JobIndex
from crontopus_gitops.settings import RPC_WORKERS
from crontopus_kit.broker import rpc_handler
from crontopus_kit.crypto import derive_key, keyed_hash
from crontopus_kit.db import Database
from crontopus_kit.errors import NotFound
from crontopus_schemas import subjects
from crontopus_schemas.pings import PING_KEY_PATTERN, PingResolveRequest, PingTarget

KEY_PURPOSE = "crontopus ping key v1"
LOOKUP_PURPOSE = "crontopus ping lookup v1"


def ping_key(secret: bytes, tenant_id: str, job_ref: str) -> str:
    """22 URL-safe characters (128 bits), stable for a job while the secret stays."""
    digest = hmac.new(derive_key(secret, KEY_PURPOSE), f"{tenant_id}:{job_ref}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def ping_hash(secret: bytes, key: str) -> str:
    return keyed_hash(secret, LOOKUP_PURPOSE, key)


def ping_url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/ping/{key}"


async def resolve(*, session: AsyncSession, secret: bytes, key: str) -> PingTarget:
    """The tenant and job a ping key belongs to; NotFound for a key no indexed job has."""
    if not re.fullmatch(PING_KEY_PATTERN, key):
        raise NotFound("not found")
    stmt = select(col(JobIndex.tenant_id), col(JobIndex.namespace), col(JobIndex.name), col(JobIndex.commit)).where(
        col(JobIndex.ping_hash) == ping_hash(secret, key)
    )
    row = (await session.execute(stmt.limit(1))).first()
    if row is None:
        raise NotFound("not found")
    tenant_id, namespace, name, commit = row
    return PingTarget(tenant_id=tenant_id, job=f"{namespace}/{name}", commit=commit)


def add_ping_handlers(router: NatsRouter, *, db: Database, secret: bytes) -> None:
    @router.subscriber(subjects.GitopsRpc.PING_RESOLVE, queue=subjects.GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(PingResolveRequest)
    async def resolve_ping(request: PingResolveRequest) -> PingTarget:
        async with db.session() as session:
            return await resolve(session=session, secret=secret, key=request.key)
