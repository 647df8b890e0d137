from __future__ import annotations

from pydantic import Field

from crontopus_kit.settings import CrontopusSettings


class RunsSettings(CrontopusSettings):
    batch_size: int = Field(
        default=2000, ge=1, le=5000, validation_alias="CRONTOPUS_RUNS_BATCH_SIZE",
        description="check-ins stored per transaction at most (a batch also stops at 16 MiB of payload)",
    )  # fmt: skip
    batch_timeout: float = Field(default=0.2, gt=0, validation_alias="CRONTOPUS_RUNS_BATCH_TIMEOUT")
    ack_wait: float = Field(
        default=30, gt=0, validation_alias="CRONTOPUS_RUNS_ACK_WAIT",
        description="seconds before JetStream redelivers a check-in whose batch was not acknowledged",
    )  # fmt: skip
    retention_days: float = Field(
        default=90, ge=0, validation_alias="CRONTOPUS_RUNS_RETENTION_DAYS",
        description="runs older than this are deleted (each job's newest run is kept); 0 keeps every run",
    )  # fmt: skip
    prune_interval: float = Field(
        default=3600, gt=0, validation_alias="CRONTOPUS_RUNS_PRUNE_INTERVAL",
        description="seconds between retention passes (the first comes a minute after start)",
    )  # fmt: skip
