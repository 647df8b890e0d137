"""Ping URL request-reply payloads: which job a ping key belongs to (``GitopsRpc.PING_RESOLVE``).
Which run a finish ping without ``?rid=`` closes is decided at ingest (``CheckIn.closes_open_run``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from crontopus_schemas.events import JobRef

# What crontopus_gitops.pings.ping_key hands out: 22 URL-safe base64 characters (128 bits).
PING_KEY_PATTERN = r"^[A-Za-z0-9_-]{22}$"
PING_SOURCE = "ping"


class PingResolveRequest(BaseModel):
    """Not tenant-scoped: the key is the credential, and the answer names the tenant."""

    key: str = Field(max_length=128)


class PingTarget(BaseModel):
    tenant_id: str
    job: JobRef
    commit: str | None = Field(default=None, description="the manifest commit the job is indexed at")
