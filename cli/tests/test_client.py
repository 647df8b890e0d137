from __future__ import annotations

import re
import socket
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from crontopus_cli.client import SESSION_EXPIRED, ApiClient
from crontopus_cli.config import Config, load_config, save_config
from crontopus_cli.errors import CliError
from crontopus_cli.main import app


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def signed_in(gateway: Any, access: str = "old-access", refresh: str = "old-refresh") -> Config:
    config = Config(server=gateway.url, access_token=access, refresh_token=refresh)
    save_config(config)
    return config


def expiring_gateway(gateway: Any, *, refresh_status: int = 200) -> None:
    """/api/runs accepts only the new access token; /api/auth/refresh hands it out."""

    def runs(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") == "Bearer new-access":
            return httpx.Response(200, json={"runs": [], "next_cursor": None})
        return httpx.Response(401, json={"detail": "token expired"})

    gateway.routes["GET /api/runs"] = runs
    pair = {"access_token": "new-access", "refresh_token": "new-refresh", "token_type": "bearer", "expires_in": 900}
    gateway.on("POST", "/api/auth/refresh", refresh_status, pair if refresh_status == 200 else {"detail": "no"})


def test_it_refreshes_an_expired_session_once_and_retries(gateway: Any) -> None:
    expiring_gateway(gateway)
    client = ApiClient(server=gateway.url, config=signed_in(gateway), transport=gateway.transport)

    assert client.get("/api/runs") == {"runs": [], "next_cursor": None}
    [refresh] = gateway.sent("POST", "/api/auth/refresh")
    assert gateway.json_body(refresh) == {"refresh_token": "old-refresh"}
    assert len(gateway.sent("GET", "/api/runs")) == 2


def test_it_stores_the_refreshed_tokens(gateway: Any) -> None:
    expiring_gateway(gateway)
    ApiClient(server=gateway.url, config=signed_in(gateway), transport=gateway.transport).get("/api/runs")
    assert load_config() == Config(server=gateway.url, access_token="new-access", refresh_token="new-refresh")


def test_a_rejected_refresh_says_the_session_expired(gateway: Any) -> None:
    expiring_gateway(gateway, refresh_status=401)
    client = ApiClient(server=gateway.url, config=signed_in(gateway), transport=gateway.transport)
    with pytest.raises(CliError, match="your session expired: run `crontopus auth login`"):
        client.get("/api/runs")
    assert len(gateway.sent("POST", "/api/auth/refresh")) == 1


def test_an_expired_session_exits_non_zero_with_a_clear_message(cli: Any, gateway: Any) -> None:
    expiring_gateway(gateway, refresh_status=401)
    signed_in(gateway)
    result = cli("runs", "list")
    assert result.exit_code == 1
    assert SESSION_EXPIRED in result.stderr
    assert "Traceback" not in result.output


def test_without_a_refresh_token_a_401_says_the_session_expired(gateway: Any) -> None:
    expiring_gateway(gateway)
    client = ApiClient(server=gateway.url, config=signed_in(gateway, refresh=""), transport=gateway.transport)
    with pytest.raises(CliError, match="your session expired"):
        client.get("/api/runs")
    assert gateway.sent("POST", "/api/auth/refresh") == []


def test_not_signed_in_tells_how_to_sign_in(gateway: Any) -> None:
    expiring_gateway(gateway)
    client = ApiClient(server=gateway.url, config=Config(), transport=gateway.transport)
    with pytest.raises(CliError, match=re.escape("not signed in to http://gateway.test: run `crontopus auth login")):
        client.get("/api/runs")


def test_an_api_key_is_sent_as_x_api_key_instead_of_the_session(gateway: Any) -> None:
    gateway.on("GET", "/api/runs", json={"runs": [], "next_cursor": None})
    client = ApiClient(server=gateway.url, config=signed_in(gateway), api_key="ck_123", transport=gateway.transport)
    client.get("/api/runs")
    [request] = gateway.requests
    assert request.headers["X-Api-Key"] == "ck_123"
    assert "Authorization" not in request.headers


def test_a_rejected_api_key_is_not_refreshed(gateway: Any) -> None:
    expiring_gateway(gateway)
    client = ApiClient(server=gateway.url, config=signed_in(gateway), api_key="bad", transport=gateway.transport)
    with pytest.raises(CliError, match="rejected the API key in CRONTOPUS_API_KEY: token expired"):
        client.get("/api/runs")
    assert gateway.sent("POST", "/api/auth/refresh") == []


def test_tokens_are_never_sent_to_another_server(gateway: Any) -> None:
    gateway.on("GET", "/api/runs", json={"runs": [], "next_cursor": None})
    config = Config(server="http://elsewhere.test", access_token="secret", refresh_token="r")
    ApiClient(server=gateway.url, config=config, transport=gateway.transport).get("/api/runs")
    assert "Authorization" not in gateway.requests[0].headers


def test_a_server_that_is_down_gets_a_hint_to_start_it() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = CliRunner().invoke(app, ["--server", url, "runs", "list"])
    assert result.exit_code == 1
    assert f"cannot reach the Crontopus server at {url} (" in result.stderr
    assert "is it running? (`make run`)" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_a_server_that_is_down_with_json_prints_nothing_on_stdout() -> None:
    result = CliRunner().invoke(app, ["runs", "list", "--json", "--server", f"http://127.0.0.1:{closed_port()}"])
    assert result.exit_code == 1
    assert result.stdout == ""


def test_a_server_url_without_a_scheme_is_refused_clearly() -> None:
    result = CliRunner().invoke(app, ["--server", "localhost:8080", "runs", "list"])
    assert result.exit_code == 1
    assert "must start with http:// or https://" in result.stderr


def test_the_server_comes_from_the_flag_then_env_then_config(cli: Any, gateway: Any, monkeypatch: Any) -> None:
    from crontopus_cli.context import AppState

    save_config(Config(server="http://from-config.test"))
    assert AppState().server() == "http://from-config.test"
    monkeypatch.setenv("CRONTOPUS_SERVER", "http://from-env.test/")
    assert AppState().server() == "http://from-env.test"
    assert AppState(server_flag="http://from-flag.test").server() == "http://from-flag.test"
    monkeypatch.delenv("CRONTOPUS_SERVER")
    save_config(Config())
    assert AppState().server() == "http://127.0.0.1:8080"
