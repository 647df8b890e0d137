"""Hostile request bodies against the live stack: too deep, not Unicode, too large while streamed.
Each gets a clear 4xx (or is repaired, for text), never a 500."""

from __future__ import annotations

import json

import pytest
from fastapi.routing import APIRoute

from crontopus_gateway.json_body import MAX_JSON_DEPTH, REPLACEMENT, JsonBodyRoute
from crontopus_server.testing import NIGHTLY_EXPORT, refusal, sign_up, wait_until

MAX_BYTES = 4096
JOB = "staging/hello"


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


@pytest.fixture
def stack_env(stack_env):
    return {**stack_env, "CRONTOPUS_GATEWAY_MAX_REQUEST_BYTES": MAX_BYTES}


@pytest.fixture
def alice(api):
    return sign_up(api, "alice")


def nested(levels: int) -> list:
    """Lists, the fewest bytes per level (the body limit here is small)."""
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def manifest(extra: dict | None = None) -> dict:
    return {
        "apiVersion": "crontopus.io/v1", "kind": "Job",
        "metadata": {"name": "deep", "namespace": "production", "annotations": {"deep": extra} if extra else {}},
        "spec": {"schedule": "15 3 * * *", "command": "/bin/true"},
    }  # fmt: skip


def post_json(api, path: str, text: str | bytes, headers: dict[str, str]):
    return api.post(path, content=text, headers={**headers, "Content-Type": "application/json"})


def output_of(api, account, run_id: str) -> str:
    found = wait_until(lambda: (r := api.get(f"/api/runs/{run_id}", headers=account.headers)).status_code == 200 and r)
    return str(found.json()["output"])


def ping_url(api, account) -> str:
    jobs = api.get("/api/jobs", headers=account.headers).json()["jobs"]
    return str(next(job["ping_url"] for job in jobs if job["job"] == JOB))


# --- nesting --------------------------------------------------------------------------------------


def test_a_job_manifest_900_levels_deep_is_422_naming_the_limit(api, alice):
    created = api.post("/api/jobs", json={"manifest": manifest(nested(900))}, headers=alice.headers)
    assert refusal(created).startswith(f"JSON nested more than {MAX_JSON_DEPTH} levels")
    assert created.json()["detail"][0]["loc"] == ["body"]
    job = api.get(f"/api/jobs/{JOB}", headers=alice.headers).json()
    replaced = api.put(f"/api/jobs/{JOB}", json={"manifest": manifest(nested(900)), "base_commit": job["commit"]},
                       headers=alice.headers)  # fmt: skip
    assert "nested more than" in refusal(replaced)


def test_a_yaml_manifest_900_levels_deep_is_422_too(api, alice):
    text = NIGHTLY_EXPORT + "  args: " + "[" * 900 + "]" * 900 + "\n"
    created = api.post("/api/jobs", json={"manifest": text}, headers=alice.headers)
    assert "nested too deeply" in refusal(created)


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/channels", {"name": "x", "url": "json://example.com", "match_labels": nested(40)}),
     ("/api/checkins", {"job": JOB, "run_id": "r-1", "status": "running", "output": nested(40)}),
     ("/api/auth/register", {"username": nested(40)})],
)  # fmt: skip
def test_any_json_body_nested_past_the_limit_is_422(api, alice, path, body):
    response = api.post(path, json=body, headers=alice.headers)
    assert "nested more than" in refusal(response)


def test_a_body_deeper_than_python_itself_can_parse_is_422_too(api, alice):
    response = post_json(api, "/api/checkins", "[" * 4000, alice.headers)
    assert "nested more than" in refusal(response)


def test_a_manifest_of_ordinary_depth_is_still_created(api, alice):
    created = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT}, headers=alice.headers)
    assert created.status_code == 201, created.text


# --- text that is not Unicode ---------------------------------------------------------------------


def test_a_lone_surrogate_in_a_checkins_output_is_stored_as_the_replacement_character(api, alice):
    body = json.dumps({"job": JOB, "run_id": "r-surrogate", "status": "failure", "output": "before \ud800 after"})
    assert "\\ud800" in body
    response = post_json(api, "/api/checkins", body, alice.headers)
    assert response.status_code == 202, response.text
    assert output_of(api, alice, "r-surrogate") == f"before {REPLACEMENT} after"


def test_undecodable_bytes_in_a_json_body_are_replaced_as_in_a_ping_body(api, alice):
    body = b'{"job": "staging/hello", "run_id": "r-bytes", "status": "success", "output": "a\xff\xed\xa0\x80b"}'
    response = post_json(api, "/api/checkins", body, alice.headers)
    assert response.status_code == 202, response.text
    pinged = api.post(ping_url(api, alice) + "?rid=5b0c3a52-5d8e-4a51-9f5c-0d7e6f0b7a11", content=b"a\xff\xed\xa0\x80b")
    assert pinged.status_code == 200
    assert output_of(api, alice, "r-bytes") == output_of(api, alice, "5b0c3a52-5d8e-4a51-9f5c-0d7e6f0b7a11")
    assert output_of(api, alice, "r-bytes").startswith("a" + REPLACEMENT)


def test_a_lone_surrogate_in_another_field_is_replaced_not_a_500(api, alice):
    body = json.dumps({"job": JOB, "duration": "1h", "reason": "deploy \udfff"})
    response = post_json(api, "/api/silences", body, alice.headers)
    assert response.status_code == 201, response.text
    assert response.json()["reason"] == f"deploy {REPLACEMENT}"


# --- size -----------------------------------------------------------------------------------------


def chunks(total: int):
    """A body without Content-Length (sent chunked), in two parts."""
    yield b"{" + b" " * (total // 2 - 1)
    yield b" " * (total - total // 2)


@pytest.mark.parametrize("path", ["/api/checkins", "/api/gitops/webhooks/" + "0" * 32, "ping"])
def test_a_streamed_body_over_the_limit_is_413_like_a_declared_one(api, alice, path):
    path = ping_url(api, alice) if path == "ping" else path
    streamed = api.post(path, content=chunks(MAX_BYTES + 1), headers=alice.headers)
    declared = api.post(path, content=b" " * (MAX_BYTES + 1), headers=alice.headers)
    assert (streamed.status_code, declared.status_code) == (413, 413), streamed.text
    assert streamed.json() == declared.json() == {"detail": f"request body larger than {MAX_BYTES} bytes"}


def test_a_streamed_body_within_the_limit_is_read(api, alice):
    body = json.dumps({"job": JOB, "run_id": "r-streamed", "status": "running"}).encode()
    response = api.post("/api/checkins", content=iter([body[:10], body[10:]]),
                        headers={**alice.headers, "Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 202, response.text


def test_every_api_route_parses_json_bodies_through_the_checks(stack):
    routes = [route for route in stack.server.config.app.routes if isinstance(route, APIRoute)]
    unchecked = [route.path for route in routes if route.path.startswith(("/api/", "/ping/"))
                 and not isinstance(route, JsonBodyRoute)]  # fmt: skip
    assert routes and unchecked == [], "create the router with APIRouter(..., route_class=JsonBodyRoute)"


# --- numbers --------------------------------------------------------------------------------------


def numbers_in(schema: dict, components: dict, loc: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(where, "integer" or "number") of every number in a request body's JSON schema."""
    if "$ref" in schema:
        return numbers_in(components[schema["$ref"].rsplit("/", 1)[-1]], components, loc)
    found = [(loc, schema["type"])] if schema.get("type") in ("integer", "number") else []
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        found += numbers_in(option, components, loc)
    for name, field in schema.get("properties", {}).items():
        found += numbers_in(field, components, (*loc, name))
    return found


def body_with(loc: tuple[str, ...], value: str) -> dict:
    body: dict = {loc[-1]: value}
    for name in reversed(loc[:-1]):
        body = {name: body}
    return body


def test_every_number_of_every_json_body_refuses_a_string_naming_the_field(stack, api, alice):
    """docs/api.md: a JSON body's numbers are JSON numbers; `"exit_code": "0"` is a 422."""
    document = stack.server.config.app.openapi()
    components, sent = document["components"]["schemas"], []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            for loc, kind in numbers_in(schema or {}, components):
                value = "5" if kind == "integer" else "0.5"
                response = api.request(method, path, json=body_with(loc, value), headers=alice.headers)
                number = "a whole number" if kind == "integer" else "a number"
                expected = f'{".".join(loc)}: Value error, {number}, not a string: write {value}, not "{value}"'
                assert expected in refusal(response).splitlines(), (method, path)
                sent.append(f"{method.upper()} {path} {'.'.join(loc)}")
    assert set(sent) >= {
        "POST /api/checkins exit_code", "POST /api/checkins duration_ms",
        "POST /api/agents/enrollment-tokens ttl_seconds", "POST /api/agents/enrollment-tokens max_uses",
        "PUT /api/alert-rules failures.consecutive", "PUT /api/alert-rules failures.ratio",
        "PUT /api/alert-rules failures.window", "PUT /api/alert-rules max_runs.count",
    }  # fmt: skip


def test_a_checkin_with_its_numbers_as_json_numbers_is_accepted(api, alice):
    body = {"job": JOB, "run_id": "r-numbers", "status": "failure", "exit_code": 3, "duration_ms": 1500}
    response = api.post("/api/checkins", json=body, headers=alice.headers)
    assert response.status_code == 202, response.text
