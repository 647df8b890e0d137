"""Which incidents the channels hear about, and which channels: the unit's handlers on FastStream's
in-memory broker (gitops a stub handler), what is checked is what an incident's page shows (its
timeline and every notification queued for it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_alerting import channels, dispatch, incidents, service
from crontopus_alerting.models import Incident
from crontopus_alerting.settings import AlertingSettings
from crontopus_alerting.unit import AlertingUnit
from crontopus_kit.broker import jetstream, rpc_handler
from crontopus_kit.testing import in_memory, in_memory_broker
from crontopus_schemas.alerting import AlertRules, ChannelCreate, IncidentDetail
from crontopus_schemas.events import RecordedRun, RunsRecorded
from crontopus_schemas.gitops import JobListRequest, JobPage, JobSummary
from crontopus_schemas.subjects import GitopsRpc

TEAM = "a" * 32


def job(name: str, *, labels: dict[str, str] | None = None, paused: bool = False, enabled: bool = True) -> JobSummary:
    return JobSummary(
        job=f"ops/{name}", namespace="ops", name=name, schedule="*/5 * * * *", timezone="UTC", enabled=enabled,
        paused=paused, labels=labels or {}, command="/bin/true", commit="c0ffee", file=f"ops/{name}.yaml",
    )  # fmt: skip


def runs(job_ref: str, status: str) -> RunsRecorded:
    run = RecordedRun(run_id=uuid.uuid4().hex, job=job_ref, status=status, started_at=None,
                      finished_at=datetime.now(UTC), duration_ms=None, exit_code=int(status != "success"))  # fmt: skip
    return RunsRecorded(runs=[run])


@dataclass
class Team:
    """Alerting with one team whose repository lists ``jobs`` (change the list, then ``pushed``)."""

    unit: AlertingUnit
    manifests_changed: Callable[[AlertingUnit, str], Awaitable[None]]  # the conftest's fixture
    jobs: list[JobSummary] = field(default_factory=list)

    async def pushed(self) -> None:
        await self.manifests_changed(self.unit, TEAM)

    async def runs(self, job_ref: str, status: str) -> None:
        await self.unit.record_runs(TEAM, runs(job_ref, status))

    async def rules(self, **rules: Any) -> None:
        async with self.unit.db.session() as session:
            await service.update_rules(session=session, tenant_id=TEAM, new=AlertRules(**rules))

    async def channel(self, name: str, **fields: Any) -> None:
        body = ChannelCreate(name=name, url=f"json://93.184.215.14/{name}", **fields)
        async with self.unit.db.session() as session:
            await channels.create_channel(session=session, tenant_id=TEAM, body=body,
                                          secret=self.unit.settings.secret_bytes(), allow_private=False)  # fmt: skip

    async def clock(self, after: timedelta) -> None:
        """The tick's reminders and escalation, ``after`` from now, told as the tick tells them."""
        async with self.unit.db.session() as session:
            notices = await service.reminders(session=session, now=datetime.now(UTC) + after)
        await self.unit.notifier.send(notices)

    async def incident_ids(self) -> dict[str, str]:
        async with self.unit.db.session() as session:
            found = (await session.execute(select(Incident).where(col(Incident.tenant_id) == TEAM))).scalars()
            return {str(incident.job): incident.id for incident in found}

    async def shown(self, incident_id: str) -> IncidentDetail:
        """The incident as its page shows it."""
        async with self.unit.db.session() as session:
            return await _detail(session, incident_id)


async def _detail(session: AsyncSession, incident_id: str) -> IncidentDetail:
    found = await incidents.get_incident(session=session, tenant_id=TEAM, incident_id=incident_id)
    sent = await dispatch.deliveries_of(session=session, tenant_id=TEAM, incident_id=incident_id)
    return incidents.incident_detail(found, sent)


def told(detail: IncidentDetail) -> list[tuple[str | None, str]]:
    return [(delivery.channel_name, delivery.event) for delivery in detail.deliveries]


@pytest.fixture
async def team(settings_factory, manifests_changed) -> AsyncIterator[Team]:
    broker = in_memory_broker("alerting-test")
    found = Team(AlertingUnit(settings_factory(AlertingSettings), broker=broker), manifests_changed)

    @broker.subscriber(GitopsRpc.JOBS_LIST)
    @rpc_handler(JobListRequest)
    async def gitops_jobs(request: JobListRequest) -> JobPage:
        return JobPage(jobs=found.jobs)

    async with in_memory(broker, found.unit):
        _accept_publishes(broker)
        yield found


def _accept_publishes(broker: Any) -> None:
    """The in-memory broker's JetStream is a mock whose ``publish_async`` gives nothing to await:
    deliveries are queued (stored, then published) as with a server that acks each message."""

    async def acked(*args: Any, **kwargs: Any) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    jetstream(broker).publish_async = acked


# --- a job removed from Git -----------------------------------------------------------------------


async def test_the_incidents_of_a_job_removed_from_git_are_resolved_and_its_channels_told_why(team):
    """A job deleted from the repository can never recover: its incident stayed open and reminded
    every minute, linking to a job page that is gone. A paused or disabled job is still defined:
    its incidents stay."""
    await team.rules(renotify_every="1m")
    await team.channel("oncall")
    team.jobs[:] = [job("backup"), job("report"), job("cleanup"), job("archive")]
    await team.pushed()
    for summary in team.jobs:
        await team.runs(summary.job, "failure")
    ids = await team.incident_ids()
    async with team.unit.db.session() as session:
        await incidents.acknowledge(session=session, tenant_id=TEAM, incident_id=ids["ops/report"], user_id="u1")

    team.jobs[:] = [job("cleanup", paused=True), job("archive", enabled=False)]  # backup and report deleted
    await team.pushed()
    await team.clock(after=timedelta(minutes=2))

    for ref in ("ops/backup", "ops/report"):  # the acknowledged one too: nobody is left to fix it
        shown = await team.shown(ids[ref])
        assert (shown.status, shown.resolved_by) == ("resolved", "job_removed"), ref
        assert [(step.step, step.by, step.channels) for step in shown.timeline][-1] == ("resolved", "job_removed", 1)
        assert told(shown) == [("oncall", "trigger"), ("oncall", "resolve")], "no reminder after the resolve"
    for ref in ("ops/cleanup", "ops/archive"):
        shown = await team.shown(ids[ref])
        assert shown.status == "open"
        assert told(shown) == [("oncall", "trigger"), ("oncall", "renotify")], ref


async def test_the_periodic_re_read_resolves_the_incidents_of_a_job_removed_while_no_change_was_consumed(team):
    """An incident left open by a job deleted before alerting resolved such incidents (or while a
    manifest change was lost): the hourly re-read of the team's jobs finds it."""
    await team.channel("oncall")
    team.jobs[:] = [job("backup")]
    await team.pushed()
    await team.runs("ops/backup", "failure")
    team.jobs[:] = []
    await team.unit.sync_tenant(TEAM)  # what resync_all does for each team
    [incident_id] = (await team.incident_ids()).values()
    shown = await team.shown(incident_id)
    assert (shown.status, shown.resolved_by) == ("resolved", "job_removed")
    assert told(shown) == [("oncall", "trigger"), ("oncall", "resolve")]


# --- who is told -----------------------------------------------------------------------------------


async def test_a_reminder_and_a_resolve_go_only_to_the_channels_that_were_told_of_the_incident(team):
    """An escalation channel never escalated to, and a channel created after the incident opened,
    got "Resolved" (and reminders) of an incident they had never heard of."""
    await team.channel("oncall")
    await team.channel("pager", escalation=True)  # the team has no escalate_after: never escalated to
    team.jobs[:] = [job("backup", labels={"team": "data"})]
    await team.pushed()
    await team.runs("ops/backup", "failure")
    await team.channel("data-team", match_labels={"team": "data"})  # routed to the job, but only now

    await team.clock(after=timedelta(hours=5))  # the default renotify_every is 4h
    await team.runs("ops/backup", "success")

    [incident_id] = (await team.incident_ids()).values()
    shown = await team.shown(incident_id)
    assert shown.status == "resolved"
    assert told(shown) == [("oncall", "trigger"), ("oncall", "renotify"), ("oncall", "resolve")]


async def test_a_resolve_reaches_the_escalation_channel_once_the_incident_was_escalated_to_it(team):
    await team.rules(escalate_after="10m")
    await team.channel("oncall")
    await team.channel("pager", escalation=True)
    team.jobs[:] = [job("backup")]
    await team.pushed()
    await team.runs("ops/backup", "failure")
    await team.clock(after=timedelta(minutes=15))
    await team.runs("ops/backup", "success")

    [incident_id] = (await team.incident_ids()).values()
    assert sorted(told(await team.shown(incident_id))) == [
        ("oncall", "resolve"), ("oncall", "trigger"), ("pager", "escalate"), ("pager", "resolve"),
    ]  # fmt: skip
