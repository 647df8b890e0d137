"""FastAPI dependencies: the gateway runtime and the caller's principal.

All `async def`, even where nothing is awaited: FastAPI runs a plain `def` dependency in a thread
pool, a thread hop per request (a ping URL's 404 answered 2x faster without it, measured with wrk)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from crontopus_gateway.addresses import Network, client_address
from crontopus_gateway.gateway import Gateway
from crontopus_kit.errors import Forbidden, Unauthorized
from crontopus_schemas.rpc import Principal

bearer_scheme = HTTPBearer(auto_error=False, description="access token or API key")
api_key_scheme = APIKeyHeader(name="X-Api-Key", auto_error=False)


async def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def current_principal(
    gateway: GatewayDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    credential = bearer.credentials if bearer else api_key
    if not credential:
        raise Unauthorized("not signed in: send 'Authorization: Bearer <token or API key>' or 'X-Api-Key: <key>'")
    return await gateway.authenticator.authenticate(credential)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def writing_principal(principal: CurrentPrincipal) -> Principal:
    if not principal.can_write:
        raise Forbidden("this API key is read-only; create a key with scope 'write' to change anything")
    return principal


WritePrincipal = Annotated[Principal, Depends(writing_principal)]


async def user_principal(principal: CurrentPrincipal) -> Principal:
    if principal.kind != "user":
        raise Forbidden("sign in as a user for this: API keys cannot manage credentials")
    return principal


UserPrincipal = Annotated[Principal, Depends(user_principal)]


def client_ip(request: Request, trusted_proxies: Sequence[Network]) -> str:
    return client_address(request.scope, trusted_proxies)
