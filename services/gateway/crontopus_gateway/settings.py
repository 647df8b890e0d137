from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, field_validator

from crontopus_gateway.sso import SsoProvider
from crontopus_kit.settings import CrontopusSettings

ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


class GatewaySettings(CrontopusSettings):
    sso_providers: list[SsoProvider] = Field(
        default_factory=list, validation_alias="CRONTOPUS_SSO_PROVIDERS",
        description='JSON list of single sign-on providers: [{"name": "google", "client_id": "...", '
        '"client_secret": "..."}, {"name": "corp", "title": "Corp SSO", "issuer": "https://idp.corp.example", ...}]',
    )  # fmt: skip

    @field_validator("sso_providers")
    @classmethod
    def _sso_issuers(cls, providers: list[SsoProvider]) -> list[SsoProvider]:
        for provider in providers:
            provider.check()
        return providers

    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024, validation_alias="CRONTOPUS_GATEWAY_MAX_REQUEST_BYTES",
        description="larger request bodies are refused with 413 before they are read whole",
    )  # fmt: skip
    rpc_timeout: float = Field(default=5.0, gt=0, validation_alias="CRONTOPUS_GATEWAY_RPC_TIMEOUT")
    git_timeout: float = Field(
        default=150, gt=0, validation_alias="CRONTOPUS_GATEWAY_GIT_TIMEOUT",
        description="how long PUT /api/gitops/repository and job edits wait for Git (the first fetch of an "
        "external repository, the push of an edit); keep it above CRONTOPUS_GITOPS_FETCH_TIMEOUT",
    )  # fmt: skip
    jwks_max_age: float = Field(
        default=300, gt=0, validation_alias="CRONTOPUS_GATEWAY_JWKS_MAX_AGE",
        description="seconds the published signing keys are cached: a retired key stops verifying within this",
    )  # fmt: skip
    api_key_cache_seconds: float = Field(default=30.0, ge=0, validation_alias="CRONTOPUS_GATEWAY_API_KEY_CACHE_SECONDS")
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list, validation_alias="CRONTOPUS_GATEWAY_TRUSTED_PROXIES",
        description="JSON list of proxy addresses or networks (CIDR) whose X-Forwarded-For is believed, read "
        "from the right: for every per-address limit; empty: the TCP peer is the client",
    )  # fmt: skip
    # Rate limits, per gateway process: sustained requests a minute (0: no limit) and how many at once.
    # Sized so a team with 2,000 jobs reporting start and finish every minute through one address
    # (one NAT) and one API key, all at the top of the minute, stays far below them.
    rate_limit_address: int = Field(
        default=12_000, ge=0, validation_alias="CRONTOPUS_GATEWAY_RATE_LIMIT_ADDRESS",
        description="requests a minute from one client address to /api/ and ping URLs (0: no limit)",
    )  # fmt: skip
    rate_limit_address_burst: int = Field(
        default=10_000, ge=1, validation_alias="CRONTOPUS_GATEWAY_RATE_LIMIT_ADDRESS_BURST"
    )
    rate_limit_credential: int = Field(
        default=12_000, ge=0, validation_alias="CRONTOPUS_GATEWAY_RATE_LIMIT_CREDENTIAL",
        description="requests a minute to /api/ with one API key or access token (0: no limit)",
    )  # fmt: skip
    rate_limit_credential_burst: int = Field(
        default=10_000, ge=1, validation_alias="CRONTOPUS_GATEWAY_RATE_LIMIT_CREDENTIAL_BURST"
    )
    rate_limit_ping_url: int = Field(
        default=60, ge=0, validation_alias="CRONTOPUS_GATEWAY_RATE_LIMIT_PING_URL",
        description="pings a minute to one ping URL, all its forms (/start, /fail, ...) together (0: no limit)",
    )  # fmt: skip
    rate_limit_ping_url_burst: int = Field(
        default=60, ge=1, validation_alias="CRONTOPUS_GATEWAY_RATE_LIMIT_PING_URL_BURST"
    )
    cors_origins: list[str] = Field(
        default_factory=list, validation_alias="CRONTOPUS_GATEWAY_CORS_ORIGINS",
        description="JSON list of origins (https://app.example.com) whose pages may call the API from a browser; "
        "empty (the default): none, CORS is off",
    )  # fmt: skip
    events_keepalive: float = Field(
        default=15.0, gt=0, le=300, validation_alias="CRONTOPUS_GATEWAY_EVENTS_KEEPALIVE",
        description="seconds between keep-alive comments on GET /api/events (the credential is checked again at each)",
    )  # fmt: skip
    events_max_streams: int = Field(
        default=100, ge=1, validation_alias="CRONTOPUS_GATEWAY_EVENTS_MAX_STREAMS",
        description="live event streams one team may hold open on one gateway process (each holds four "
        "JetStream consumers); more are refused with 429",
    )  # fmt: skip
    web_dir: Path | None = Field(
        default=None, validation_alias="CRONTOPUS_WEB_DIR",
        description="the built web console the gateway serves at /; default: web/dist of the checkout it runs from",
    )  # fmt: skip
    workers: int | None = Field(
        default=None, ge=1, le=64, validation_alias="CRONTOPUS_WORKERS",
        description="gateway processes serving the HTTP port: this one and N - 1 more, a core each; they share the "
        "rate limits' counters. Default: `run all` one per core up to 2, `run gateway` 1",
    )  # fmt: skip
    local_agent: Literal["builtin", "crontab", "off"] | None = Field(
        default=None, validation_alias="CRONTOPUS_LOCAL_AGENT",
        description="`crontopus-server run all` starts an agent enrolled into the first team; default: builtin "
        "on the embedded default, off otherwise",
    )  # fmt: skip

    @field_validator("cors_origins")
    @classmethod
    def _origins_only(cls, origins: list[str]) -> list[str]:
        """An origin is scheme://host[:port]: a path or a wildcard would never match, or match too much."""
        cleaned = [origin.rstrip("/") for origin in origins]
        wrong = [origin for origin in cleaned if not ORIGIN.fullmatch(origin)]
        if wrong:
            raise ValueError(f"not an origin (scheme://host[:port], no path, no wildcard): {', '.join(wrong)}")
        return cleaned
