"""Alerting: a team's default rules, incidents, notification channels (API payloads)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from crontopus_schemas.events import EventMeta, JobRef
from crontopus_schemas.manifest import DnsLabel, Duration, Failures, Labels, OptionalDuration, RunCount
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
    status: list[IncidentStatus] = Field(default_factory=list, description="any of these (empty: every status)")
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


class ChannelPublic(BaseModel):
    id: str
    name: str
    kind: str
    url: str = Field(description="masked: enough to recognise it, never its secrets")
    match_labels: dict[str, str]
    escalation: bool
    enabled: bool
    created_at: UtcDateTime
    last_delivery: DeliveryPublic | None = Field(
        default=None, description="the newest notification to this channel (an incident's or a test) and how it "
        "went: a test-send's outcome shows here once the sender tried it; none before the first",
    )  # fmt: skip


class ChannelList(BaseModel):
    channels: list[ChannelPublic]


IncidentStepKind = Literal["opened", "notified", "acknowledged", "renotified", "escalated", "resolved"]


class IncidentStep(BaseModel):
    """One moment of an incident's life (``IncidentDetail.timeline``)."""

    step: IncidentStepKind = Field(
        description="opened; notified (its channels were told); acknowledged; renotified (a reminder); "
        "escalated (the escalation channels were told); resolved"
    )
    at: UtcDateTime
    by: str | None = Field(
        default=None,
        description="acknowledged, resolved: the user id (or API key id); `recovery`: it recovered; "
        "`job_removed`: its job was removed from the manifests",
    )
    channels: int = Field(default=0, description="how many channels this step notified")


class IncidentDetail(IncidentPublic):
    """``GET /api/incidents/{id}``: the incident, its timeline and every notification sent (or being
    sent) for it."""

    last_notified_at: UtcDateTime | None = Field(description="the last reminder (renotify_every); none: no reminder")
    escalated_at: UtcDateTime | None = Field(description="when it was escalated (escalate_after); none: it was not")
    timeline: list[IncidentStep] = Field(
        default_factory=list,
        description="oldest first: opened, notified, acknowledged, each reminder, escalated, resolved (what happened)",
    )
    deliveries: list[DeliveryPublic] = Field(
        default_factory=list, description="oldest first: channel, event, status, attempts, the last error"
    )


# --- silences (maintenance windows and snoozes made through the API) ---------------------------


SilenceScope = Literal["job", "namespace", "labels", "team"]
MAX_SILENCE_LABELS = 20


class SilenceCreate(BaseModel):
    """`POST /api/silences`: incidents still open and are kept, nobody is notified until it ends.

    What it covers: one job (`job`), every job of a namespace (`namespace`), every job whose
    labels include all of `match_labels`, or (none of the three) every job of the team and its
    agents going offline. At most one of the three."""

    model_config = ConfigDict(extra="forbid")

    job: JobRef | None = Field(default=None, description="namespace/name: this one job")
    namespace: DnsLabel | None = Field(default=None, description="every job of this namespace")
    match_labels: Annotated[Labels, Field(min_length=1, max_length=MAX_SILENCE_LABELS)] | None = Field(
        default=None, description='every job whose labels include all these pairs, e.g. {"team": "data"}'
    )
    starts_at: Annotated[AwareDatetime | None, BeforeValidator(date_time_text)] = Field(
        default=None, description="default: now"
    )
    ends_at: Annotated[AwareDatetime | None, BeforeValidator(date_time_text)] = Field(
        default=None, description="when it expires"
    )
    duration: Duration | None = Field(default=None, description="or: how long from its start, e.g. 2h")
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _one_selector(self) -> SilenceCreate:
        given = [name for name in ("job", "namespace", "match_labels") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(
                f"give one of job, namespace or match_labels, not {' and '.join(given)}"
                " (none of them: every job of the team)"
            )
        return self


class SilencePublic(BaseModel):
    id: str
    scope: SilenceScope = Field(
        description="what it covers: one job, a namespace, the jobs with match_labels, or the whole team"
    )
    job: str | None = Field(description="scope job: namespace/name")
    namespace: str | None = Field(description="scope namespace: every job of it")
    match_labels: dict[str, str] = Field(description="scope labels: jobs with all these pairs; otherwise empty")
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    reason: str
    created_by: str = Field(description="the user id (or API key id) that made it")


class SilenceList(BaseModel):
    silences: list[SilencePublic]


class SilenceCreateRequest(TenantScoped):
    created_by: str
    body: SilenceCreate


class SilenceRef(TenantScoped):
    silence_id: str
