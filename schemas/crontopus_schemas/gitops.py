"""gitops events and request-reply payloads (subjects in subjects.GitopsRpc / GITOPS_*)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from crontopus_schemas.events import EventMeta
from crontopus_schemas.rpc import TenantScoped


class TenantCreated(EventMeta):
    """Published by identity when a team signs up. Subject: tenant_created_subject(tenant_id)."""

    tenant_id: str
    name: str


class ManifestsChanged(EventMeta):
    """A new commit was synced. Subject: manifests_changed_subject(tenant_id)."""

    commit: str
    previous_commit: str | None
    author: str | None
    message: str | None
    added: list[str] = Field(default_factory=list, description="<namespace>/<name> of new jobs")
    changed: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    errors: int = Field(default=0, description="manifest problems at this commit (see GET /api/gitops/repository)")


class FileError(BaseModel):
    file: str
    line: int | None
    field: str | None
    message: str


class RepositoryPublic(BaseModel):
    kind: str
    clone_url: str
    branch: str
    folder: str
    head_commit: str | None
    last_sync_at: datetime | None
    last_error: str | None
    errors: list[FileError]


class JobSummary(BaseModel):
    job: str
    namespace: str
    name: str
    schedule: str
    timezone: str
    enabled: bool
    paused: bool
    labels: dict[str, str]
    command: str
    commit: str
    file: str
    ping_url: str | None = None
    last_status: str | None = None


class CommitPublic(BaseModel):
    sha: str
    author: str
    message: str
    committed_at: datetime


class JobDetail(JobSummary):
    manifest: dict[str, Any]
    yaml: str
    history: list[CommitPublic]


class JobList(BaseModel):
    jobs: list[JobSummary]


class JobListRequest(TenantScoped):
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    enabled: bool | None = None
    paused: bool | None = None


class JobGetRequest(TenantScoped):
    namespace: str
    name: str
