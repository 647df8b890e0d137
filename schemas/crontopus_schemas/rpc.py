"""Request-reply envelope and error codes shared by every service and the gateway.

A reply is ``{"result": ...}`` or ``{"error": {"code", "message", "retry_after"}}``.
A handler that raised would send no reply at all (the caller would only time out), so
services always answer with an explicit error instead.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel


class ErrorCode(StrEnum):
    INVALID = "invalid"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class RpcErrorBody(BaseModel):
    code: ErrorCode
    message: str
    retry_after: int | None = None


ResultT = TypeVar("ResultT")


class RpcReply(BaseModel, Generic[ResultT]):
    """``RpcReply[RunPage]`` reads a reply's JSON straight into its result's model."""

    result: ResultT | None = None
    error: RpcErrorBody | None = None


class Principal(BaseModel):
    """Who is calling, as decided from a credential by the gateway."""

    kind: Literal["user", "api_key", "agent"]
    tenant_id: str
    subject_id: str
    scope: Literal["read", "write"] = "write"
    tenant: str | None = None
    username: str | None = None
    # A user's role in the team (crontopus_schemas.identity.Role); None for keys and agents.
    role: Literal["viewer", "member", "admin", "owner"] | None = None
    issued_at: float | None = None  # an access token's iat: older than a change of access, refused
    via: str | None = None  # how a user's sign-in began: password or sso

    @property
    def can_write(self) -> bool:
        """May change jobs and hold write credentials (ping URLs): a write key, or a member."""
        if self.kind == "user":
            return self.role in ("member", "admin", "owner")
        return self.scope == "write"


class TenantScoped(BaseModel):
    """Base of every request acting inside a tenant. The gateway fills tenant_id from the
    credential; services trust it because only the gateway (and other services) may
    publish on rpc subjects."""

    tenant_id: str
