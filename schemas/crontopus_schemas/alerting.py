"""Alerting: a team's default rules, incidents, notification channels (API payloads)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from crontopus_schemas.events import EventMeta, JobRef
from crontopus_schemas.manifest import Duration, Failures, Labels, OptionalDuration, RunCount
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.strict import Boolean, date_time_text
from crontopus_schemas.times import UtcDateTime

Cause = Literal[
    "failed",  # a run failed (or N in a row / a share of the last runs, per `failures`)
    "missed",  # a run did not start within grace of its scheduled time
    "not_finished",  # a run started and never reported a finish
    "too_long",  # a run took longer than maxDuration
    "too_fast",  # a successful run took less than minDuration
    "too_often",  # more runs than maxRuns within its period
    "agent_offline",  # an agent stopped sending heartbeats (its jobs' missed runs are not alerted)
]
IncidentStatus = Literal["open", "acknowledged", "resolved"]


class AlertRules(BaseModel):
    """A team's default rules (`GET|PUT /api/alert-rules`); a job's `spec.monitor` overrides each."""

    model_config = ConfigDict(extra="forbid")

    grace: OptionalDuration = "5m"
    missed: Boolean = True
    finish_grace: OptionalDuration = Field(
        default="1h", description="for jobs with neither timeout nor maxDuration: how long a run may go unfinished"
    )
    max_duration: Duration | None = None
    min_duration: Duration | None = None
    max_runs: RunCount | None = None
    failures: Failures = Field(default_factory=Failures)
    agent_offline: Boolean = Field(default=True, description="one incident when an agent stops sending heartbeats")
    renotify_every: Duration | None = Field(
        default="4h", description="remind the channels of an incident nobody acknowledged (none: never)"
    )
    escalate_after: Duration | None = Field(
        default=None, description="also notify the escalation channels when not acknowledged by then"
    )


class AlertRulesUpdate(TenantScoped):
    rules: AlertRules


# --- incidents -----------------------------------------------------------------------------------


class IncidentPublic(BaseModel):
    id: str
    job: str | None
    agent_id: str | None
    cause: Cause
    status: IncidentStatus
    detail: str
    run_id: str | None
    commit: str | None
    silenced: bool
    opened_at: UtcDateTime
    acknowledged_at: UtcDateTime | None
    acknowledged_by: str | None
    resolved_at: UtcDateTime | None
    resolved_by: str | None


IncidentChange = Literal["opened", "acknowledged", "notified", "escalated", "resolved"]


class IncidentChanged(IncidentPublic, EventMeta):
    """An incident as it is after a change. Subject: ``subjects.incident_changed_subject(tenant)``
    (stream INCIDENTS), published by alerting after the change is committed; silenced incidents
    too (they open and resolve, but nobody is notified)."""

    change: IncidentChange = Field(
        description="opened; acknowledged; notified (a reminder went out); escalated; resolved"
    )


class IncidentList(BaseModel):
    incidents: list[IncidentPublic]
    next_cursor: str | None = None


# A page's position: when the last incident of the page before opened (microseconds since 1970) and its id.
INCIDENT_CURSOR_PATTERN = r"^[0-9]{1,16}-[0-9a-f]{1,32}$"


class IncidentListRequest(TenantScoped):
    status: IncidentStatus | None = None
    job: str | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class IncidentAction(TenantScoped):
    incident_id: str
    user_id: str


# --- channels -------------------------------------------------------------------------------------

ChannelName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class ChannelCreate(BaseModel):
    """`POST /api/channels`: any Apprise URL (slack://, mailto://, pagerduty://, json://, ...)."""

    model_config = ConfigDict(extra="forbid")

    name: ChannelName
    url: str = Field(min_length=3, max_length=2048, description="an Apprise URL; stored encrypted, shown masked")
    match_labels: Labels = Field(
        default_factory=dict, description="only incidents of jobs with all these labels (empty: every job)"
    )
    escalation: Boolean = Field(default=False, description="only for incidents not acknowledged in time")
    enabled: Boolean = True


class ChannelPublic(BaseModel):
    id: str
    name: str
    kind: str
    url: str = Field(description="masked: enough to recognise it, never its secrets")
    match_labels: dict[str, str]
    escalation: bool
    enabled: bool
    created_at: UtcDateTime


class ChannelList(BaseModel):
    channels: list[ChannelPublic]


class ChannelCreateRequest(TenantScoped):
    body: ChannelCreate


class ChannelRef(TenantScoped):
    channel_id: str


class DeliveryPublic(BaseModel):
    id: str
    incident_id: str | None
    channel_id: str
    channel_name: str | None = None
    event: Literal["trigger", "resolve", "renotify", "escalate", "test"]
    status: Literal["pending", "sent", "failed", "gave_up"]
    attempts: int
    last_error: str | None
    created_at: UtcDateTime
    sent_at: UtcDateTime | None


class IncidentDetail(IncidentPublic):
    """``GET /api/incidents/{id}``: the incident and every notification sent (or being sent) for it."""

    deliveries: list[DeliveryPublic] = Field(
        default_factory=list, description="oldest first: channel, event, status, attempts, the last error"
    )


# --- silences (maintenance windows and snoozes made through the API) ---------------------------


class SilenceCreate(BaseModel):
    """`POST /api/silences`: incidents still open and are kept, nobody is notified until it ends."""

    model_config = ConfigDict(extra="forbid")

    job: JobRef | None = Field(default=None, description="namespace/name; none: every job of the team")
    starts_at: Annotated[AwareDatetime | None, BeforeValidator(date_time_text)] = Field(
        default=None, description="default: now"
    )
    ends_at: Annotated[AwareDatetime | None, BeforeValidator(date_time_text)] = Field(
        default=None, description="when it expires"
    )
    duration: Duration | None = Field(default=None, description="or: how long from its start, e.g. 2h")
    reason: str = Field(default="", max_length=500)


class SilencePublic(BaseModel):
    id: str
    job: str | None
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    reason: str
    created_by: str


class SilenceList(BaseModel):
    silences: list[SilencePublic]


class SilenceCreateRequest(TenantScoped):
    created_by: str
    body: SilenceCreate


class SilenceRef(TenantScoped):
    silence_id: str
