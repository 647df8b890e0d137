"""Agents: enrollment, what an agent reports about itself, and the events about agents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crontopus_schemas.events import EventMeta, utcnow
from crontopus_schemas.manifest import Labels
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.strict import Integer
from crontopus_schemas.times import UtcDateTime

SchedulerName = Literal["crontab", "windows", "builtin"]
AgentName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Text = Annotated[str, StringConstraints(max_length=255)]

MAX_ENROLLMENT_TOKEN_TTL_SECONDS = 7 * 24 * 3600
MAX_ENROLLMENT_TOKEN_USES = 1000


# --- enrollment ------------------------------------------------------------------------------


class EnrollmentTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: Integer = Field(default=3600, ge=60, le=MAX_ENROLLMENT_TOKEN_TTL_SECONDS)
    max_uses: Integer = Field(default=1, ge=1, le=MAX_ENROLLMENT_TOKEN_USES, description="agents it may enroll")
    labels: Labels = Field(
        default_factory=dict, description="labels every agent enrolled with it gets (the agent's own win on a clash)"
    )


class EnrollmentTokenCreated(BaseModel):
    id: str
    token: str = Field(description="shown once; give it to `crontopus-agent enroll --token`")
    expires_at: UtcDateTime
    max_uses: int


class EnrollmentTokenCreateRequest(TenantScoped):
    created_by: str
    body: EnrollmentTokenCreate


class EnrollRequest(BaseModel):
    """``POST /api/agents/enroll``: the enrollment token is the only credential."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=8, max_length=200)
    name: AgentName
    hostname: Text = ""
    platform: Text = ""
    version: Text = ""
    labels: Labels = Field(default_factory=dict)


class EnrolledAgent(BaseModel):
    """What the agents service returns; the gateway adds where to connect and what to pull."""

    agent_id: str
    tenant_id: str
    name: str
    labels: dict[str, str]
    nats_user: str
    nats_password: str = Field(description="the agent's secret: shown once, stored hashed")
    nats_urls: list[str] = Field(description="where the agent connects (with nats_user/nats_password)")


class Enrollment(EnrolledAgent):
    """``POST /api/agents/enroll`` response: everything `crontopus-agent` stores in its credentials."""

    server_url: str
    clone_url: str | None
    branch: str
    folder: str = Field(default="", description="the jobs folder inside the repository ('' = its root)")


# --- what an agent reports (core NATS: heartbeat and report subjects) ------------------------


class DriftItem(BaseModel):
    ref: str
    kind: str
    detail: str = ""


class AgentStatusReport(BaseModel):
    """An agent's state; sent after every sync (report subject) and with every heartbeat, so
    a lost message is repaired by the next one. Tenant and agent come from the subject."""

    model_config = ConfigDict(extra="ignore")

    sent_at: datetime = Field(default_factory=utcnow)
    version: str = ""
    hostname: str = ""
    scheduler: SchedulerName | None = None
    applied_commit: str | None = None
    last_sync_at: datetime | None = None
    sync_error: str | None = None
    jobs: list[str] = Field(default_factory=list, description="refs installed on this host")
    drift: list[DriftItem] = Field(default_factory=list, description="found and repaired by the last reconcile")
    errors: list[str] = Field(default_factory=list, description="per-job problems of the last reconcile")
    spool_pending: int = 0
    spool_dropped: int = 0


# --- API views ---------------------------------------------------------------------------------

AgentState = Literal["online", "offline", "revoked"]


class AgentPublic(BaseModel):
    id: str
    name: str
    hostname: str
    platform: str
    version: str
    labels: dict[str, str]
    status: AgentState
    enrolled_at: UtcDateTime
    last_seen_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    scheduler: str | None
    applied_commit: str | None
    last_sync_at: UtcDateTime | None
    sync_error: str | None
    jobs: list[str]
    drift: list[DriftItem]
    drift_detected_at: UtcDateTime | None
    errors: list[str]
    spool_pending: int
    spool_dropped: int


class AgentList(BaseModel):
    agents: list[AgentPublic]


class AgentListRequest(TenantScoped):
    job: str | None = Field(default=None, description="only the agents that reported this job installed")


class AgentRef(TenantScoped):
    agent_id: str


# --- events (JetStream, AGENTS stream) -----------------------------------------------------------


class AgentEvent(EventMeta):
    """Subject: ``subjects.agent_event_subject(tenant)``. ``kind`` says what happened."""

    kind: Literal["enrolled", "online", "offline", "revoked", "drift"]
    agent_id: str
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    jobs: list[str] = Field(default_factory=list, description="refs the agent had installed")
    detail: str = ""
