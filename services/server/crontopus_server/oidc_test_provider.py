"""An OpenID Connect provider for tests: discovery, the authorization endpoint (it signs in
``user`` at once, no page), the token endpoint (client secret, single-use codes, PKCE S256 checked)
and its keys; and GitHub's OAuth2 on the same server (``/login/oauth/...``, ``/user``,
``/user/emails``), as GitHub Enterprise would be. Served over real HTTP by uvicorn in a thread,
as a provider would be. Switches make it misbehave the ways a forged or broken provider would:
``sign_with_other_key``, ``nonce_override``."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from crontopus_kit.nats_server import free_port


@dataclass
class Person:
    sub: str = "idp-user-1"
    email: str | None = "ada@example.com"
    email_verified: bool = True
    name: str = "Ada Lovelace"


@dataclass
class OidcTestProvider:
    client_id: str = "crontopus-test"
    client_secret: str = "test-client-secret-" + "s" * 20
    user: Person = field(default_factory=Person)
    redirect_uris: set[str] = field(default_factory=set)
    sign_with_other_key: bool = False
    nonce_override: str | None = None
    challenge_methods: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "test-1"}, private=True)
        self.other_key = ECKey.generate_key("P-256", parameters={"kid": "test-1"}, private=True)
        self.codes: dict[str, dict[str, Any]] = {}
        app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
            Route("/jwks", self.jwks),
            Route("/login/oauth/authorize", self.authorize),
            Route("/login/oauth/access_token", self.token, methods=["POST"]),
            Route("/user", self.github_user),
            Route("/user/emails", self.github_emails),
        ])  # fmt: skip
        self.access_tokens: set[str] = set()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, name: str = "test") -> dict[str, Any]:
        """This provider as an entry of CRONTOPUS_SSO_PROVIDERS."""
        return {"name": name, "title": "Test IdP", "issuer": self.issuer, "client_id": self.client_id,
                "client_secret": self.client_secret}  # fmt: skip

    def github_settings(self) -> dict[str, Any]:
        """This server as GitHub (Enterprise) in CRONTOPUS_SSO_PROVIDERS."""
        return {"name": "github", "client_id": self.client_id, "client_secret": self.client_secret,
                "github_url": self.issuer, "api_url": self.issuer}  # fmt: skip

    def start(self) -> OidcTestProvider:
        threading.Thread(target=self.server.run, daemon=True).start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True

    async def discovery(self, _: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"], "code_challenge_methods_supported": ["S256"],
        })  # fmt: skip

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != self.client_id or query.get("redirect_uri") not in self.redirect_uris:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        self.challenge_methods.append(query.get("code_challenge_method", ""))
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"redirect_uri": query["redirect_uri"], "challenge": query.get("code_challenge"),
                            "nonce": query.get("nonce")}  # fmt: skip
        return RedirectResponse(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}")

    async def token(self, request: Request) -> Response:
        form = await request.form()
        grant = self.codes.pop(str(form.get("code")), None)  # single use
        if (
            not self._client_authenticated(request)
            or grant is None
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if create_s256_code_challenge(str(form.get("code_verifier", ""))) != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": self.user.sub, "iat": now, "exp": now + 300,
                  "nonce": self.nonce_override or grant["nonce"], "name": self.user.name}  # fmt: skip
        if self.user.email:
            claims |= {"email": self.user.email, "email_verified": self.user.email_verified}
        key = self.other_key if self.sign_with_other_key else self.key
        id_token = jwt.encode({"alg": "ES256", "kid": "test-1"}, claims, key, algorithms=["ES256"])
        access_token = secrets.token_urlsafe(16)
        self.access_tokens.add(access_token)
        return JSONResponse({"access_token": access_token, "token_type": "Bearer", "id_token": id_token})

    def _bearer_ok(self, request: Request) -> bool:
        return request.headers.get("authorization", "").removeprefix("Bearer ") in self.access_tokens

    async def github_user(self, request: Request) -> Response:
        if not self._bearer_ok(request):
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse({"id": 583231, "login": "octo-ada", "name": self.user.name})

    async def github_emails(self, request: Request) -> Response:
        if not self._bearer_ok(request):
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse([
            {"email": "old@example.com", "primary": False, "verified": True},
            {"email": self.user.email, "primary": True, "verified": self.user.email_verified},
        ])  # fmt: skip

    def _client_authenticated(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
        return client_id == self.client_id and secrets.compare_digest(secret, self.client_secret)

    async def jwks(self, _: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False) | {"use": "sig", "alg": "ES256"}]})
