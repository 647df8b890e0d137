"""The audit log of the caller's team (owners and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.responses import ApiRoute
from crontopus_schemas.audit import AuditPage, AuditQuery
from crontopus_schemas.strict import DateTimeText
from crontopus_schemas.subjects import IdentityRpc

router = APIRouter(tags=["audit"], route_class=ApiRoute)
CURSOR_PATTERN = r"^[0-9]{1,17}-[0-9a-f]{1,32}$"  # identity's audit.py: microseconds and an entry id


@router.get("/api/audit", response_model=AuditPage)
async def list_audit(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    actor: Annotated[str | None, Query(max_length=320, description="a username, an API key's name, or an id")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="an action (`job.update`), or an area ending in a dot (`job.`)")
    ] = None,
    target: Annotated[str | None, Query(max_length=320, description="a job (`ns/name`), an id, an email")] = None,
    since: Annotated[DateTimeText | None, Query(description="entries at or after")] = None,
    until: Annotated[DateTimeText | None, Query(description="... and before this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page")] = None,
) -> AuditPage:
    """Who changed what in your team, newest first: changes through the API (job edits with their
    commit, rules, channels, silences, API keys, members, invitations, the repository, agents'
    enrollments and revocations), sign-ins and failed sign-ins, password resets, accepted
    invitations. Each entry: when, the actor (`actor_type` user, api_key, agent or operator),
    action, target, outcome, the client's address and the correlation id. Kept
    `CRONTOPUS_AUDIT_RETENTION_DAYS` (365) days."""
    query = AuditQuery(tenant_id=principal.tenant_id, actor=actor, action=action, target=target, since=since,
                       until=until, limit=limit, cursor=cursor)  # fmt: skip
    return await gateway.rpc(IdentityRpc.AUDIT_LIST, query, AuditPage)
