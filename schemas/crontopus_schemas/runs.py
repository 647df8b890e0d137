"""Runs request-reply payloads (subjects in subjects.RunsRpc) and the public run shape."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from crontopus_schemas.events import JobRef, RunStatus
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.times import UtcDateTime

MAX_PAGE_SIZE = 500


class RunSummary(BaseModel):
    run_id: str
    job: str
    status: RunStatus
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    duration_ms: int | None
    exit_code: int | None
    source: str | None
    manifest_commit: str | None = None
    output_size: int | None = None


class RunDetail(RunSummary):
    output: str | None = None
    output_truncated: bool = False
    replaced_by: str | None = Field(
        default=None,
        description="the run of the same job that stopped this one (its agent's `concurrency: replace`); null "
        "otherwise",
    )


SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


# A page's position: "r<row>" (the runs older than that row) or "n<row>" (newer); any such string is valid.
RUN_CURSOR_PATTERN = r"^[rn][0-9]{1,18}$"


class RunListRequest(TenantScoped):
    job: JobRef | None = None
    status: RunStatus | None = None
    source: str | None = Field(default=None, pattern=SOURCE_PATTERN)
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=64)


class RunPage(BaseModel):
    runs: list[RunSummary] = Field(description="newest first")
    next_cursor: str | None = Field(description="the page of older runs; null on the oldest page")
    prev_cursor: str | None = Field(
        default=None, description="the page of newer runs; null on the newest page (no cursor, or nothing newer)"
    )


StatsBucket = Literal["hour", "day"]
FINISHED_STATUSES = ("success", "failure", "timeout")


class RunStatsRequest(TenantScoped):
    job: JobRef | None = None
    since: datetime
    until: datetime
    bucket: StatsBucket = "hour"
    timezone: str = Field(default="UTC", max_length=64, description="where days begin (bucket=day)")


class RunStatsBucket(BaseModel):
    start: datetime = Field(description="the bucket's first instant (a whole hour; a day: midnight in `timezone`)")
    success: int
    failure: int
    timeout: int
    running: int = Field(description="runs that started in the bucket and have not finished")
    p50_ms: int | None = Field(
        description="median duration of the bucket's finished runs, estimated within 1 %; null without any"
    )
    p95_ms: int | None = Field(
        description="95th percentile, estimated within 1 % (interpolated as PostgreSQL's percentile_cont)"
    )


class RunStatsTotals(BaseModel):
    runs: int
    success: int
    failure: int
    timeout: int
    running: int
    success_rate: float | None = Field(description="success / finished runs, 0..1; null when none finished")


class RunStats(BaseModel):
    bucket: StatsBucket
    since: datetime = Field(description="the first bucket's start (the requested since, rounded down to a bucket)")
    until: datetime
    timezone: str
    buckets: list[RunStatsBucket] = Field(description="oldest first, every bucket of the window, empty ones as zeros")
    totals: RunStatsTotals


class RunGetRequest(TenantScoped):
    run_id: str = Field(max_length=128)


class LastStatusRequest(TenantScoped):
    jobs: list[JobRef] = Field(max_length=5000)


class LastStatuses(BaseModel):
    statuses: dict[str, RunStatus] = Field(description="job -> status of its newest run; jobs never run are absent")
