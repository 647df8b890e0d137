"""API keys for scripts and CI: create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, Field, StringConstraints

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_gateway.routes.auth import DocsAuth
from crontopus_kit.errors import NotFound
from crontopus_schemas.identity import (
    ApiKeyCreated,
    ApiKeyCreateRequest,
    ApiKeyCurrent,
    ApiKeyList,
    ApiKeyRevokeRequest,
    KeyScope,
)
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import IdentityRpc

# Keys are credentials: only a signed-in user manages them, never another key (a key may only
# describe itself).
router = APIRouter(tags=["api-keys"], dependencies=[DocsAuth], route_class=ApiRoute)


class ApiKeyCreateBody(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    scope: KeyScope = Field(default="read", description="read: queries only; write: also changes and check-ins")


@router.post("/api/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(body: ApiKeyCreateBody, principal: CurrentPrincipal, gateway: GatewayDep) -> ApiKeyCreated:
    """The response holds the key itself; it is never shown again. Send it as `X-Api-Key`."""
    request = ApiKeyCreateRequest(
        tenant_id=principal.tenant_id, created_by=principal.subject_id, name=body.name, scope=body.scope
    )
    return await gateway.rpc(IdentityRpc.API_KEY_CREATE, request, ApiKeyCreated)


@router.get("/api/api-keys", response_model=ApiKeyList)
async def list_api_keys(principal: CurrentPrincipal, gateway: GatewayDep) -> ApiKeyList:
    return await gateway.rpc(IdentityRpc.API_KEY_LIST, TenantScoped(tenant_id=principal.tenant_id), ApiKeyList)


@router.get("/api/api-keys/current", response_model=ApiKeyCurrent, responses=errors(404))
async def current_api_key(principal: CurrentPrincipal, gateway: GatewayDep) -> ApiKeyCurrent:
    """The API key this request is made with: its name, scope and team (what `crontopus auth
    whoami` shows for `CRONTOPUS_API_KEY`). A person's sign-in gets 404: `GET /api/auth/me`."""
    if principal.kind != "api_key":
        raise NotFound("this request is signed in as a person, not made with an API key: GET /api/auth/me")
    keys = await gateway.rpc(IdentityRpc.API_KEY_LIST, TenantScoped(tenant_id=principal.tenant_id), ApiKeyList)
    key = next((key for key in keys.api_keys if key.id == principal.subject_id), None)
    if key is None:  # revoked a moment ago
        raise NotFound("this API key was revoked")
    return ApiKeyCurrent(**key.model_dump(), tenant=principal.tenant, tenant_id=principal.tenant_id)


@router.delete(
    "/api/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=errors(404)
)
async def revoke_api_key(
    key_id: Annotated[str, Path(max_length=64)], principal: CurrentPrincipal, gateway: GatewayDep
) -> Response:
    await gateway.rpc_no_result(
        IdentityRpc.API_KEY_REVOKE, ApiKeyRevokeRequest(tenant_id=principal.tenant_id, key_id=key_id)
    )
    # This instance forgets the key now; the broadcast reaches the other gateway instances.
    gateway.authenticator.forget_api_key(key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
