"""Job edits through the API: each create, update or delete becomes one commit in the tenant's
repository (subjects.GitopsRpc.JOB_CREATE / JOB_UPDATE / JOB_DELETE; HTTP POST /api/jobs,
PUT and DELETE /api/jobs/{namespace}/{name}).

`base_commit` is the commit the client's copy of the job came from (the `commit` field of
GET /api/jobs/...): an edit is refused with a conflict when the job's file changed since then,
so nobody overwrites a change they have not seen. Commits to other files do not matter.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from crontopus_schemas.names import DNS_LABEL, LABEL_RULE, in_words
from crontopus_schemas.rpc import TenantScoped

COMMIT_SHA = r"^[0-9a-f]{4,64}$"

Label = Annotated[str, StringConstraints(pattern=DNS_LABEL), in_words(LABEL_RULE)]
CommitSha = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=COMMIT_SHA),
    Field(description="the commit your copy of the job came from (`commit` in GET /api/jobs/{namespace}/{name})"),
]
# Git writes "name <email>" into the commit: angle brackets and line breaks would corrupt it.
AuthorName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^<>\n\r]+$")
]
AuthorEmail = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320, pattern=r"^[^<>\s]+$")
]
Manifest = Annotated[
    str | dict[str, Any],
    Field(description="the job manifest: YAML text, or the same as a JSON object (docs/job-manifest-spec.md)"),
]
Message = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, max_length=4000),
    Field(description="optional: added to the commit message below its first line"),
]


class CommitAuthor(BaseModel):
    """Who made the edit (the commit's author; Crontopus is its committer)."""

    name: AuthorName
    email: AuthorEmail


# --- HTTP bodies (the gateway adds the tenant and the author from the credential) ----------


class JobCreateBody(BaseModel):
    manifest: Manifest
    message: Message = None


class JobUpdateBody(BaseModel):
    manifest: Manifest
    base_commit: CommitSha | None = Field(default=None, description="required here or as ?base_commit=")
    message: Message = None


class JobDeleteBody(BaseModel):
    base_commit: CommitSha | None = Field(default=None, description="required here or as ?base_commit=")
    message: Message = None


# --- request-reply payloads ------------------------------------------------------------------


class JobCreateRequest(TenantScoped):
    author: CommitAuthor
    manifest: Manifest
    message: Message = None


class JobUpdateRequest(TenantScoped):
    namespace: Label
    name: Label
    author: CommitAuthor
    manifest: Manifest
    base_commit: CommitSha
    message: Message = None


class JobDeleteRequest(TenantScoped):
    namespace: Label
    name: Label
    author: CommitAuthor
    base_commit: CommitSha
    message: Message = None


class JobDeleted(BaseModel):
    commit: str = Field(description="the commit that removed the job")
