"""Jobs (from the tenant's Git repository) and the repository itself. Creating, changing and
deleting a job commits to that repository, with the signed-in user as the commit's author."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Body, Path, Query, status
from pydantic import StringConstraints

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_kit.errors import Invalid, Unavailable
from crontopus_schemas.cron import (
    ScheduleError,
    day_rule_warning,
    describe,
    dst_warnings,
    fire_times,
    normalise_schedule,
    zone,
)
from crontopus_schemas.gitops import (
    MAX_UPCOMING,
    FailingJob,
    FireTimePublic,
    JobDetail,
    JobGetRequest,
    JobList,
    JobListRequest,
    JobPage,
    JobsOverview,
    JobStatePage,
    JobSummary,
    RepositoryPublic,
    SchedulePreview,
    UpcomingRequest,
    UpcomingRuns,
    all_jobs,
    all_pages,
)
from crontopus_schemas.identity import ApiKeyList, MeRequest, UserPublic
from crontopus_schemas.job_edits import (
    COMMIT_SHA,
    CommitAuthor,
    JobCreateBody,
    JobCreateRequest,
    JobDeleteBody,
    JobDeleted,
    JobDeleteRequest,
    JobUpdateBody,
    JobUpdateRequest,
)
from crontopus_schemas.names import DNS_LABEL
from crontopus_schemas.rpc import Principal, TenantScoped
from crontopus_schemas.runs import LastStatuses, LastStatusRequest
from crontopus_schemas.subjects import GitopsRpc, IdentityRpc, RunsRpc

router = APIRouter(tags=["jobs"], route_class=ApiRoute)

LastStatusFilter = Literal["running", "success", "failure", "timeout", "never"]
J = TypeVar("J", bound=JobSummary)

Label = Annotated[str, Path(pattern=DNS_LABEL)]
LabelPair = Annotated[str, StringConstraints(pattern="^[^=]+=")]
BaseCommitQuery = Annotated[
    str | None, Query(pattern=COMMIT_SHA, description="the commit your copy came from; or in the body")
]


@router.get("/api/jobs", response_model=JobList)
async def list_jobs(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    namespace: Annotated[str | None, Query(pattern=DNS_LABEL)] = None,
    label: Annotated[list[LabelPair], Query(description="key=value; repeat for several (all must match)")] = [],  # noqa: B006
    enabled: bool | None = None,
    paused: bool | None = None,
    last_status: Annotated[
        LastStatusFilter | None, Query(description="status of the newest run; never: no run yet")
    ] = None,
) -> JobList:
    """The jobs defined at the repository's synced commit, with the status of each one's newest run.
    `ping_url` is null for a read-only API key: a ping URL reports runs, so it is a write credential."""
    request = JobListRequest(
        tenant_id=principal.tenant_id, namespace=namespace, labels=_labels(label), enabled=enabled, paused=paused
    )
    listed = await all_jobs(lambda page: gateway.rpc(GitopsRpc.JOBS_LIST, page, JobPage), request)
    jobs = _for_reader(principal, await _with_last_status(gateway, principal.tenant_id, listed))
    if last_status is not None:
        wanted = None if last_status == "never" else last_status
        jobs = [job for job in jobs if job.last_status == wanted]
    return JobList(jobs=jobs)


async def _with_last_status(gateway: GatewayDep, tenant_id: str, jobs: list[J]) -> list[J]:
    """Joins the runs service's answer in; without it the jobs are still listed (status unknown)."""
    try:
        statuses = await _last_statuses(gateway, tenant_id, [job.job for job in jobs])
    except Unavailable:
        return jobs
    return [job.model_copy(update={"last_status": statuses.get(job.job)}) for job in jobs]


async def _last_statuses(gateway: GatewayDep, tenant_id: str, jobs: list[str]) -> Mapping[str, str]:
    """Each job's newest run's status, from the runs service (no runs: not in it)."""
    if not jobs:
        return {}
    request = LastStatusRequest(tenant_id=tenant_id, jobs=jobs)
    return (await gateway.rpc(RunsRpc.LAST_STATUS, request, LastStatuses)).statuses


def _for_reader(principal: Principal, jobs: list[J]) -> list[J]:
    """Without write scope, no ping URLs: one forges failures (alerts) and successes (which
    resolve incidents), which is writing. Healthchecks gives read-only keys no ping URLs either."""
    if principal.can_write:
        return jobs
    return [job.model_copy(update={"ping_url": None}) for job in jobs]


def _labels(pairs: list[str]) -> dict[str, str]:
    return {key: value for key, _, value in (pair.partition("=") for pair in pairs)}  # LabelPair: key=value


@router.get("/api/jobs/upcoming", response_model=UpcomingRuns)
async def upcoming_runs(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    limit: Annotated[int, Query(ge=1, le=MAX_UPCOMING)] = 10,
) -> UpcomingRuns:
    """The next fire times across the team's enabled, unpaused jobs, soonest first (a job that
    fires often may appear several times), each in its job's time zone."""
    request = UpcomingRequest(tenant_id=principal.tenant_id, limit=limit)
    return await gateway.rpc(GitopsRpc.JOBS_UPCOMING, request, UpcomingRuns)


@router.get("/api/jobs/summary", response_model=JobsOverview)
async def jobs_overview(principal: CurrentPrincipal, gateway: GatewayDep) -> JobsOverview:
    """The team's jobs counted, and those not paused whose newest run failed or timed out: what a
    dashboard shows, in a few hundred bytes where `GET /api/jobs` sends ~600 a job. 503 while
    the runs service cannot say how the jobs' runs ended."""
    request = JobListRequest(tenant_id=principal.tenant_id)
    pages = await all_pages(lambda page: gateway.rpc(GitopsRpc.JOB_STATES, page, JobStatePage), request)
    states = [state for page in pages for state in page.states]
    statuses = await _last_statuses(gateway, principal.tenant_id, [state.job for state in states])
    failing = [
        FailingJob(job=state.job, last_status=status)
        for state in states
        if not state.paused and (status := statuses.get(state.job)) in ("failure", "timeout")
    ]
    return JobsOverview(
        jobs=len(states), paused=sum(state.paused for state in states),
        disabled=sum(not state.enabled for state in states), failing=failing,
    )  # fmt: skip


MAX_PREVIEW = 50


@router.get("/api/schedule/preview", response_model=SchedulePreview)
async def preview_schedule(
    _: CurrentPrincipal,
    schedule: Annotated[str, Query(min_length=1, max_length=200, description="5-field cron or a macro (@daily)")],
    timezone: Annotated[str, Query(max_length=64, description="IANA time zone")] = "UTC",
    count: Annotated[int, Query(ge=1, le=MAX_PREVIEW)] = 5,
) -> SchedulePreview:
    """What a schedule would do, for a form's live preview: its next fire times (cron's DST rules,
    from the same engine that checks manifests) and a description in English. 422 with a `detail`
    naming `schedule` or `timezone` and what is wrong."""
    try:
        zone(timezone)
    except ScheduleError as exc:
        raise Invalid(f"timezone: {exc}") from exc
    now = datetime.now(UTC)
    try:
        expression = normalise_schedule(schedule)
        found = fire_times(expression, timezone, after=now, count=count)
    except ScheduleError as exc:
        raise Invalid(f"schedule: {exc}") from exc
    warnings = [warning for warning in [day_rule_warning(expression)] if warning]
    if found:
        warnings += dst_warnings(expression, timezone, start=now, end=found[-1].at)
    return SchedulePreview(
        schedule=expression, timezone=timezone, description=describe(expression),
        next=[FireTimePublic(at=fire.at, note=fire.note) for fire in found], warnings=warnings,
    )  # fmt: skip


@router.get("/api/jobs/{namespace}/{name}", response_model=JobDetail, responses=errors(404))
async def get_job(namespace: Label, name: Label, principal: CurrentPrincipal, gateway: GatewayDep) -> JobDetail:
    """One job: its manifest as YAML and JSON, the commit it comes from and the commits that touched it.
    `ping_url` is null for a read-only API key."""
    request = JobGetRequest(tenant_id=principal.tenant_id, namespace=namespace, name=name)
    job = await gateway.rpc(GitopsRpc.JOBS_GET, request, JobDetail)
    return _for_reader(principal, await _with_last_status(gateway, principal.tenant_id, [job]))[0]


@router.post("/api/jobs", status_code=status.HTTP_201_CREATED, response_model=JobDetail, responses=errors(409))
async def create_job(body: JobCreateBody, principal: CurrentPrincipal, gateway: GatewayDep) -> JobDetail:
    """Add a job: commits `<namespace>/<name>.yaml` (409 if the job exists). The manifest is
    validated like a push: a 422 names the file, line and field."""
    request = JobCreateRequest(tenant_id=principal.tenant_id, author=await commit_author(principal, gateway),
                               manifest=body.manifest, message=body.message)  # fmt: skip
    return await gateway.rpc(GitopsRpc.JOB_CREATE, request, JobDetail, timeout=gateway.settings.git_timeout)


@router.put("/api/jobs/{namespace}/{name}", response_model=JobDetail, responses=errors(404, 409))
async def update_job(
    namespace: Label,
    name: Label,
    body: JobUpdateBody,
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    base_commit: BaseCommitQuery = None,
) -> JobDetail:
    """Replace a job's manifest (only its document, in a file with several). 409 when the job's
    file changed since `base_commit`: reload it and apply your change again."""
    request = JobUpdateRequest(
        tenant_id=principal.tenant_id, namespace=namespace, name=name, author=await commit_author(principal, gateway),
        manifest=body.manifest, base_commit=_base_commit(body.base_commit, base_commit), message=body.message,
    )  # fmt: skip
    return await gateway.rpc(GitopsRpc.JOB_UPDATE, request, JobDetail, timeout=gateway.settings.git_timeout)


@router.delete("/api/jobs/{namespace}/{name}", response_model=JobDeleted, responses=errors(404, 409))
async def delete_job(
    namespace: Label,
    name: Label,
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    base_commit: BaseCommitQuery = None,
    body: Annotated[JobDeleteBody | None, Body()] = None,
) -> JobDeleted:
    """Remove a job (its file, or its document in a shared file); 409 as for PUT."""
    request = JobDeleteRequest(
        tenant_id=principal.tenant_id, namespace=namespace, name=name, author=await commit_author(principal, gateway),
        base_commit=_base_commit(body.base_commit if body else None, base_commit),
        message=body.message if body else None,
    )  # fmt: skip
    return await gateway.rpc(GitopsRpc.JOB_DELETE, request, JobDeleted, timeout=gateway.settings.git_timeout)


def _base_commit(from_body: str | None, from_query: str | None) -> str:
    chosen = from_body or from_query
    if not chosen:
        raise Invalid("base_commit: required (the `commit` of the job as you last read it), in the body or the query")
    return chosen


async def commit_author(principal: Principal, gateway: GatewayDep) -> CommitAuthor:
    """The commit's author: a user by name and account email (asked from identity, so history
    shows a real address); an API key by its name, as `api-key@<tenant>`."""
    if principal.kind == "user":
        me = await gateway.rpc(
            IdentityRpc.ME, MeRequest(tenant_id=principal.tenant_id, user_id=principal.subject_id), UserPublic
        )
        return CommitAuthor(name=me.username, email=me.email)
    keys = await gateway.rpc(IdentityRpc.API_KEY_LIST, TenantScoped(tenant_id=principal.tenant_id), ApiKeyList)
    name = next((key.name for key in keys.api_keys if key.id == principal.subject_id), "")
    name = re.sub(r"[<>\r\n]", "", name).strip() or f"API key {principal.subject_id[:8]}"
    return CommitAuthor(name=name, email=f"api-key@{principal.tenant or principal.tenant_id}")


@router.get("/api/gitops/repository", response_model=RepositoryPublic)
async def get_repository(principal: CurrentPrincipal, gateway: GatewayDep) -> RepositoryPublic:
    """Where the jobs live (clone it, push to it), the synced commit, and problems per file."""
    return await gateway.rpc(GitopsRpc.REPOSITORY_GET, TenantScoped(tenant_id=principal.tenant_id), RepositoryPublic)
