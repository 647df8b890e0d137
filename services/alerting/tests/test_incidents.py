"""Incidents on SQLite and PostgreSQL: one per job and cause even when workers race, resolved
once, acknowledged, listed newest first, and never shown to another tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crontopus_alerting import incidents
from crontopus_alerting.models import Incident
from crontopus_kit.db import Database
from crontopus_kit.errors import NotFound
from crontopus_schemas.alerting import DeliveryPublic, IncidentListRequest

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ALICE, BOB = "a" * 32, "b" * 32


async def open_one(db: Database, *, tenant: str = ALICE, job: str = "ops/backup", cause: str = "failed", at=T0):
    async with db.session() as session:
        return await incidents.open_incident(
            session=session, tenant_id=tenant, job=job, cause=cause, detail="exited with 1", run_id="r1", now=at
        )


async def test_concurrent_workers_open_one_incident_per_job_and_cause(db):
    opened = await asyncio.gather(*(open_one(db) for _ in range(5)))
    assert len([incident for incident in opened if incident]) == 1
    assert await open_one(db, cause="missed") is not None  # another cause is another incident
    assert await open_one(db, tenant=BOB) is not None  # and another tenant's job is another job


async def test_recovery_resolves_once_and_a_new_violation_opens_a_new_incident(db):
    first = await open_one(db)

    async def recover():
        async with db.session() as session:
            return await incidents.resolve_by_recovery(
                session=session, tenant_id=ALICE, job="ops/backup", causes=("failed", "too_long")
            )

    outcomes = await asyncio.gather(recover(), recover())
    assert sorted(len(resolved) for resolved in outcomes) == [0, 1]
    second = await open_one(db, at=T0 + timedelta(hours=1))
    assert second is not None and second.id != first.id


async def test_acknowledging_and_resolving_by_hand_and_another_tenant_gets_not_found(db):
    incident = await open_one(db)
    async with db.session() as session:
        with pytest.raises(NotFound):
            await incidents.acknowledge(session=session, tenant_id=BOB, incident_id=incident.id, user_id="bob")
        acked, changed = await incidents.acknowledge(
            session=session, tenant_id=ALICE, incident_id=incident.id, user_id="u1"
        )
        _, acked_again = await incidents.acknowledge(
            session=session, tenant_id=ALICE, incident_id=incident.id, user_id="u2"
        )
        assert (acked.status, acked.acknowledged_by, changed, acked_again) == ("acknowledged", "u1", True, False)
        resolved, changed = await incidents.resolve_by_hand(
            session=session, tenant_id=ALICE, incident_id=incident.id, user_id="u1"
        )
        _, changed_again = await incidents.resolve_by_hand(
            session=session, tenant_id=ALICE, incident_id=incident.id, user_id="u1"
        )
    assert (resolved.status, resolved.resolved_by, changed, changed_again) == ("resolved", "u1", True, False)


async def test_incidents_are_listed_newest_first_by_status_page_by_page(db):
    for index in range(5):
        await open_one(db, job=f"ops/job-{index}", at=T0 + timedelta(minutes=index))
    async with db.session() as session:
        await incidents.resolve_by_recovery(session=session, tenant_id=ALICE, job="ops/job-0", causes=("failed",))
        first = await incidents.list_incidents(
            session=session, request=IncidentListRequest(tenant_id=ALICE, status=["open"], limit=2)
        )
        rest = await incidents.list_incidents(
            session=session,
            request=IncidentListRequest(tenant_id=ALICE, status=["open"], limit=2, cursor=first.next_cursor),
        )
        bobs = await incidents.list_incidents(session=session, request=IncidentListRequest(tenant_id=BOB))
    assert [i.job for i in first.incidents + rest.incidents] == ["ops/job-4", "ops/job-3", "ops/job-2", "ops/job-1"]
    assert rest.next_cursor is None and bobs.incidents == []


async def test_an_incident_a_later_rollback_expired_is_reloaded_before_its_session_closes(db):
    """handle_runs opens incidents, then may roll back a retried monitor update: the notices are
    read after the session closed, where an expired incident raised DetachedInstanceError."""
    from crontopus_alerting.service import _reload_expired

    async with db.session() as session:
        opened = await incidents.open_incident(session=session, tenant_id=ALICE, cause="failed", detail="x",
                                               job="ops/backup", now=T0)  # fmt: skip
        await session.execute(sa.text("SELECT 1"))  # a retried monitor update: it began a transaction,
        await session.rollback()  # then rolled it back
        await _reload_expired(session, [opened])
    assert (opened.job, opened.status, opened.cause) == ("ops/backup", "open", "failed")  # session closed


async def test_not_resolved_lists_the_open_and_the_acknowledged_ones(db):
    for index in range(3):
        await open_one(db, job=f"ops/job-{index}", at=T0 + timedelta(minutes=index))
    async with db.session() as session:
        listed = await incidents.list_incidents(session=session, request=IncidentListRequest(tenant_id=ALICE))
        acked, resolved, _ = listed.incidents
        await incidents.acknowledge(session=session, tenant_id=ALICE, incident_id=acked.id, user_id="u1")
        await incidents.resolve_by_hand(session=session, tenant_id=ALICE, incident_id=resolved.id, user_id="u1")
        unresolved = await incidents.list_incidents(
            session=session, request=IncidentListRequest(tenant_id=ALICE, status=["open", "acknowledged"])
        )
    assert [(i.job, i.status) for i in unresolved.incidents] == [("ops/job-2", "acknowledged"), ("ops/job-0", "open")]


def delivery(event: str, at: datetime, channel: str = "c1") -> DeliveryPublic:
    return DeliveryPublic(id=f"{event}-{channel}-{at:%H%M}", incident_id="i1", channel_id=channel, event=event,
                          status="sent", attempts=1, last_error=None, created_at=at, sent_at=at)  # fmt: skip


def test_the_timeline_tells_what_happened_in_order_with_the_channels_each_step_told():
    minutes = lambda n: T0 + timedelta(minutes=n)  # noqa: E731
    incident = Incident(
        id="i1", tenant_id=ALICE, job="ops/backup", cause="failed", status="resolved", detail="exited with 2",
        opened_at=minutes(0), last_notified_at=minutes(120).replace(tzinfo=None),  # SQLite hands back naive times
        escalated_at=minutes(30), acknowledged_at=minutes(150), acknowledged_by="u1",
        resolved_at=minutes(180), resolved_by="recovery",
    )  # fmt: skip
    sent = [delivery("trigger", minutes(0)), delivery("trigger", minutes(0), "c2"),
            delivery("escalate", minutes(30), "pager"),
            delivery("renotify", minutes(60)),
            delivery("renotify", minutes(120)), delivery("renotify", minutes(120), "c2"),
            delivery("resolve", minutes(180)), delivery("resolve", minutes(180), "c2")]  # fmt: skip
    steps = [(s.step, s.at, s.by, s.channels) for s in incidents.timeline(incident, sent)]
    assert steps == [
        ("opened", minutes(0), None, 0),
        ("notified", minutes(0), None, 2),
        ("escalated", minutes(30), None, 1),
        ("renotified", minutes(60), None, 1),
        ("renotified", minutes(120), None, 2),
        ("acknowledged", minutes(150), "u1", 0),
        ("resolved", minutes(180), "recovery", 2),
    ]
    detail = incidents.incident_detail(incident, sent)
    assert (detail.escalated_at, detail.last_notified_at, len(detail.deliveries)) == (minutes(30), minutes(120), 8)


def test_a_reminder_or_escalation_that_found_no_channel_is_still_on_the_timeline():
    incident = Incident(id="i1", tenant_id=ALICE, job="ops/backup", cause="missed", status="open", detail="",
                        opened_at=T0, last_notified_at=T0 + timedelta(hours=4),
                        escalated_at=T0 + timedelta(hours=1))  # fmt: skip
    steps = [(s.step, s.channels) for s in incidents.timeline(incident, [])]
    assert steps == [("opened", 0), ("escalated", 0), ("renotified", 0)]
