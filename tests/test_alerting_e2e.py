"""Alerting through the whole platform: a webhook channel on a local receiver, check-ins through
the API, incidents through the API. What a user sees: one notification per problem, one when it
is fixed, and nothing of another team's."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import delete, select

from crontopus_alerting.models import JobMonitor
from crontopus_alerting.notify import SENDER
from crontopus_alerting.settings import AlertingSettings
from crontopus_kit.db import Database
from crontopus_server.testing import Account, Stack, WebhookReceiver, create_api_key, sign_up, wait_until

JOB = "ops/nightly-report"
OTHER_JOB = "ops/weekly-audit"


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # the storage rules are tested on both backends in services/alerting/tests


@pytest.fixture
def stack_env(stack_env: dict[str, Any]) -> dict[str, Any]:
    return {
        **stack_env,
        "CRONTOPUS_ALERTING_TICK_INTERVAL": "0.2",
        "CRONTOPUS_ALERTING_SETTLE_SECONDS": "0",
        "CRONTOPUS_ALLOW_PRIVATE_NETWORKS": "true",  # the receiver is on 127.0.0.1
        "CRONTOPUS_ALERTING_DELIVERY_BACKOFF": "0.2",
        "CRONTOPUS_ALERTING_RESYNC_INTERVAL": "0.5",
    }


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver()
    # The stack's sender child started and answering (it runs in this process): the notification
    # times measured here are the platform's, not a cold interpreter's imports on a loaded machine.
    asyncio.run(SENDER.ready())
    yield running
    running.stop()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def add_job(api: httpx.Client, account: Account, monitor: str = "", *, job: str = JOB) -> None:
    namespace, name = job.split("/")
    manifest = (
        f"apiVersion: crontopus.io/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        f'spec:\n  schedule: "* * * * *"\n  command: /usr/local/bin/report.sh\n{monitor}'
    )
    assert api.post("/api/jobs", json={"manifest": manifest}, headers=account.headers).status_code == 201


def report_run(api: httpx.Client, key: str, *, exit_code: int, job: str = JOB) -> str:
    run_id = uuid.uuid4().hex
    for body in ({"status": "running"}, {"status": "success" if exit_code == 0 else "failure", "exit_code": exit_code}):
        sent = api.post("/api/checkins", headers={"X-Api-Key": key}, json={"job": job, "run_id": run_id, **body})
        assert sent.status_code == 202, sent.text
    return run_id


def links_in(message: str) -> list[str]:
    links = re.findall(r"https?://\S+", message)
    assert len(links) >= 3, message  # the incident, the job and the run
    return links


def incidents(api: httpx.Client, account: Account, **params: str) -> list[dict[str, Any]]:
    return list(api.get("/api/incidents", params=params, headers=account.headers).json()["incidents"])


def test_a_failed_run_notifies_once_and_the_next_success_resolves_it(
    api: httpx.Client, receiver: WebhookReceiver
) -> None:
    alice = sign_up(api, "alice")
    key = create_api_key(api, alice)
    channel = api.post("/api/channels", json={"name": "hook", "url": receiver.url()}, headers=alice.headers)
    assert channel.status_code == 201, channel.text
    add_job(api, alice)
    wait_until(lambda: api.get("/api/jobs", headers=alice.headers).json()["jobs"])

    failed_run = report_run(api, key, exit_code=1)
    finished = time.monotonic()
    wait_until(lambda: receiver.bodies, timeout=5)
    took = time.monotonic() - finished
    [incident] = incidents(api, alice, status="open")
    assert (incident["job"], incident["cause"], incident["run_id"]) == (JOB, "failed", failed_run)
    for link in links_in(receiver.bodies[0]["message"]):  # every link opens a console page of what it names:
        path = urlsplit(link).path  # the page's data is at the same path under /api/
        assert path.startswith(("/incidents/", "/jobs/", "/runs/")), link
        assert api.get(f"/api{path}", headers=alice.headers).status_code == 200, link
    report_run(api, key, exit_code=1)  # still failing: the same incident, no second notification

    report_run(api, key, exit_code=0)
    wait_until(lambda: len(receiver.bodies) >= 2, timeout=5)
    assert took < 5
    assert incidents(api, alice, status="open") == []
    [resolved] = incidents(api, alice, status="resolved")
    assert resolved["resolved_by"] == "recovery"
    # Alerting handles runs in order and records a delivery before sending it: had the second
    # failure notified, its delivery would be listed here, before the resolve's.
    shown = api.get(f"/api/incidents/{resolved['id']}", headers=alice.headers).json()
    sent = [(d["channel_name"], d["event"], d["status"], d["attempts"]) for d in shown["deliveries"]]
    assert sent == [("hook", "trigger", "sent", 1), ("hook", "resolve", "sent", 1)]
    assert len(receiver.bodies) == 2
    assert "failed" in receiver.titles()[0].lower() and "resolved" in receiver.titles()[1].lower()


def test_a_failure_during_a_silence_is_recorded_but_nobody_is_notified(
    api: httpx.Client, receiver: WebhookReceiver
) -> None:
    alice = sign_up(api, "alice")
    key = create_api_key(api, alice)
    api.post("/api/channels", json={"name": "hook", "url": receiver.url()}, headers=alice.headers)
    add_job(api, alice)
    wait_until(lambda: api.get("/api/jobs", headers=alice.headers).json()["jobs"])
    silence = api.post("/api/silences", json={"job": JOB, "duration": "1h", "reason": "upgrade"}, headers=alice.headers)
    assert silence.status_code == 201, silence.text

    add_job(api, alice, job=OTHER_JOB)
    wait_until(lambda: OTHER_JOB in [j["job"] for j in api.get("/api/jobs", headers=alice.headers).json()["jobs"]])

    report_run(api, key, exit_code=1)
    [incident] = wait_until(lambda: incidents(api, alice, status="open"))
    # Then a failure of a job nobody silenced: alerting handles runs in order, so once its
    # notification is here, the silenced failure's was decided (and not sent) before it.
    report_run(api, key, exit_code=1, job=OTHER_JOB)
    wait_until(lambda: receiver.bodies, timeout=5)
    assert incident["silenced"] and incident["job"] == JOB
    assert [OTHER_JOB in body["message"] for body in receiver.bodies] == [True]
    assert JOB not in receiver.bodies[0]["message"]


def test_bob_sees_none_of_alices_incidents_or_channels(api: httpx.Client, receiver: WebhookReceiver) -> None:
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    key = create_api_key(api, alice)
    channel = api.post("/api/channels", json={"name": "hook", "url": receiver.url()}, headers=alice.headers).json()
    add_job(api, alice)
    wait_until(lambda: api.get("/api/jobs", headers=alice.headers).json()["jobs"])
    report_run(api, key, exit_code=1)
    [incident] = wait_until(lambda: incidents(api, alice))

    assert incidents(api, bob) == []
    assert api.get(f"/api/incidents/{incident['id']}", headers=bob.headers).status_code == 404
    assert api.post(f"/api/incidents/{incident['id']}/ack", headers=bob.headers).status_code == 404
    assert api.get("/api/channels", headers=bob.headers).json()["channels"] == []
    assert api.delete(f"/api/channels/{channel['id']}", headers=bob.headers).status_code == 404
    assert api.post(f"/api/channels/{channel['id']}/test", headers=bob.headers).status_code == 404
    acked = api.post(f"/api/incidents/{incident['id']}/ack", headers=alice.headers).json()
    assert acked["status"] == "acknowledged"


def test_a_channel_url_is_stored_masked_and_a_private_target_is_refused_by_default(
    api: httpx.Client, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = sign_up(api, "alice")
    slack = api.post(
        "/api/channels", json={"name": "slack", "url": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"},
        headers=alice.headers,
    )  # fmt: skip
    assert slack.status_code == 201, slack.text
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in json.dumps(api.get("/api/channels", headers=alice.headers).json())
    bad = api.post("/api/channels", json={"name": "x", "url": "not a url"}, headers=alice.headers)
    assert bad.status_code == 422


@pytest.mark.slow
def test_a_job_that_does_not_run_raises_one_missed_incident_and_a_run_resolves_it(
    api: httpx.Client, receiver: WebhookReceiver
) -> None:
    alice = sign_up(api, "alice")
    key = create_api_key(api, alice)
    api.post("/api/channels", json={"name": "hook", "url": receiver.url()}, headers=alice.headers)
    add_job(api, alice, monitor="  monitor: {grace: 5s}\n")

    [incident] = wait_until(lambda: incidents(api, alice, status="open"), timeout=75, interval=0.5)
    assert incident["cause"] == "missed"
    wait_until(lambda: receiver.bodies, timeout=5)
    report_run(api, key, exit_code=0)
    wait_until(lambda: incidents(api, alice, status="resolved"), timeout=5)
    wait_until(lambda: len(receiver.bodies) >= 2, timeout=5)
    assert "missed" in receiver.titles()[0].lower() and "resolved" in receiver.titles()[1].lower()


def test_monitoring_comes_back_without_a_push_when_alerting_lost_the_teams_jobs(api: httpx.Client) -> None:
    """As after restoring an empty alerting database, or a team whose last push left the GITOPS
    stream: the periodic re-read from gitops brings every job's missed-run watch back."""
    sign_up(api, "alice")
    watched = wait_until(lambda: asyncio.run(_watched_jobs()), timeout=10)
    asyncio.run(_forget_watched_jobs())
    assert asyncio.run(_watched_jobs()) == []
    assert wait_until(lambda: asyncio.run(_watched_jobs()), timeout=10) == watched


async def _watched_jobs() -> list[str]:
    settings = AlertingSettings()  # the stack's, from its CRONTOPUS_* environment
    db = Database(settings.database_url_for("alerting"), schema=settings.database_schema_for("alerting"))
    try:
        async with db.session() as session:
            return sorted((await session.execute(select(JobMonitor.job))).scalars())
    finally:
        await db.dispose()


async def _forget_watched_jobs() -> None:
    settings = AlertingSettings()
    db = Database(settings.database_url_for("alerting"), schema=settings.database_schema_for("alerting"))
    try:
        async with db.session() as session:
            await session.execute(delete(JobMonitor))
            await session.commit()
    finally:
        await db.dispose()
