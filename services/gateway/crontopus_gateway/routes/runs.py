"""Run history: GET /api/runs and GET /api/runs/{run_id}."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_schemas.events import RUN_ID_PATTERN, RunStatus
from crontopus_schemas.names import JOB_REF_PATTERN
from crontopus_schemas.runs import (
    MAX_PAGE_SIZE,
    RUN_CURSOR_PATTERN,
    SOURCE_PATTERN,
    RunDetail,
    RunGetRequest,
    RunListRequest,
    RunPage,
    RunStats,
    RunStatsRequest,
    StatsBucket,
)
from crontopus_schemas.strict import DateTimeText
from crontopus_schemas.subjects import RunsRpc

router = APIRouter(tags=["runs"], route_class=ApiRoute)


@router.get("/api/runs", response_model=RunPage)
async def list_runs(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    job: Annotated[str | None, Query(pattern=JOB_REF_PATTERN, description="<namespace>/<name>")] = None,
    status: RunStatus | None = None,
    source: Annotated[
        str | None, Query(pattern=SOURCE_PATTERN, description="who reported it: api, ping, or an agent's id")
    ] = None,
    since: Annotated[DateTimeText | None, Query(description="runs that started (or finished) at or after")] = None,
    until: Annotated[DateTimeText | None, Query(description="... and before this")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[
        str | None,
        Query(pattern=RUN_CURSOR_PATTERN, description="next_cursor (older runs) or prev_cursor (newer) of a page"),
    ] = None,
) -> RunPage:
    """Newest first. `next_cursor` leads to older runs (null on the oldest page), `prev_cursor`
    back to newer ones (null on the newest); each page is newest first either way."""
    request = RunListRequest(
        tenant_id=principal.tenant_id, job=job, status=status, source=source, since=since, until=until, limit=limit,
        cursor=cursor,
    )  # fmt: skip
    return await gateway.rpc(RunsRpc.LIST, request, RunPage)


DEFAULT_WINDOW: dict[str, timedelta] = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
STATS_TIMEOUT = 30.0


@router.get("/api/runs/stats", response_model=RunStats)
async def run_stats(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    job: Annotated[
        str | None, Query(pattern=JOB_REF_PATTERN, description="<namespace>/<name>; none: every job")
    ] = None,
    since: Annotated[
        DateTimeText | None, Query(description="default: 24 h (bucket=hour) or 30 days (day) before until")
    ] = None,
    until: Annotated[DateTimeText | None, Query(description="default: now")] = None,
    bucket: StatsBucket = "hour",
    timezone: Annotated[str, Query(max_length=64, description="where days begin (IANA); hours are UTC's")] = "UTC",
) -> RunStats:
    """Runs per hour or day by status, with the median and 95th percentile duration of the
    finished ones; every bucket of the window is there, empty ones as zeros. At most 31 days by
    hour, 92 by day. A time without an offset is UTC."""
    until = until or datetime.now(UTC)
    since = since or until - DEFAULT_WINDOW[bucket]
    request = RunStatsRequest(
        tenant_id=principal.tenant_id, job=job, since=since, until=until, bucket=bucket, timezone=timezone
    )
    # The first request over a busy team's 30 days builds its rollups from the runs: seconds.
    return await gateway.rpc(RunsRpc.STATS, request, RunStats, timeout=STATS_TIMEOUT)


@router.get("/api/runs/{run_id}", response_model=RunDetail, responses=errors(404))
async def get_run(
    run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN)], principal: CurrentPrincipal, gateway: GatewayDep
) -> RunDetail:
    """One run with its output (the tail, if it was long; `output_size` is the full size)."""
    return await gateway.rpc(RunsRpc.GET, RunGetRequest(tenant_id=principal.tenant_id, run_id=run_id), RunDetail)
