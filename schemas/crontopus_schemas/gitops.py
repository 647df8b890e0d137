"""gitops events and request-reply payloads (subjects in subjects.GitopsRpc / GITOPS_*)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, Field

from crontopus_schemas.events import EventMeta
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.times import UtcDateTime


class TenantCreated(EventMeta):
    """Published by identity when a team signs up. Subject: tenant_created_subject(tenant_id)."""

    tenant_id: str
    name: str


class RepositoryLocation(BaseModel):
    """Where a team's jobs are: what agents fetch (the URL never carries a secret)."""

    clone_url: str
    branch: str
    folder: str


class ManifestsChanged(EventMeta):
    """A new commit was synced. Subject: manifests_changed_subject(tenant_id); it is also the
    agents' nudge to fetch, and tells them where from when the team's repository moved."""

    commit: str
    previous_commit: str | None
    author: str | None
    message: str | None
    added: list[str] = Field(default_factory=list, description="<namespace>/<name> of new jobs")
    changed: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    errors: int = Field(default=0, description="manifest problems at this commit (see GET /api/gitops/repository)")
    repository: RepositoryLocation | None = Field(
        default=None, description="where this commit is (absent in events of older servers)"
    )


class FileError(BaseModel):
    file: str
    line: int | None
    field: str | None
    message: str


class RepositoryPublic(BaseModel):
    kind: str = Field(description="embedded (a repository Crontopus hosts) or external (mirrored from a Git host)")
    clone_url: str
    branch: str
    folder: str
    head_commit: str | None
    last_sync_at: UtcDateTime | None
    last_error: str | None
    errors: list[FileError]
    webhook_url: str | None = Field(default=None, description="external only: where the Git host sends push webhooks")
    webhook_secret: str | None = Field(
        default=None, description="external only: in full once, when set; masked afterwards"
    )
    credentials: str | None = Field(
        default=None, description="external only: the kind of credentials, never the secret"
    )


class TokenCredentials(BaseModel):
    kind: Literal["token"]
    token: str = Field(min_length=1, max_length=4096)
    username: str = Field(default="x-access-token", max_length=255)


class BasicCredentials(BaseModel):
    kind: Literal["basic"]
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=4096)


class SshKeyCredentials(BaseModel):
    kind: Literal["ssh"]
    private_key: str = Field(min_length=1, max_length=16384)
    username: str = Field(default="git", max_length=255)
    passphrase: str = Field(default="", max_length=4096)


RepositoryCredentials = Annotated[TokenCredentials | BasicCredentials | SshKeyCredentials, Field(discriminator="kind")]


class RepositoryUpdateRequest(TenantScoped):
    """Switch the tenant to an external repository (mirrored; edits through the API are pushed)."""

    url: str = Field(
        min_length=1, max_length=2048,
        description="the Git host's clone URL: https://host/owner/repo.git or ssh://git@host/owner/repo.git "
        "(http:// only where the operator allows it, CRONTOPUS_GITOPS_ALLOW_HTTP). The host must resolve to public "
        "addresses unless the operator allows private networks (CRONTOPUS_ALLOW_PRIVATE_NETWORKS). Local paths, "
        "file://, git://, scp-like user@host:repo and anything ambiguous (backslashes, several '@', a query) are "
        "refused with a 422 naming `url`",
    )  # fmt: skip
    branch: str = Field(default="main", min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._/-]+$")
    folder: str = Field(
        default="", max_length=1024, validation_alias=AliasChoices("folder", "path"),
        description="folder of the jobs inside the repository (`path` is accepted too)",
    )  # fmt: skip
    credentials: RepositoryCredentials | None = None
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=256, description="default: generated")


class WebhookRequest(TenantScoped):
    headers: dict[str, str]
    body: str = Field(description="the raw request body, base64")


class WebhookReply(BaseModel):
    status: Literal["synced", "ignored", "duplicate", "pong"]
    commit: str | None = None
    detail: str | None = None


class FireTimePublic(BaseModel):
    """One time a schedule fires, from crontopus_schemas.cron (cron's own DST rules)."""

    at: datetime = Field(description="ISO 8601 with the offset of the job's time zone at that moment")
    note: str | None = Field(
        default=None, description="set where a DST change moves or merges this run, e.g. '02:30 does not exist on "
        "2027-03-28 (DST); runs at 03:00'",
    )  # fmt: skip


class JobSummary(BaseModel):
    job: str
    namespace: str
    name: str
    schedule: str
    schedule_description: str = Field(default="", description="the schedule in English, e.g. 'Every 5 minutes'")
    timezone: str
    next_run: datetime | None = Field(
        default=None, description="when it runs next, in the job's time zone (ISO 8601 with offset); null when "
        "paused or disabled",
    )  # fmt: skip
    enabled: bool
    paused: bool
    labels: dict[str, str]
    command: str
    commit: str
    file: str
    ping_url: str | None = Field(
        default=None, description="reports runs of this job (a credential): null for read-only API keys"
    )
    last_status: str | None = None
    timeout: str | None = None
    monitor: dict[str, Any] = Field(default_factory=dict, description="spec.monitor: the job's alerting knobs")


class CommitPublic(BaseModel):
    sha: str
    author: str
    message: str
    committed_at: datetime


class JobDetail(JobSummary):
    manifest: dict[str, Any]
    yaml: str
    history: list[CommitPublic] = Field(description="the commits that touched the job's file, newest first")
    next_runs: list[FireTimePublic] = Field(
        default_factory=list, description="the next 5 times it runs; empty when paused or disabled"
    )


class JobList(BaseModel):
    jobs: list[JobSummary]


class JobPage(JobList):
    """One page of ``GitopsRpc.JOBS_LIST``: a team's list in one NATS reply would be capped by
    the message size. ``next_after`` is the request's ``after`` for the next page."""

    next_after: str | None = None


class JobState(BaseModel):
    """What counting a team's jobs needs of each (``GitopsRpc.JOB_STATES``): tens of bytes where
    a JobSummary is hundreds."""

    job: str
    enabled: bool
    paused: bool


class JobStatePage(BaseModel):
    """One page of ``GitopsRpc.JOB_STATES`` (the request is a JobListRequest; its filters apply)."""

    states: list[JobState]
    next_after: str | None = None


PageT = TypeVar("PageT", JobPage, JobStatePage)


async def all_pages(fetch: Callable[[JobListRequest], Awaitable[PageT]], request: JobListRequest) -> list[PageT]:
    """Every page of a team's jobs, one after the other (``next_after`` names the next)."""
    pages = [await fetch(request)]
    while (after := pages[-1].next_after) is not None:
        pages.append(await fetch(request.model_copy(update={"after": after})))
    return pages


async def all_jobs(fetch: Callable[[JobListRequest], Awaitable[JobPage]], request: JobListRequest) -> list[JobSummary]:
    """Every job; ``fetch`` asks ``GitopsRpc.JOBS_LIST``."""
    return [job for page in await all_pages(fetch, request) for job in page.jobs]


class FailingJob(BaseModel):
    job: str = Field(description="<namespace>/<name>")
    last_status: Literal["failure", "timeout"] = Field(description="how its newest run ended")


class JobsOverview(BaseModel):
    """``GET /api/jobs/summary``: the team's jobs counted, and those failing now, for a dashboard."""

    jobs: int = Field(description="jobs defined at the repository's synced commit")
    paused: int
    disabled: int
    failing: list[FailingJob] = Field(description="jobs not paused whose newest run failed or timed out, by name")


class TenantListRequest(BaseModel):
    """Every team with a jobs repository (for services that must know each team's jobs)."""


class TenantList(BaseModel):
    tenant_ids: list[str]


class JobListRequest(TenantScoped):
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    enabled: bool | None = None
    paused: bool | None = None
    after: str | None = Field(default=None, description="<namespace>/<name>: the page after this job")
    limit: int = Field(default=1000, ge=1, le=5000, description="jobs looked at per page (before filters)")


class JobGetRequest(TenantScoped):
    namespace: str
    name: str


MAX_UPCOMING = 100


class UpcomingRequest(TenantScoped):
    limit: int = Field(default=10, ge=1, le=MAX_UPCOMING)


class UpcomingRun(BaseModel):
    job: str = Field(description="<namespace>/<name>")
    at: datetime = Field(description="ISO 8601 with the offset of the job's time zone at that moment")
    timezone: str = Field(description="the job's time zone (IANA)")
    note: str | None = Field(default=None, description="set where a DST change moves or merges this run")


class UpcomingRuns(BaseModel):
    """``GET /api/jobs/upcoming``: the next fire times across the team's enabled, unpaused jobs."""

    runs: list[UpcomingRun] = Field(description="soonest first; a job that fires often may appear several times")


class SchedulePreview(BaseModel):
    """``GET /api/schedule/preview``: what a schedule would do, before it is committed."""

    valid: bool = True
    schedule: str = Field(description="the 5-field form (macros such as @daily expanded)")
    timezone: str
    description: str = Field(description="in English, e.g. 'At 02:00, Monday through Friday'")
    next: list[FireTimePublic] = Field(description="the next fire times, soonest first")
    warnings: list[str] = Field(
        default_factory=list,
        description="what may surprise: a day field starting with * makes days match both day fields; a job whose "
        "minute or hour starts with * follows real time across a DST change within the previewed runs",
    )
