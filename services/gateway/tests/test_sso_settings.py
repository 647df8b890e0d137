"""CRONTOPUS_SSO_PROVIDERS: presets, what each kind needs, and refusals at start."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from crontopus_gateway.settings import GatewaySettings
from crontopus_gateway.sso import SsoProvider


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # no database is used


def provider(**fields) -> SsoProvider:
    return SsoProvider(client_id="id", client_secret="secret", **fields)


def test_google_and_microsoft_are_presets_with_their_issuers_and_github_needs_none():
    assert provider(name="google").issuer_url == "https://accounts.google.com"
    assert provider(name="google").display_name == "Google"
    microsoft = provider(name="microsoft", tenant="9188040d-6c67-4c5b-b112-36a304b66dad")
    assert microsoft.issuer_url == "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    github = provider(name="github")
    github.check()
    assert (github.is_github, github.display_name, github.scope) == (True, "GitHub", "read:user user:email")
    assert provider(name="corp", issuer="https://idp.corp.example/").issuer_url == "https://idp.corp.example"


def test_settings_read_the_json_list_and_refuse_a_provider_that_cannot_work(settings_factory, monkeypatch):
    monkeypatch.setenv(
        "CRONTOPUS_SSO_PROVIDERS", json.dumps([{"name": "google", "client_id": "a", "client_secret": "b"}])
    )
    assert [p.name for p in settings_factory(GatewaySettings).sso_providers] == ["google"]
    for broken, why in (({"name": "corp"}, "needs an issuer URL"), ({"name": "microsoft"}, "needs tenant")):
        monkeypatch.setenv("CRONTOPUS_SSO_PROVIDERS", json.dumps([{**broken, "client_id": "a", "client_secret": "b"}]))
        with pytest.raises(ValidationError, match=why):
            settings_factory(GatewaySettings)
