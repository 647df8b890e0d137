"""Accounts and sessions: register, sign in (OAuth2 password form), refresh, sign out, who am I,
and the public keys that verify access tokens.

The web console (``X-Crontopus-Client: console``) never sees its refresh token: it travels in an
HttpOnly cookie scoped to these paths, so script on the page (an injected one included) cannot
read it. Against cross-site requests: the cookie is SameSite=Strict, and the cookie is only ever
read when the request carries that header, which a form or a cross-origin page cannot send
without a CORS preflight (and CORS never allows credentials)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Form, Header, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep, client_ip
from crontopus_gateway.errors import ErrorDetail, domain_error_response
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_kit.errors import Unauthorized
from crontopus_schemas.identity import (
    DEVICE_TOKEN_MAX_LENGTH,
    REFRESH_TOKEN_MAX_LENGTH,
    EmailChange,
    EmailChangeBody,
    JwksReply,
    JwksRequest,
    LoginRequest,
    LoginResult,
    LogoutRequest,
    MeRequest,
    PasswordResetAccepted,
    PasswordResetBody,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    RegisterCommand,
    RegisterRequest,
    SwitchTeamBody,
    SwitchTeamRequest,
    TokenPair,
    UserPublic,
    VerifyEmailBody,
)
from crontopus_schemas.subjects import IdentityRpc

LOGIN_PATH = "/api/auth/login"
DEVICE_COOKIE = "crontopus_device"
DEVICE_COOKIE_PATH = "/api/auth"
REFRESH_COOKIE = "crontopus_refresh"
CONSOLE = "console"
NO_CONSOLE_SESSION = "not signed in: no console session (the crontopus_refresh cookie); sign in again"
NO_REFRESH_TOKEN = 'no refresh token: send {"refresh_token": "..."} from your sign-in'
# What identity takes; longer is a 422 before anyone is asked.
USERNAME_MAX_LENGTH, PASSWORD_MAX_LENGTH = 320, 256
ClientHeader = Annotated[
    str | None,
    Header(
        alias="X-Crontopus-Client",
        description="`console`: the web console; the refresh token travels in the HttpOnly cookie "
        "crontopus_refresh instead of the body",
    ),
]
# Declared so /docs offers "Authorize" with username and password; the token it obtains is sent
# as a Bearer header, which the usual principal dependency reads.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=LOGIN_PATH, auto_error=False)
DocsAuth = Depends(oauth2_scheme)

router = APIRouter(tags=["auth"], route_class=ApiRoute)
REGISTER_ERRORS = errors(409) | {
    403: {
        "model": ErrorDetail,
        "description": "The server hosts as many teams as it may (CRONTOPUS_IDENTITY_MAX_TEAMS)",
    }
}


@router.post(
    "/api/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserPublic, responses=REGISTER_ERRORS
)
async def register(body: RegisterRequest, request: Request, gateway: GatewayDep) -> UserPublic:
    """Create a new tenant (team) and its owner account. Sign-ups from one address are limited
    (429 with Retry-After); a server that hosts a limited number of teams refuses one more (403)."""
    command = RegisterCommand(**body.model_dump(), client_ip=client_ip(request, gateway.settings.trusted_proxies))
    return await gateway.rpc(IdentityRpc.REGISTER, command, UserPublic)


def login_form(
    username: Annotated[str, Form(max_length=USERNAME_MAX_LENGTH, description="username or email")],
    password: Annotated[str, Form(max_length=PASSWORD_MAX_LENGTH, json_schema_extra={"format": "password"})],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form()] = "",
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
) -> OAuth2PasswordRequestForm:
    """OAuth2's password form (what /docs' Authorize sends), with the lengths identity takes."""
    return OAuth2PasswordRequestForm(
        username=username, password=password, grant_type=grant_type, scope=scope, client_id=client_id,
        client_secret=client_secret,
    )  # fmt: skip


@router.post(LOGIN_PATH, response_model=LoginResult, responses=errors(401))
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends(login_form)],
    request: Request,
    response: Response,
    gateway: GatewayDep,
    client: ClientHeader = None,
) -> LoginResult:
    """Sign in with username (or email) and password as an OAuth2 password form.
    With `X-Crontopus-Client: console` the refresh token is set as the HttpOnly cookie
    `crontopus_refresh` (Path=/api/auth, SameSite=Strict) and `refresh_token` and `device_token`
    in the answer are empty.
    Repeated failures lock the account against unknown clients for a while (429 with Retry-After).
    A client that signed in before is not unknown: the answer's `device_token`, also set as the
    HttpOnly cookie `crontopus_device`, sent back with later sign-ins (as that cookie) lets it sign
    in with the right password during such a lock."""
    ip = client_ip(request, gateway.settings.trusted_proxies)
    body = LoginRequest(
        username=form.username, password=form.password, client_ip=ip, device_token=_device_token(request)
    )
    result = await gateway.rpc(IdentityRpc.LOGIN, body, LoginResult)
    secure = console_cookie_secure(gateway)
    _set_device_cookie(response, result, secure=secure)
    if client != CONSOLE:
        return result
    set_refresh_cookie(response, result, secure=secure)
    return result.model_copy(update={"refresh_token": "", "device_token": ""})  # both are in HttpOnly cookies


def console_cookie_secure(gateway: GatewayDep) -> bool:
    """A plain-HTTP install gets no Secure cookies: the browser would never send them back."""
    return (gateway.settings.public_url or "").startswith("https://")


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


@router.post("/api/auth/refresh", response_model=TokenPair, responses=errors(401))
async def refresh(
    gateway: GatewayDep,
    request: Request,
    client: ClientHeader = None,
    body: Annotated[RefreshRequest | None, Body()] = None,
) -> Response | TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once; none: 401.
    With `X-Crontopus-Client: console` and no body, the token is the `crontopus_refresh` cookie's,
    and the new one replaces it; 401 (and the cookie cleared) when there is none or it is spent."""
    if client != CONSOLE:
        if body is None:
            raise Unauthorized(NO_REFRESH_TOKEN)
        return await gateway.rpc(IdentityRpc.REFRESH, body, TokenPair)
    token = _refresh_cookie(request)
    try:
        if token is None:
            raise Unauthorized(NO_CONSOLE_SESSION)
        pair = await gateway.rpc(IdentityRpc.REFRESH, RefreshRequest(refresh_token=token), TokenPair)
    except Unauthorized as exc:
        refused = domain_error_response(exc)
        _clear_refresh_cookie(refused, secure=console_cookie_secure(gateway))
        return refused
    return console_answer(pair, gateway)


def console_answer(pair: TokenPair, gateway: GatewayDep) -> JSONResponse:
    """A new sign-in for the console: the refresh token as the HttpOnly cookie, not in the body."""
    answer = JSONResponse(pair.model_copy(update={"refresh_token": ""}).model_dump(mode="json"))
    set_refresh_cookie(answer, pair, secure=console_cookie_secure(gateway))
    return answer


def _refresh_cookie(request: Request) -> str | None:
    token = request.cookies.get(REFRESH_COOKIE)
    return token if token and len(token) <= REFRESH_TOKEN_MAX_LENGTH else None


def set_refresh_cookie(response: Response, pair: TokenPair, *, secure: bool) -> None:
    # Path: only the auth endpoints ever get it (not every API call); SameSite=Strict: no other
    # site's page can make the browser send it. Without a lifetime from identity: for the session.
    response.set_cookie(
        REFRESH_COOKIE, pair.refresh_token, max_age=pair.refresh_expires_in, path=DEVICE_COOKIE_PATH,
        httponly=True, samesite="strict", secure=secure,
    )  # fmt: skip


def _clear_refresh_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(REFRESH_COOKIE, path=DEVICE_COOKIE_PATH, httponly=True, samesite="strict", secure=secure)


@router.post("/api/auth/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(
    gateway: GatewayDep,
    request: Request,
    client: ClientHeader = None,
    body: Annotated[LogoutRequest | None, Body()] = None,
) -> Response:
    """End the sign-in this refresh token belongs to (its access token lapses within minutes);
    without one there is nothing to end (204 all the same).
    With `X-Crontopus-Client: console` and no body: the `crontopus_refresh` cookie's, and the
    cookie is cleared."""
    if client != CONSOLE:
        if body is not None:
            await gateway.rpc_no_result(IdentityRpc.LOGOUT, body)
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    token = _refresh_cookie(request)
    if token is not None:
        await gateway.rpc_no_result(IdentityRpc.LOGOUT, LogoutRequest(refresh_token=token))
    answer = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_refresh_cookie(answer, secure=console_cookie_secure(gateway))
    return answer


@router.get("/api/auth/me", response_model=UserPublic, dependencies=[DocsAuth], responses=errors(404))
async def me(principal: CurrentPrincipal, gateway: GatewayDep) -> UserPublic:
    request = MeRequest(tenant_id=principal.tenant_id, user_id=principal.subject_id)
    return await gateway.rpc(IdentityRpc.ME, request, UserPublic)


@router.post("/api/auth/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=PasswordResetAccepted)
async def request_password_reset(
    body: PasswordResetBody, request: Request, gateway: GatewayDep
) -> PasswordResetAccepted:
    """Mail a link to choose a new password, if an account has this address. The answer is the
    same whether one has or not. At most 3 mails an hour go to one account; asking from one
    address is limited like sign-ups (429 with Retry-After)."""
    ip = client_ip(request, gateway.settings.trusted_proxies)
    command = PasswordResetRequest(email=body.email, client_ip=ip)
    return await gateway.rpc(IdentityRpc.PASSWORD_RESET, command, PasswordResetAccepted)


@router.post(
    "/api/auth/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
    responses=errors(404),
)  # fmt: skip
async def confirm_password_reset(body: PasswordResetConfirm, gateway: GatewayDep) -> Response:
    """Set the new password with the mailed link's token (good once, for an hour). Every session
    of the account ends, on every device; a sign-in lock is lifted. A used, expired or unknown
    token: 404. The password is judged as at sign-up (422)."""
    await gateway.rpc_no_result(IdentityRpc.PASSWORD_RESET_CONFIRM, body)
    await gateway.authenticator.access_changes.read_to_the_end()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/auth/verify-email", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=errors(404)
)
async def verify_email(body: VerifyEmailBody, gateway: GatewayDep) -> Response:
    """Confirm the account's email address with the token of the mail sent at sign-up (good for
    two days). A used, expired or unknown token, or one sent to an address the account no longer
    has: 404."""
    await gateway.rpc_no_result(IdentityRpc.VERIFY_EMAIL, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/auth/switch-team", response_model=TokenPair, dependencies=[DocsAuth], responses=errors(403))
async def switch_team(
    body: SwitchTeamBody,
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    request: Request,
    client: ClientHeader = None,
) -> Response | TokenPair:
    """A token pair acting for another of your teams (`GET /api/teams`), which your sign-ins
    open from now on. A team you are not in: 403. With `X-Crontopus-Client: console` the new
    refresh token replaces the `crontopus_refresh` cookie and the old console session ends."""
    switch = SwitchTeamRequest(user_id=principal.subject_id, team_id=body.team_id, via=principal.via or "password")
    pair = await gateway.rpc(IdentityRpc.TEAM_SWITCH, switch, TokenPair)
    if client != CONSOLE:
        return pair
    old = _refresh_cookie(request)
    if old is not None:
        await gateway.rpc_no_result(IdentityRpc.LOGOUT, LogoutRequest(refresh_token=old))
    return console_answer(pair, gateway)


@router.patch("/api/auth/me", response_model=UserPublic, dependencies=[DocsAuth], responses=errors(409))
async def change_email(body: EmailChangeBody, principal: CurrentPrincipal, gateway: GatewayDep) -> UserPublic:
    """Change your email address, with your current password (422 on `password` when wrong). The new address is
    unconfirmed until you follow the link mailed to it; an address another account has: 409."""
    change = EmailChange(tenant_id=principal.tenant_id, user_id=principal.subject_id, **body.model_dump())
    return await gateway.rpc(IdentityRpc.EMAIL_CHANGE, change, UserPublic)


@router.get("/api/auth/jwks.json", response_model=JwksReply)
async def jwks(gateway: GatewayDep) -> JwksReply:
    """Public keys (JWK set) that verify access tokens, with the expected issuer and audience."""
    return await gateway.rpc(IdentityRpc.JWKS, JwksRequest(), JwksReply)
