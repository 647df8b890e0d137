"""Run history: GET /api/runs and GET /api/runs/{run_id}."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.json_body import JsonBodyRoute
from crontopus_schemas.events import JOB_REF_PATTERN, RUN_ID_PATTERN, RunStatus
from crontopus_schemas.runs import MAX_PAGE_SIZE, RunDetail, RunGetRequest, RunListRequest, RunPage
from crontopus_schemas.subjects import RunsRpc

router = APIRouter(tags=["runs"], route_class=JsonBodyRoute)


@router.get("/api/runs", response_model=RunPage)
async def list_runs(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    job: Annotated[str | None, Query(pattern=JOB_REF_PATTERN, description="<namespace>/<name>")] = None,
    status: RunStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
) -> RunPage:
    """Newest first. Follow `next_cursor` for the next page; it is null on the last one."""
    request = RunListRequest(
        tenant_id=principal.tenant_id, job=job, status=status, since=since, until=until, limit=limit, cursor=cursor
    )
    return await gateway.rpc(RunsRpc.LIST, request, RunPage)


@router.get("/api/runs/{run_id}", response_model=RunDetail)
async def get_run(
    run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN)], principal: CurrentPrincipal, gateway: GatewayDep
) -> RunDetail:
    """One run with its output (the tail, if it was long; `output_size` is the full size)."""
    return await gateway.rpc(RunsRpc.GET, RunGetRequest(tenant_id=principal.tenant_id, run_id=run_id), RunDetail)
