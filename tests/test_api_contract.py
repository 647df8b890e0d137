"""The API keeps its published contract: schemathesis runs docs/openapi.json, every operation with
every check, against a live stack with two teams, signed in as the first and using the second as
the peer that must never see the first team's objects. Any finding fails the test, so a new
endpoint that answers other than its own document says fails CI.

Deterministic: a fixed seed, one worker, no example database; bounded: a fixed number of examples
per operation (about 45 s on 2 cores busy with the rest of the suite)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from crontopus_server.testing import create_api_key, sign_up, wait_until

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "docs" / "openapi.json"
SEED = 20261206
EXAMPLES = 10
STREAM_SECONDS = 1.0
STREAM_EXAMPLES = 3  # each costs STREAM_SECONDS

# Each entry: an operation whose input is valid only for reasons JSON Schema cannot state, so a
# request the schema allows can still be refused with 422 (naming the field and what is wrong).
# For these alone 422 joins the statuses `positive_data_acceptance` accepts for schema-valid data;
# every other check, and every other status, still applies to them.
SEMANTIC_422 = {
    "POST /api/jobs": "the manifest is YAML validated as a push is (schedule, time zone, fields)",
    "PUT /api/jobs/{namespace}/{name}": "the manifest as for POST; base_commit is needed in the body or the query",
    "DELETE /api/jobs/{namespace}/{name}": "base_commit is needed in the body or the query (one of the two)",
    "POST /api/channels": "url must be an Apprise URL of a supported service on a public address",
    "PUT /api/gitops/repository": "url must be a Git host on a public address that can be fetched",
    "GET /api/schedule/preview": "schedule is a cron expression and timezone an IANA zone",
    "GET /api/runs/stats": "until after since, a window of at most 31 (hour) or 92 (day) days, an IANA timezone",
    "POST /api/silences": "ends_at after starts_at, one of ends_at and duration, at most 90 days",
    "GET /api/events": "Last-Event-ID must be an id this server sent",
    "POST /api/auth/register": "the password must not be easy to guess (zxcvbn, in the identity service)",
    "PATCH /api/auth/me": "password must be the account's current one; email as below",
    "POST /api/invitations": "email must be an address mail can reach (no reserved domain such as .test)",
    "POST /api/auth/password-reset": "email as for invitations",
}
POSITIVE_STATUSES = ["2XX", "3XX", 401, 403, 404, 409, 429, "5XX"]  # schemathesis' default


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # naive datetimes come from SQLite: the backend where a time without offset would show


def config(wfc: Path) -> str:
    lines = [
        f"seed = {SEED}",
        "workers = 1",
        "[generation]",
        f"max-examples = {EXAMPLES}",
        'database = "none"',
        "[checks]",
        "enabled = true",
        "[auth.wfc]",
        f'path = "{wfc}"',
        'user = "alice"',
        'peers = ["alice", "bob"]',
    ]
    # The event stream stays open: read it for a second (an idle stream would be read until the
    # request timeout; only comments arrive in that time, and its errors come before the stream).
    lines += ["[[operations]]", 'include-name = "GET /api/events"', f"request-timeout = {STREAM_SECONDS}",
              f"generation.max-examples = {STREAM_EXAMPLES}"]  # fmt: skip
    for name, why in SEMANTIC_422.items():
        lines += [
            "[[operations]]",
            f"# {why}",
            f'include-name = "{name}"',
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps([*POSITIVE_STATUSES, 422])}",
        ]
    return "\n".join(lines) + "\n"


def seed_team(api, account) -> None:
    """Objects for the run to read back: a finished run, a channel, a silence, an enrollment token."""
    key = {"X-Api-Key": create_api_key(api, account)}
    run_id = str(uuid.uuid4())
    for status in ("running", "success"):
        body = {"job": "staging/hello", "run_id": run_id, "status": status, "exit_code": 0}
        assert api.post("/api/checkins", headers=key, json=body).status_code == 202
    wait_until(lambda: api.get(f"/api/runs/{run_id}", headers=key).status_code == 200)
    channel = {"name": f"{account.username} hook", "url": "json://hooks.example.com/crontopus"}
    assert api.post("/api/channels", headers=key, json=channel).status_code == 201
    assert api.post("/api/silences", headers=key, json={"duration": "1h", "reason": "deploy"}).status_code == 201
    assert api.post("/api/agents/enrollment-tokens", headers=key, json={}).status_code == 201


@pytest.mark.slow
@pytest.mark.timeout(600)  # ~80 s alone; over 300 s with the rest of the suite on 2 cores
def test_every_operation_answers_as_the_openapi_document_says(stack, api, tmp_path):
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    for account in (alice, bob):
        seed_team(api, account)
    wfc = tmp_path / "auth.json"
    users = [
        {
            "name": account.username,
            "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {account.access_token}"}],
        }
        for account in (alice, bob)
    ]
    wfc.write_text(json.dumps({"auth": users}))
    settings = tmp_path / "schemathesis.toml"
    settings.write_text(config(wfc))
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(settings), "--no-color", "run",
               str(OPENAPI), "--url", stack.url, "--report-dir", str(tmp_path / "report")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=480, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-30_000:] + result.stderr[-5_000:]


# Times the API documents in another zone than UTC (docs/api.md): fire times in the job's zone,
# a commit's in its author's.
LOCAL_TIMES = {"next_run", "at", "committed_at"}
DATE_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})?$")


def times_in(value, key=""):
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in times_in(v, k)]
    if isinstance(value, list):
        return [found for item in value for found in times_in(item, key)]
    return [(key, value)] if isinstance(value, str) and DATE_TIME.match(value) and key not in LOCAL_TIMES else []


def test_every_time_the_api_answers_is_utc_with_its_offset_on_sqlite(api):
    alice = sign_up(api, "alice")
    seed_team(api, alice)
    run_id = api.get("/api/runs", headers=alice.headers).json()["runs"][0]["run_id"]
    paths = ["/api/gitops/repository", "/api/runs", f"/api/runs/{run_id}", "/api/channels", "/api/silences",
             "/api/api-keys", "/api/auth/me", "/api/jobs", "/api/jobs/staging/hello"]  # fmt: skip
    times = {path: times_in(api.get(path, headers=alice.headers).json()) for path in paths}
    assert all(times[path] for path in paths if "/api/jobs" not in path), times  # answers with times to look at
    naive_or_not_utc = {path: found for path, found in times.items() if any(not t.endswith("Z") for _, t in found)}
    assert naive_or_not_utc == {}


def test_a_method_a_path_does_not_have_is_405_listing_every_method_it_has(api):
    options = api.request("OPTIONS", "/api/alert-rules")
    assert (options.status_code, options.headers["allow"]) == (405, "GET, PUT")
    refused = api.patch("/ping/abcdefghijklmnopqrstuv/start")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD, POST")


def test_a_refusal_by_a_service_is_fastapis_list_naming_the_field(api):
    alice = sign_up(api, "alice")
    window = {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
    refused = api.get("/api/runs/stats", params=window, headers=alice.headers)
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": [{"type": "value_error", "loc": ["query", "until"], "msg": "must be later than since"}]
    }
    unnamed = api.post("/api/silences", json={}, headers=alice.headers)
    assert unnamed.json()["detail"][0]["loc"] == ["body"]
    assert unnamed.json()["detail"][0]["msg"] == "give either ends_at or duration: a silence always expires"
