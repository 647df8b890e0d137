from __future__ import annotations

from pydantic import Field

from crontopus_kit.settings import CrontopusSettings


class AgentsSettings(CrontopusSettings):
    offline_after: float = Field(
        default=90, gt=0, validation_alias="CRONTOPUS_AGENTS_OFFLINE_AFTER",
        description="seconds without a heartbeat before an agent counts as offline (agents beat every 30 s)",
    )  # fmt: skip
    sweep_interval: float = Field(default=10, gt=0, validation_alias="CRONTOPUS_AGENTS_SWEEP_INTERVAL")
    agent_nats_urls: str | None = Field(
        default=None, validation_alias="CRONTOPUS_AGENTS_NATS_URLS",
        description="comma-separated NATS URLs agents connect to; default: the services' NATS URL",
    )  # fmt: skip
    credential_ttl: int = Field(
        default=3600, ge=60, validation_alias="CRONTOPUS_AGENTS_CREDENTIAL_TTL",
        description="seconds a NATS login of an agent lasts before the server asks again (bounds revocation "
        "where the agents service cannot kick connections)",
    )  # fmt: skip
