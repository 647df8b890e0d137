from __future__ import annotations

from pathlib import Path

from pydantic import Field

from crontopus_kit.settings import CrontopusSettings

# Requests one gitops RPC subscriber handles at once: a request waiting on a slow Git host (or on
# its team's lock) must not hold up other teams' requests behind it.
RPC_WORKERS = 64


class GitopsSettings(CrontopusSettings):
    repos_dir: Path | None = Field(
        default=None, validation_alias="CRONTOPUS_GITOPS_REPOS_DIR",
        description="where the tenants' bare repositories live; default <data dir>/repos",
    )  # fmt: skip
    branch: str = Field(default="main", validation_alias="CRONTOPUS_GITOPS_BRANCH")
    poll_seconds: float = Field(
        default=30, gt=0, validation_alias="CRONTOPUS_GITOPS_POLL_SECONDS",
        description="how often every repository is checked when no push notice arrived",
    )  # fmt: skip
    poll_concurrency: int = Field(
        default=4, ge=1, le=32, validation_alias="CRONTOPUS_GITOPS_POLL_CONCURRENCY",
        description="external repositories the poll fetches at once (webhooks and edits do not wait for these)",
    )  # fmt: skip
    allow_http: bool = Field(
        default=False, validation_alias="CRONTOPUS_GITOPS_ALLOW_HTTP",
        description="accept http:// repository URLs (unencrypted: for closed networks only); off: https:// and ssh://",
    )  # fmt: skip
    connect_timeout: float = Field(
        default=10, gt=0, le=300, validation_alias="CRONTOPUS_GITOPS_CONNECT_TIMEOUT",
        description="seconds to connect to an external repository's host, and the longest it may stay silent",
    )  # fmt: skip
    fetch_timeout: float = Field(
        default=120, gt=0, le=3600, validation_alias="CRONTOPUS_GITOPS_FETCH_TIMEOUT",
        description="seconds one fetch or push of an external repository may take in all",
    )  # fmt: skip

    @property
    def repositories(self) -> Path:
        return (self.repos_dir or self.data_dir / "repos").resolve()
