"""alerting tables: what each job is expected to do (the due-time index), incidents, notification
channels and every delivery attempt, silences, and each tenant's default rules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class JobMonitor(SQLModel, table=True):
    """One row per job of a tenant, from its manifest (`spec.monitor`) and the tenant's defaults.

    The due-time index: ``alert_at`` is when the job's next expected start becomes late (expected
    start + grace); a tick reads only rows with ``alert_at <= now``, so its cost follows the jobs
    that are due, not the number of jobs. ``finish_alert_at`` does the same for a started run
    that never finished."""

    __tablename__ = "job_monitors"
    __table_args__ = (
        UniqueConstraint("tenant_id", "job", name="uq_job_monitors_tenant_job"),
        Index("ix_job_monitors_alert_at", "alert_at"),
        Index("ix_job_monitors_finish_alert_at", "finish_alert_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    job: str = Field(max_length=127)  # namespace/name
    schedule: str = Field(max_length=255)
    timezone: str = Field(max_length=64)
    paused: bool = False
    labels: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    policy: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON: the job's monitor settings
    commit: str | None = Field(default=None, max_length=64)
    expected_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    alert_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    finish_alert_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_run_id: str | None = Field(default=None, max_length=128)
    # What the run rules need of the history, kept here instead of asking the runs service:
    # outcomes of the latest runs ("s"/"f", newest last, at most the failure window) and the start
    # times (ISO, newest last) within the maxRuns period.
    recent_outcomes: str = Field(default="", sa_column=Column(Text, nullable=False))
    recent_starts: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Incident(SQLModel, table=True):
    """A rule violation, from the moment it opens until it is resolved (by recovery, by hand, or
    because its job was removed from the manifests).

    ``open_key`` ("<tenant>/<job or agent>/<cause>") is set while the incident is open and
    unique: opening one is a claim, so concurrent workers never open the same incident twice.
    Resolving clears it (NULLs do not collide)."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("open_key", name="uq_incidents_open_key"),
        Index("ix_incidents_tenant_opened", "tenant_id", "opened_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=64)
    job: str | None = Field(default=None, max_length=127)
    agent_id: str | None = Field(default=None, max_length=32)
    cause: str = Field(max_length=32)
    status: str = Field(default="open", max_length=16)  # open | acknowledged | resolved
    open_key: str | None = Field(default=None, max_length=255)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    run_id: str | None = Field(default=None, max_length=128)
    commit: str | None = Field(default=None, max_length=64)
    silenced: bool = False  # opened during a maintenance window or snooze: recorded, not notified
    opened_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    acknowledged_by: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    resolved_by: str | None = Field(default=None, max_length=64)  # a user id, "recovery" or "job_removed"
    last_notified_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    escalated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Channel(SQLModel, table=True):
    """Where notifications go: any Apprise URL, stored sealed (crontopus_kit.crypto.SecretBox)."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_channels_tenant_name"),)

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=64, index=True)
    name: str = Field(max_length=100)
    kind: str = Field(max_length=32)  # the URL's scheme: slack, mailto, pagerduty, json, ...
    url_sealed: str = Field(sa_column=Column(Text, nullable=False))
    url_masked: str = Field(sa_column=Column(Text, nullable=False))
    match_labels: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON: route by job labels
    escalation: bool = False  # only for incidents not acknowledged in time
    enabled: bool = True
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Delivery(SQLModel, table=True):
    """One notification to one channel, with every attempt's outcome."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_incident", "incident_id"),
        Index("ix_deliveries_channel_created", "channel_id", "created_at"),  # a channel's newest
    )

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=64)
    incident_id: str | None = Field(default=None, max_length=32)  # None for a test-send
    channel_id: str = Field(max_length=32)
    event: str = Field(max_length=16)  # trigger | resolve | renotify | escalate | test
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed | gave_up
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Silence(SQLModel, table=True):
    """A maintenance window or snooze made through the API (the manifest has its own): incidents
    still open and are kept, but nobody is notified while it lasts."""

    __tablename__ = "silences"

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=64, index=True)
    # What it covers: one job, every job of a namespace, every job whose labels include all of
    # match_labels, or (none of them) every job of the tenant.
    job: str | None = Field(default=None, max_length=127)
    namespace: str | None = Field(default=None, max_length=63)
    match_labels: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))  # JSON
    starts_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ends_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=64)


class TenantRules(SQLModel, table=True):
    """A tenant's default rules (JSON, schemas AlertRules); a job's `spec.monitor` overrides them."""

    __tablename__ = "tenant_rules"

    tenant_id: str = Field(primary_key=True, max_length=64)
    rules: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class BadgeKey(SQLModel, table=True):
    """A team's key for its public status badges: ``public_id`` names the team in a badge URL,
    ``secret`` signs each badge's selector. Rotating replaces both (every old URL stops working)."""

    __tablename__ = "badge_keys"
    __table_args__ = (UniqueConstraint("public_id", name="uq_badge_keys_public_id"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    public_id: str = Field(max_length=32)
    secret: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class OfflineAgent(SQLModel, table=True):
    """An agent that stopped sending heartbeats, with the jobs it had installed: their missed runs
    are not alerted (one agent-offline incident says it all) until it is back."""

    __tablename__ = "offline_agents"

    tenant_id: str = Field(primary_key=True, max_length=64)
    agent_id: str = Field(primary_key=True, max_length=32)
    jobs: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list of refs
    since: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
