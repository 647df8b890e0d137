"""Tenant isolation, walked exhaustively: team bob calls every endpoint of the REST API (taken from
the live OpenAPI document, so a new endpoint fails here until it is added to the walk) with each of
his credentials (a signed-in user, a write key, a read key), aiming at everything of team alice he
can name (her agent, run, incident, channel, silence, API key, job, repository, webhook). Nothing of
alice's may come back and nothing of hers may change.

The NATS side (every subject an agent may use) is walked in test_an_agent_of_bob_reaches_nothing_of_alice.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import nats
import pytest

from crontopus_gateway.events import SOURCES, encode_token
from crontopus_schemas import subjects
from crontopus_schemas.events import CheckInEvent
from crontopus_server.testing import Account, Stack, create_api_key, sign_up, wait_until, wait_until_async

JOB = "finance/payroll-export"
ENV_SECRET = "alice-env-secret-8f2c"
RUN_OUTPUT = "alice-run-output-77d1"
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
MANIFEST = f"""\
apiVersion: crontopus.io/v1
kind: Job
metadata: {{name: payroll-export, namespace: finance, labels: {{owner: alice-payroll}}}}
spec:
  schedule: "0 3 * * *"
  command: /usr/local/bin/payroll.sh
  env: {{PAYROLL_TOKEN: {ENV_SECRET}}}
"""


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # isolation is decided by credentials and queries, not by the SQL dialect


@pytest.fixture
def client(secure_stack: Stack) -> Iterator[httpx.Client]:
    with secure_stack.client() as client:
        yield client


@dataclass
class Alice:
    """Everything of team alice that another team could name."""

    account: Account
    tenant_id: str
    user_id: str
    keys: dict[str, str]  # scope -> key
    key_ids: list[str]
    ping_url: str
    run_id: str
    incident_id: str
    channel_id: str
    silence_id: str
    agent: dict[str, Any]
    repo_path: str
    invitation_id: str

    def markers(self) -> list[str]:
        """Strings bob never sends, so any of them in an answer to bob came from alice's data."""
        return [
            "alice", self.tenant_id, self.user_id, ENV_SECRET, RUN_OUTPUT, *self.keys.values(),
            self.ping_url.rsplit("/", 1)[-1], self.account.refresh_token, self.agent["nats_password"],
        ]  # fmt: skip


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    return dict(response.json())


def build_alice(client: httpx.Client, data_dir: str) -> Alice:
    alice = sign_up(client, "alice")
    me = client.get("/api/auth/me", headers=alice.headers).json()
    keys = {scope: create_api_key(client, alice, scope) for scope in ("write", "read")}
    created(client.post("/api/jobs", json={"manifest": MANIFEST}, headers=alice.headers))
    job = created(client.get(f"/api/jobs/{JOB}", headers=alice.headers))
    run_id = uuid.uuid4().hex
    checkin = {"job": JOB, "run_id": run_id, "status": "failure", "exit_code": 3, "output": RUN_OUTPUT}
    created(client.post("/api/checkins", json=checkin, headers=alice.headers))
    [incident] = wait_until(lambda: client.get("/api/incidents", headers=alice.headers).json()["incidents"])
    channel = created(client.post("/api/channels", json={"name": "alice-pager", "url": SLACK}, headers=alice.headers))
    silence = {"job": JOB, "duration": "1h", "reason": "alice's maintenance"}
    silence_id = created(client.post("/api/silences", json=silence, headers=alice.headers))["id"]
    token = created(client.post("/api/agents/enrollment-tokens", headers=alice.headers))["token"]
    agent = created(client.post("/api/agents/enroll", json={"token": token, "name": "alice-host"}))
    key_ids = [key["id"] for key in client.get("/api/api-keys", headers=alice.headers).json()["api_keys"]]
    invitation = created(client.post("/api/invitations", json={"email": "carol@example.com"}, headers=alice.headers))
    return Alice(
        account=alice, tenant_id=me["tenant_id"], user_id=me["id"], keys=keys, key_ids=key_ids,
        ping_url=job["ping_url"], run_id=run_id, incident_id=incident["id"], channel_id=channel["id"],
        silence_id=silence_id, agent=agent, repo_path=f"{data_dir}/repos/{me['tenant_id']}.git",
        invitation_id=invitation["id"],
    )  # fmt: skip


def snapshot(client: httpx.Client, alice: Alice) -> dict[str, Any]:
    """What alice sees of her team, without what changes by itself (times, online status)."""
    get = lambda path: client.get(path, headers=alice.account.headers).json()  # noqa: E731
    job = get(f"/api/jobs/{JOB}")
    run = get(f"/api/runs/{alice.run_id}")
    incident = get(f"/api/incidents/{alice.incident_id}")
    repository = get("/api/gitops/repository")
    return {
        "jobs": sorted(j["job"] for j in get("/api/jobs")["jobs"]),
        "job": (job["yaml"], job["commit"], job["ping_url"]),
        "runs": sorted((r["run_id"], r["status"], r.get("output")) for r in get("/api/runs")["runs"]),
        "run": (run["status"], run["exit_code"], run["output"]),
        "incident": (incident["status"], incident.get("acknowledged_at"), incident.get("resolved_at")),
        "channels": sorted((c["id"], c["name"], c["url"], c["enabled"]) for c in get("/api/channels")["channels"]),
        "silences": sorted((s["id"], s["ends_at"]) for s in get("/api/silences")["silences"]),
        "agents": sorted((a["id"], a["status"] == "revoked") for a in get("/api/agents")["agents"]),
        "api_keys": sorted(k["id"] for k in get("/api/api-keys")["api_keys"]),
        "rules": get("/api/alert-rules"),
        "repository": (repository["kind"], repository["clone_url"], repository["head_commit"]),
        "me": get("/api/auth/me"),
        "members": get("/api/members"),
        "invitations": get("/api/invitations"),
        "team": get("/api/team"),
    }


# --- the walk ------------------------------------------------------------------------------------

Call = dict[str, Any]  # httpx.request keyword arguments besides method and url
Aim = Callable[["Alice", "Account"], list[tuple[str, Call]]]  # -> (path, request) pairs


def _manifest_for_bob() -> str:
    return MANIFEST.replace("payroll-export", "bob-export").replace(ENV_SECRET, "bob-env").replace("alice", "bob")


def _webhook(alice: Alice, _: Account) -> list[tuple[str, Call]]:
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + "0" * 64}
    return [(f"/api/gitops/webhooks/{alice.tenant_id}", {"content": b'{"ref": "refs/heads/main"}', "headers": headers})]


def _foreign_repositories(alice: Alice, _: Account) -> list[tuple[str, Call]]:
    """Alice's embedded repository is a folder on the server: naming it, in any spelling, must
    not make it bob's."""
    urls = [alice.repo_path, f"file://{alice.repo_path}", f"{alice.repo_path}/", f"file://localhost{alice.repo_path}"]
    return [("/api/gitops/repository", {"json": {"url": url}}) for url in urls]


def _pings(_: Alice, bob: Account) -> list[tuple[str, Call]]:
    return []  # filled per call with bob's own ping URL (a ping URL is its own credential)


ROUTES: dict[tuple[str, str], Aim] = {
    ("GET", "/api/agents"): lambda a, b: [("/api/agents", {}), ("/api/agents", {"params": {"job": JOB}})],
    ("POST", "/api/agents/enroll"): lambda a, b: [
        ("/api/agents/enroll", {"json": {"token": "ctpe_" + "x" * 30, "name": "x"}})
    ],
    ("POST", "/api/agents/enrollment-tokens"): lambda a, b: [("/api/agents/enrollment-tokens", {})],
    ("DELETE", "/api/agents/{agent_id}"): lambda a, b: [(f"/api/agents/{a.agent['agent_id']}", {})],
    ("GET", "/api/agents/{agent_id}"): lambda a, b: [(f"/api/agents/{a.agent['agent_id']}", {})],
    ("GET", "/api/alert-rules"): lambda a, b: [("/api/alert-rules", {})],
    ("PUT", "/api/alert-rules"): lambda a, b: [("/api/alert-rules", {"json": {"grace": "9m"}})],
    ("GET", "/api/api-keys"): lambda a, b: [("/api/api-keys", {})],
    ("GET", "/api/api-keys/current"): lambda a, b: [("/api/api-keys/current", {})],
    ("POST", "/api/api-keys"): lambda a, b: [("/api/api-keys", {"json": {"name": "bobs", "scope": "read"}})],
    ("DELETE", "/api/api-keys/{key_id}"): lambda a, b: [(f"/api/api-keys/{key_id}", {}) for key_id in a.key_ids],
    ("GET", "/api/auth/jwks.json"): lambda a, b: [("/api/auth/jwks.json", {})],
    ("POST", "/api/auth/login"): lambda a, b: [("/api/auth/login", {"data": {"username": "bob", "password": "nope"}})],
    ("POST", "/api/auth/logout"): lambda a, b: [("/api/auth/logout", {"json": {"refresh_token": "x" * 43}})],
    ("GET", "/api/auth/me"): lambda a, b: [("/api/auth/me", {})],
    ("POST", "/api/auth/refresh"): lambda a, b: [("/api/auth/refresh", {"json": {"refresh_token": "x" * 43}})],
    ("POST", "/api/auth/register"): lambda a, b: [
        (
            "/api/auth/register",
            {
                "json": {
                    "username": f"carol{uuid.uuid4().hex[:6]}",
                    "email": f"c{uuid.uuid4().hex[:6]}@example.com",
                    "password": "correct horse battery",
                    "tenant": f"carol-{uuid.uuid4().hex[:6]}",
                }
            },
        )
    ],
    ("GET", "/api/channels"): lambda a, b: [("/api/channels", {})],
    ("POST", "/api/channels"): lambda a, b: [
        ("/api/channels", {"json": {"name": f"b{uuid.uuid4().hex[:6]}", "url": SLACK}})
    ],
    ("DELETE", "/api/channels/{channel_id}"): lambda a, b: [(f"/api/channels/{a.channel_id}", {})],
    ("GET", "/api/channels/{channel_id}"): lambda a, b: [(f"/api/channels/{a.channel_id}", {})],
    ("POST", "/api/channels/{channel_id}/test"): lambda a, b: [(f"/api/channels/{a.channel_id}/test", {})],
    ("POST", "/api/checkins"): lambda a, b: [
        ("/api/checkins", {"json": {"job": JOB, "run_id": a.run_id, "status": "success"}})
    ],
    ("GET", "/api/gitops/repository"): lambda a, b: [("/api/gitops/repository", {})],
    ("PUT", "/api/gitops/repository"): _foreign_repositories,
    ("POST", "/api/gitops/webhooks/{tenant_id}"): _webhook,
    ("GET", "/api/incidents"): lambda a, b: [("/api/incidents", {}), ("/api/incidents", {"params": {"job": JOB}})],
    ("GET", "/api/incidents/{incident_id}"): lambda a, b: [(f"/api/incidents/{a.incident_id}", {})],
    ("POST", "/api/incidents/{incident_id}/ack"): lambda a, b: [(f"/api/incidents/{a.incident_id}/ack", {})],
    ("POST", "/api/incidents/{incident_id}/resolve"): lambda a, b: [(f"/api/incidents/{a.incident_id}/resolve", {})],
    ("GET", "/api/jobs"): lambda a, b: [("/api/jobs", {}), ("/api/jobs", {"params": {"namespace": "finance"}})],
    ("POST", "/api/jobs"): lambda a, b: [("/api/jobs", {"json": {"manifest": _manifest_for_bob()}})],
    ("DELETE", "/api/jobs/{namespace}/{name}"): lambda a, b: [(f"/api/jobs/{JOB}", {})],
    ("GET", "/api/jobs/{namespace}/{name}"): lambda a, b: [(f"/api/jobs/{JOB}", {})],
    ("PUT", "/api/jobs/{namespace}/{name}"): lambda a, b: [(f"/api/jobs/{JOB}", {"json": {"manifest": MANIFEST}})],
    ("GET", "/api/runs"): lambda a, b: [("/api/runs", {}), ("/api/runs", {"params": {"job": JOB}})],
    ("GET", "/api/runs/{run_id}"): lambda a, b: [(f"/api/runs/{a.run_id}", {})],
    # From the oldest event the streams hold: alice's (her name is in her commits and agent) would show.
    ("GET", "/api/events"): lambda a, b: [
        ("/api/events", {}),
        ("/api/events", {"headers": {"Last-Event-ID": encode_token([0] * len(SOURCES))}}),
    ],
    ("GET", "/api/runs/stats"): lambda a, b: [("/api/runs/stats", {}), ("/api/runs/stats", {"params": {"job": JOB}})],
    ("GET", "/api/jobs/upcoming"): lambda a, b: [("/api/jobs/upcoming", {"params": {"limit": 100}})],
    ("GET", "/api/jobs/summary"): lambda a, b: [("/api/jobs/summary", {})],
    ("GET", "/api/schedule/preview"): lambda a, b: [("/api/schedule/preview", {"params": {"schedule": "0 3 * * *"}})],
    ("GET", "/api/teams"): lambda a, b: [("/api/teams", {})],
    ("POST", "/api/auth/switch-team"): lambda a, b: [("/api/auth/switch-team", {"json": {"team_id": a.tenant_id}})],
    ("GET", "/api/members"): lambda a, b: [("/api/members", {})],
    ("PATCH", "/api/members/{user_id}"): lambda a, b: [(f"/api/members/{a.user_id}", {"json": {"role": "viewer"}})],
    ("DELETE", "/api/members/{user_id}"): lambda a, b: [(f"/api/members/{a.user_id}", {})],
    ("GET", "/api/audit"): lambda a, b: [
        ("/api/audit", {}),
        ("/api/audit", {"params": {"actor": "alice"}}),
        ("/api/audit", {"params": {"target": JOB}}),
    ],
    ("GET", "/api/invitations"): lambda a, b: [("/api/invitations", {})],
    ("GET", "/api/team"): lambda a, b: [("/api/team", {})],
    ("PATCH", "/api/auth/me"): lambda a, b: [
        ("/api/auth/me", {"json": {"email": "alice@example.com", "password": "correct horse battery"}})
    ],
    ("PUT", "/api/team/sso"): lambda a, b: [("/api/team/sso", {"json": {"required": False}})],
    ("GET", "/api/auth/sso"): lambda a, b: [("/api/auth/sso", {})],
    ("GET", "/api/auth/sso/{provider}/login"): lambda a, b: [("/api/auth/sso/google/login", {})],
    ("GET", "/api/auth/sso/{provider}/callback"): lambda a, b: [
        ("/api/auth/sso/google/callback", {"params": {"code": "x", "state": "y"}})
    ],
    ("POST", "/api/invitations"): lambda a, b: [("/api/invitations", {"json": {"email": "carol@example.com"}})],
    ("DELETE", "/api/invitations/{invitation_id}"): lambda a, b: [(f"/api/invitations/{a.invitation_id}", {})],
    # A link's token for alice's invitation bob cannot make: the id with a MAC of his guessing.
    ("POST", "/api/invitations/accept"): lambda a, b: [
        ("/api/invitations/accept", {"json": {"token": f"{a.invitation_id}.{'0' * 64}"}}),
        (
            "/api/invitations/accept",
            {
                "json": {
                    "token": f"{a.invitation_id}.{'0' * 64}",
                    "username": "mallory",
                    "password": "violet kettle nineteen",
                }
            },
        ),
    ],
    ("POST", "/api/auth/password-reset"): lambda a, b: [
        ("/api/auth/password-reset", {"json": {"email": "alice@example.com"}})
    ],
    ("POST", "/api/auth/password-reset/confirm"): lambda a, b: [
        (
            "/api/auth/password-reset/confirm",
            {"json": {"token": f"{a.user_id}.{'0' * 64}", "password": "violet kettle nineteen"}},
        )
    ],
    ("POST", "/api/auth/verify-email"): lambda a, b: [
        ("/api/auth/verify-email", {"json": {"token": f"{a.user_id}.{'0' * 64}"}})
    ],
    ("GET", "/api/silences"): lambda a, b: [("/api/silences", {})],
    ("POST", "/api/silences"): lambda a, b: [("/api/silences", {"json": {"job": JOB, "duration": "1h"}})],
    ("DELETE", "/api/silences/{silence_id}"): lambda a, b: [(f"/api/silences/{a.silence_id}", {})],
    ("GET", "/api/badges"): lambda a, b: [("/api/badges", {}), ("/api/badges", {"params": {"job": JOB}})],
    ("POST", "/api/badges/rotate"): lambda a, b: [("/api/badges/rotate", {})],
    # A badge URL is its own credential: bob cannot sign one of alice's selectors (the badge tests
    # try his signatures under her key); here, guessed keys for her job's selector.
    ("GET", "/badge/{public_id}/{signature}/{selector}.svg"): lambda a, b: [
        (f"/badge/{'a' * 20}/{'b' * 16}/job/{JOB}.svg", {}),
        (f"/badge/{'a' * 20}/{'b' * 16}/namespace/{JOB.split('/')[0]}.svg", {}),
    ],
    ("GET", "/badge/{public_id}/{signature}/{selector}.json"): lambda a, b: [
        (f"/badge/{'a' * 20}/{'b' * 16}/job/{JOB}.json", {})
    ],
    ("GET", "/health"): lambda a, b: [("/health", {})],
    ("GET", "/metrics"): lambda a, b: [("/metrics", {})],
    ("GET", "/docs/job-manifest.schema.json"): lambda a, b: [("/docs/job-manifest.schema.json", {})],
}
PING_SUFFIXES = {"/ping/{key}": "", "/ping/{key}/fail": "/fail", "/ping/{key}/log": "/log",
                 "/ping/{key}/start": "/start", "/ping/{key}/{exit_status}": "/0"}  # fmt: skip


def bob_credentials(client: httpx.Client, bob: Account) -> dict[str, dict[str, str]]:
    return {
        "user": bob.headers,
        "write key": {"X-Api-Key": create_api_key(client, bob, "write")},
        "read key": {"Authorization": f"Bearer {create_api_key(client, bob, 'read')}"},
    }


def walk(client: httpx.Client, alice: Alice, bob: Account) -> list[tuple[str, str, str, httpx.Response]]:
    """Every operation of the OpenAPI document, as each of bob's credentials."""
    operations = client.get("/openapi.json").json()["paths"]
    bobs_ping = client.get("/api/jobs", headers=bob.headers).json()["jobs"][0]["ping_url"]
    missing = [
        f"{method.upper()} {path}" for path, methods in operations.items() for method in methods
        if (method.upper(), path) not in ROUTES and path not in PING_SUFFIXES
    ]  # fmt: skip
    assert not missing, f"add these endpoints to the isolation walk (ROUTES): {missing}"
    answers = []
    for who, headers in bob_credentials(client, bob).items():
        for path, methods in operations.items():
            for method in methods:
                if path in PING_SUFFIXES:
                    calls = [(bobs_ping + PING_SUFFIXES[path], {})]
                else:
                    calls = ROUTES[(method.upper(), path)](alice, bob)
                for url, call in calls:
                    merged = {**call, "headers": {**headers, **call.get("headers", {})}}
                    answers.append((who, method.upper(), url, request(client, method.upper(), url, merged)))
    return answers


STREAMING = ("/api/events",)


@dataclass
class Read:
    """What a bounded read of a streaming endpoint saw."""

    status_code: int
    text: str


def request(client: httpx.Client, method: str, url: str, call: Call) -> httpx.Response | Read:
    """A streaming endpoint never ends by itself: read what it sends within a second."""
    if not url.startswith(STREAMING):
        return client.request(method, url, **call)
    chunks: list[str] = []
    stream = client.stream(method, url, timeout=httpx.Timeout(5, read=1.0), **call)
    with stream as response, contextlib.suppress(httpx.ReadTimeout):
        for chunk in response.iter_text():
            chunks.append(chunk)
    return Read(response.status_code, "".join(chunks))


def test_bob_reaches_nothing_of_alice_through_any_endpoint_with_any_credential(
    client: httpx.Client, secure_stack: Stack
) -> None:
    alice = build_alice(client, str(secure_stack.data_dir))
    before = snapshot(client, alice)
    bob = sign_up(client, "bob")

    answers = walk(client, alice, bob)

    failures = [f"{who}: {method} {url} -> {r.status_code}" for who, method, url, r in answers if r.status_code >= 500]
    leaks = [
        f"{who}: {method} {url} -> {r.status_code} shows {marker!r}"
        for who, method, url, r in answers
        for marker in alice.markers()
        if marker in r.text
    ]
    assert failures == [], failures
    assert leaks == [], leaks
    assert snapshot(client, alice) == before
    # Alice's audit log grows by itself (her own changes land a moment later): none of it is bob's.
    log = client.get("/api/audit", params={"limit": 500}, headers=alice.account.headers).json()["entries"]
    assert log and not [entry for entry in log if entry["actor"] == "bob" or entry["target"] == "bob"]


def test_bob_counts_none_of_alices_runs_and_sees_none_of_her_schedules(
    client: httpx.Client, secure_stack: Stack
) -> None:
    """Answers that carry no marker of alice's (counts, job names bob can spell himself)."""
    build_alice(client, str(secure_stack.data_dir))
    bob = sign_up(client, "bob")
    for headers in bob_credentials(client, bob).values():
        stats = client.get("/api/runs/stats", headers=headers).json()
        of_her_job = client.get("/api/runs/stats", params={"job": JOB}, headers=headers).json()
        upcoming = client.get("/api/jobs/upcoming", params={"limit": 100}, headers=headers).json()["runs"]
        runs = client.get("/api/runs", params={"job": JOB}, headers=headers).json()["runs"]
        summary = client.get("/api/jobs/summary", headers=headers).json()
        assert stats["totals"]["runs"] == of_her_job["totals"]["runs"] == 0 and runs == []
        assert upcoming and JOB not in {run["job"] for run in upcoming}
        his_jobs = client.get("/api/jobs", headers=headers).json()["jobs"]
        assert (summary["jobs"], summary["failing"]) == (len(his_jobs), [])


def test_foreign_ids_answer_exactly_like_ids_that_do_not_exist(client: httpx.Client, secure_stack: Stack) -> None:
    """A 404 for alice's id and for a made-up one must be the same answer, or bob learns which
    ids exist (and so which other teams there are)."""
    alice = build_alice(client, str(secure_stack.data_dir))
    bob = sign_up(client, "bob")
    made_up = uuid.uuid4().hex
    for template in ("/api/agents/{}", "/api/incidents/{}", "/api/channels/{}", "/api/runs/{}"):
        real_id = {"agents": alice.agent["agent_id"], "incidents": alice.incident_id,
                   "channels": alice.channel_id, "runs": alice.run_id}[template.split("/")[2]]  # fmt: skip
        foreign = client.get(template.format(real_id), headers=bob.headers)
        unknown = client.get(template.format(made_up), headers=bob.headers)
        assert (foreign.status_code, foreign.json()["detail"].replace(real_id, "ID")) == (
            unknown.status_code, unknown.json()["detail"].replace(made_up, "ID")
        ), template  # fmt: skip


# --- NATS: every subject, as an agent of bob -------------------------------------------------------


def subjects_naming(tenant_id: str, agent_id: str) -> list[str]:
    """Every subject crontopus_schemas.subjects can spell, for alice's team and agent: each
    ``*_subject`` function, every request-reply subject, every wildcard and broadcast. Taken from
    the module, so a new subject is walked without being added here."""
    ids = {"tenant_id": tenant_id, "agent_id": agent_id, "source": agent_id}
    found = {
        function(**{name: ids[name] for name in inspect.signature(function).parameters})
        for name, function in vars(subjects).items()
        if name.endswith("_subject") and callable(function) and set(inspect.signature(function).parameters) <= set(ids)
    }  # the *_from_subject parsers take a subject: not builders
    for name, value in vars(subjects).items():
        if isinstance(value, str) and value.startswith(f"{subjects.PREFIX}.") and not name.endswith("_ROOT"):
            found.add(value)
        if isinstance(value, type) and name.endswith("Rpc"):
            found |= {v for v in vars(value).values() if isinstance(v, str) and v.startswith(subjects.PREFIX)}
    found |= {"$JS.API.STREAM.INFO.CHECKINS", "$JS.API.STREAM.PURGE.CHECKINS", "$JS.API.STREAM.LIST",
              subjects.NATS_AUTH_CALLOUT_SUBJECT, f"{subjects.agent_inbox_prefix(agent_id)}.x"}  # fmt: skip
    return sorted(found)


async def connect_agent(agent: dict[str, Any], errors: list[Exception]) -> nats.NATS:
    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    return await nats.connect(
        agent["nats_urls"], user=agent["nats_user"], password=agent["nats_password"],
        inbox_prefix=subjects.agent_inbox_prefix(agent["agent_id"]).encode(), error_cb=on_error,
        allow_reconnect=False, connect_timeout=3,
    )  # fmt: skip


async def test_an_agent_of_bob_reaches_nothing_of_alice_on_any_subject(client: httpx.Client) -> None:
    alice = build_alice(client, "unused")
    before = snapshot(client, alice)
    bob = sign_up(client, "bob")
    token = created(client.post("/api/agents/enrollment-tokens", headers=bob.headers))["token"]
    bobs_agent = created(client.post("/api/agents/enroll", json={"token": token, "name": "bobs-host"}))
    forged = CheckInEvent(job=JOB, run_id=alice.run_id, status="success", exit_code=0).model_dump_json().encode()
    targets = subjects_naming(alice.tenant_id, alice.agent["agent_id"])

    errors: list[Exception] = []
    connection = await connect_agent(bobs_agent, errors)
    try:
        for subject in targets:
            await connection.publish(subject.replace("*", "x").replace(">", "x"), forged)
            await connection.subscribe(subject)
        await connection.flush()

        async def all_refused() -> bool:
            return len(errors) >= 2 * len(targets)

        with contextlib.suppress(AssertionError):  # what was not refused is named below
            await wait_until_async(all_refused, timeout=5)
        await asyncio.sleep(0.5)  # anything that got through has arrived by now
    finally:
        await connection.close()

    # A publish on a nudge subject is mapped aside inside the agents' account first (see
    # nats_security), and refused under that name.
    refused = {
        str(e).split('"')[1].replace(f"{subjects.DISCARDED_ROOT}.", f"{subjects.GITOPS_ROOT}.")
        for e in errors
        if "permissions violation" in str(e)
    }
    published = {subject.replace("*", "x").replace(">", "x").lower() for subject in targets}
    assert refused >= published | {subject.lower() for subject in targets}
    assert len(errors) == 2 * len(targets), [str(e) for e in errors]
    assert snapshot(client, alice) == before


async def test_an_agent_cannot_put_more_than_a_check_in_into_the_shared_stream(client: httpx.Client) -> None:
    """The check-in stream keeps what it holds for days, on the disk every team shares: an agent
    publishing its own subject is still held to a check-in's size (the stored output's tail)."""
    bob = sign_up(client, "bob")
    token = created(client.post("/api/agents/enrollment-tokens", headers=bob.headers))["token"]
    agent = created(client.post("/api/agents/enroll", json={"token": token, "name": "bobs-host"}))
    subject = subjects.checkin_subject(agent["tenant_id"], agent["agent_id"])

    def checkin(run_id: str, output: str) -> bytes:
        return CheckInEvent(job=JOB, run_id=run_id, status="success", output=output).model_dump_json().encode()

    errors: list[Exception] = []
    connection = await connect_agent(agent, errors)
    try:
        huge = json.loads((await connection.request(subject, checkin("huge", "A" * 2_000_000), timeout=5)).data)
        usual = json.loads((await connection.request(subject, checkin("usual", "B" * 60_000), timeout=5)).data)
    finally:
        await connection.close()
    assert "maximum" in huge["error"]["description"], huge
    assert "error" not in usual and usual["stream"] == subjects.CHECKINS_STREAM.name
    wait_until(lambda: client.get("/api/runs/usual", headers=bob.headers).status_code == 200)
    assert client.get("/api/runs/huge", headers=bob.headers).status_code == 404
