"""The audit log end to end: changes through the API by people and keys, sign-ins and failed
ones, who sees it (owners and admins), filters and paging; and every changing endpoint is either
audited or says why not."""

from __future__ import annotations

import json

import pytest

from crontopus_cli.testing import crontopus
from crontopus_gateway.audit import AUDITED, NOT_AUDITED
from crontopus_gateway.permissions import RULES
from crontopus_server.testing import create_api_key, join_team, sign_up, wait_until

JOB = """apiVersion: crontopus.io/v1
kind: Job
metadata: {name: report, namespace: staging}
spec: {schedule: "0 6 * * *", command: "echo report"}
"""


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


def test_every_changing_endpoint_is_audited_or_says_why_not():
    changing = {(method, path) for method, path in RULES if method != "GET"}
    assert sorted(changing - set(AUDITED) - set(NOT_AUDITED)) == [], "add them to crontopus_gateway.audit"
    assert not set(AUDITED) & set(NOT_AUDITED)


def entries(api, account, **params) -> list[dict]:
    answer = api.get("/api/audit", params=params, headers=account.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def test_who_did_what_from_where_is_recorded_and_shown_to_owners_and_admins_only(api):
    alice = sign_up(api, "alice")
    bob = join_team(api, sign_up(api, "bob"), alice, "member")
    created = api.post("/api/jobs", json={"manifest": JOB}, headers=bob.headers)
    assert created.status_code == 201
    key = create_api_key(api, alice, "write")
    assert api.post("/api/silences", json={"duration": "1h"}, headers={"X-Api-Key": key}).status_code == 201
    assert api.post("/api/auth/login", data={"username": "bob", "password": "wrong password!"}).status_code == 401
    bob_id = api.get("/api/auth/me", headers=bob.headers).json()["id"]
    assert api.patch(f"/api/members/{bob_id}", json={"role": "viewer"}, headers=alice.headers).status_code == 200

    wanted = {"job.create", "api-key.create", "silence.create", "member.role"}
    log = wait_until(lambda: (found := entries(api, alice)) and wanted <= {e["action"] for e in found} and found)
    by_action = {entry["action"]: entry for entry in log}
    job = by_action["job.create"]
    assert (job["actor"], job["actor_type"], job["target"], job["outcome"]) == (
        "bob",
        "user",
        "staging/report",
        "success",
    )
    assert job["details"]["commit"] == created.json()["commit"]
    assert job["source"] == "127.0.0.1" and job["correlation_id"]
    silence = by_action["silence.create"]
    assert (silence["actor"], silence["actor_type"]) == ("write key", "api_key")
    assert by_action["member.role"]["details"] == {"username": "bob", "role": "viewer"}
    assert by_action["member.role"]["target"] == bob_id
    failed = wait_until(lambda: [e for e in entries(api, alice, action="auth.sign-in") if e["outcome"] == "failure"])
    assert failed[0]["target"] == "bob"
    assert {e["action"] for e in entries(api, alice, actor="bob")} >= {"job.create"}
    assert {e["action"] for e in entries(api, alice, action="job.")} == {"job.create"}
    assert [e["action"] for e in entries(api, alice, target="staging/report")] == ["job.create"]

    viewer = api.post("/api/auth/refresh", json={"refresh_token": bob.refresh_token}).json()
    refused = api.get("/api/audit", headers={"Authorization": f"Bearer {viewer['access_token']}"})
    assert refused.status_code == 403


def test_pages_follow_the_cursor_newest_first_without_gaps_or_repeats(api):
    alice = sign_up(api, "alice")
    for number in range(5):
        api.post("/api/channels", json={"name": f"ops-{number}", "url": "json://example.com"}, headers=alice.headers)
    wait_until(lambda: len(entries(api, alice, action="channel.create")) == 5)
    seen, cursor = [], None
    while True:
        params = {"action": "channel.create", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/audit", params=params, headers=alice.headers).json()
        seen += [entry["details"]["name"] for entry in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"ops-{number}" for number in reversed(range(5))]
    assert api.get("/api/audit", params={"cursor": "bm9wZQ"}, headers=alice.headers).status_code == 422


def test_the_cli_lists_the_audit_log(api, stack):
    sign_up(api, "alice")
    crontopus("auth", "login", "--server", stack.url, "-u", "alice", "-p", "correct horse battery")
    wait_until(lambda: json.loads(crontopus("audit", "list", "--json", "--action", "auth.").stdout)["entries"])
    table = crontopus("audit", "list").stdout
    assert "auth.sign-in" in table and "team.create" in table


def test_an_agents_enrollment_and_revocation_are_recorded(api):
    alice = sign_up(api, "alice")
    token = api.post("/api/agents/enrollment-tokens", headers=alice.headers).json()["token"]
    agent = api.post("/api/agents/enroll", json={"token": token, "name": "web-1"}).json()
    assert api.delete(f"/api/agents/{agent['agent_id']}", headers=alice.headers).status_code == 200
    log = wait_until(lambda: (found := entries(api, alice, action="agent.")) and len(found) == 3 and found)
    by_action = {entry["action"]: entry for entry in log}
    enrolled = by_action["agent.enroll"]
    assert (enrolled["actor_type"], enrolled["actor"], enrolled["target"]) == ("agent", "web-1", agent["agent_id"])
    assert (by_action["agent.revoke"]["actor"], by_action["agent.revoke"]["target"]) == ("alice", agent["agent_id"])
    assert by_action["agent.enrollment-token.create"]["actor"] == "alice"
