"""FastAPI dependencies: the gateway runtime and the caller's principal.

All `async def`, even where nothing is awaited: FastAPI runs a plain `def` dependency in a thread
pool, a thread hop per request (a ping URL's 404 answered 2x faster without it, measured with wrk)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from crontopus_gateway import permissions
from crontopus_gateway.addresses import Network, client_address
from crontopus_gateway.audit import PRINCIPAL_KEY
from crontopus_gateway.gateway import Gateway
from crontopus_kit.errors import Unauthorized
from crontopus_schemas.rpc import Principal

bearer_scheme = HTTPBearer(auto_error=False, description="access token or API key")
api_key_scheme = APIKeyHeader(name="X-Api-Key", auto_error=False)


async def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def current_principal(
    request: Request,
    gateway: GatewayDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """The caller, allowed by the route's rule in crontopus_gateway.permissions (or 401/403)."""
    return await authenticate_request(request, gateway, bearer.credentials if bearer else api_key)


def credential_of(request: Request) -> str | None:
    """The credential as ``bearer_scheme`` and ``api_key_scheme`` read it, for a route that
    answers without FastAPI's dependencies (routes/checkins.py)."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() == "bearer" and token:
        return token
    return request.headers.get("x-api-key") or None


async def authenticate_request(request: Request, gateway: Gateway, credential: str | None) -> Principal:
    route = request.scope.get("route")
    rule = permissions.rule_for(request.method, getattr(route, "path", ""))
    if not credential:
        raise Unauthorized("not signed in: send 'Authorization: Bearer <token or API key>' or 'X-Api-Key: <key>'")
    principal = await gateway.authenticator.authenticate(credential)
    permissions.check(rule, principal, request.path_params)
    setattr(request.state, PRINCIPAL_KEY, principal)  # who the audit log names (crontopus_gateway.audit)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def client_ip(request: Request, trusted_proxies: Sequence[Network]) -> str:
    return client_address(request.scope, trusted_proxies)
