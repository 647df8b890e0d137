"""The alerting flow on SQLite and PostgreSQL, without a broker: run events and the clock in,
incidents and notices out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from crontopus_alerting import incidents, monitors, notify, service
from crontopus_alerting.models import Incident, JobMonitor
from crontopus_kit.db import Database
from crontopus_schemas.alerting import AlertRules
from crontopus_schemas.events import RecordedRun
from crontopus_schemas.manifest import Monitor

ALICE = "a" * 32
T0 = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)


async def watch(db: Database, *refs: str, rules: AlertRules | None = None, **monitor) -> None:
    jobs = [monitors.MonitoredJob(ref=ref, schedule="* * * * *", monitor=Monitor(**monitor)) for ref in refs]
    async with db.session() as session:
        await monitors.sync_monitors(session=session, tenant_id=ALICE, jobs=jobs, rules=rules or AlertRules(), now=T0)


def run(run_id: str, status: str, *, job: str = "ops/a", seconds: int = 10, at: datetime = T0, **fields) -> RecordedRun:
    finished = at + timedelta(seconds=seconds) if status != "running" else None
    return RecordedRun(**{
        "run_id": run_id, "job": job, "status": status, "started_at": at, "finished_at": finished,
        "duration_ms": seconds * 1000 if finished else None, "exit_code": 0 if status == "success" else 1, **fields,
    })  # fmt: skip


async def handle(db: Database, *runs: RecordedRun) -> list[service.Notice]:
    async with db.session() as session:
        return (await service.handle_runs(session=session, tenant_id=ALICE, runs=list(runs), now=T0)).notices


async def test_a_redelivered_failure_counts_once_toward_consecutive_failures(db):
    await watch(db, "ops/a", failures={"consecutive": 2})
    first = await handle(db, run("r1", "failure"))
    again = await handle(db, run("r1", "failure"))  # the same event delivered twice
    second = await handle(db, run("r2", "failure", at=T0 + timedelta(minutes=1)))
    assert (first, again) == ([], [])
    assert [(n.incident.cause, n.event) for n in second] == [("failed", "trigger")]


async def test_a_streak_longer_than_the_ratios_window_still_alerts(db):
    await watch(db, "ops/a", failures={"consecutive": 12})  # the window stays at its default, 10
    minutes = [T0 + timedelta(minutes=i) for i in range(12)]
    before = [await handle(db, run(f"r{i}", "failure", at=at)) for i, at in enumerate(minutes[:11])]
    twelfth = await handle(db, run("r11", "failure", at=minutes[11]))
    assert before == [[]] * 11
    assert [(n.incident.cause, n.event) for n in twelfth] == [("failed", "trigger")]


async def open_causes(db: Database) -> list[str]:
    async with db.session() as session:
        rows = (await session.execute(Incident.__table__.select().where(Incident.__table__.c.status == "open"))).all()
    return sorted(row.cause for row in rows)


async def test_a_failure_that_ran_before_a_success_already_seen_opens_no_incident(db):
    """A host's spooled check-in, or one backfilled through the API: the job is healthy now."""
    await watch(db, "ops/a")
    await handle(db, run("r2", "success", at=T0 + timedelta(minutes=1)))
    late = await handle(db, run("r1", "failure", at=T0))
    in_one_batch = await handle(db, run("r4", "success", at=T0 + timedelta(minutes=3)),
                                run("r3", "failure", at=T0 + timedelta(minutes=2)))  # fmt: skip
    assert (late, in_one_batch) == ([], []), "nobody is told"
    assert await open_causes(db) == [], "no incident keeps the job's badge down"
    newer = await handle(db, run("r5", "failure", at=T0 + timedelta(minutes=4)))
    assert [(n.incident.cause, n.incident.run_id, n.event) for n in newer] == [("failed", "r5", "trigger")]


async def test_a_success_that_ran_before_a_failure_already_seen_does_not_resolve_its_incident(db):
    await watch(db, "ops/a")
    [opened] = await handle(db, run("r2", "failure", at=T0 + timedelta(minutes=1)))
    late = await handle(db, run("r1", "success", at=T0))
    assert late == [] and await open_causes(db) == ["failed"], "the newest run still failed"
    [resolved] = await handle(db, run("r3", "success", at=T0 + timedelta(minutes=2)))
    assert (resolved.incident.id, resolved.event) == (opened.incident.id, "resolve")


async def test_a_late_failure_still_counts_toward_a_later_failures_ratio(db):
    await watch(db, "ops/a", failures={"consecutive": 100, "ratio": 0.75, "window": 4})
    for run_id, status, minutes in (("r1", "success", 0), ("r3", "failure", 2), ("r4", "success", 3)):
        await handle(db, run(run_id, status, at=T0 + timedelta(minutes=minutes)))
    assert await handle(db, run("r2", "failure", at=T0 + timedelta(minutes=1))) == [], "r4 succeeded since"
    [opened] = await handle(db, run("r5", "failure", at=T0 + timedelta(minutes=4)))
    assert opened.incident.detail == "3 of the last 4 runs failed; the last exited with 1"


async def test_a_run_stopped_by_concurrency_replace_opens_no_failure_incident(db):
    await watch(db, "ops/a")
    stopped = await handle(db, run("r1", "failure", seconds=60, exit_code=143, replaced_by="r2"))
    assert stopped == [] and await open_causes(db) == [], "the job's user asked for it"


async def test_a_run_stopped_by_concurrency_replace_is_no_failure_but_still_a_run(db):
    await watch(db, "ops/a", failures={"consecutive": 2}, missed=False)
    replaced = {"exit_code": 143, "replaced_by": "r2"}
    await handle(db, run("r1", "running", at=T0))
    stopped = await handle(db, run("r1", "failure", seconds=60, at=T0, **replaced))
    async with db.session() as session:
        unfinished = await service.tick(session=session, judged_at=T0 + timedelta(hours=3))
    assert (stopped, unfinished) == ([], []), "no failure, and it did finish"
    assert await open_causes(db) == []
    first = await handle(db, run("r2", "failure", at=T0 + timedelta(hours=3)))
    again = await handle(db, run("r3", "success", seconds=60, at=T0 + timedelta(hours=3, minutes=1), **replaced))
    second = await handle(db, run("r4", "failure", at=T0 + timedelta(hours=3, minutes=2)))
    assert (first, again) == ([], []), "a replaced run neither fails nor breaks a streak"
    assert [(n.incident.cause, n.incident.detail) for n in second if n.event == "trigger"] == [
        ("failed", "2 failed runs in a row; the last exited with 1")
    ]


async def test_too_long_too_fast_and_too_often_each_open_once_and_recover(db):
    await watch(db, "ops/a", max_duration="1m", min_duration="5s", max_runs={"count": 1, "per": "1h"})
    slow = await handle(db, run("r1", "success", seconds=120))
    fast = await handle(db, run("r2", "success", seconds=1, at=T0 + timedelta(minutes=5)))
    normal = await handle(db, run("r3", "success", seconds=30, at=T0 + timedelta(hours=2)))
    assert [(n.incident.cause, n.event) for n in slow] == [("too_long", "trigger")]
    assert sorted((n.incident.cause, n.event) for n in fast) == [
        ("too_fast", "trigger"), ("too_long", "resolve"), ("too_often", "trigger"),
    ]  # fmt: skip
    assert sorted((n.incident.cause, n.event) for n in normal) == [("too_fast", "resolve"), ("too_often", "resolve")]


async def test_an_incident_in_a_maintenance_window_is_recorded_but_not_notified(db):
    window = {"start": T0 - timedelta(hours=1), "end": T0 + timedelta(hours=1), "reason": "migration"}
    await watch(db, "ops/a", maintenance=[window])
    notices = await handle(db, run("r1", "failure"))
    async with db.session() as session:
        [incident] = (await session.execute(Incident.__table__.select())).all()
    assert [(n.event, n.incident.silenced) for n in notices] == [("trigger", True)], "for the record, not for channels"
    assert incident.silenced and incident.cause == "failed"


async def test_an_offline_agent_opens_one_incident_and_silences_its_jobs_missed_runs(db):
    await watch(db, "ops/a", "ops/b", "ops/c", grace="0s")
    async with db.session() as session:
        offline = await service.agent_offline(
            session=session, tenant_id=ALICE, agent_id="f" * 32, name="db-1", jobs=["ops/a", "ops/b"]
        )
        late = await service.tick(session=session, judged_at=T0 + timedelta(minutes=3))
        back = await service.agent_back(session=session, tenant_id=ALICE, agent_id="f" * 32)
    assert [(n.incident.cause, n.incident.agent_id) for n in offline] == [("agent_offline", "f" * 32)]
    assert [(n.incident.cause, n.incident.job) for n in late] == [("missed", "ops/c")]  # no storm for a and b
    assert [(n.incident.cause, n.event) for n in back] == [("agent_offline", "resolve")]


async def test_an_offline_agents_notifications_name_the_agent_not_only_its_id(db):
    agent_id = "b04d2815" + "0" * 24
    async with db.session() as session:
        [opened] = await service.agent_offline(session=session, tenant_id=ALICE, agent_id=agent_id, name="db-1",
                                               jobs=["ops/a"])  # fmt: skip
        [resolved] = await service.agent_back(session=session, tenant_id=ALICE, agent_id=agent_id)
    trigger = notify.build_message(event="trigger", incident=opened.incident, base_url="https://c")
    resolve = notify.build_message(event="resolve", incident=resolved.incident, base_url="https://c")
    assert trigger.title == "[Crontopus] agent db-1 is offline"
    assert resolve.title == "[Crontopus] Resolved: agent db-1 is offline"
    assert f"Agent: db-1 (id {agent_id})" in trigger.body


async def test_an_unacknowledged_incident_is_escalated_once_then_reminded_each_period(db):
    await watch(db, "ops/a")
    async with db.session() as session:
        await service.update_rules(
            session=session, tenant_id=ALICE, new=AlertRules(renotify_every="1h", escalate_after="10m")
        )
    [_] = await handle(db, run("r1", "failure"))
    moments = [T0 + timedelta(minutes=5), T0 + timedelta(minutes=11), T0 + timedelta(minutes=12),
               T0 + timedelta(minutes=75)]  # fmt: skip
    events = []
    for moment in moments:
        async with db.session() as session:
            events.append([n.event for n in await service.reminders(session=session, now=moment)])
    assert events == [[], ["escalate"], [], ["renotify"]]


async def test_an_acknowledged_incident_gets_no_reminders(db):
    await watch(db, "ops/a")
    [opened] = await handle(db, run("r1", "failure"))
    async with db.session() as session:
        _, acked = await incidents.acknowledge(
            session=session, tenant_id=ALICE, incident_id=opened.incident.id, user_id="u"
        )
        assert acked
        assert await service.reminders(session=session, now=T0 + timedelta(days=1)) == []


async def test_team_rules_are_kept_per_tenant(db):
    async with db.session() as session:
        await service.update_rules(session=session, tenant_id=ALICE, new=AlertRules(grace="15m", missed=False))
        mine = await service.get_rules(session=session, tenant_id=ALICE)
        others = await service.get_rules(session=session, tenant_id="b" * 32)
    assert (mine.grace, mine.missed) == ("15m", False)
    assert others == AlertRules()
    assert json.loads(AlertRules().model_dump_json())["renotify_every"] == "4h"


async def test_a_job_that_stays_down_is_reported_once_and_its_later_slots_still_advance(db):
    await watch(db, "ops/a", "ops/b", grace="0s")
    ticks = []
    for minutes in (3, 5, 8):
        async with db.session() as session:
            ticks.append([(n.incident.job, n.incident.cause) for n in await service.tick(
                session=session, judged_at=T0 + timedelta(minutes=minutes))])  # fmt: skip
        async with db.session() as session:
            rows = (await session.execute(JobMonitor.__table__.select())).all()
        alert_at = [row.alert_at.replace(tzinfo=row.alert_at.tzinfo or UTC) for row in rows]  # SQLite: naive UTC
        assert all(at > T0 + timedelta(minutes=minutes) for at in alert_at)  # every slot claimed
    assert sorted(ticks[0]) == [("ops/a", "missed"), ("ops/b", "missed")]
    assert ticks[1:] == [[], []]  # the same incidents stay open: nobody is told twice
