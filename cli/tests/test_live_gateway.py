"""The CLI against a real gateway: nats-server + the all-in-one app, over real HTTP."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from crontopus_cli.config import load_config
from crontopus_cli.testing import crontopus
from crontopus_server.testing import Stack, join_team, link_in, outbox_mail, sign_up, wait_until

ALICE = {"username": "alice", "email": "alice@example.com", "password": "correct horse battery", "tenant": "acme"}


def test_a_new_user_signs_up_makes_a_key_and_sees_a_reported_run(stack: Stack, monkeypatch: Any) -> None:
    with stack.client() as http:
        crontopus("auth", "register", "--server", stack.url, "-u", "alice", "--email", ALICE["email"],
                  "--tenant", ALICE["tenant"], "-p", ALICE["password"])  # fmt: skip
        me = json.loads(crontopus("auth", "whoami", "--json").stdout)
        assert me["username"] == "alice"
        assert me["tenant"] == "acme"

        key = crontopus("api-keys", "create", "backup-host", "--scope", "write").stdout.strip().splitlines()[-1]
        assert key.startswith("ctp_")
        listed = json.loads(crontopus("api-keys", "list", "--json").stdout)["api_keys"]
        assert [k["name"] for k in listed] == ["backup-host"]
        with monkeypatch.context() as env:
            env.setenv("CRONTOPUS_API_KEY", key)
            described = crontopus("auth", "whoami").stdout
        assert "backup-host" in described and "write" in described and "acme" in described
        run_id = str(uuid.uuid4())
        for checkin in ({"status": "running"}, {"status": "success", "exit_code": 0}):
            response = http.post(
                "/api/checkins",
                headers={"X-Api-Key": key},
                json={"job": "production/backup", "run_id": run_id, **checkin},
            )
            assert response.status_code == 202, response.text

    def finished_runs() -> list[dict[str, Any]]:
        runs = json.loads(crontopus("runs", "list", "--json").stdout)["runs"]
        return runs if runs and runs[0]["status"] == "success" else []

    [run] = wait_until(finished_runs)
    assert run["run_id"] == run_id
    assert run["job"] == "production/backup"
    assert run["duration_ms"] is not None

    table = crontopus("runs", "list").stdout
    assert "production/backup" in table
    assert "success" in table
    shown = crontopus("runs", "show", run_id).stdout
    assert run_id in shown

    crontopus("api-keys", "revoke", listed[0]["id"])
    assert json.loads(crontopus("api-keys", "list", "--json").stdout)["api_keys"] == []


def test_logout_ends_the_session(stack: Stack) -> None:
    with stack.client() as http:
        assert http.post("/api/auth/register", json=ALICE).status_code == 201
    crontopus("auth", "login", "--server", stack.url, "-u", "alice", "-p", ALICE["password"])
    crontopus("auth", "logout")

    result = crontopus("auth", "whoami", expect=1)
    assert "not signed in" in result.stderr
    assert load_config().access_token is None


def test_the_cli_that_signed_in_before_still_signs_in_while_guessers_locked_the_account(stack: Stack) -> None:
    with stack.client() as http:
        assert http.post("/api/auth/register", json=ALICE).status_code == 201
        crontopus("auth", "login", "--server", stack.url, "-u", "alice", "-p", ALICE["password"])
        guesses = [http.post("/api/auth/login", data={"username": "alice", "password": "guess"}) for _ in range(6)]
    assert guesses[-1].status_code == 429  # 5 failures (the default) lock the account
    crontopus("auth", "logout")
    crontopus("auth", "login", "--server", stack.url, "-u", "alice@example.com", "-p", ALICE["password"])
    assert json.loads(crontopus("auth", "whoami", "--json").stdout)["username"] == "alice"


def test_a_person_in_two_teams_switches_between_them_and_an_owner_manages_members(stack: Stack) -> None:
    with stack.client() as http:
        alice = sign_up(http, "alice")
        bob = join_team(http, sign_up(http, "bob"), alice, "member")
    crontopus("auth", "login", "--server", stack.url, "-u", "bob", "-p", "correct horse battery")
    teams = json.loads(crontopus("teams", "list", "--json").stdout)
    assert {t["name"] for t in teams["teams"]} == {"alice-team", "bob-team"}
    assert [t["name"] for t in teams["teams"] if t["id"] == teams["current"]] == [bob.tenant], (
        "the last one switched to"
    )
    assert "Now acting for team bob-team as owner" in crontopus("teams", "use", "bob-team").stdout
    assert json.loads(crontopus("auth", "whoami", "--json").stdout)["tenant"] == "bob-team"
    crontopus("teams", "use", "alice-team")

    crontopus("auth", "login", "-u", "alice", "-p", "correct horse battery")
    assert "bob is now viewer" in crontopus("members", "set-role", "bob", "viewer").stdout
    listed = json.loads(crontopus("members", "list", "--json").stdout)["members"]
    assert {(m["username"], m["role"]) for m in listed} == {("alice", "owner"), ("bob", "viewer")}
    last = crontopus("members", "set-role", "alice", "admin", expect=1)
    assert "a team needs an owner" in last.stderr
    crontopus("members", "remove", "bob@example.com")
    assert "bob" not in crontopus("members", "list").stdout


def test_an_invitation_and_a_password_reset_through_the_cli_with_the_mails_of_the_outbox(stack: Stack) -> None:
    with stack.client() as http:
        sign_up(http, "alice")
    crontopus("auth", "login", "--server", stack.url, "-u", "alice", "-p", "correct horse battery")
    assert (
        "Invited bob@example.com as viewer"
        in crontopus("members", "invite", "bob@example.com", "--role", "viewer").stdout
    )
    _, token = link_in(outbox_mail(stack.data_dir, "bob@example.com", "invited you"))
    time.sleep(0.2)  # the stack shares this process: its log line about the mail comes before the JSON
    [pending] = json.loads(crontopus("members", "invitations", "--json").stdout)["invitations"]
    assert pending["email"] == "bob@example.com"
    crontopus("auth", "logout")
    joined = crontopus("auth", "accept-invitation", token, "-u", "bob", "-p", "violet kettle nineteen umbrellas")
    assert "Joined team alice-team as viewer" in joined.stdout
    outbox_mail(stack.data_dir, "bob@example.com", "Welcome")
    time.sleep(0.2)
    assert json.loads(crontopus("auth", "whoami", "--json").stdout)["username"] == "bob"

    crontopus("auth", "forgot-password", "bob@example.com")
    _, reset = link_in(outbox_mail(stack.data_dir, "bob@example.com", "Reset your"))
    crontopus("auth", "reset-password", reset, "-p", "amber walrus quietly juggles")
    crontopus("auth", "login", "-u", "bob", "-p", "amber walrus quietly juggles")
    assert json.loads(crontopus("auth", "whoami", "--json").stdout)["tenant"] == "alice-team"
