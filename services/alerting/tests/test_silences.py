"""Silences made through the API, on SQLite and PostgreSQL: what each covers (one job, a namespace,
a label selector, the whole team), when (from its start until it expires), and for whom (its
team only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from crontopus_alerting import monitors, service, silences
from crontopus_kit.db import Database
from crontopus_kit.errors import Invalid, NotFound
from crontopus_schemas.alerting import AlertRules, SilenceCreate, SilenceCreateRequest
from crontopus_schemas.events import RecordedRun

ALICE, BOB = "a" * 32, "b" * 32
T0 = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)
LABELED = {"team": "data", "tier": "batch"}


async def watch(db: Database, tenant_id: str, jobs: dict[str, dict[str, str]]) -> None:
    """These jobs (ref: labels) are the tenant's."""
    watched = [monitors.MonitoredJob(ref=ref, schedule="* * * * *", labels=labels) for ref, labels in jobs.items()]
    async with db.session() as session:
        await monitors.sync_monitors(session=session, tenant_id=tenant_id, jobs=watched, rules=AlertRules(), now=T0)


async def silence(db: Database, tenant_id: str = ALICE, *, now: datetime = T0, **body: object):
    request = SilenceCreateRequest(
        tenant_id=tenant_id, created_by="u" * 32, body=SilenceCreate.model_validate({"duration": "1h", **body})
    )
    async with db.session() as session:
        return await silences.create_silence(session=session, request=request, now=now)


async def fail(db: Database, tenant_id: str, *jobs: str, at: datetime = T0) -> dict[str, bool]:
    """A failed run of each job: whether the incident it opened is silenced, by job."""
    runs = [
        RecordedRun(run_id=uuid.uuid4().hex, job=job, status="failure", started_at=at,
                    finished_at=at + timedelta(seconds=5), duration_ms=5000, exit_code=1)
        for job in jobs
    ]  # fmt: skip
    async with db.session() as session:
        handled = await service.handle_runs(session=session, tenant_id=tenant_id, runs=runs, now=at)
    return {notice.incident.job or "": notice.incident.silenced for notice in handled.notices}


async def test_a_label_silence_quiets_the_jobs_with_all_its_labels_and_no_other(db):
    await watch(db, ALICE, {"ops/etl": LABELED, "ops/report": {"team": "data"}, "ops/web": {}})
    created = await silence(db, match_labels=LABELED, reason="warehouse upgrade")
    assert (created.scope, created.match_labels, created.job, created.namespace) == ("labels", LABELED, None, None)
    assert await fail(db, ALICE, "ops/etl", "ops/report", "ops/web") == {
        "ops/etl": True, "ops/report": False, "ops/web": False,
    }, "ops/report has only one of the two labels"  # fmt: skip


async def test_a_namespace_silence_quiets_every_job_of_it_and_no_other(db):
    await watch(db, ALICE, {"ops/a": {}, "ops/b": LABELED, "web/a": {}, "ops-x/a": {}})
    created = await silence(db, namespace="ops")
    assert (created.scope, created.namespace) == ("namespace", "ops")
    assert await fail(db, ALICE, "ops/a", "ops/b", "web/a", "ops-x/a") == {
        "ops/a": True, "ops/b": True, "web/a": False, "ops-x/a": False,
    }  # fmt: skip


async def test_a_job_silence_quiets_that_job_and_a_team_silence_every_job(db):
    await watch(db, ALICE, {"ops/a": {}, "ops/b": {}, "web/c": {}})
    assert (await silence(db, job="ops/a")).scope == "job"
    assert await fail(db, ALICE, "ops/a", "ops/b") == {"ops/a": True, "ops/b": False}
    team = await silence(db)
    assert (team.scope, team.job, team.namespace, team.match_labels) == ("team", None, None, {})
    assert await fail(db, ALICE, "web/c", at=T0 + timedelta(minutes=1)) == {"web/c": True}


async def test_an_offline_agent_is_silenced_only_by_a_silence_of_the_whole_team(db):
    await watch(db, ALICE, {"ops/a": LABELED})
    await silence(db, namespace="ops")
    await silence(db, match_labels=LABELED)
    await silence(db, job="ops/a")
    async with db.session() as session:
        assert not await silences.silenced(session=session, tenant_id=ALICE, job=None, at=T0 + timedelta(minutes=1))
    await silence(db)
    async with db.session() as session:
        assert await silences.silenced(session=session, tenant_id=ALICE, job=None, at=T0 + timedelta(minutes=1))


async def test_a_silence_quiets_only_from_its_start_until_it_expires(db):
    await watch(db, ALICE, {"ops/a": LABELED})
    await silence(db, match_labels={"team": "data"}, starts_at=T0 + timedelta(hours=1), duration="2h")
    before, during, after = T0 + timedelta(minutes=30), T0 + timedelta(hours=2), T0 + timedelta(hours=3, seconds=1)
    async with db.session() as session:
        quiet = [
            await silences.silenced(session=session, tenant_id=ALICE, job="ops/a", labels=LABELED, at=moment)
            for moment in (before, during, after)
        ]
    assert quiet == [False, True, False]
    assert await fail(db, ALICE, "ops/a", at=after) == {"ops/a": False}


async def test_a_silence_of_one_team_never_quiets_another_teams_job_of_the_same_name_and_labels(db):
    for tenant in (ALICE, BOB):
        await watch(db, tenant, {"ops/a": LABELED})
    for selector in ({"job": "ops/a"}, {"namespace": "ops"}, {"match_labels": LABELED}, {}):
        await silence(db, ALICE, **selector)
    assert await fail(db, BOB, "ops/a") == {"ops/a": False}
    assert await fail(db, ALICE, "ops/a") == {"ops/a": True}
    async with db.session() as session:
        assert await silences.list_silences(session=session, tenant_id=BOB, now=T0) == []
        [alices] = [s for s in await silences.list_silences(session=session, tenant_id=ALICE, now=T0) if s.job]
        with pytest.raises(NotFound):
            await silences.delete_silence(session=session, tenant_id=BOB, silence_id=alices.id)


async def test_the_list_says_what_each_covers_and_leaves_out_expired_ones(db):
    await silence(db, job="ops/a", duration="10m")
    await silence(db, namespace="ops", duration="2h")
    await silence(db, match_labels={"team": "data"}, starts_at=T0 + timedelta(hours=1), duration="1h")
    async with db.session() as session:
        listed = await silences.list_silences(session=session, tenant_id=ALICE, now=T0 + timedelta(minutes=30))
    assert [(s.scope, s.job, s.namespace, s.match_labels) for s in listed] == [
        ("namespace", None, "ops", {}), ("labels", None, None, {"team": "data"}),
    ], "the 10-minute job silence has expired; the label one is upcoming"  # fmt: skip


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"job": "ops/a", "namespace": "ops"}, "give one of job, namespace or match_labels, not job and namespace"),
        ({"namespace": "ops", "match_labels": {"a": "b"}}, "not namespace and match_labels"),
        ({"match_labels": {}}, "at least 1 item"),
        ({"match_labels": {"team": "data science"}}, "String should match pattern"),
        ({"match_labels": {"-bad": "x"}}, "match_labels.-bad.[key]"),
        ({"namespace": "Ops_1"}, "namespace: must be lowercase letters, digits and '-'"),
        ({"job": "ops"}, "job: must be <namespace>/<name>"),
    ],
)
def test_a_silence_with_two_selectors_or_a_bad_one_is_refused_naming_it(body, message):
    with pytest.raises(ValidationError) as refused:
        SilenceCreate.model_validate({"duration": "1h", **body})
    errors = refused.value.errors()
    text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    assert message in text, text


async def test_a_silence_must_end_in_the_future_and_within_90_days(db):
    with pytest.raises(Invalid, match="already past"):
        await silence(db, starts_at=T0 - timedelta(hours=3), ends_at=T0 - timedelta(hours=1), duration=None)
    with pytest.raises(Invalid, match="90 days"):
        await silence(db, duration="2185h")
