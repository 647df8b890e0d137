"""Alerting's copy of a team's jobs (the due-time index), filled from gitops' job list. Gitops is a
handler on FastStream's in-memory test broker here: what is tested is alerting's own sync."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlmodel import col, select

from crontopus_alerting.models import Incident, JobMonitor
from crontopus_alerting.settings import AlertingSettings
from crontopus_alerting.unit import AlertingUnit
from crontopus_kit.broker import rpc_handler
from crontopus_kit.testing import in_memory, in_memory_broker
from crontopus_schemas.events import RecordedRun, RunsRecorded
from crontopus_schemas.gitops import JobListRequest, JobPage, JobSummary
from crontopus_schemas.subjects import GitopsRpc

TEAM = "a" * 32


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

    def failure(job_ref: str) -> RunsRecorded:
        run = RecordedRun(run_id=uuid.uuid4().hex, job=job_ref, status="failure", started_at=None,
                          finished_at=datetime.now(UTC), duration_ms=None, exit_code=1)  # fmt: skip
        return RunsRecorded(runs=[run])

    async with in_memory(broker, unit):
        await unit.record_runs(TEAM, failure("ops/backup"))
        await unit.record_runs(TEAM, failure("ops/not-in-git"))  # no job: within 10 s, not asked again
        async with unit.db.session() as session:
            opened = (await session.execute(select(col(Incident.job), col(Incident.cause)))).all()
    assert [tuple(row) for row in opened] == [("ops/backup", "failed")]
    assert asked == [TEAM]
