"""Invitations to a team: made, listed and revoked by owners and admins; accepted from the
mailed link by a signed-in account with the invited address, or by someone creating one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.responses import JSONResponse

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep, client_ip
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_gateway.routes.auth import CONSOLE, ClientHeader, DocsAuth, console_answer
from crontopus_kit.errors import Forbidden
from crontopus_schemas.identity import (
    AcceptInvitation,
    AcceptInvitationBody,
    InvitationBody,
    InvitationCreate,
    InvitationList,
    InvitationPublic,
    InvitationRef,
    TokenPair,
)
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import IdentityRpc

router = APIRouter(tags=["members"], route_class=ApiRoute)
InvitationId = Annotated[str, Path(max_length=64)]


@router.post(
    "/api/invitations", status_code=status.HTTP_201_CREATED, response_model=InvitationPublic,
    dependencies=[DocsAuth], responses=errors(409),
)  # fmt: skip
async def invite(body: InvitationBody, principal: CurrentPrincipal, gateway: GatewayDep) -> InvitationPublic:
    """Mail an invitation to join your team with a role (the link is good once, for 7 days).
    Inviting an address again replaces its pending invitation. Someone already in the team: 409;
    inviting an owner: owners only (403)."""
    request = InvitationCreate(
        tenant_id=principal.tenant_id, actor_id=principal.subject_id, actor_role=principal.role or "viewer",
        email=body.email, role=body.role,
    )  # fmt: skip
    return await gateway.rpc(IdentityRpc.INVITATION_CREATE, request, InvitationPublic)


@router.get("/api/invitations", response_model=InvitationList, dependencies=[DocsAuth])
async def list_invitations(principal: CurrentPrincipal, gateway: GatewayDep) -> InvitationList:
    """The team's pending invitations (not accepted, revoked or expired)."""
    return await gateway.rpc(IdentityRpc.INVITATIONS_LIST, TenantScoped(tenant_id=principal.tenant_id), InvitationList)


# Before /api/invitations/{invitation_id}: the first route whose path matches names the Allow of a 405.
@router.post("/api/invitations/accept", response_model=TokenPair, responses=errors(401, 403, 404, 409))
async def accept_invitation(
    body: AcceptInvitationBody, gateway: GatewayDep, request: Request, client: ClientHeader = None
) -> JSONResponse | TokenPair:
    """Join the team of the mailed link's token: signed in (`Authorization: Bearer <access token>`, optional), with
    `{token}`, as the account that has the invited address (another account: 403); not signed
    in, with `{token, username, password}`, which makes your account with the invited address
    (an account with it exists: 409, sign in first). The answer is a token pair acting for the
    team (with `X-Crontopus-Client: console`, the refresh token as the cookie, as at sign-in).
    A used, revoked or expired link: 404."""
    user_id, via = None, "password"
    # Read by hand: a security dependency would tell OpenAPI the header is required.
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        principal = await gateway.authenticator.authenticate(credential.strip())
        if principal.kind != "user":
            raise Forbidden("sign in as a person to accept an invitation: API keys cannot")
        user_id, via = principal.subject_id, principal.via or "password"
    ip = client_ip(request, gateway.settings.trusted_proxies)
    accept = AcceptInvitation(**body.model_dump(), user_id=user_id, via=via, client_ip=ip)
    pair = await gateway.rpc(IdentityRpc.INVITATION_ACCEPT, accept, TokenPair)
    return console_answer(pair, gateway) if client == CONSOLE else pair


@router.delete(
    "/api/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
    dependencies=[DocsAuth], responses=errors(404),
)  # fmt: skip
async def revoke_invitation(invitation_id: InvitationId, principal: CurrentPrincipal, gateway: GatewayDep) -> Response:
    """Its link stops working. Not pending (or another team's): 404."""
    ref = InvitationRef(tenant_id=principal.tenant_id, invitation_id=invitation_id)
    await gateway.rpc_no_result(IdentityRpc.INVITATION_REVOKE, ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
