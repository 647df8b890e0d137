"""The audit log: who changed what in a team, when, from where.

Whoever sees a change publishes an ``AuditEvent`` on the AUDIT stream (the gateway for changes
made through the API, identity for sign-ins, resets and accepted invitations, the server CLI for
operators); identity's collector stores each once in its append-only ``audit_entries`` table."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.times import UtcDateTime

ActorType = Literal["user", "api_key", "agent", "operator", "anonymous"]


class AuditEvent(BaseModel):
    id: str = Field(description="unique per event: de-duplicates redeliveries")
    at: UtcDateTime
    tenant_id: str
    actor_type: ActorType
    actor_id: str | None = None
    actor: str | None = Field(default=None, description="a username, an API key's name; filled in when stored")
    action: str = Field(description="what was done, e.g. job.update, member.remove, auth.sign-in")
    target: str | None = Field(default=None, description="what it was done to: a job, an id, an email")
    outcome: Literal["success", "failure"] = "success"
    source: str | None = Field(default=None, description="the client's address")
    correlation_id: str | None = None
    details: dict[str, str] = Field(default_factory=dict, description="e.g. the commit of a job edit, a new role")


class AuditEntry(AuditEvent):
    """An event as stored and listed."""


class AuditQuery(TenantScoped):
    actor: str | None = Field(default=None, max_length=320, description="a username, key name or id")
    action: str | None = Field(default=None, max_length=64, description="an action, or its area with a dot: `job.`")
    target: str | None = Field(default=None, max_length=320)
    since: UtcDateTime | None = None
    until: UtcDateTime | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=64)


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for older entries")
