"""Invitations, password resets and email verification end to end: the platform sends real mail
to a real SMTP server (aiosmtpd), and the tests follow the links in what it received."""

from __future__ import annotations

import pytest

from crontopus_server.testing import join_team, link_in, sign_up

PASSWORD = "correct horse battery"
NEW_PASSWORD = "violet kettle nineteen umbrellas"


@pytest.fixture
def stack_env(stack_env, smtp_inbox):
    smtp = f"smtp://127.0.0.1:{smtp_inbox.port}?starttls=false"  # a relay without TLS: the tests' own server
    return {**stack_env, "CRONTOPUS_SMTP_URL": smtp, "CRONTOPUS_PUBLIC_URL": "https://cron.example.com",
            "CRONTOPUS_MAIL_FROM": "Crontopus <cron@example.com>"}  # fmt: skip


def bearer(pair: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def test_an_invited_person_makes_an_account_from_the_mailed_link_and_joins_with_the_role(api, smtp_inbox):
    alice = sign_up(api, "alice")
    invited = api.post("/api/invitations", json={"email": "Bob@Example.com", "role": "member"}, headers=alice.headers)
    assert invited.status_code == 201, invited.text
    assert (invited.json()["email"], invited.json()["role"], invited.json()["invited_by"]) == (
        "bob@example.com", "member", "alice")  # fmt: skip
    assert [i["email"] for i in api.get("/api/invitations", headers=alice.headers).json()["invitations"]] == [
        "bob@example.com"]  # fmt: skip

    mail = smtp_inbox.mail_to("bob@example.com", "invited you")
    assert mail["From"] == "Crontopus <cron@example.com>"
    assert mail["Subject"] == "alice invited you to the team alice-team on Crontopus"
    path, token = link_in(mail)
    assert path == "/invitations/accept" and token

    joined = api.post("/api/invitations/accept", json={"token": token, "username": "bob", "password": NEW_PASSWORD})
    assert joined.status_code == 200, joined.text
    me = api.get("/api/auth/me", headers=bearer(joined.json())).json()
    assert (me["username"], me["email"], me["tenant"], me["role"], me["email_verified"]) == (
        "bob", "bob@example.com", "alice-team", "member", True)  # fmt: skip
    assert smtp_inbox.mail_to("bob@example.com", "Welcome")

    again = api.post("/api/invitations/accept", json={"token": token, "username": "bob2", "password": NEW_PASSWORD})
    assert again.status_code == 404 and "not valid any more" in again.json()["detail"]
    forged = api.post(
        "/api/invitations/accept", json={"token": token[:-2] + "00", "username": "xavier", "password": NEW_PASSWORD}
    )
    assert forged.status_code == 404
    assert api.get("/api/invitations", headers=alice.headers).json()["invitations"] == []
    members = api.get("/api/members", headers=alice.headers).json()["members"]
    assert {(m["username"], m["role"]) for m in members} == {("alice", "owner"), ("bob", "member")}


def test_an_existing_account_accepts_signed_in_and_no_other_account_can(api, smtp_inbox):
    alice, carol, dave = sign_up(api, "alice"), sign_up(api, "carol"), sign_up(api, "dave")
    assert api.post("/api/invitations", json={"email": "carol@example.com", "role": "viewer"},
                    headers=alice.headers).status_code == 201  # fmt: skip
    _, token = link_in(smtp_inbox.mail_to("carol@example.com", "invited you"))
    refused = api.post("/api/invitations/accept", json={"token": token}, headers=dave.headers)
    assert refused.status_code == 403 and "another email address" in refused.json()["detail"]
    taken = api.post("/api/invitations/accept", json={"token": token, "username": "carol2", "password": NEW_PASSWORD})
    assert taken.status_code == 409 and "sign in with it" in taken.json()["detail"]
    joined = api.post("/api/invitations/accept", json={"token": token}, headers=carol.headers)
    assert joined.status_code == 200, joined.text
    me = api.get("/api/auth/me", headers=bearer(joined.json())).json()
    assert (me["tenant"], me["role"]) == ("alice-team", "viewer")
    teams = api.get("/api/teams", headers=carol.headers).json()["teams"]
    assert {t["name"] for t in teams} == {"alice-team", "carol-team"}


def test_inviting_someone_already_in_is_a_conflict_and_inviting_again_replaces_the_first(api, smtp_inbox):
    alice = sign_up(api, "alice")
    assert api.post("/api/invitations", json={"email": "alice@example.com"}, headers=alice.headers).status_code == 409
    first = api.post("/api/invitations", json={"email": "erin@example.com", "role": "admin"}, headers=alice.headers)
    first_mail = smtp_inbox.mail_to("erin@example.com", "invited you")
    second = api.post("/api/invitations", json={"email": "erin@example.com", "role": "viewer"}, headers=alice.headers)
    pending = api.get("/api/invitations", headers=alice.headers).json()["invitations"]
    assert [(i["id"], i["role"]) for i in pending] == [(second.json()["id"], "viewer")]
    _, stale = link_in(first_mail)
    joined = api.post("/api/invitations/accept", json={"token": stale, "username": "erin", "password": NEW_PASSWORD})
    assert joined.status_code == 404, "the replaced invitation's link no longer works"
    assert api.delete(f"/api/invitations/{first.json()['id']}", headers=alice.headers).status_code == 404
    assert api.delete(f"/api/invitations/{second.json()['id']}", headers=alice.headers).status_code == 204
    assert api.get("/api/invitations", headers=alice.headers).json()["invitations"] == []
    admin = join_team(api, sign_up(api, "bob"), alice, "admin")
    owner = api.post("/api/invitations", json={"email": "frank@example.com", "role": "owner"}, headers=admin.headers)
    assert owner.status_code == 403 and "only an owner" in owner.json()["detail"]


def test_a_forgotten_password_is_reset_by_mail_and_every_session_ends(api, smtp_inbox):
    alice = sign_up(api, "alice")
    other_session = api.post("/api/auth/login", data={"username": "alice", "password": PASSWORD}).json()
    asked = api.post("/api/auth/password-reset", json={"email": "alice@example.com"})
    unknown = api.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    assert (asked.status_code, unknown.status_code) == (202, 202)
    assert asked.json() == unknown.json(), "the answer does not tell whether an account has the address"

    path, token = link_in(smtp_inbox.mail_to("alice@example.com", "Reset your"))
    assert path == "/reset-password"
    weak = api.post("/api/auth/password-reset/confirm", json={"token": token, "password": "password1234"})
    assert weak.status_code == 422, "judged as at sign-up; the link stays good"
    done = api.post("/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 204, done.text

    assert api.get("/api/auth/me", headers=alice.headers).status_code == 401, "access tokens end at once"
    for refresh_token in (alice.refresh_token, other_session["refresh_token"]):
        assert api.post("/api/auth/refresh", json={"refresh_token": refresh_token}).status_code == 401
    assert api.post("/api/auth/login", data={"username": "alice", "password": PASSWORD}).status_code == 401
    assert api.post("/api/auth/login", data={"username": "alice", "password": NEW_PASSWORD}).status_code == 200
    again = api.post("/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD + "!"})
    assert again.status_code == 404
    assert not [m for m in smtp_inbox.messages if m["To"] == "nobody@example.com"]


def test_sign_up_mails_a_link_that_confirms_the_address_then_a_welcome(api, smtp_inbox):
    alice = sign_up(api, "alice")
    assert api.get("/api/auth/me", headers=alice.headers).json()["email_verified"] is False
    path, token = link_in(smtp_inbox.mail_to("alice@example.com", "Confirm your email"))
    assert path == "/verify-email"
    assert api.post("/api/auth/verify-email", json={"token": token}).status_code == 204
    assert api.get("/api/auth/me", headers=alice.headers).json()["email_verified"] is True
    welcome = smtp_inbox.mail_to("alice@example.com", "Welcome")
    assert "alice-team" in welcome.get_body(preferencelist=("plain",)).get_content()
    assert api.post("/api/auth/verify-email", json={"token": token}).status_code == 404, "once"


def test_a_changed_email_is_unconfirmed_until_the_link_mailed_to_it_is_followed(api, smtp_inbox):
    alice, _ = sign_up(api, "alice"), sign_up(api, "bob")
    _, old_link = link_in(smtp_inbox.mail_to("alice@example.com", "Confirm your email"))
    wrong = api.patch(
        "/api/auth/me", json={"email": "ally@example.com", "password": "not it at all!"}, headers=alice.headers
    )
    assert wrong.status_code == 422 and "not your current password" in wrong.text
    taken = api.patch("/api/auth/me", json={"email": "bob@example.com", "password": PASSWORD}, headers=alice.headers)
    assert taken.status_code == 409
    moved = api.patch("/api/auth/me", json={"email": "Ally@Example.com", "password": PASSWORD}, headers=alice.headers)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["email"], moved.json()["email_verified"]) == ("ally@example.com", False)
    assert api.post("/api/auth/verify-email", json={"token": old_link}).status_code == 404, "sent to the old address"
    _, token = link_in(smtp_inbox.mail_to("ally@example.com", "Confirm your email"))
    assert api.post("/api/auth/verify-email", json={"token": token}).status_code == 204
    assert api.get("/api/auth/me", headers=alice.headers).json()["email_verified"] is True
