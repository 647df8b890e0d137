from __future__ import annotations

from pydantic import Field

from crontopus_kit.settings import CrontopusSettings


class AlertingSettings(CrontopusSettings):
    tick_interval: float = Field(
        default=5.0, gt=0, validation_alias="CRONTOPUS_ALERTING_TICK_INTERVAL",
        description="seconds between missed-run checks (each touches only the jobs that are due)",
    )  # fmt: skip
    backlog_stuck_seconds: float = Field(
        default=300, gt=0, validation_alias="CRONTOPUS_ALERTING_BACKLOG_STUCK_SECONDS",
        description="how long the check-in consumers may have something pending (or be unreadable) "
        "before /health reports it: meanwhile no missed-run alert fires",
    )  # fmt: skip
    delivery_max_attempts: int = Field(default=6, ge=1, validation_alias="CRONTOPUS_ALERTING_DELIVERY_MAX_ATTEMPTS")
    delivery_backoff: float = Field(
        default=5.0, gt=0, validation_alias="CRONTOPUS_ALERTING_DELIVERY_BACKOFF",
        description="seconds before the first retry of a failed notification; doubles each time",
    )  # fmt: skip
    settle_seconds: float = Field(
        default=120, ge=0, validation_alias="CRONTOPUS_ALERTING_SETTLE_SECONDS",
        description="after a start, no missed runs are judged until the check-in backlog drained and this much "
        "time passed (agents that spooled check-ins while the control plane was down reconnect and flush)",
    )  # fmt: skip
    resync_interval: float = Field(
        default=3600, gt=0, validation_alias="CRONTOPUS_ALERTING_RESYNC_INTERVAL",
        description="seconds between full re-reads of every team's jobs from gitops (also at start): repairs "
        "what manifest-change events could not tell, e.g. a team whose last change left the GITOPS stream",
    )  # fmt: skip
