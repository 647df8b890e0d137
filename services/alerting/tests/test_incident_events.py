"""Every incident change is announced on the INCIDENTS stream, per team (the web console's live
events relay it): opened, acknowledged, resolved; a silenced incident too, though nobody is told."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest

from crontopus_schemas import subjects
from crontopus_schemas.alerting import IncidentChanged
from crontopus_server.testing import sign_up, wait_until

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


async def announced(url: str, tenant_id: str) -> list[IncidentChanged]:
    """What the INCIDENTS stream holds for the team, oldest first."""
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        subscription = await js.pull_subscribe(subjects.incident_changed_subject(tenant_id), stream="INCIDENTS")
        try:
            messages = await subscription.fetch(100, timeout=0.5)
        except nats.errors.TimeoutError:
            return []
        return [IncidentChanged.model_validate_json(msg.data) for msg in messages]
    finally:
        await connection.close()


def fail(api, account, job: str) -> None:
    body = {"job": job, "run_id": uuid.uuid4().hex, "status": "failure", "exit_code": 1}
    assert api.post("/api/checkins", json=body, headers=account.headers).status_code == 202


def test_incidents_are_announced_as_they_open_are_acknowledged_and_resolve(stack, api):
    alice = sign_up(api, "alice")
    tenant_id = api.get("/api/auth/me", headers=alice.headers).json()["tenant_id"]
    events = lambda: asyncio.run(announced(stack.nats.url, tenant_id))  # noqa: E731
    fail(api, alice, "staging/hello")
    [opened] = wait_until(events)
    assert (opened.change, opened.status, opened.job, opened.cause) == ("opened", "open", "staging/hello", "failed")
    assert api.post(f"/api/incidents/{opened.id}/ack", headers=alice.headers).status_code == 200
    assert api.post(f"/api/incidents/{opened.id}/ack", headers=alice.headers).status_code == 200  # no change
    assert api.post(f"/api/incidents/{opened.id}/resolve", headers=alice.headers).status_code == 200
    changes = wait_until(lambda: [(e.change, e.status) for e in events()][2:] and events())
    assert [(e.change, e.status) for e in changes] == [
        ("opened", "open"), ("acknowledged", "acknowledged"), ("resolved", "resolved"),
    ], "the second acknowledgement changed nothing and is not announced"  # fmt: skip
    assert {e.id for e in events()} == {opened.id}


def test_a_silenced_incident_is_announced_but_nobody_is_notified(stack, api):
    alice = sign_up(api, "alice")
    tenant_id = api.get("/api/auth/me", headers=alice.headers).json()["tenant_id"]
    assert api.post("/api/channels", json={"name": "pager", "url": SLACK}, headers=alice.headers).status_code == 201
    silence = {"job": "staging/hello", "duration": "1h", "reason": "maintenance"}
    assert api.post("/api/silences", json=silence, headers=alice.headers).status_code == 201
    fail(api, alice, "staging/hello")
    [opened] = wait_until(lambda: asyncio.run(announced(stack.nats.url, tenant_id)))
    assert (opened.change, opened.silenced) == ("opened", True)
    detail = api.get(f"/api/incidents/{opened.id}", headers=alice.headers).json()
    assert detail["silenced"] and detail["deliveries"] == []
