"""Check-ins and run history through the REST API of a live stack (real NATS, the all-in-one
app, SQLite and PostgreSQL)."""

import uuid

import pytest

from crontopus_schemas.events import MAX_STORED_OUTPUT_BYTES
from crontopus_server.testing import Stack, create_api_key, refusal, sign_up, wait_until

JOB = "production/backup"


@pytest.fixture
def alice(api):
    account = sign_up(api, "alice")
    return {"X-Api-Key": create_api_key(api, account)}


@pytest.fixture
def bob(api):
    account = sign_up(api, "bob")
    return {"X-Api-Key": create_api_key(api, account)}


def checkin(api, headers, run_id, status, **extra):
    return api.post("/api/checkins", headers=headers, json={"job": JOB, "run_id": run_id, "status": status, **extra})


def run_when(api, headers, run_id, status):
    def fetch():
        response = api.get(f"/api/runs/{run_id}", headers=headers)
        return response.json() if response.status_code == 200 and response.json()["status"] == status else None

    return wait_until(fetch)


def test_a_start_and_a_finish_become_one_run_with_its_duration(api, alice):
    run_id = str(uuid.uuid4())
    started = checkin(api, alice, run_id, "running", timestamp="2026-11-27T02:00:00Z")
    finished = checkin(api, alice, run_id, "success", exit_code=0, timestamp="2026-11-27T02:01:30Z", output="done\n")
    assert (started.status_code, finished.status_code) == (202, 202)
    run = run_when(api, alice, run_id, "success")
    assert (run["duration_ms"], run["exit_code"], run["output"], run["job"]) == (90_000, 0, "done\n", JOB)
    listed = api.get("/api/runs", headers=alice, params={"job": JOB}).json()
    assert [r["run_id"] for r in listed["runs"]] == [run_id]
    assert listed["next_cursor"] is None


def test_the_same_checkin_twice_is_one_run_and_reported_as_duplicate(api, alice):
    run_id = str(uuid.uuid4())
    first = checkin(api, alice, run_id, "failure", exit_code=3)
    again = checkin(api, alice, run_id, "failure", exit_code=3)
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    run_when(api, alice, run_id, "failure")
    assert len(api.get("/api/runs", headers=alice).json()["runs"]) == 1


def test_a_finish_before_its_start_still_merges(api, alice):
    run_id = str(uuid.uuid4())
    checkin(api, alice, run_id, "success", timestamp="2026-11-27T02:00:10Z")
    run_when(api, alice, run_id, "success")
    checkin(api, alice, run_id, "running", timestamp="2026-11-27T02:00:00Z")
    run = wait_until(lambda: (r := api.get(f"/api/runs/{run_id}", headers=alice).json())["duration_ms"] and r)
    assert (run["status"], run["duration_ms"]) == ("success", 10_000)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"job": "no-namespace", "run_id": "r1", "status": "running"}, "job"),
        ({"job": JOB, "run_id": "r1", "status": "exploded"}, "status"),
        ({"job": JOB, "status": "running"}, "run_id"),
        ({"job": JOB, "run_id": "has spaces", "status": "running"}, "run_id"),
        ({"job": JOB, "run_id": "r1", "status": "running", "timestamp": "2999-01-01T00:00:00Z"}, "future"),
        ({"job": JOB, "run_id": "r1", "status": "running", "timestamp": "2026-11-27T02:00:00"}, "time zone"),
    ],
)
def test_malformed_checkins_get_a_clear_4xx_and_store_nothing(api, alice, body, complaint):
    response = api.post("/api/checkins", headers=alice, json=body)
    assert complaint in refusal(response)
    assert api.get("/api/runs", headers=alice).json()["runs"] == []


VALID = b'{"job": "production/backup", "run_id": "r1", "status": "running"}'
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("content", "headers", "signed_in", "answer"),
    [
        # A body is read as FastAPI reads one, before the credential: invalid JSON is a 422 either way.
        (b'{"job": ', JSON, False, (422, "json_invalid", ["body", 8])),
        (VALID, {}, True, (422, "model_attributes_type", ["body"])),  # no content type: not JSON
        (VALID, {"Content-Type": "text/plain"}, True, (422, "model_attributes_type", ["body"])),
        (b"", JSON, True, (422, "missing", ["body"])),
        (b"[1]", JSON, True, (422, "model_attributes_type", ["body"])),
        (b"[" * 40 + b"]" * 40, JSON, True, (422, "value_error", ["body"])),
        (VALID, {"Content-Type": "application/vnd.team+json; charset=utf-8"}, True, (202, None, None)),
        (VALID, {**JSON, "Authorization": "Basic eDp5"}, False, (401, None, None)),
        (VALID, {**JSON, "X-Api-Key": "ctp_not-a-real-key"}, False, (401, None, None)),
    ],
)
def test_every_body_is_read_as_fastapi_reads_one(api, alice, content, headers, signed_in, answer):
    """POST /api/checkins is answered by a plain route in front of FastAPI's (routes/checkins.py);
    what it accepts and how it refuses are FastAPI's."""
    response = api.post("/api/checkins", content=content, headers={**headers, **(alice if signed_in else {})})
    status, error_type, loc = answer
    assert response.status_code == status, response.text
    if status == 422:
        assert [(e["type"], e["loc"]) for e in response.json()["detail"]] == [(error_type, loc)]
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_read_only_key_may_not_check_in_and_other_methods_are_405(api):
    account = sign_up(api, "carol")
    read_only = {"X-Api-Key": create_api_key(api, account, scope="read")}
    refused = api.post("/api/checkins", headers=read_only, json={"job": JOB, "run_id": "r", "status": "running"})
    assert (refused.status_code, refused.json()["detail"]) == (
        403, "this API key is read-only; create a key with scope 'write' to change anything"
    )  # fmt: skip
    assert api.get("/api/runs", headers=read_only).json()["runs"] == []
    other = api.get("/api/checkins", headers=read_only)
    assert (other.status_code, other.headers["Allow"]) == (405, "POST")


def test_an_oversized_checkin_is_refused_with_413_and_stores_nothing(api, alice):
    response = checkin(api, alice, "big", "success", output="x" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert api.get("/api/runs", headers=alice).json()["runs"] == []


def test_long_output_keeps_its_tail_and_notes_the_full_size(api, alice):
    output = "line\n" * 40_000 + "the end"
    checkin(api, alice, "long", "success", output=output)
    run = run_when(api, alice, "long", "success")
    assert run["output"].endswith("the end") and run["output_truncated"] is True
    assert len(run["output"].encode()) == MAX_STORED_OUTPUT_BYTES and run["output_size"] == len(output)


async def test_only_the_stored_tail_of_a_long_output_travels_on_the_checkin_stream(stack: Stack, api, alice):
    """The stream keeps each check-in for days: a team's megabytes there would be everyone's disk."""
    import nats

    nc = await nats.connect(stack.nats.url)
    messages = await nc.jetstream().subscribe("crontopus.checkins.v1.>", ordered_consumer=True)
    output = "y" * 900_000 + "the end"
    assert checkin(api, alice, "long-on-the-wire", "success", output=output).status_code == 202
    msg = await messages.next_msg(timeout=5)
    await nc.close()
    assert len(msg.data) < MAX_STORED_OUTPUT_BYTES + 2048, "the tail and the envelope, not 900 kB"
    run = run_when(api, alice, "long-on-the-wire", "success")
    assert run["output"].endswith("the end") and run["output_size"] == len(output)


def test_pages_follow_next_cursor_through_every_run(api, alice):
    for i in range(7):
        checkin(api, alice, f"page-{i}", "success")
    wait_until(lambda: len(api.get("/api/runs", headers=alice, params={"limit": 100}).json()["runs"]) == 7)
    seen, params = [], {"limit": 3}
    while True:
        page = api.get("/api/runs", headers=alice, params=params).json()
        seen += [r["run_id"] for r in page["runs"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [f"page-{i}" for i in reversed(range(7))]
    bad = api.get("/api/runs", headers=alice, params={"cursor": "forged"})
    assert refusal(bad).startswith("cursor: String should match pattern")


def test_alice_cannot_see_bobs_runs_through_any_endpoint(api, alice, bob):
    checkin(api, bob, "bobs-run", "success")
    run_when(api, bob, "bobs-run", "success")
    assert api.get("/api/runs/bobs-run", headers=alice).status_code == 404
    assert api.get("/api/runs", headers=alice).json()["runs"] == []
    assert api.get("/api/runs", headers=alice, params={"job": JOB}).json()["runs"] == []


def test_without_credentials_everything_is_401(api):
    assert api.get("/api/runs").status_code == 401
    assert api.post("/api/checkins", json={"job": JOB, "run_id": "r", "status": "running"}).status_code == 401
    assert api.get("/api/runs", headers={"X-Api-Key": "ctp_not-a-real-key"}).status_code == 401


def test_health_and_metrics_are_served(api):
    assert api.get("/health").json()["status"] == "ok"
    assert "python_info" in api.get("/metrics").text


async def test_the_correlation_id_travels_from_http_into_the_stream(stack: Stack, api, alice):
    import nats

    nc = await nats.connect(stack.nats.url)
    js = nc.jetstream()
    messages = await js.subscribe("crontopus.checkins.v1.>", ordered_consumer=True)
    response = api.post(
        "/api/checkins",
        headers={**alice, "X-Correlation-Id": "trace-me-123"},
        json={"job": JOB, "run_id": "traced", "status": "running"},
    )
    assert response.headers["X-Correlation-Id"] == "trace-me-123"
    msg = await messages.next_msg(timeout=5)
    await nc.close()
    assert msg.headers["correlation_id"] == "trace-me-123"
    assert msg.subject.endswith(".api") and "traced" in msg.data.decode()


def test_two_teams_using_the_same_run_id_both_get_their_run_and_only_their_own_duplicates(api, alice, bob):
    """JetStream de-duplicates across the whole stream: the id must be the team's, or Alice's run
    id suppresses Bob's check-in and `duplicate: true` tells her which run ids he used."""
    first = checkin(api, alice, "nightly-1", "failure", exit_code=1)
    again = checkin(api, alice, "nightly-1", "failure", exit_code=1)
    bobs = checkin(api, bob, "nightly-1", "failure", exit_code=2)
    assert [r.json()["duplicate"] for r in (first, again, bobs)] == [False, True, False]
    assert run_when(api, alice, "nightly-1", "failure")["exit_code"] == 1
    assert run_when(api, bob, "nightly-1", "failure")["exit_code"] == 2
    assert checkin(api, bob, "nightly-1", "failure", exit_code=2).json()["duplicate"] is True
