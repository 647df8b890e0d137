"""Ping URL request-reply payloads: which job a ping key belongs to (``GitopsRpc.PING_RESOLVE``)
and which run a finish ping without ``?rid=`` closes (``RunsRpc.OPEN_RUN``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from crontopus_schemas.events import JobRef
from crontopus_schemas.rpc import TenantScoped

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


class OpenRunRequest(TenantScoped):
    job: JobRef
    source: str = Field(default=PING_SOURCE, max_length=64)


class OpenRun(BaseModel):
    """The newest run of the job from that source with a start and no finish, started within
    the last 24 hours; None when there is none."""

    run_id: str | None
