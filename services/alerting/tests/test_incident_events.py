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


def test_an_incidents_detail_has_its_timeline_and_the_list_filters_by_any_of_several_statuses(stack, api):
    alice = sign_up(api, "alice")
    alice_id = api.get("/api/auth/me", headers=alice.headers).json()["id"]
    fail(api, alice, "staging/hello")
    [second] = wait_until(lambda: incidents(api, alice))
    assert api.post(f"/api/incidents/{second['id']}/resolve", headers=alice.headers).status_code == 200
    fail(api, alice, "staging/hello")  # a new violation opens a new incident
    first, _ = wait_until(lambda: len(found := incidents(api, alice)) == 2 and found)
    assert api.post(f"/api/incidents/{first['id']}/ack", headers=alice.headers).status_code == 200

    unresolved = incidents(api, alice, status=["open", "acknowledged"])
    assert [(i["id"], i["status"]) for i in unresolved] == [(first["id"], "acknowledged")]
    assert [i["id"] for i in incidents(api, alice, status="resolved")] == [second["id"]]
    assert api.get("/api/incidents", params={"status": "closed"}, headers=alice.headers).status_code == 422

    detail = api.get(f"/api/incidents/{first['id']}", headers=alice.headers).json()
    assert [(s["step"], s["by"]) for s in detail["timeline"]] == [("opened", None), ("acknowledged", alice_id)]
    assert detail["timeline"][1]["at"] == detail["acknowledged_at"]
    assert (detail["escalated_at"], detail["last_notified_at"]) == (None, None)
    resolved = api.get(f"/api/incidents/{second['id']}", headers=alice.headers).json()
    assert [(s["step"], s["by"]) for s in resolved["timeline"]] == [("opened", None), ("resolved", alice_id)]


def incidents(api, account, **params) -> list[dict]:
    return list(api.get("/api/incidents", params=params, headers=account.headers).json()["incidents"])
