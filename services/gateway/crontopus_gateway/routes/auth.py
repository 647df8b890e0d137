"""Accounts and sessions: register, sign in (OAuth2 password form), refresh, sign out, who am I,
and the public keys that verify access tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from crontopus_gateway.deps import GatewayDep, UserPrincipal, client_ip
from crontopus_kit.errors import Invalid
from crontopus_schemas.identity import (
    JwksReply,
    JwksRequest,
    LoginRequest,
    LogoutRequest,
    MeRequest,
    RefreshRequest,
    RegisterCommand,
    RegisterRequest,
    TokenPair,
    UserPublic,
)
from crontopus_schemas.subjects import IdentityRpc

LOGIN_PATH = "/api/auth/login"
# Declared so /docs offers "Authorize" with username and password; the token it obtains is sent
# as a Bearer header, which the usual principal dependency reads.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=LOGIN_PATH, auto_error=False)
DocsAuth = Depends(oauth2_scheme)

router = APIRouter(tags=["auth"])


@router.post("/api/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
async def register(body: RegisterRequest, request: Request, gateway: GatewayDep) -> UserPublic:
    """Create a new tenant (team) and its owner account. Sign-ups from one address are limited
    (429 with Retry-After)."""
    command = RegisterCommand(**body.model_dump(), client_ip=client_ip(request, gateway.settings.trusted_proxies))
    return await gateway.rpc(IdentityRpc.REGISTER, command, UserPublic)


@router.post(LOGIN_PATH, response_model=TokenPair)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, gateway: GatewayDep
) -> TokenPair:
    """Sign in with username (or email) and password as an OAuth2 password form.
    Repeated failures lock the account for a while (429 with Retry-After)."""
    if len(form.username) > 320 or len(form.password) > 256:
        raise Invalid("username or password is too long")
    ip = client_ip(request, gateway.settings.trusted_proxies)
    return await gateway.rpc(
        IdentityRpc.LOGIN, LoginRequest(username=form.username, password=form.password, client_ip=ip), TokenPair
    )


@router.post("/api/auth/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, gateway: GatewayDep) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once."""
    return await gateway.rpc(IdentityRpc.REFRESH, body, TokenPair)


@router.post("/api/auth/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(body: LogoutRequest, gateway: GatewayDep) -> Response:
    """End the sign-in this refresh token belongs to (its access token lapses within minutes)."""
    await gateway.rpc_no_result(IdentityRpc.LOGOUT, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/auth/me", response_model=UserPublic, dependencies=[DocsAuth])
async def me(principal: UserPrincipal, gateway: GatewayDep) -> UserPublic:
    request = MeRequest(tenant_id=principal.tenant_id, user_id=principal.subject_id)
    return await gateway.rpc(IdentityRpc.ME, request, UserPublic)


@router.get("/api/auth/jwks.json", response_model=JwksReply)
async def jwks(gateway: GatewayDep) -> JwksReply:
    """Public keys (JWK set) that verify access tokens, with the expected issuer and audience."""
    return await gateway.rpc(IdentityRpc.JWKS, JwksRequest(), JwksReply)
