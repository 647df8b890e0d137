"""Browser-facing hardening on every response of the live stack: security headers (HSTS only when
served over https), and CORS off unless origins are listed."""

from __future__ import annotations

import pytest

from crontopus_gateway.console import CONSOLE_CSP
from crontopus_gateway.settings import GatewaySettings
from crontopus_server.testing import sign_up

EXPECTED = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
CONSOLE = "https://console.example.com"


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


@pytest.fixture
def stack_env(stack_env, request):
    return {**stack_env, "CRONTOPUS_GATEWAY_MAX_REQUEST_BYTES": 2048, **getattr(request, "param", {})}


def security_headers(response) -> dict[str, str]:
    return {name: response.headers.get(name) for name in EXPECTED}


def cors_headers(response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.startswith("access-control-")}


def every_kind_of_response(stack, api) -> dict[str, object]:
    """One response of each kind a browser could see, by what it is."""
    alice = sign_up(api, "alice")
    ping_url = api.get("/api/jobs", headers=alice.headers).json()["jobs"][0]["ping_url"]

    @stack.server.config.app.get("/boom-for-a-test")
    async def boom() -> None:
        raise RuntimeError("an unhandled error, as a bug would raise")

    with stack.client() as quiet:  # a client that does not raise on the 500
        crashed = quiet.get("/boom-for-a-test")
    return {
        "api": api.get("/api/jobs", headers=alice.headers),
        "401": api.get("/api/jobs"),
        "422": api.post("/api/checkins", json={}, headers=alice.headers),
        "413": api.post("/api/checkins", content=b"x" * 4096, headers=alice.headers),
        "404": api.get("/api/no/such/thing"),
        "health": api.get("/health"),
        "metrics": api.get("/metrics"),
        "docs": api.get("/docs"),
        "openapi": api.get("/openapi.json"),
        "ping": api.get(ping_url),
        "unknown ping": api.get("/ping/abcdefghijklmnopqrstuv"),
        "500": crashed,
    }


def test_every_response_carries_the_security_headers_and_no_hsts_over_http(stack, api):
    responses = every_kind_of_response(stack, api)
    assert responses["500"].status_code == 500 and responses["413"].status_code == 413
    missing = {kind: security_headers(r) for kind, r in responses.items() if security_headers(r) != EXPECTED}
    assert missing == {}
    console = {kind: api.get(path) for kind, path in (("console", "/"), ("client route", "/no/such/page"))}
    assert {kind: security_headers(r) for kind, r in console.items()} == dict.fromkeys(
        console, EXPECTED | {"content-security-policy": CONSOLE_CSP}
    )
    responses |= console
    assert [kind for kind, r in responses.items() if "strict-transport-security" in r.headers] == []
    assert "server" not in responses["health"].headers, "no server banner"


@pytest.mark.parametrize("stack_env", [{"CRONTOPUS_PUBLIC_URL": "https://crontopus.example.com"}], indirect=True)
def test_hsts_is_sent_when_the_public_url_is_https(api):
    for response in (api.get("/health"), api.get("/api/nowhere"), api.get("/api/jobs")):
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        assert security_headers(response) == EXPECTED
    console = api.get("/nowhere")
    assert console.headers["strict-transport-security"] == "max-age=31536000"
    assert security_headers(console) == EXPECTED | {"content-security-policy": CONSOLE_CSP}


def test_docs_still_load_swagger_ui_under_the_policy(api):
    page = api.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'", "no script-src to break its CDN"


# --- CORS ---------------------------------------------------------------------------------------


def preflight(api, origin: str, path: str = "/api/jobs"):
    headers = {"Origin": origin, "Access-Control-Request-Method": "GET",
               "Access-Control-Request-Headers": "authorization"}  # fmt: skip
    return api.options(path, headers=headers)


def test_cors_is_off_by_default(api):
    alice = sign_up(api, "alice")
    refused = preflight(api, CONSOLE)
    answered = api.get("/api/jobs", headers={**alice.headers, "Origin": CONSOLE})
    assert refused.status_code >= 400 and cors_headers(refused) == {}
    assert answered.status_code == 200 and cors_headers(answered) == {}


@pytest.mark.parametrize("stack_env", [{"CRONTOPUS_GATEWAY_CORS_ORIGINS": f'["{CONSOLE}/"]'}], indirect=True)
def test_listed_origins_may_call_the_api_and_no_other(api):
    alice = sign_up(api, "alice")
    allowed = preflight(api, CONSOLE)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == CONSOLE
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    other = preflight(api, "https://evil.example.com")
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    answered = api.get("/api/jobs", headers={**alice.headers, "Origin": CONSOLE})
    assert answered.headers["access-control-allow-origin"] == CONSOLE
    assert "Retry-After" in answered.headers["access-control-expose-headers"]
    too_large = api.post("/api/checkins", content=b"x" * 4096, headers={**alice.headers, "Origin": CONSOLE})
    assert (too_large.status_code, too_large.headers["access-control-allow-origin"]) == (413, CONSOLE)
    assert security_headers(allowed) == EXPECTED


@pytest.mark.parametrize("origin", ["*", "https://app.example.com/console", "app.example.com"])
def test_an_origin_setting_that_is_not_an_origin_is_refused_at_start(monkeypatch, origin):
    monkeypatch.setenv("CRONTOPUS_GATEWAY_CORS_ORIGINS", f'["{origin}"]')
    with pytest.raises(ValueError, match="not an origin"):
        GatewaySettings()
