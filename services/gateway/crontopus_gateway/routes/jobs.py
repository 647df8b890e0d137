"""Jobs (from the tenant's Git repository) and the repository itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_kit.errors import Invalid
from crontopus_schemas.gitops import JobDetail, JobGetRequest, JobList, JobListRequest, RepositoryPublic
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import GitopsRpc

router = APIRouter(tags=["jobs"])

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
Label = Annotated[str, Path(pattern=DNS_LABEL)]


@router.get("/api/jobs", response_model=JobList)
async def list_jobs(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    namespace: Annotated[str | None, Query(pattern=DNS_LABEL)] = None,
    label: Annotated[list[str], Query(description="key=value; repeat for several (all must match)")] = [],  # noqa: B006
    enabled: bool | None = None,
    paused: bool | None = None,
) -> JobList:
    """The jobs defined at the repository's synced commit."""
    request = JobListRequest(
        tenant_id=principal.tenant_id, namespace=namespace, labels=_labels(label), enabled=enabled, paused=paused
    )
    return await gateway.rpc(GitopsRpc.JOBS_LIST, request, JobList)


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise Invalid(f"label: {pair!r} is not key=value")
        labels[key] = value
    return labels


@router.get("/api/jobs/{namespace}/{name}", response_model=JobDetail)
async def get_job(namespace: Label, name: Label, principal: CurrentPrincipal, gateway: GatewayDep) -> JobDetail:
    """One job: its manifest as YAML and JSON, the commit it comes from and the commits that touched it."""
    request = JobGetRequest(tenant_id=principal.tenant_id, namespace=namespace, name=name)
    return await gateway.rpc(GitopsRpc.JOBS_GET, request, JobDetail)


@router.get("/api/gitops/repository", response_model=RepositoryPublic)
async def get_repository(principal: CurrentPrincipal, gateway: GatewayDep) -> RepositoryPublic:
    """Where the jobs live (clone it, push to it), the synced commit, and problems per file."""
    return await gateway.rpc(GitopsRpc.REPOSITORY_GET, TenantScoped(tenant_id=principal.tenant_id), RepositoryPublic)
