"""Two people in one team through the gateway: what each role may do, a change of role or a
removal applying at once to tokens already out, and the owner rules."""

from __future__ import annotations

from crontopus_server.testing import join_team, link_in, outbox_mail, sign_up

JOB = """apiVersion: crontopus.io/v1
kind: Job
metadata: {name: report, namespace: staging}
spec: {schedule: "0 6 * * *", command: "echo report"}
"""


def user_id(api, account) -> str:
    return api.get("/api/auth/me", headers=account.headers).json()["id"]


def refreshed(api, account):
    answer = api.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    return answer


def test_a_member_edits_jobs_but_configures_nothing_and_a_changed_role_applies_at_once(api):
    alice = sign_up(api, "alice")
    bob = join_team(api, sign_up(api, "bob"), alice, "member")
    assert api.get("/api/auth/me", headers=bob.headers).json()["role"] == "member"
    created = api.post("/api/jobs", json={"manifest": JOB}, headers=bob.headers)
    assert created.status_code == 201, created.text
    refused = api.post("/api/channels", json={"name": "ops", "url": "json://example.com"}, headers=bob.headers)
    assert (refused.status_code, refused.json()["detail"]) == (
        403, "your role in this team (member) cannot do this; it needs admin or higher")  # fmt: skip

    demoted = api.patch(f"/api/members/{user_id(api, bob)}", json={"role": "viewer"}, headers=alice.headers)
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer", demoted.text
    stale = api.get("/api/jobs", headers=bob.headers)
    assert stale.status_code == 401 and "role in this team changed" in stale.json()["detail"]
    pair = refreshed(api, bob)
    assert pair.status_code == 200, pair.text
    viewer = {"Authorization": f"Bearer {pair.json()['access_token']}"}
    assert api.get("/api/jobs/staging/report", headers=viewer).json()["ping_url"] is None  # a write credential
    assert api.delete("/api/jobs/staging/report", headers=viewer).status_code == 403
    members = api.get("/api/members", headers=viewer).json()["members"]
    assert {(m["username"], m["role"]) for m in members} == {("alice", "owner"), ("bob", "viewer")}


def test_a_removed_member_is_out_at_once_and_keeps_their_own_team(api):
    alice = sign_up(api, "alice")
    bob_alone = sign_up(api, "bob")
    bob = join_team(api, bob_alone, alice, "admin")
    teams = api.get("/api/teams", headers=bob.headers).json()["teams"]
    assert {(t["name"], t["role"]) for t in teams} == {("alice-team", "admin"), ("bob-team", "owner")}

    assert api.delete(f"/api/members/{user_id(api, bob)}", headers=alice.headers).status_code == 204
    assert api.get("/api/jobs", headers=bob.headers).status_code == 401
    gone = refreshed(api, bob)
    assert gone.status_code == 401 and "no longer a member" in gone.json()["detail"]
    teams = api.get("/api/teams", headers=bob_alone.headers).json()["teams"]
    assert [t["name"] for t in teams] == ["bob-team"]
    other = api.post("/api/auth/switch-team", json={"team_id": teams[0]["id"]}, headers=alice.headers)
    assert other.status_code == 403


def test_the_owner_rules_hold_over_http(api):
    alice = sign_up(api, "alice")
    bob = join_team(api, sign_up(api, "bob"), alice, "admin")
    carol = join_team(api, sign_up(api, "carol"), alice, "viewer")
    alice_id, carol_id = user_id(api, alice), user_id(api, carol)
    assert api.patch(f"/api/members/{carol_id}", json={"role": "owner"}, headers=bob.headers).status_code == 403
    assert api.delete(f"/api/members/{alice_id}", headers=bob.headers).status_code == 403
    last = api.patch(f"/api/members/{alice_id}", json={"role": "admin"}, headers=alice.headers)
    assert (last.status_code, last.json()["detail"]) == (409, "a team needs an owner: make someone else an owner first")
    assert api.delete(f"/api/members/{alice_id}", headers=alice.headers).status_code == 409
    assert api.patch(f"/api/members/{carol_id}", json={"role": "admin"}, headers=carol.headers).status_code == 403
    assert api.delete(f"/api/members/{carol_id}", headers=carol.headers).status_code == 204  # a viewer may leave
    assert api.patch(f"/api/members/{carol_id}", json={"role": "member"}, headers=alice.headers).status_code == 404


def test_without_smtp_an_invitation_lands_in_the_outbox_and_its_link_works(api, stack):
    """The embedded default (no CRONTOPUS_SMTP_URL): a newcomer on one machine still gets in."""
    alice = sign_up(api, "alice")
    assert api.post("/api/invitations", json={"email": "bob@example.com"}, headers=alice.headers).status_code == 201
    mail = outbox_mail(stack.data_dir, "bob@example.com", "invited you")
    files = list((stack.data_dir / "outbox").glob("*.eml"))
    assert files and all(oct(path.stat().st_mode & 0o777) == "0o600" for path in files)
    path, token = link_in(mail)
    assert path == "/invitations/accept"
    joined = api.post(
        "/api/invitations/accept", json={"token": token, "username": "bob", "password": "violet kettle nineteen"}
    )
    assert joined.status_code == 200, joined.text
