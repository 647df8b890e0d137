"""`crontopus agents ...` against a real gateway: an enrollment token, an agent enrolled with it,
listed, shown and revoked."""

from __future__ import annotations

import json

from crontopus_cli.testing import crontopus
from crontopus_server.testing import Stack


def test_a_user_enrolls_an_agent_with_a_token_then_lists_shows_and_revokes_it(stack: Stack) -> None:
    crontopus("auth", "register", "--server", stack.url, "-u", "alice", "--email", "a@example.com",
              "--tenant", "acme", "-p", "correct horse battery")  # fmt: skip
    token = json.loads(crontopus("agents", "enrollment-token", "--uses", "2", "--json").stdout)
    assert token["max_uses"] == 2 and token["token"].startswith("ctpe_")
    with stack.client() as http:
        enrolled = http.post(
            "/api/agents/enroll", json={"token": token["token"], "name": "db-1", "labels": {"role": "db"}}
        )
    assert enrolled.status_code == 201, enrolled.text
    agent_id = enrolled.json()["agent_id"]

    listed = json.loads(crontopus("agents", "list", "--json").stdout)["agents"]
    assert [(a["id"], a["name"], a["status"]) for a in listed] == [(agent_id, "db-1", "offline")]
    table = crontopus("agents", "list").stdout
    assert "db-1" in table and "offline" in table
    shown = crontopus("agents", "show", agent_id).stdout
    assert "role=db" in shown and agent_id in shown
    assert "No agent has installed staging/hello" in crontopus("agents", "list", "--job", "staging/hello").stdout

    assert "Revoked agent db-1" in crontopus("agents", "revoke", agent_id).stdout
    assert json.loads(crontopus("agents", "show", agent_id, "--json").stdout)["status"] == "revoked"


def test_showing_an_unknown_agent_says_so(stack: Stack) -> None:
    crontopus("auth", "register", "--server", stack.url, "-u", "bob", "--email", "b@example.com",
              "--tenant", "bobs", "-p", "correct horse battery")  # fmt: skip
    result = crontopus("agents", "show", "0" * 32, expect=1)
    assert "no agent" in result.stderr
