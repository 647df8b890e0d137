from __future__ import annotations

from pathlib import Path

from pydantic import Field

from crontopus_kit.settings import CrontopusSettings


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

    @property
    def repositories(self) -> Path:
        return (self.repos_dir or self.data_dir / "repos").resolve()
