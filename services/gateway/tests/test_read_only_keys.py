"""A read-only API key reads everything of its team but holds no credential that writes: ping
URLs (a forged ping raises or resolves incidents) and enrollment tokens stay out of its view."""

from __future__ import annotations

import pytest

from crontopus_server.testing import create_api_key, sign_up, wait_until

JOB = "staging/hello"
READABLE = ["/api/jobs", f"/api/jobs/{JOB}", "/api/runs", "/api/incidents", "/api/agents", "/api/gitops/repository",
            "/api/channels", "/api/silences", "/api/alert-rules"]  # fmt: skip


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


@pytest.fixture
def alice(api):
    return sign_up(api, "alice")


def ping_urls(api, headers) -> dict[str, str | None]:
    jobs = wait_until(lambda: api.get("/api/jobs", headers=headers).json()["jobs"])
    return {job["job"]: job["ping_url"] for job in jobs}


def test_a_read_only_key_gets_no_ping_urls_a_write_key_and_a_user_do(api, alice):
    reader = {"X-Api-Key": create_api_key(api, alice, "read")}
    writer = {"X-Api-Key": create_api_key(api, alice, "write")}
    users = ping_urls(api, alice.headers)
    assert users[JOB] and "/ping/" in users[JOB]
    assert ping_urls(api, writer) == users
    assert set(ping_urls(api, reader).values()) == {None}
    assert api.get(f"/api/jobs/{JOB}", headers=reader).json()["ping_url"] is None
    assert api.get(f"/api/jobs/{JOB}", headers=writer).json()["ping_url"] == users[JOB]


def test_nothing_a_read_only_key_can_read_holds_a_ping_key_or_an_enrollment_token(api, alice):
    url = ping_urls(api, alice.headers)[JOB]
    assert api.post(f"{url}/fail", content=b"it broke").status_code == 200  # a run and an incident
    wait_until(lambda: api.get("/api/incidents", headers=alice.headers).json()["incidents"])
    enrollment = api.post("/api/agents/enrollment-tokens", headers=alice.headers)
    assert enrollment.status_code == 201, enrollment.text
    secrets = {url.rsplit("/", 1)[1], enrollment.json()["token"]}
    reader = {"X-Api-Key": create_api_key(api, alice, "read")}
    runs = api.get("/api/runs", headers=reader).json()["runs"]
    incidents = api.get("/api/incidents", headers=reader).json()["incidents"]
    paths = [*READABLE, f"/api/runs/{runs[0]['run_id']}", f"/api/incidents/{incidents[0]['id']}"]
    for path in paths:
        response = api.get(path, headers=reader)
        assert response.status_code == 200, (path, response.text)
        assert not [secret for secret in secrets if secret in response.text], path
