"""Single sign-on: OpenID Connect's authorization code flow with PKCE (any provider found by
discovery; presets for Google and Microsoft) and GitHub's OAuth2, for the web console.

The gateway is the OIDC client. ``begin`` makes a state, a nonce and a PKCE verifier, keeps them
in a short-lived cookie encrypted under the server secret (so any gateway instance finishes what
another began, and nothing is stored), and sends the browser to the provider. ``finish`` checks
the state against that cookie (the cookie is spent: a replayed callback finds none), trades the
code and the verifier for tokens, and verifies the ID token: its signature with the provider's
published keys, issuer, audience, expiry and the nonce. Identity then links or makes the account
(crontopus_identity.sso). Provider URLs come from the operator's settings, never from a team.
GitHub has no ID token: the account and its primary verified email come from its API, read with
the access token the code was traded for.
"""

from __future__ import annotations

import hmac
import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, Field, SecretStr

from crontopus_kit.crypto import SecretBox
from crontopus_kit.errors import Invalid, NotFound, Unauthorized, Unavailable

STATE_COOKIE = "crontopus_sso"
STATE_TTL = 600  # seconds a sign-in may take at the provider
HTTP_TIMEOUT = 10.0
ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA", "Ed25519", "RS384", "RS512", "ES384"]
PRESETS = {
    "google": ("Google", "https://accounts.google.com"),
    "microsoft": ("Microsoft", "https://login.microsoftonline.com/{tenant}/v2.0"),
}
EXPIRED = "this sign-in expired or was already used; start again from the sign-in page"


class SsoProvider(BaseModel):
    """One entry of CRONTOPUS_SSO_PROVIDERS (a JSON list). ``name`` google or microsoft uses the
    preset issuer (microsoft: with ``tenant``, your directory's id: a token's issuer must be known
    in advance to be checked); ``github`` (or ``kind`` github, for GitHub Enterprise with its
    ``github_url`` and ``api_url``) uses GitHub's OAuth2; any other name needs ``issuer``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    title: str | None = None
    issuer: str | None = None
    tenant: str | None = None
    client_id: str
    client_secret: SecretStr
    scopes: list[str] | None = None
    kind: Literal["oidc", "github"] | None = None
    github_url: str = "https://github.com"
    api_url: str = "https://api.github.com"

    @property
    def is_github(self) -> bool:
        return self.kind == "github" or (self.kind is None and self.name == "github")

    @property
    def scope(self) -> str:
        return " ".join(
            self.scopes or (["read:user", "user:email"] if self.is_github else ["openid", "email", "profile"])
        )

    def check(self) -> None:
        """Raises for settings that cannot work (read at start)."""
        if not self.is_github:
            self.issuer_url  # noqa: B018

    @property
    def issuer_url(self) -> str:
        if self.issuer:
            return self.issuer.rstrip("/")
        if self.name not in PRESETS:
            raise ValueError(f"SSO provider {self.name!r} needs an issuer URL")
        if self.name == "microsoft" and not self.tenant:
            raise ValueError("SSO provider microsoft needs tenant: your directory (tenant) id")
        return PRESETS[self.name][1].format(tenant=self.tenant)

    @property
    def display_name(self) -> str:
        return self.title or ("GitHub" if self.is_github else PRESETS.get(self.name, (self.name.title(), ""))[0])


@dataclass(frozen=True)
class VerifiedIdentity:
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


class SsoClient:
    def __init__(self, *, providers: list[SsoProvider], secret: bytes, base_url: str) -> None:
        self.providers = {provider.name: provider for provider in providers}
        self.box = SecretBox(secret, "gateway:sso-state")
        self.base_url = base_url
        self._discovery: dict[str, tuple[dict[str, Any], float]] = {}

    def provider(self, name: str) -> SsoProvider:
        if name not in self.providers:
            raise NotFound(f"no single sign-on provider {name!r} on this server")
        return self.providers[name]

    def redirect_uri(self, name: str) -> str:
        return f"{self.base_url}/api/auth/sso/{name}/callback"

    async def begin(self, name: str) -> tuple[str, str]:
        """The provider's authorization URL to send the browser to, and the state cookie's value."""
        provider = self.provider(name)
        config = await self._config(provider)
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        extra = {} if provider.is_github else {"nonce": nonce}
        url = prepare_grant_uri(
            config["authorization_endpoint"], provider.client_id, "code", redirect_uri=self.redirect_uri(name),
            scope=provider.scope, state=state, code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256", **extra,
        )  # fmt: skip
        cookie = {
            "provider": name,
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "until": time.time() + STATE_TTL,
        }
        return url, self.box.seal(json.dumps(cookie))

    async def finish(self, name: str, *, code: str, state: str, cookie: str | None) -> VerifiedIdentity:
        started = self._started(name, state, cookie)
        provider = self.provider(name)
        config = await self._config(provider)
        tokens = await self._exchange(provider, config, code=code, verifier=started["verifier"])
        if provider.is_github:
            return await _github_identity(provider, tokens.get("access_token"))
        claims = await self._verify_id_token(provider, config, tokens.get("id_token"), nonce=started["nonce"])
        return VerifiedIdentity(
            provider=name, subject=str(claims["sub"]), email=(claims.get("email") or None),
            email_verified=claims.get("email_verified") is True, name=claims.get("name"),
        )  # fmt: skip

    def _started(self, name: str, state: str, cookie: str | None) -> dict[str, Any]:
        """What ``begin`` kept; refused unless this very sign-in began in this browser."""
        try:
            started = json.loads(self.box.open(cookie)) if cookie else None
        except ValueError:
            started = None
        if not started or started["provider"] != name or started["until"] < time.time():
            raise Invalid(EXPIRED)
        if not state or not _equal(state, started["state"]):
            raise Invalid("the sign-in's state does not match: start again from the sign-in page")
        return started  # type: ignore[no-any-return]

    async def _config(self, provider: SsoProvider) -> dict[str, Any]:
        """The provider's discovery document, kept an hour."""
        if provider.is_github:
            base = provider.github_url.rstrip("/")
            return {"authorization_endpoint": f"{base}/login/oauth/authorize",
                    "token_endpoint": f"{base}/login/oauth/access_token"}  # fmt: skip
        cached = self._discovery.get(provider.name)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        config = await _get_json(f"{provider.issuer_url}/.well-known/openid-configuration")
        if config.get("issuer", "").rstrip("/") != provider.issuer_url:
            raise Unavailable(f"the provider {provider.name} describes another issuer: {config.get('issuer')!r}")
        self._discovery[provider.name] = (config, time.monotonic() + 3600)
        return config

    async def _exchange(
        self, provider: SsoProvider, config: dict[str, Any], *, code: str, verifier: str
    ) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri(provider.name),
                "code_verifier": verifier}  # fmt: skip
        auth = (provider.client_id, provider.client_secret.get_secret_value())
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
                answer = await client.post(config["token_endpoint"], data=form, auth=auth,
                                           headers={"Accept": "application/json"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise Unavailable(f"the provider {provider.name} could not be reached: {exc}") from exc
        body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        if answer.status_code != 200 or "error" in body:  # GitHub says no with a 200 and an error
            why = body.get("error") or answer.status_code
            raise Unauthorized(f"the provider {provider.name} refused the sign-in ({why}); start again")
        return body  # type: ignore[no-any-return]

    async def _verify_id_token(
        self, provider: SsoProvider, config: dict[str, Any], id_token: Any, *, nonce: str
    ) -> dict[str, Any]:
        if not isinstance(id_token, str):
            raise Unauthorized(f"the provider {provider.name} sent no ID token")
        keys = KeySet.import_key_set(await _get_json(config["jwks_uri"]))  # type: ignore[arg-type]
        try:
            claims = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS).claims
            jwt.JWTClaimsRegistry(
                leeway=60, iss={"essential": True, "value": config["issuer"]},
                aud={"essential": True, "value": provider.client_id}, sub={"essential": True},
                exp={"essential": True}, nonce={"essential": True, "value": nonce},
            ).validate(claims)  # fmt: skip
        except (JoseError, ValueError, TypeError) as exc:
            raise Unauthorized(f"the ID token from {provider.name} does not verify: {exc}") from exc
        return claims  # type: ignore[no-any-return]


async def _github_identity(provider: SsoProvider, access_token: Any) -> VerifiedIdentity:
    """The GitHub account, with its primary email if GitHub verified it."""
    if not isinstance(access_token, str) or not access_token:
        raise Unauthorized("GitHub sent no access token")
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/vnd.github+json"}
    api = provider.api_url.rstrip("/")
    user = await _get_json(f"{api}/user", headers=headers)
    emails = await _get_json(f"{api}/user/emails", headers=headers)
    primary = (
        next((e for e in emails if isinstance(e, dict) and e.get("primary")), {}) if isinstance(emails, list) else {}
    )
    return VerifiedIdentity(
        provider=provider.name, subject=str(user["id"]), email=primary.get("email"),
        email_verified=primary.get("verified") is True, name=user.get("name") or user.get("login"),
    )  # fmt: skip


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


async def _get_json(url: str, *, headers: dict[str, str] | None = None) -> Any:
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            answer = await client.get(url, headers=headers or {"Accept": "application/json"})
            answer.raise_for_status()
            return answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise Unavailable(f"{url} could not be read: {exc}") from exc
