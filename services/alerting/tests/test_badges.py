"""Status badges in the alerting service, on SQLite and PostgreSQL: the status each selector shows
(up, late, down, paused, new), the signed URLs of a team's list, and
the one answer (not found) for everything wrong with a URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from crontopus_alerting import badges, incidents, monitors
from crontopus_alerting.models import Incident
from crontopus_kit.db import Database
from crontopus_kit.errors import NotFound
from crontopus_schemas.alerting import AlertRules
from crontopus_schemas.badges import BadgeResolveRequest, is_selector

ALICE, BOB = "a" * 32, "b" * 32
T0 = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)  # the jobs run hourly: next expected at 13:00


async def watch(db: Database, tenant_id: str, *jobs: monitors.MonitoredJob) -> None:
    async with db.session() as session:
        await monitors.sync_monitors(session=session, tenant_id=tenant_id, jobs=list(jobs), rules=AlertRules(), now=T0)


def job(ref: str, *, paused: bool = False, **labels: str) -> monitors.MonitoredJob:
    return monitors.MonitoredJob(ref=ref, schedule="0 * * * *", paused=paused, labels=labels)


async def ran(db: Database, tenant_id: str, *refs: str) -> None:
    """Each job ran once, a minute before T0 (its next expected start stays 13:00)."""
    async with db.session() as session:
        for ref in refs:
            await monitors.record_finish(session=session, tenant_id=tenant_id, job=ref, run_id=f"run-of-{ref}",
                                         finished_at=T0 - timedelta(minutes=1))  # fmt: skip


async def fail(db: Database, tenant_id: str, ref: str) -> None:
    async with db.session() as session:
        await incidents.open_incident(session=session, tenant_id=tenant_id, cause="failed", detail="exit 1", job=ref)
        await session.commit()


async def listed(db: Database, tenant_id: str = ALICE, now: datetime = T0) -> dict[str, tuple[str, str, int]]:
    async with db.session() as session:
        found = await badges.list_badges(session=session, tenant_id=tenant_id, now=now)
    return {badge.selector: (badge.status, badge.signature, badge.jobs) for badge in found.badges}


async def shown(db: Database, public_id: str, signature: str, selector: str, now: datetime = T0) -> str:
    async with db.session() as session:
        request = BadgeResolveRequest(public_id=public_id, signature=signature, selector=selector)
        state = await badges.resolve(session=session, request=request, now=now)
    return f"{state.label}: {state.status}"


async def public_id(db: Database, tenant_id: str = ALICE) -> str:
    async with db.session() as session:
        return (await badges.key_of(session=session, tenant_id=tenant_id)).public_id


async def test_each_job_namespace_and_label_pair_has_a_badge_with_the_worst_status_of_its_jobs(db):
    await watch(
        db, ALICE, job("ops/backup", team="infra"), job("ops/report", team="data"), job("web/sitemap", team="data"),
        job("web/old", paused=True, team="infra"),
    )  # fmt: skip
    await ran(db, ALICE, "ops/backup", "ops/report", "web/sitemap", "web/old")
    await fail(db, ALICE, "ops/report")
    found = await listed(db)
    assert {selector: status for selector, (status, _, _) in found.items()} == {
        "job/ops/backup": "up", "job/ops/report": "down", "job/web/old": "paused", "job/web/sitemap": "up",
        "namespace/ops": "down", "namespace/web": "up",
        "label/team=data": "down", "label/team=infra": "up",
    }  # fmt: skip
    assert found["label/team=infra"][2] == 2, "a paused job still counts in its badge"
    assert list(found)[:4] == ["job/ops/backup", "job/ops/report", "job/web/old", "job/web/sitemap"]


async def test_a_job_past_its_expected_start_is_late_then_down_once_the_incident_opens(db):
    await watch(db, ALICE, job("ops/backup"))
    await ran(db, ALICE, "ops/backup")
    key = await public_id(db)
    signature = (await listed(db))["job/ops/backup"][1]
    before = await shown(db, key, signature, "job/ops/backup", now=T0 + timedelta(minutes=59))
    late = await shown(db, key, signature, "job/ops/backup", now=T0 + timedelta(minutes=61))
    await fail(db, ALICE, "ops/backup")
    down = await shown(db, key, signature, "job/ops/backup", now=T0 + timedelta(minutes=61))
    assert (before, late, down) == ("ops/backup: up", "ops/backup: late", "ops/backup: down")


async def test_an_acknowledged_incident_is_still_down_and_a_resolved_one_is_not(db):
    await watch(db, ALICE, job("ops/backup"))
    await ran(db, ALICE, "ops/backup")
    await fail(db, ALICE, "ops/backup")
    assert (await listed(db))["job/ops/backup"][0] == "down"
    async with db.session() as session:
        row = (await session.execute(select(Incident))).scalar_one()
        await incidents.acknowledge(session=session, tenant_id=ALICE, incident_id=row.id, user_id="u")
    assert (await listed(db))["job/ops/backup"][0] == "down"
    async with db.session() as session:
        await incidents.resolve_by_hand(session=session, tenant_id=ALICE, incident_id=row.id, user_id="u")
    assert (await listed(db))["job/ops/backup"][0] == "up"


async def test_a_job_that_never_ran_is_new_not_up_until_it_runs_and_late_once_its_start_has_passed(db):
    await watch(db, ALICE, job("ops/new", tier="batch"), job("ops/backup"))
    await ran(db, ALICE, "ops/backup")
    key = await public_id(db)
    signature = (await listed(db))["job/ops/new"][1]
    found = await listed(db)
    assert {s: status for s, (status, _, _) in found.items()} == {
        "job/ops/backup": "up", "job/ops/new": "new", "namespace/ops": "up", "label/tier=batch": "new",
    }  # fmt: skip
    late = await shown(db, key, signature, "job/ops/new", now=T0 + timedelta(minutes=61))
    await ran(db, ALICE, "ops/new")
    after = await shown(db, key, signature, "job/ops/new")
    assert (late, after) == ("ops/new: late", "ops/new: up")


async def test_a_selector_whose_jobs_are_all_paused_is_paused(db):
    await watch(db, ALICE, job("ops/a", paused=True, tier="batch"), job("ops/b", paused=True, tier="batch"))
    found = await listed(db, now=T0 + timedelta(hours=5))
    assert {s: status for s, (status, _, _) in found.items()} == {
        "job/ops/a": "paused", "job/ops/b": "paused", "namespace/ops": "paused", "label/tier=batch": "paused",
    }  # fmt: skip


async def test_a_forged_signature_an_unknown_key_another_teams_selector_and_no_jobs_are_the_same_not_found(db):
    await watch(db, ALICE, job("ops/backup"))
    await watch(db, BOB, job("bob/secret"))
    await ran(db, ALICE, "ops/backup")
    alice, bob = await public_id(db, ALICE), await public_id(db, BOB)
    signature = (await listed(db))["job/ops/backup"][1]
    bobs_signature = (await listed(db, BOB))["job/bob/secret"][1]
    assert await shown(db, alice, signature, "job/ops/backup") == "ops/backup: up"
    wrong = [
        (alice, "a" * 16, "job/ops/backup"),  # forged
        (alice, signature.upper(), "job/ops/backup"),
        ("nobody", signature, "job/ops/backup"),  # unknown key
        (alice, signature, "namespace/ops"),  # the signature of another selector
        (alice, bobs_signature, "job/bob/secret"),  # another team's selector under alice's key
        (bob, signature, "job/ops/backup"),  # alice's signature under bob's key
        (alice, signature[::-1], "job/ops/backup"),
        (alice, signature, "job/../../x"),  # not a selector
    ]
    refusals = []
    for key, sig, selector in wrong:
        with pytest.raises(NotFound) as refused:
            await shown(db, key, sig, selector)
        refusals.append(refused.value.message)
    assert set(refusals) == {"not found"}
    async with db.session() as session:
        key_row = await badges.key_of(session=session, tenant_id=ALICE)
    no_jobs = badges.sign(key_row.secret, "namespace/empty")
    with pytest.raises(NotFound) as refused:
        await shown(db, alice, no_jobs, "namespace/empty")
    assert refused.value.message == "not found", "a validly signed selector without jobs: the same answer"


async def test_rotating_the_key_ends_every_old_url(db):
    await watch(db, ALICE, job("ops/backup"))
    await ran(db, ALICE, "ops/backup")
    old_id, old = await public_id(db), (await listed(db))["job/ops/backup"][1]
    async with db.session() as session:
        await badges.rotate(session=session, tenant_id=ALICE)
    new_id, new = await public_id(db), (await listed(db))["job/ops/backup"][1]
    assert new_id != old_id and new != old
    with pytest.raises(NotFound):
        await shown(db, old_id, old, "job/ops/backup")
    with pytest.raises(NotFound):
        await shown(db, new_id, old, "job/ops/backup")
    assert await shown(db, new_id, new, "job/ops/backup") == "ops/backup: up"


async def test_the_key_is_made_once_even_when_asked_for_twice(db):
    async with db.session() as first, db.session() as second:
        one = await badges.key_of(session=first, tenant_id=ALICE)
        two = await badges.key_of(session=second, tenant_id=ALICE)
    assert one.public_id == two.public_id and len(one.public_id) == 20


def test_signatures_are_16_base32_characters_and_selectors_are_strict():
    signature = badges.sign("secret", "job/ops/backup")
    assert len(signature) == 16 and signature == signature.lower() and signature.isalnum()
    assert badges.sign("other", "job/ops/backup") != signature
    assert is_selector("label/app.kubernetes.io/name=web") and is_selector("label/team=")
    for bad in ("job/ops", "job/Ops/x", "namespace/a/b", "label/team", "label/=x", "job/../x", "other/x"):
        assert not is_selector(bad), bad
