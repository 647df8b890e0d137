"""Single sign-on for the web console: the providers, the redirect to one, and its callback.
The flow and its checks: crontopus_gateway.sso."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from crontopus_gateway.deps import GatewayDep, client_ip
from crontopus_gateway.responses import ApiRoute
from crontopus_gateway.routes.auth import console_cookie_secure, set_refresh_cookie
from crontopus_gateway.sso import STATE_COOKIE, STATE_TTL
from crontopus_kit.errors import DomainError, Unauthorized
from crontopus_schemas.identity import SsoSignIn, TokenPair
from crontopus_schemas.subjects import IdentityRpc

router = APIRouter(tags=["auth"], route_class=ApiRoute)
ProviderName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")]
SSO_PATH = "/api/auth/sso"
ERROR_COOKIE = "crontopus_sso_error"  # read (and cleared) by the console's sign-in page
SIGNED_IN_COOKIE = "crontopus_signed_in"  # read (and cleared) by the console's session (src/lib/session.ts)
REDIRECT: dict[int | str, dict[str, Any]] = {
    303: {"description": "to the console: signed in (`/`), or `/login` with why in the cookie crontopus_sso_error"}
}
TO_PROVIDER: dict[int | str, dict[str, Any]] = {
    303: {"description": "to the provider's sign-in"},
    404: {"description": "no such provider"},
}


class SsoProviderPublic(BaseModel):
    name: str
    title: str
    login_url: str


class SsoProviders(BaseModel):
    providers: list[SsoProviderPublic]


@router.get(SSO_PATH, response_model=SsoProviders)
async def list_providers(gateway: GatewayDep) -> SsoProviders:
    """The single sign-on providers of this server (CRONTOPUS_SSO_PROVIDERS), for sign-in buttons."""
    return SsoProviders(providers=[
        SsoProviderPublic(name=p.name, title=p.display_name, login_url=f"{SSO_PATH}/{p.name}/login")
        for p in gateway.sso.providers.values()
    ])  # fmt: skip


@router.get(f"{SSO_PATH}/{{provider}}/login", status_code=303, response_class=RedirectResponse, responses=TO_PROVIDER)
async def begin(provider: ProviderName, gateway: GatewayDep) -> RedirectResponse:
    """Sends the browser to the provider, with a state, a nonce and a PKCE challenge; what
    finishing needs is kept in the HttpOnly cookie `crontopus_sso` (encrypted, 10 minutes)."""
    url, cookie = await gateway.sso.begin(provider)
    answer = RedirectResponse(url, status_code=303)
    answer.set_cookie(STATE_COOKIE, cookie, max_age=STATE_TTL, path=SSO_PATH, httponly=True, samesite="lax",
                      secure=console_cookie_secure(gateway))  # fmt: skip
    return answer


@router.get(f"{SSO_PATH}/{{provider}}/callback", status_code=303, response_class=RedirectResponse, responses=REDIRECT)
async def callback(
    provider: ProviderName,
    request: Request,
    gateway: GatewayDep,
    code: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[str, Query(max_length=512)] = "",
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """Where the provider sends the browser back. Checked: the state against the cookie (which is
    spent), the code traded with the PKCE verifier, the ID token's signature, issuer, audience,
    expiry and nonce. Then signed in as the linked account, or the account with the same confirmed
    email, or a new one; the console session starts (the `crontopus_refresh` cookie) and the
    browser goes to `/`. Anything refused: to `/login`, with why in the cookie `crontopus_sso_error`
    (a minute, `Path=/login`): a message in the URL would let any site put its own words on our
    sign-in page."""
    cookie = request.cookies.get(STATE_COOKIE)
    try:
        if error:
            raise Unauthorized(f"the provider did not sign you in: {error}")
        verified = await gateway.sso.finish(provider, code=code, state=state, cookie=cookie)
        sign_in = SsoSignIn(provider=verified.provider, subject=verified.subject, email=verified.email,
                            email_verified=verified.email_verified, name=verified.name,
                            client_ip=client_ip(request, gateway.settings.trusted_proxies))  # fmt: skip
        pair = await gateway.rpc(IdentityRpc.SSO_SIGN_IN, sign_in, TokenPair)
    except DomainError as exc:
        answer = RedirectResponse("/login", status_code=303)
        answer.set_cookie(ERROR_COOKIE, quote(exc.message), max_age=60, path="/login", samesite="lax",
                          secure=console_cookie_secure(gateway))  # fmt: skip
    else:
        answer = RedirectResponse("/", status_code=303)
        set_refresh_cookie(answer, pair, secure=console_cookie_secure(gateway))
        # Readable, unlike the session: tells the console a session is there to pick up.
        answer.set_cookie(SIGNED_IN_COOKIE, "1", max_age=60, path="/", samesite="lax",
                          secure=console_cookie_secure(gateway))  # fmt: skip
    answer.delete_cookie(STATE_COOKIE, path=SSO_PATH, httponly=True, samesite="lax",
                         secure=console_cookie_secure(gateway))  # fmt: skip
    return answer
