from __future__ import annotations

import json
from typing import Any

from crontopus_cli.config import Config, load_config, save_config

PAIR = {"access_token": "acc", "token_type": "bearer", "refresh_token": "ref", "expires_in": 900}
ME = {
    "id": "u-1",
    "username": "alice",
    "email": "alice@example.com",
    "tenant_id": "t-1",
    "tenant": "acme",
    "role": "admin",
    "created_at": "2024-05-01T12:00:00+00:00",
}


def test_login_posts_the_password_form_and_stores_the_tokens(cli: Any, gateway: Any) -> None:
    gateway.on("POST", "/api/auth/login", json=PAIR)
    result = cli("auth", "login", "--username", "alice", "--password", "s3cret")

    assert result.exit_code == 0, result.output
    assert f"Logged in to {gateway.url} as alice" in result.stdout
    [request] = gateway.requests
    assert gateway.form_body(request) == {"grant_type": "password", "username": "alice", "password": "s3cret"}
    assert load_config() == Config(server=gateway.url, access_token="acc", refresh_token="ref")


def test_login_prompts_for_what_is_missing_and_hides_the_password(cli: Any, gateway: Any) -> None:
    gateway.on("POST", "/api/auth/login", json=PAIR)
    result = cli("auth", "login", input="alice\ns3cret\n")

    assert result.exit_code == 0, result.output
    assert gateway.form_body(gateway.requests[0])["password"] == "s3cret"
    assert "s3cret" not in result.output


def test_a_script_that_gives_no_answer_is_told_which_option_to_pass(cli: Any, gateway: Any) -> None:
    login = cli("auth", "login", input="")  # stdin ends: nobody to ask
    register = cli("auth", "register", "-u", "alice", input="")

    assert (login.exit_code, register.exit_code) == (1, 1)
    assert "error: no username given: pass --username" in login.stderr
    assert "error: no email given: pass --email" in register.stderr
    assert gateway.requests == []


def test_login_with_a_wrong_password_shows_the_servers_reason(cli: Any, gateway: Any) -> None:
    gateway.on("POST", "/api/auth/login", 401, {"detail": "incorrect username or password"})
    result = cli("auth", "login", "-u", "alice", "-p", "nope")

    assert result.exit_code == 1
    assert "error: incorrect username or password" in result.stderr
    assert load_config() == Config()


def test_login_remembers_the_server_given_on_the_command(cli: Any, gateway: Any) -> None:
    gateway.on("POST", "/api/auth/login", json=PAIR)
    result = cli("auth", "login", "--server", "http://other.test/", "-u", "a", "-p", "b")

    assert result.exit_code == 0, result.output
    assert gateway.requests[0].url.host == "other.test"
    assert load_config().server == "http://other.test"


def test_logout_revokes_the_refresh_token_and_forgets_the_session(cli: Any, gateway: Any) -> None:
    gateway.on("POST", "/api/auth/logout", 204)
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))
    result = cli("auth", "logout")

    assert result.exit_code == 0, result.output
    [request] = gateway.requests
    assert gateway.json_body(request) == {"refresh_token": "ref"}
    assert load_config() == Config(server=gateway.url)


def test_logout_forgets_the_session_even_when_the_server_is_down(cli: Any, gateway: Any) -> None:
    save_config(Config(server="http://127.0.0.1:9", access_token="acc", refresh_token="ref"))
    from typer.testing import CliRunner

    from crontopus_cli.main import app

    result = CliRunner().invoke(app, ["auth", "logout"])

    assert result.exit_code == 0, result.output
    assert "cannot reach the Crontopus server" in result.stderr
    assert "deleted anyway" in result.stderr
    assert load_config().access_token is None
    assert load_config().refresh_token is None


def test_logout_when_not_logged_in_says_so(cli: Any) -> None:
    result = cli("auth", "logout")
    assert result.exit_code == 0
    assert "Not logged in" in result.stdout


def test_whoami_json_prints_the_servers_answer_and_nothing_else(cli: Any, gateway: Any) -> None:
    gateway.on("GET", "/api/auth/me", json=ME)
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))
    result = cli("auth", "whoami", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == ME
    assert gateway.requests[0].headers["Authorization"] == "Bearer acc"


def test_whoami_shows_user_tenant_and_role(cli: Any, gateway: Any) -> None:
    gateway.on("GET", "/api/auth/me", json=ME)
    save_config(Config(server=gateway.url, access_token="acc"))
    result = cli("auth", "whoami")

    assert result.exit_code == 0, result.output
    for text in ("alice", "alice@example.com", "acme", "admin", gateway.url):
        assert text in result.stdout


def test_whoami_with_an_api_key_from_the_environment_shows_that_key(cli: Any, gateway: Any) -> None:
    key = {"id": "k1", "name": "backup-host", "scope": "write", "prefix": "ctp_abcdefgh", "tenant": "acme",
           "tenant_id": "t1", "created_at": "2026-12-07T10:00:00Z", "created_by": "alice"}  # fmt: skip
    gateway.on("GET", "/api/api-keys/current", json=key)
    result = cli("auth", "whoami", env={"CRONTOPUS_API_KEY": "ck_1"})

    assert result.exit_code == 0, result.output
    assert gateway.requests[0].headers["X-Api-Key"] == "ck_1"
    for text in ("backup-host", "ctp_abcdefgh", "write", "acme", "alice"):
        assert text in result.stdout


def test_login_keeps_the_device_token_and_sends_it_back_as_the_cookie_next_time(cli: Any, gateway: Any) -> None:
    gateway.on("POST", "/api/auth/login", json=PAIR | {"device_token": "dev-1", "device_token_expires_in": 60})
    cli("auth", "login", "-u", "alice", "-p", "s3cret")
    assert load_config().device_token == "dev-1"
    assert "cookie" not in gateway.requests[0].headers  # nothing to send on the first sign-in

    cli("auth", "login", "-u", "alice", "-p", "s3cret")
    assert gateway.requests[1].headers["cookie"] == "crontopus_device=dev-1"


def test_logout_keeps_the_device_token(cli: Any, gateway: Any) -> None:
    gateway.on("POST", "/api/auth/logout", 204)
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref", device_token="dev-1"))
    assert cli("auth", "logout").exit_code == 0
    assert load_config() == Config(server=gateway.url, device_token="dev-1")


def test_the_device_token_is_not_sent_to_another_server(cli: Any, gateway: Any) -> None:
    gateway.on("POST", "/api/auth/login", json=PAIR)
    save_config(Config(server="http://elsewhere.test", device_token="dev-1"))
    assert cli("auth", "login", "-u", "alice", "-p", "s3cret").exit_code == 0
    assert "cookie" not in gateway.requests[0].headers
