"""Agents through the REST API and a NATS server secured as in production: enrollment, the
server enforcing each agent's subjects, revocation, heartbeats and reports, tenant isolation."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from crontopus_gitops import repo as gitrepo
from crontopus_kit.nats_security import SERVICE_USERS, issuer_keypair, service_password
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_schemas.agents import AgentStatusReport, DriftItem
from crontopus_schemas.events import CheckInEvent
from crontopus_schemas.subjects import (
    agent_heartbeat_subject,
    agent_inbox_prefix,
    agent_report_subject,
    checkin_msg_id,
    checkin_subject,
    manifests_changed_subject,
    pushed_subject,
    repository_location_subject,
)
from crontopus_server import platform
from crontopus_server.platform import SERVICES, service_nats_url
from crontopus_server.testing import Account, Stack, sign_up, start_stack, wait_until, wait_until_async


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # the storage rules are tested on both backends in test_agents_storage.py


@pytest.fixture
def stack_env(stack_env: dict[str, Any]) -> dict[str, Any]:
    return {
        **stack_env, "CRONTOPUS_AGENTS_OFFLINE_AFTER": "1", "CRONTOPUS_AGENTS_SWEEP_INTERVAL": "0.2",
        "CRONTOPUS_GITOPS_POLL_SECONDS": "3600",  # a repository is synced only when something asks
    }  # fmt: skip


@pytest.fixture
def client(secure_stack: Stack) -> Any:
    with secure_stack.client() as client:
        yield client


def enrollment_token(client: httpx.Client, account: Account, **body: Any) -> str:
    created = client.post("/api/agents/enrollment-tokens", json=body or None, headers=account.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["token"])


def enroll(client: httpx.Client, account: Account, name: str = "web-1", **extra: Any) -> dict[str, Any]:
    body = {"token": enrollment_token(client, account), "name": name, "hostname": f"{name}.example", **extra}
    enrolled = client.post("/api/agents/enroll", json=body)
    assert enrolled.status_code == 201, enrolled.text
    return dict(enrolled.json())


async def connect_as(agent: dict[str, Any], password: str | None = None) -> tuple[nats.NATS, list[Exception]]:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    connection = await nats.connect(
        agent["nats_urls"], user=agent["nats_user"], password=password or agent["nats_password"],
        inbox_prefix=agent_inbox_prefix(agent["agent_id"]).encode(), error_cb=on_error,
        allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3,
    )  # fmt: skip
    return connection, errors


def test_enrollment_returns_credentials_and_where_the_jobs_are(client: httpx.Client) -> None:
    alice = sign_up(client, "alice")
    agent = enroll(client, alice, labels={"role": "db"})
    assert agent["nats_user"] == agent["agent_id"] and agent["nats_password"].startswith("ctpa_")
    assert agent["nats_urls"] and agent["clone_url"] and agent["branch"] == "main"
    assert agent["labels"] == {"role": "db"}
    listed = client.get("/api/agents", headers=alice.headers).json()["agents"]
    assert [(a["name"], a["status"]) for a in listed] == [("web-1", "offline")]
    assert "nats_password" not in listed[0] and "secret_hash" not in listed[0]


def test_a_used_or_unknown_enrollment_token_is_refused(client: httpx.Client) -> None:
    alice = sign_up(client, "alice")
    token = enrollment_token(client, alice)
    assert client.post("/api/agents/enroll", json={"token": token, "name": "one"}).status_code == 201
    again = client.post("/api/agents/enroll", json={"token": token, "name": "two"})
    assert again.status_code == 401 and "used up" in again.json()["detail"]
    unknown = client.post("/api/agents/enroll", json={"token": "ctpe_not-a-real-token", "name": "three"})
    assert unknown.status_code == 401
    assert [a["name"] for a in client.get("/api/agents", headers=alice.headers).json()["agents"]] == ["one"]


def test_enrollment_while_gitops_is_down_spends_no_token_and_leaves_no_agent(
    secure_nats: NatsServerProcess, tmp_path: Path, stack_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    build_units = platform.build_units

    def start(services: list[str]) -> Stack:
        monkeypatch.setattr(platform, "build_units", lambda broker: build_units(broker, services))
        return start_stack(
            nats=secure_nats, data_dir=tmp_path / "data", env=stack_env, monkeypatch=monkeypatch,
            nats_url=service_nats_url(secure_nats.url, str(stack_env["CRONTOPUS_SECRET_KEY"]).encode()),
        )  # fmt: skip

    without_gitops = start([name for name in SERVICES if name != "gitops"])
    try:
        with without_gitops.client() as client:
            alice = sign_up(client, "alice")
            token = enrollment_token(client, alice, max_uses=1)
            down = client.post("/api/agents/enroll", json={"token": token, "name": "web-1"})
            assert down.status_code == 503, down.text
            assert client.get("/api/agents", headers=alice.headers).json()["agents"] == []
    finally:
        without_gitops.stop()
    everything = start(list(SERVICES))
    try:
        with everything.client() as client:
            enrolled = wait_until(lambda: _enrolled(client, {"token": token, "name": "web-1"}), timeout=20)
    finally:
        everything.stop()
    assert enrolled["name"] == "web-1" and enrolled["clone_url"]


async def test_behind_a_nats_configuration_from_before_agents_had_their_own_account_agents_are_refused(
    tmp_path: Path, stack_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an operator who upgrades Crontopus without regenerating the NATS configuration sees
    (docs/deployment.md): services work, every agent is refused, and the server's log says why."""
    secret = str(stack_env["CRONTOPUS_SECRET_KEY"]).encode()
    config = tmp_path / "old-nats.conf"
    config.write_text(_configuration_before_2026_12(secret))
    server = NatsServerProcess(store_dir=tmp_path / "old-nats", config_file=config, log_file=tmp_path / "nats.log")
    server.start()
    stack = start_stack(
        nats=server, data_dir=tmp_path / "data", env=stack_env, monkeypatch=monkeypatch,
        nats_url=service_nats_url(server.url, secret),
    )  # fmt: skip
    try:
        with stack.client() as client:
            agent = enroll(client, sign_up(client, "alice"))
            with pytest.raises(NatsError, match="Authorization Violation"):
                await connect_as(agent)
    finally:
        stack.stop()
        server.stop()
    assert 'No valid account "AGENTS" for auth callout response' in (tmp_path / "nats.log").read_text()


def _configuration_before_2026_12(secret: bytes) -> str:
    """What `crontopus-server nats-config` printed while agents shared the services' account."""
    users = ", ".join(f'{{ user: "{user}", password: "{service_password(secret, user)}" }}' for user in SERVICE_USERS)
    return f"""accounts {{
  CRONTOPUS {{ jetstream: enabled, users: [ {users} ] }}
  SYS {{ }}
}}
system_account: SYS
authorization {{
  auth_callout {{
    issuer: "{issuer_keypair(secret).public_key.decode()}"
    account: CRONTOPUS
    auth_users: [ {", ".join(f'"{user}"' for user in SERVICE_USERS)} ]
  }}
}}
"""


def _enrolled(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any] | None:
    """The enrollment once gitops has caught up with the sign-up (it owns the repository)."""
    response = client.post("/api/agents/enroll", json=body)
    assert response.status_code in (201, 404, 503), response.text
    return dict(response.json()) if response.status_code == 201 else None


def test_a_second_agent_with_the_same_name_is_refused_until_the_first_is_revoked(client: httpx.Client) -> None:
    alice = sign_up(client, "alice")
    first = enroll(client, alice, "db-1")
    clash = client.post("/api/agents/enroll", json={"token": enrollment_token(client, alice), "name": "db-1"})
    assert clash.status_code == 409
    assert client.delete(f"/api/agents/{first['agent_id']}", headers=alice.headers).json()["status"] == "revoked"
    enroll(client, alice, "db-1")


def test_bob_cannot_see_or_revoke_alices_agents(client: httpx.Client) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    agent = enroll(client, alice)
    assert client.get("/api/agents", headers=bob.headers).json()["agents"] == []
    assert client.get(f"/api/agents/{agent['agent_id']}", headers=bob.headers).status_code == 404
    assert client.delete(f"/api/agents/{agent['agent_id']}", headers=bob.headers).status_code == 404
    assert client.get(f"/api/agents/{agent['agent_id']}", headers=alice.headers).json()["status"] == "offline"


async def test_an_agent_publishes_its_own_checkins_and_nothing_of_another_tenant(client: httpx.Client) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    agent, bobs = enroll(client, alice), enroll(client, bob, "bobs-host")
    connection, errors = await connect_as(agent)
    try:
        js = connection.jetstream()
        event = CheckInEvent(job="production/backup", run_id="run-agent-1", status="success", exit_code=0)
        msg_id = checkin_msg_id(agent["tenant_id"], agent["agent_id"], event.run_id, event.status)
        subject = checkin_subject(agent["tenant_id"], agent["agent_id"])
        # Acknowledged through the agents' import, and a repeat (a spool flushed twice) is known.
        ack = await js.publish(subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id})
        again = await js.publish(subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id})
        assert ack.seq > 0 and not ack.duplicate and (again.seq, again.duplicate) == (ack.seq, True)
        forged = event.model_copy(update={"run_id": "forged-into-bob"})
        await connection.publish(
            checkin_subject(bobs["tenant_id"], agent["agent_id"]), forged.model_dump_json().encode()
        )
        await connection.publish(checkin_subject(agent["tenant_id"], bobs["agent_id"]), b"{}")
        await connection.flush()
        await _wait_for_errors(errors, 2)
    finally:
        await connection.close()
    assert all("permissions violation for publish" in str(e) for e in errors)
    wait_until(lambda: client.get("/api/runs", headers=alice.headers).json()["runs"])
    assert client.get("/api/runs/run-agent-1", headers=alice.headers).json()["status"] == "success"
    assert client.get("/api/runs", headers=bob.headers).json()["runs"] == []


async def test_an_agent_cannot_suppress_another_teams_api_checkin_by_publishing_its_id_first(
    client: httpx.Client,
) -> None:
    """JetStream de-duplicates on Nats-Msg-Id across the whole stream, and an agent chooses the id
    of its own publishes. Bob's scripts name their run ids (guessable): whatever id Alice's agent
    sends first, Bob's check-in is still stored."""
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    agent, bob_tenant = enroll(client, alice), enroll(client, bob, "bobs-host")["tenant_id"]
    event = CheckInEvent(job="production/backup", run_id="backup-2026-12-06", status="failure", exit_code=1)
    guesses = [  # the ids a gateway could use, as far as an attacker can spell them
        "backup-2026-12-06:finish",
        f"{bob_tenant}:api:backup-2026-12-06:finish",
        f"{bob_tenant}:ping:backup-2026-12-06:finish",
    ]
    connection, errors = await connect_as(agent)
    try:
        js = connection.jetstream()
        for guess in guesses:
            await js.publish(
                checkin_subject(agent["tenant_id"], agent["agent_id"]), event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": guess},
            )  # fmt: skip
    finally:
        await connection.close()
    body = {"job": "production/backup", "run_id": event.run_id, "status": "failure", "exit_code": 1}
    posted = client.post("/api/checkins", json=body, headers=bob.headers)
    assert posted.status_code == 202 and posted.json()["duplicate"] is False
    run = wait_until(lambda: client.get(f"/api/runs/{event.run_id}", headers=bob.headers).json().get("status"))
    assert run == "failure" and errors == []


async def test_an_agent_learns_where_its_own_teams_jobs_are_and_cannot_ask_for_another_teams(
    client: httpx.Client,
) -> None:
    """What a reconnecting agent asks (it may have missed the nudge that said they moved)."""
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    agent, bobs = enroll(client, alice), enroll(client, bob, "bobs-host")
    forbidden = [
        repository_location_subject(bobs["tenant_id"], bobs["agent_id"]),  # another team's agent
        repository_location_subject(agent["tenant_id"], bobs["agent_id"]),  # another agent's name
        f"crontopus.gitops.v1.location.{agent['tenant_id']}",  # the subject before 2026-12
    ]
    connection, errors = await connect_as(agent)
    try:
        reply = await connection.request(
            repository_location_subject(agent["tenant_id"], agent["agent_id"]), b"{}", timeout=5
        )
        for subject in forbidden:
            await connection.publish(subject, b"{}")
        await connection.flush()
        await _wait_for_errors(errors, len(forbidden))
    finally:
        await connection.close()
    location = json.loads(reply.data)["result"]
    assert location == {"clone_url": agent["clone_url"], "branch": agent["branch"], "folder": agent["folder"]}
    assert location["clone_url"] != bobs["clone_url"]
    assert [str(e) for e in errors] == [f'nats: permissions violation for publish to "{s}"' for s in forbidden]


def _elsewhere(bobs: dict[str, Any]) -> list[str]:
    """Reply subjects an agent of Alice's may name that are not its own inbox."""
    return [
        checkin_subject(bobs["tenant_id"], "api"),
        manifests_changed_subject(bobs["tenant_id"]),
        pushed_subject(bobs["tenant_id"]),
        agent_heartbeat_subject(bobs["tenant_id"], bobs["agent_id"]),
        f"{agent_inbox_prefix(bobs['agent_id'])}.stolen",
        "$JS.API.STREAM.DELETE.CHECKINS",
    ]


async def test_services_answer_an_agent_only_in_its_own_inbox_whatever_reply_subject_it_names(
    secure_stack: Stack, client: httpx.Client
) -> None:
    """A reply subject is the publisher's choice, and publish permissions do not cover it. An
    answer sent there carries the answering service's rights: an empty one on
    $JS.API.STREAM.DELETE.CHECKINS deleted the check-in stream. Agents ask from their own NATS
    account, so an answer can only go back there, and nothing there takes it for a nudge."""
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    agent, bobs = enroll(client, alice), enroll(client, bob, "bobs-host")
    tenant, agent_id = agent["tenant_id"], agent["agent_id"]
    asks = [
        repository_location_subject(tenant, agent_id),
        agent_heartbeat_subject(tenant, agent_id),
        agent_report_subject(tenant, agent_id),
    ]
    report = AgentStatusReport(version="0.1.0").model_dump_json().encode()
    async with _watching_bob(secure_stack, bobs, _elsewhere(bobs)) as seen:
        connection, errors = await connect_as(agent)
        try:
            for ask in asks:
                for reply in _elsewhere(bobs):
                    await connection.publish(ask, report, reply=reply)
            answer = await connection.request(repository_location_subject(tenant, agent_id), b"{}", timeout=5)
            await asyncio.sleep(0.5)  # what the services would have sent has arrived by now
        finally:
            await connection.close()
    stream = await _stream_name(secure_stack, "CHECKINS")
    assert json.loads(answer.data)["result"]["clone_url"] == agent["clone_url"]  # it does answer at home
    assert seen == [] and errors == []
    assert stream == "CHECKINS"
    assert client.get(f"/api/agents/{bobs['agent_id']}", headers=bob.headers).json()["last_seen_at"] is None


async def test_gitops_answers_a_location_request_only_when_it_came_through_the_agents_import(
    secure_stack: Stack, client: httpx.Client
) -> None:
    """Through the import, the NATS server gives the request a reply subject of its own, which
    leads back to the asking agent only. Any other reply subject was named by a client of the
    services' account; gitops does not answer there, not even into an agent's inbox (where it
    answered while agents shared the services' account)."""
    alice = sign_up(client, "alice")
    agent = enroll(client, alice)
    subject = repository_location_subject(agent["tenant_id"], agent["agent_id"])
    service = await nats.connect((secure_stack.data_dir / "nats.url").read_text().strip())
    try:
        inbox = await service.subscribe(f"{agent_inbox_prefix(agent['agent_id'])}.asked-by-a-service")
        await service.publish(subject, b"{}", reply=inbox.subject)
        with pytest.raises(nats.errors.TimeoutError):
            await service.request(subject, b"{}", timeout=0.5)
        with pytest.raises(nats.errors.TimeoutError):
            await inbox.next_msg(timeout=0.1)
    finally:
        await service.close()
    connection, _ = await connect_as(agent)
    try:
        answer = await connection.request(subject, b"{}", timeout=5)
    finally:
        await connection.close()
    assert json.loads(answer.data)["result"]["clone_url"] == agent["clone_url"]


async def test_what_jetstream_acknowledges_on_a_reply_subject_an_agent_names_does_nothing_for_another_team(
    secure_stack: Stack, client: httpx.Client
) -> None:
    """JetStream sends a check-in's acknowledgement (``{"stream": "CHECKINS", "seq": 7}``) to the
    reply subject the agent chose, as the server, past every permission. Agents have their own
    NATS account and reach the check-in stream through an import, so the acknowledgement goes
    back into the agents' account: never onto Bob's check-in subject (it was stored there), his
    nudge subject (his agents synced) or his pushed subject (gitops synced his repository), nor
    onto $JS.API; and in the agents' account a nudge subject takes nothing but real nudges."""
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    agent, bobs = enroll(client, alice), enroll(client, bob, "bobs-host")
    bob_tenant = bobs["tenant_id"]
    replies = [
        checkin_subject(bob_tenant, "api"),
        manifests_changed_subject(bob_tenant),
        pushed_subject(bob_tenant),
        agent_heartbeat_subject(bob_tenant, bobs["agent_id"]),
        agent_report_subject(bob_tenant, bobs["agent_id"]),
        "$JS.API.STREAM.PURGE.CHECKINS",
        "$JS.API.STREAM.DELETE.CHECKINS",
    ]
    announced = await _repository_announced(secure_stack, client, bob, bob_tenant)
    unseen = _commit_without_telling_gitops(bobs)  # any sync of Bob's repository announces it
    async with _watching_bob(secure_stack, bobs) as seen:
        connection, errors = await connect_as(agent)
        try:
            for number, reply in enumerate(replies):
                event = CheckInEvent(job="production/backup", run_id=f"alices-{number}", status="success", exit_code=0)
                await connection.publish(
                    checkin_subject(agent["tenant_id"], agent["agent_id"]), event.model_dump_json().encode(),
                    reply=reply,
                )  # fmt: skip
            await connection.flush()
        finally:
            await connection.close()
        alices = wait_until(
            lambda: len(runs := client.get("/api/runs", headers=alice.headers).json()["runs"]) == len(replies) and runs
        )
        await asyncio.sleep(0.5)  # the acknowledgements, and whatever they set off, have long arrived
        quiet = list(seen)
        on_bobs_checkins = await _last_stored(secure_stack, "CHECKINS", checkin_subject(bob_tenant, "api"))
        last_nudge_stored = await _last_stored(secure_stack, "GITOPS", manifests_changed_subject(bob_tenant))
        # The watch works: Bob's own look at his repository syncs it, and his agent is nudged.
        assert client.get("/api/gitops/repository", headers=bob.headers).json()["head_commit"] == unseen
        await wait_until_async(lambda: _async_value(("bobs-agent", manifests_changed_subject(bob_tenant)) in seen))
    assert {run["run_id"] for run in alices} == {f"alices-{n}" for n in range(len(replies))}  # nothing purged
    assert quiet == [] and errors == []
    assert on_bobs_checkins is None and last_nudge_stored == announced
    assert client.get("/api/runs", headers=bob.headers).json()["runs"] == []
    bobs_agent = client.get(f"/api/agents/{bobs['agent_id']}", headers=bob.headers).json()
    assert (bobs_agent["last_seen_at"], bobs_agent["status"]) == (None, "offline")


async def _repository_announced(stack: Stack, client: httpx.Client, account: Account, tenant: str) -> int:
    """The sequence of the GITOPS message that announced a team's seeded repository, once it is out."""
    assert client.get("/api/gitops/repository", headers=account.headers).json()["head_commit"]

    async def announced() -> int | None:
        return await _last_stored(stack, "GITOPS", manifests_changed_subject(tenant))

    return int(await wait_until_async(announced))


def _commit_without_telling_gitops(agent: dict[str, Any]) -> str:
    """A commit in a team's built-in repository that no hook reports: only a sync finds it."""
    path, branch = Path(agent["clone_url"]), agent["branch"]
    head = gitrepo.head(path, branch=branch)
    return gitrepo.commit_files(
        path, branch=branch, changes={f"{agent['folder']}/NOTES.md".lstrip("/"): "unseen\n"},
        author=("Test", "test@example.com"), message="behind gitops' back", expected_head=head,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _watching_bob(
    stack: Stack, bobs: dict[str, Any], subjects: list[str] | None = None
) -> AsyncIterator[list[tuple[str, str]]]:
    """What arrives on Bob's check-in, nudge and pushed subjects (or ``subjects``) as the
    services see them, and on his nudges as his agent receives them (in the agents' account)."""
    seen: list[tuple[str, str]] = []

    def record(who: str) -> Any:
        async def callback(msg: Msg) -> None:
            seen.append((who, msg.subject))

        return callback

    tenant = bobs["tenant_id"]
    subjects = subjects or [checkin_subject(tenant, "api"), manifests_changed_subject(tenant), pushed_subject(tenant)]
    service = await nats.connect((stack.data_dir / "nats.url").read_text().strip())
    bobs_agent, _ = await connect_as(bobs)
    try:
        for subject in subjects:
            await service.subscribe(subject, cb=record("services"))
        await bobs_agent.subscribe(manifests_changed_subject(tenant), cb=record("bobs-agent"))
        await service.flush()
        await bobs_agent.flush()
        yield seen
    finally:
        await bobs_agent.close()
        await service.close()


async def _stream_name(stack: Stack, stream: str) -> str:
    connection = await nats.connect((stack.data_dir / "nats.url").read_text().strip())
    try:
        return str((await connection.jetstream().stream_info(stream)).config.name)
    finally:
        await connection.close()


async def _last_stored(stack: Stack, stream: str, subject: str) -> int | None:
    """The sequence of the last message a stream holds on a subject (None: none)."""
    connection = await nats.connect((stack.data_dir / "nats.url").read_text().strip())
    try:
        return (await connection.jetstream().get_last_msg(stream, subject)).seq
    except NotFoundError:
        return None
    finally:
        await connection.close()


async def _async_value(value: Any) -> Any:
    return value


@pytest.mark.parametrize("subject", ["bob-nudges", "crontopus.>", "_INBOX.>", ">"])
async def test_an_agent_cannot_listen_to_other_tenants_or_other_clients_replies(
    client: httpx.Client, subject: str
) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    agent, bobs = enroll(client, alice), enroll(client, bob, "bobs-host")
    subject = manifests_changed_subject(bobs["tenant_id"]) if subject == "bob-nudges" else subject
    connection, errors = await connect_as(agent)
    try:
        await connection.subscribe(manifests_changed_subject(agent["tenant_id"]))  # its own nudges: allowed
        await connection.subscribe(subject)
        await connection.flush()
        await _wait_for_errors(errors, 1)
    finally:
        await connection.close()
    # (nats-py lower-cases the server's message)
    assert [str(e) for e in errors] == [f'nats: permissions violation for subscription to "{subject.lower()}"']


async def test_wrong_credentials_and_revoked_agents_are_refused_by_the_nats_server(client: httpx.Client) -> None:
    alice = sign_up(client, "alice")
    agent = enroll(client, alice)
    with pytest.raises(NatsError, match="Authorization Violation"):
        await connect_as(agent, password="ctpa_guessed")
    connection, _ = await connect_as(agent)  # connected before the revocation...
    closed = asyncio.Event()
    connection._disconnected_cb = _set_on_call(closed)
    assert client.delete(f"/api/agents/{agent['agent_id']}", headers=alice.headers).status_code == 200
    await asyncio.wait_for(closed.wait(), 5)  # ...and kicked by the server at once
    await connection.close()
    with pytest.raises(NatsError, match="Authorization Violation"):
        await connect_as(agent)


async def test_heartbeats_and_reports_show_in_the_api_and_silence_marks_the_agent_offline(
    client: httpx.Client,
) -> None:
    alice = sign_up(client, "alice")
    agent = enroll(client, alice)
    tenant, agent_id = agent["tenant_id"], agent["agent_id"]
    report = AgentStatusReport(
        version="0.1.0", scheduler="crontab", applied_commit="a" * 40, jobs=["production/backup"],
        drift=[DriftItem(ref="production/backup", kind="edited", detail="schedule changed by hand")],
        errors=["staging/bad: schedule cannot be written to crontab"], spool_pending=2,
    )  # fmt: skip
    connection, errors = await connect_as(agent)
    try:
        await connection.publish(agent_report_subject(tenant, agent_id), report.model_dump_json().encode())
        await connection.publish(agent_heartbeat_subject(tenant, agent_id), report.model_dump_json().encode())
        await connection.flush()
        shown = wait_until(lambda: _agent_if(client, alice, agent_id, status="online"))
    finally:
        await connection.close()
    assert errors == []
    assert shown["applied_commit"] == "a" * 40 and shown["scheduler"] == "crontab"
    assert shown["jobs"] == ["production/backup"] and shown["drift"][0]["kind"] == "edited"
    assert shown["errors"] == report.errors and shown["spool_pending"] == 2
    assert shown["drift_detected_at"] is not None
    installed = client.get("/api/agents", params={"job": "production/backup"}, headers=alice.headers).json()
    assert [a["id"] for a in installed["agents"]] == [agent_id], "the agents that run a job, for its page"
    elsewhere = client.get("/api/agents", params={"job": "staging/other"}, headers=alice.headers).json()
    assert elsewhere == {"agents": []}
    assert client.get("/api/agents", params={"job": "no slash"}, headers=alice.headers).status_code == 422
    wait_until(lambda: _agent_if(client, alice, agent_id, status="offline"), timeout=5)


def _agent_if(client: httpx.Client, account: Account, agent_id: str, *, status: str) -> dict[str, Any] | None:
    shown = client.get(f"/api/agents/{agent_id}", headers=account.headers).json()
    return dict(shown) if shown["status"] == status else None


def _set_on_call(event: asyncio.Event) -> Any:
    async def callback() -> None:
        event.set()

    return callback


async def _wait_for_errors(errors: list[Exception], count: int) -> None:
    for _ in range(100):
        if len(errors) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} errors, got {errors!r}")


def test_the_agent_event_stream_records_enrollment_and_revocation(secure_stack: Stack, client: httpx.Client) -> None:
    alice = sign_up(client, "alice")
    agent = enroll(client, alice)
    client.delete(f"/api/agents/{agent['agent_id']}", headers=alice.headers)
    kinds = asyncio.run(_agent_event_kinds(secure_stack))
    assert kinds == ["enrolled", "revoked"]


async def _agent_event_kinds(stack: Stack) -> list[str]:
    url = (stack.data_dir / "nats.url").read_text().strip()
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        info = await js.stream_info("AGENTS")
        return [json.loads((await js.get_msg("AGENTS", seq)).data)["kind"] for seq in range(1, info.state.last_seq + 1)]
    finally:
        await connection.close()
