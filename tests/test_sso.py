"""Single sign-on end to end against a real OpenID Connect provider served over HTTP by the test
(crontopus_server.oidc_test_provider): the code flow with PKCE, state and nonce, the ID token's
signature, replayed and tampered callbacks, and how accounts are linked or made."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from crontopus_server.oidc_test_provider import OidcTestProvider
from crontopus_server.testing import link_in, outbox_mail, sign_up

CONSOLE = {"X-Crontopus-Client": "console"}


@pytest.fixture
def provider():
    running = OidcTestProvider().start()
    yield running
    running.stop()


@pytest.fixture
def stack_env(stack_env, provider):
    providers = [provider.settings("test"), provider.github_settings()]
    return {**stack_env, "CRONTOPUS_SSO_PROVIDERS": json.dumps(providers)}


@pytest.fixture
def browser(stack, provider):
    provider.redirect_uris.add(f"{stack.url}/api/auth/sso/test/callback")
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        yield client


def start(browser) -> str:
    """Click "Sign in with Test IdP": the provider's answer is the callback URL to follow."""
    begun = browser.get("/api/auth/sso/test/login")
    assert begun.status_code == 303, begun.text
    at_provider = browser.get(begun.headers["location"])
    assert at_provider.status_code in (302, 307), at_provider.text
    return at_provider.headers["location"]


def finish(browser, callback: str) -> httpx.Response:
    return browser.get(callback)


def signed_in(browser) -> dict:
    session = browser.post("/api/auth/refresh", headers=CONSOLE)
    assert session.status_code == 200, session.text
    return browser.get("/api/auth/me", headers={"Authorization": f"Bearer {session.json()['access_token']}"}).json()


def refusal(answer: httpx.Response) -> str:
    """Why the sign-in page says it failed: a cookie for it, never words in the URL."""
    assert (answer.status_code, answer.headers["location"]) == (303, "/login"), answer.text
    return unquote(answer.cookies["crontopus_sso_error"])


def test_the_providers_are_listed_for_the_sign_in_page(browser):
    assert browser.get("/api/auth/sso").json() == {"providers": [
        {"name": "test", "title": "Test IdP", "login_url": "/api/auth/sso/test/login"},
        {"name": "github", "title": "GitHub", "login_url": "/api/auth/sso/github/login"},
    ]}  # fmt: skip


def test_a_new_person_signs_in_with_the_provider_and_gets_an_account_and_a_team(browser, provider):
    callback = start(browser)
    assert provider.challenge_methods == ["S256"], "PKCE with S256"
    done = finish(browser, callback)
    assert (done.status_code, done.headers["location"]) == (303, "/")
    assert done.cookies["crontopus_signed_in"] == "1", "the console's cue to pick the session up"
    me = signed_in(browser)
    assert (me["username"], me["email"], me["email_verified"], me["role"]) == ("ada", "ada@example.com", True, "owner")
    again = finish(browser, start(browser))
    assert again.headers["location"] == "/" and signed_in(browser)["id"] == me["id"], "the same account next time"


def test_a_replayed_callback_is_refused(browser):
    callback = start(browser)
    assert finish(browser, callback).headers["location"] == "/"
    assert "expired or was already used" in refusal(finish(browser, callback))


def test_a_tampered_state_or_a_callback_from_another_browser_is_refused(browser, stack):
    callback = start(browser)
    assert "state does not match" in refusal(finish(browser, callback.replace("state=", "state=x")))
    with httpx.Client(base_url=stack.url, timeout=10) as other_browser:  # no sign-in began there
        assert "expired or was already used" in refusal(other_browser.get(start(browser)))


def test_an_id_token_signed_with_another_key_or_for_another_nonce_is_refused(browser, provider):
    provider.sign_with_other_key = True
    assert "does not verify" in refusal(finish(browser, start(browser)))
    provider.sign_with_other_key, provider.nonce_override = False, "someone-elses-nonce"
    assert "does not verify" in refusal(finish(browser, start(browser)))
    assert browser.post("/api/auth/refresh", headers=CONSOLE).status_code == 401, "no session came of either"


def test_an_account_with_a_confirmed_email_is_linked_and_an_unconfirmed_one_is_not(api, browser, provider, stack):
    sign_up(api, "ada")  # ada@example.com, not confirmed yet
    assert "has not confirmed it" in refusal(finish(browser, start(browser)))
    _, token = link_in(outbox_mail(stack.data_dir, "ada@example.com", "Confirm your email"))
    assert api.post("/api/auth/verify-email", json={"token": token}).status_code == 204
    assert finish(browser, start(browser)).headers["location"] == "/"
    me = signed_in(browser)
    assert (me["username"], me["tenant"]) == ("ada", "ada-team")


def test_a_provider_that_confirms_no_email_makes_no_account(browser, provider):
    provider.user.email_verified = False
    assert "did not confirm an email" in refusal(finish(browser, start(browser)))


def test_a_team_that_requires_single_sign_on_refuses_its_members_passwords(api, browser, provider, stack):
    alice = sign_up(api, "alice")
    _, token = link_in(outbox_mail(stack.data_dir, "alice@example.com", "Confirm your email"))
    assert api.post("/api/auth/verify-email", json={"token": token}).status_code == 204
    refused = api.put("/api/team/sso", json={"required": True}, headers=alice.headers)
    assert refused.status_code == 403 and "sign in with single sign-on before" in refused.json()["detail"]

    provider.user.email = "alice@example.com"
    assert finish(browser, start(browser)).headers["location"] == "/"
    sso_session = browser.post("/api/auth/refresh", headers=CONSOLE).json()
    sso_headers = {"Authorization": f"Bearer {sso_session['access_token']}"}
    required = api.put("/api/team/sso", json={"required": True}, headers=sso_headers)
    assert required.status_code == 200 and required.json()["sso_required"] is True, required.text

    assert api.get("/api/jobs", headers=alice.headers).status_code == 401, "her password session ends at once"
    again = api.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert again.status_code == 401 and "requires single sign-on" in again.json()["detail"]
    password = api.post("/api/auth/login", data={"username": "alice", "password": "correct horse battery"})
    assert password.status_code == 403 and "requires single sign-on" in password.json()["detail"]
    assert finish(browser, start(browser)).headers["location"] == "/", "single sign-on still works"
    assert signed_in(browser)["tenant"] == "alice-team"


def test_github_signs_in_with_its_primary_verified_email(browser, provider, stack):
    """GitHub (here: the test server speaking GitHub Enterprise's OAuth2) has no ID token: the
    account and its primary verified email come from its API."""
    provider.redirect_uris.add(f"{stack.url}/api/auth/sso/github/callback")
    begun = browser.get("/api/auth/sso/github/login")
    assert urlsplit(begun.headers["location"]).path == "/login/oauth/authorize"
    done = finish(browser, browser.get(begun.headers["location"]).headers["location"])
    assert done.headers["location"] == "/", done.headers["location"]
    me = signed_in(browser)
    assert (me["username"], me["email"], me["email_verified"]) == ("ada", "ada@example.com", True)
