"""Alerting's copy of a team's jobs (the due-time index), filled from gitops' job list. Gitops is a
handler on FastStream's in-memory test broker here: what is tested is alerting's own sync."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlmodel import col, select

from crontopus_alerting import unit as alerting_unit
from crontopus_alerting.models import Incident, JobMonitor
from crontopus_alerting.settings import AlertingSettings
from crontopus_alerting.unit import AlertingUnit
from crontopus_kit.broker import rpc_handler
from crontopus_kit.testing import in_memory, in_memory_broker
from crontopus_schemas.events import RecordedRun, RunsRecorded
from crontopus_schemas.gitops import JobListRequest, JobPage, JobSummary
from crontopus_schemas.subjects import GitopsRpc

TEAM = "a" * 32


def failure(job_ref: str) -> RunsRecorded:
    run = RecordedRun(run_id=uuid.uuid4().hex, job=job_ref, status="failure", started_at=None,
                      finished_at=datetime.now(UTC), duration_ms=None, exit_code=1)  # fmt: skip
    return RunsRecorded(runs=[run])


def job(name: str) -> JobSummary:
    return JobSummary(
        job=f"ops/{name}", namespace="ops", name=name, schedule="*/5 * * * *", timezone="UTC", enabled=True,
        paused=False, labels={}, command="/bin/true", commit="c0ffee", file=f"ops/{name}.yaml",
    )  # fmt: skip


async def test_a_change_and_the_periodic_re_read_of_the_same_team_at_once_store_each_job_once(settings_factory):
    broker = in_memory_broker("alerting-test")
    unit = AlertingUnit(settings_factory(AlertingSettings), broker=broker)

    @broker.subscriber(GitopsRpc.JOBS_LIST)
    @rpc_handler(JobListRequest)
    async def gitops_jobs(request: JobListRequest) -> JobPage:
        await asyncio.sleep(0.05)  # both syncs are asking before either has stored anything
        return JobPage(jobs=[job("backup"), job("report")])

    async with in_memory(broker, unit):
        await asyncio.gather(unit.sync_tenant(TEAM), unit.sync_tenant(TEAM))
        async with unit.db.session() as session:
            stored = (await session.execute(select(col(JobMonitor.job)).where(col(JobMonitor.tenant_id) == TEAM))).all()
    assert sorted(row[0] for row in stored) == ["ops/backup", "ops/report"]


async def test_a_run_of_a_job_whose_manifest_change_has_not_arrived_yet_is_judged(settings_factory):
    """A job created and run at once: its failure reaches alerting before the job does."""
    broker = in_memory_broker("alerting-test")
    unit = AlertingUnit(settings_factory(AlertingSettings), broker=broker)
    asked: list[str] = []

    @broker.subscriber(GitopsRpc.JOBS_LIST)
    @rpc_handler(JobListRequest)
    async def gitops_jobs(request: JobListRequest) -> JobPage:
        asked.append(request.tenant_id)
        return JobPage(jobs=[job("backup")])

    async with in_memory(broker, unit):
        await unit.record_runs(TEAM, failure("ops/backup"))
        await unit.record_runs(TEAM, failure("ops/not-in-git"))  # no job: within 10 s, not asked again
        async with unit.db.session() as session:
            opened = (await session.execute(select(col(Incident.job), col(Incident.cause)))).all()
    assert [tuple(row) for row in opened] == [("ops/backup", "failed")]
    assert asked == [TEAM]


async def test_a_run_sent_before_gitops_knew_its_job_is_judged_at_the_teams_next_manifest_change(
    settings_factory, manifests_changed
):
    """A team's first minutes: its first failure reaches alerting before gitops indexed the job, so
    re-reading the team's jobs finds none; the run waits for the manifest change."""
    broker = in_memory_broker("alerting-test")
    unit = AlertingUnit(settings_factory(AlertingSettings), broker=broker)
    indexed: list[JobSummary] = []

    @broker.subscriber(GitopsRpc.JOBS_LIST)
    @rpc_handler(JobListRequest)
    async def gitops_jobs(request: JobListRequest) -> JobPage:
        return JobPage(jobs=indexed)

    async def incidents() -> list[tuple[str, str]]:
        async with unit.db.session() as session:
            return [tuple(row) for row in (await session.execute(select(col(Incident.job), col(Incident.cause)))).all()]

    async with in_memory(broker, unit):
        await unit.record_runs(TEAM, failure("ops/backup"))
        assert await incidents() == []  # no job yet: nothing to judge it by
        indexed.append(job("backup"))
        await manifests_changed(unit, TEAM)
        assert await incidents() == [("ops/backup", "failed")]


def test_runs_waiting_for_their_job_expire_even_for_a_team_that_never_sends_again(settings_factory, monkeypatch):
    unit = AlertingUnit(settings_factory(AlertingSettings), broker=in_memory_broker("alerting-test"))
    clock = [1000.0]
    monkeypatch.setattr(alerting_unit.time, "monotonic", lambda: clock[0])
    quiet, busy = "q" * 32, "b" * 32
    unit._wait_for_jobs(quiet, [(clock[0], run) for run in failure("ops/unknown").runs])
    clock[0] += alerting_unit.WAITING_FOR_JOB_SECONDS - 1
    unit._wait_for_jobs(busy, [(clock[0], run) for run in failure("ops/unknown").runs])
    assert set(unit._waiting) == {quiet, busy}
    clock[0] += 2  # the quiet team's run is past its wait; the busy team's is not
    unit._wait_for_jobs(busy, [])
    assert set(unit._waiting) == {busy}
    runs = [(clock[0], run) for _ in range(alerting_unit.MAX_WAITING_RUNS + 5) for run in failure("ops/x").runs]
    unit._wait_for_jobs(busy, runs)
    assert len(unit._waiting[busy]) == alerting_unit.MAX_WAITING_RUNS
