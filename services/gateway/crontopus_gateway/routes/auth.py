"""Accounts and sessions: register, sign in (OAuth2 password form), refresh, sign out, who am I,
and the public keys that verify access tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from crontopus_gateway.deps import GatewayDep, UserPrincipal, client_ip
from crontopus_gateway.json_body import JsonBodyRoute
from crontopus_kit.errors import Invalid
from crontopus_schemas.identity import (
    DEVICE_TOKEN_MAX_LENGTH,
    JwksReply,
    JwksRequest,
    LoginRequest,
    LoginResult,
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
DEVICE_COOKIE = "crontopus_device"
DEVICE_COOKIE_PATH = "/api/auth"
# Declared so /docs offers "Authorize" with username and password; the token it obtains is sent
# as a Bearer header, which the usual principal dependency reads.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=LOGIN_PATH, auto_error=False)
DocsAuth = Depends(oauth2_scheme)

router = APIRouter(tags=["auth"], route_class=JsonBodyRoute)


@router.post("/api/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
async def register(body: RegisterRequest, request: Request, gateway: GatewayDep) -> UserPublic:
    """Create a new tenant (team) and its owner account. Sign-ups from one address are limited
    (429 with Retry-After)."""
    command = RegisterCommand(**body.model_dump(), client_ip=client_ip(request, gateway.settings.trusted_proxies))
    return await gateway.rpc(IdentityRpc.REGISTER, command, UserPublic)


@router.post(LOGIN_PATH, response_model=LoginResult)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, response: Response, gateway: GatewayDep
) -> LoginResult:
    """Sign in with username (or email) and password as an OAuth2 password form.
    Repeated failures lock the account against unknown clients for a while (429 with Retry-After).
    A client that signed in before is not unknown: the answer's `device_token`, also set as the
    HttpOnly cookie `crontopus_device`, sent back with later sign-ins (as that cookie) lets it sign
    in with the right password during such a lock."""
    if len(form.username) > 320 or len(form.password) > 256:
        raise Invalid("username or password is too long")
    ip = client_ip(request, gateway.settings.trusted_proxies)
    body = LoginRequest(
        username=form.username, password=form.password, client_ip=ip, device_token=_device_token(request)
    )
    result = await gateway.rpc(IdentityRpc.LOGIN, body, LoginResult)
    _set_device_cookie(response, result, secure=(gateway.settings.public_url or "").startswith("https://"))
    return result


def _device_token(request: Request) -> str | None:
    """An oversized cookie is no device token, rather than a 422 for a cookie the user cannot see."""
    token = request.cookies.get(DEVICE_COOKIE)
    return token if token and len(token) <= DEVICE_TOKEN_MAX_LENGTH else None


def _set_device_cookie(response: Response, result: LoginResult, *, secure: bool) -> None:
    # Path: only sign-ins need it; SameSite=Strict: another site cannot sign in as this device.
    response.set_cookie(
        DEVICE_COOKIE, result.device_token, max_age=result.device_token_expires_in, path=DEVICE_COOKIE_PATH,
        httponly=True, samesite="strict", secure=secure,
    )  # fmt: skip


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
