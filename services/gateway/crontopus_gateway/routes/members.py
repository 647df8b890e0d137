"""A person's teams, and a team's members: list, change a role, remove (or leave).
Who may do which: crontopus_gateway.permissions; owners' rules: crontopus_identity.members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_gateway.routes.auth import DocsAuth
from crontopus_schemas.identity import (
    ActingMember,
    MemberList,
    MemberPublic,
    MemberRoleBody,
    MemberRoleChange,
    SsoRequirement,
    SsoRequirementBody,
    TeamList,
    TeamSettings,
    UserScoped,
)
from crontopus_schemas.rpc import Principal, TenantScoped
from crontopus_schemas.subjects import IdentityRpc

router = APIRouter(tags=["members"], dependencies=[DocsAuth], route_class=ApiRoute)
UserId = Annotated[str, Path(max_length=64)]


@router.get("/api/teams", response_model=TeamList)
async def list_teams(principal: CurrentPrincipal, gateway: GatewayDep) -> TeamList:
    """The teams you belong to, with your role in each; `POST /api/auth/switch-team` acts for another."""
    return await gateway.rpc(IdentityRpc.TEAMS_LIST, UserScoped(user_id=principal.subject_id), TeamList)


@router.get("/api/team", response_model=TeamSettings)
async def team_settings(principal: CurrentPrincipal, gateway: GatewayDep) -> TeamSettings:
    """The team this token acts for, and its settings."""
    return await gateway.rpc(IdentityRpc.TEAM_GET, TenantScoped(tenant_id=principal.tenant_id), TeamSettings)


@router.put("/api/team/sso", response_model=TeamSettings)
async def require_sso(body: SsoRequirementBody, principal: CurrentPrincipal, gateway: GatewayDep) -> TeamSettings:
    """Require single sign-on for the team (owners): members then cannot use a password for it; their
    sessions begun with one end at once. To turn it on, sign in with single sign-on yourself (403
    otherwise), so the team keeps an owner who can get in."""
    change = SsoRequirement(tenant_id=principal.tenant_id, required=body.required, via=principal.via or "password")
    team = await gateway.rpc(IdentityRpc.TEAM_SSO, change, TeamSettings)
    await gateway.authenticator.access_changes.read_to_the_end()
    return team


@router.get("/api/members", response_model=MemberList)
async def list_members(principal: CurrentPrincipal, gateway: GatewayDep) -> MemberList:
    return await gateway.rpc(IdentityRpc.MEMBERS_LIST, TenantScoped(tenant_id=principal.tenant_id), MemberList)


def _acting(principal: Principal, user_id: str) -> dict[str, str]:
    return {"tenant_id": principal.tenant_id, "actor_id": principal.subject_id,
            "actor_role": principal.role or "viewer", "user_id": user_id}  # fmt: skip


@router.patch("/api/members/{user_id}", response_model=MemberPublic, responses=errors(404, 409))
async def change_role(
    user_id: UserId, body: MemberRoleBody, principal: CurrentPrincipal, gateway: GatewayDep
) -> MemberPublic:
    """Give a member another role; it applies at once (their access tokens for the team are
    refused, a refresh gets the new role). Making or changing an owner: owners only (403). The
    team's last owner cannot be demoted (409)."""
    change = MemberRoleChange(**_acting(principal, user_id), role=body.role)
    member = await gateway.rpc(IdentityRpc.MEMBER_ROLE, change, MemberPublic)
    await gateway.authenticator.access_changes.read_to_the_end()
    return member


@router.delete(
    "/api/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
    responses=errors(404, 409),
)  # fmt: skip
async def remove_member(user_id: UserId, principal: CurrentPrincipal, gateway: GatewayDep) -> Response:
    """Remove a member from the team, or yourself (leave). Their sign-ins for the team end at
    once. Removing an owner: owners only (403); the last owner cannot leave (409)."""
    await gateway.rpc_no_result(IdentityRpc.MEMBER_REMOVE, ActingMember(**_acting(principal, user_id)))
    await gateway.authenticator.access_changes.read_to_the_end()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
