from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from crontopus_kit.settings import CrontopusSettings
from crontopus_schemas.subjects import ACCESS_STREAM


class IdentitySettings(CrontopusSettings):
    issuer: str = Field(default="crontopus", min_length=1, validation_alias="CRONTOPUS_IDENTITY_ISSUER")
    access_token_ttl: int = Field(
        default=15 * 60, ge=1, le=ACCESS_STREAM.max_age_seconds - 3600,
        validation_alias="CRONTOPUS_IDENTITY_ACCESS_TOKEN_TTL",
        description="seconds an access token is valid; short, since only a change to the member's role or "
        "membership revokes it (gateways remember those changes for a day, hence the upper bound)",
    )  # fmt: skip
    key_reload_interval: float = Field(
        default=60, gt=0, validation_alias="CRONTOPUS_IDENTITY_KEY_RELOAD_INTERVAL",
        description="seconds between re-reads of the signing keys (a rotated key signs from the next one)",
    )  # fmt: skip
    refresh_token_ttl: int = Field(
        default=30 * 24 * 3600, ge=60, validation_alias="CRONTOPUS_IDENTITY_REFRESH_TOKEN_TTL"
    )
    login_max_failures: int = Field(
        default=5, ge=1, validation_alias="CRONTOPUS_IDENTITY_LOGIN_MAX_FAILURES",
        description="failed sign-ins to one account from unknown clients (or from one known device) within "
        "the window before those clients (that device) are locked out until the window ends",
    )  # fmt: skip
    login_failure_window: int = Field(default=15 * 60, ge=1, validation_alias="CRONTOPUS_IDENTITY_LOGIN_FAILURE_WINDOW")
    device_token_ttl: int = Field(
        default=365 * 24 * 3600, ge=60, validation_alias="CRONTOPUS_IDENTITY_DEVICE_TOKEN_TTL",
        description="seconds a device token (a client that signed in before) is honoured during a lock",
    )  # fmt: skip
    ip_max_attempts: int = Field(
        default=20, ge=1, validation_alias="CRONTOPUS_IDENTITY_IP_MAX_ATTEMPTS",
        description="login attempts (any outcome) from one client IP within the IP window",
    )  # fmt: skip
    ip_window: int = Field(default=60, ge=1, validation_alias="CRONTOPUS_IDENTITY_IP_WINDOW")
    register_max_per_ip: int = Field(
        default=10, ge=1, validation_alias="CRONTOPUS_IDENTITY_REGISTER_MAX_PER_IP",
        description="sign-ups (new teams) from one client IP within the registration window",
    )  # fmt: skip
    register_window: int = Field(default=3600, ge=1, validation_alias="CRONTOPUS_IDENTITY_REGISTER_WINDOW")
    max_teams: int | None = Field(
        default=None, ge=1, validation_alias="CRONTOPUS_IDENTITY_MAX_TEAMS",
        description="teams this server hosts at most: a sign-up (or a first single sign-on) that would make "
        "one more is refused (403); unset: no limit. `run all` with its local agent sets 1",
    )  # fmt: skip
    smtp_url: SecretStr | None = Field(
        default=None, validation_alias="CRONTOPUS_SMTP_URL",
        description="where the platform's mail goes: smtp://user:password@host:587 (STARTTLS, required), "
        "smtps://user:password@host:465 (TLS), smtp://host:25?starttls=false (a local relay, no TLS). "
        "Unset: each mail is written to <data dir>/outbox/ instead and its link logged",
    )  # fmt: skip
    mail_from: str = Field(
        default="Crontopus <crontopus@localhost>", min_length=3, validation_alias="CRONTOPUS_MAIL_FROM"
    )
    mail_max_attempts: int = Field(
        default=8, ge=1, validation_alias="CRONTOPUS_MAIL_MAX_ATTEMPTS",
        description="tries per mail (30 s, then twice as long each time, at most an hour apart) before it is dropped",
    )  # fmt: skip
    mail_retry_delay: float = Field(default=30, gt=0, validation_alias="CRONTOPUS_MAIL_RETRY_DELAY")
    audit_retention_days: int = Field(
        default=365, ge=1, validation_alias="CRONTOPUS_AUDIT_RETENTION_DAYS",
        description="days the audit log keeps an entry (swept hourly)",
    )  # fmt: skip

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("CRONTOPUS_SMTP_URL is smtp://[user:password@]host[:port] or smtps://...")
        return value
