"""Runs request-reply payloads (subjects in subjects.RunsRpc) and the public run shape."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from crontopus_schemas.events import JobRef, RunStatus
from crontopus_schemas.rpc import TenantScoped

MAX_PAGE_SIZE = 500


class RunSummary(BaseModel):
    run_id: str
    job: str
    status: RunStatus
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    exit_code: int | None
    source: str | None
    manifest_commit: str | None = None
    output_size: int | None = None


class RunDetail(RunSummary):
    output: str | None = None
    output_truncated: bool = False


class RunListRequest(TenantScoped):
    job: JobRef | None = None
    status: RunStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=64)


class RunPage(BaseModel):
    runs: list[RunSummary]
    next_cursor: str | None


class RunGetRequest(TenantScoped):
    run_id: str = Field(max_length=128)


class LastStatusRequest(TenantScoped):
    jobs: list[JobRef] = Field(max_length=5000)


class LastStatuses(BaseModel):
    statuses: dict[str, RunStatus] = Field(description="job -> status of its newest run; jobs never run are absent")
