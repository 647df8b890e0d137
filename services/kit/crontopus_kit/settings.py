"""Settings shared by every service: ``CRONTOPUS_*`` variables, ``*_FILE`` for secrets.

Without ``CRONTOPUS_NATS_URL`` and with no PostgreSQL ``CRONTOPUS_DATABASE_URL`` the process
runs the embedded default (embedded NATS, SQLite files under the data dir). There, and only
there, a secret key may be generated on first start and kept in the data dir; any other
deployment must provide one.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any, Literal

import pydantic_settings
from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from crontopus_kit.nats_security import with_derived_passwords
from crontopus_schemas.private_files import private_dir

# Values people paste from examples; never acceptable outside the embedded default.
KNOWN_WEAK_SECRETS = frozenset({"", "changeme", "change-me", "secret", "crontopus", "dev", "development"})
MIN_SECRET_LENGTH = 32
# A plain test of variety, not an entropy estimate: it refuses `aaaa...` and `abab...`, which a
# length test lets through. 32 random hex digits have ~14 different ones (fewer than 10 about once
# in 10,000 draws); `secrets.token_urlsafe(48)`'s 64 characters ~40.
MIN_DISTINCT_CHARACTERS = 10
MAKE_A_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
log = logging.getLogger("crontopus.settings")


class SettingsError(pydantic_settings.SettingsError):
    """The process refuses to start with these settings."""


def describe_settings_error(exc: Exception) -> str:
    """What is wrong, for a person: pydantic-settings wraps errors of a source (the cause says
    it), and pydantic's own text shows every input value, the secret among them."""
    cause = exc.__cause__
    if isinstance(cause, SettingsError):
        return str(cause)
    if isinstance(exc, ValidationError):
        return "; ".join(_describe_error(error) for error in exc.errors(include_input=False, include_url=False))
    return str(exc)


def _describe_error(error: Any) -> str:
    refused = error.get("ctx", {}).get("error")
    if isinstance(refused, SettingsError):  # raised by a validator: its message is for people
        return str(refused)
    name = ".".join(str(part) for part in error["loc"])
    if not name:
        return str(error["msg"])
    variable = name.upper() if name.upper().startswith("CRONTOPUS_") else f"CRONTOPUS_{name.upper()}"
    return f"{variable}: {error['msg']}"


def secret_weakness(value: str) -> str | None:
    """Why ``value`` is refused as the server secret, or None. Never quotes the secret."""
    if value.lower() in KNOWN_WEAK_SECRETS:
        return "it is an example value"
    if len(value) < MIN_SECRET_LENGTH:
        return f"it has {len(value)} characters, fewer than {MIN_SECRET_LENGTH}"
    return None


def secret_doubt(value: str) -> str | None:
    """Why ``value`` looks made by hand rather than drawn at random, or None. Only a warning: the
    secret cannot be changed (docs/deployment.md), so refusing one that was accepted before would
    lock its deployment out of its own data at an upgrade."""
    distinct = len(set(value))
    if distinct < MIN_DISTINCT_CHARACTERS:
        return f"it has only {distinct} different characters (at least {MIN_DISTINCT_CHARACTERS}): it is not random"
    return None


def check_secret(value: str) -> None:
    why = secret_weakness(value)
    if why:
        raise SettingsError(
            f"the server secret (CRONTOPUS_SECRET_KEY or CRONTOPUS_SECRET_KEY_FILE) is too weak: {why}. "
            f"Make one with `{MAKE_A_SECRET}` and give every process the same"
        )
    doubt = secret_doubt(value)
    if doubt and not _DOUBTS_SAID:
        _DOUBTS_SAID.append(doubt)
        log.warning(
            "the server secret looks weak: %s. It cannot be changed once data depends on it: for a new "
            "deployment make one with `%s`",
            doubt, MAKE_A_SECRET,
        )  # fmt: skip


_DOUBTS_SAID: list[str] = []  # said once per process: settings are read by every unit


class FileSecretsSource(EnvSettingsSource):
    """Reads ``CRONTOPUS_<FIELD>_FILE``: the value is the content of that file (Docker/K8s secrets)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for env_name in self._env_names(field, field_name):
            path = self.env_vars.get(f"{env_name}_file")
            if path:
                try:
                    value = Path(path).read_text().strip()
                except OSError as exc:
                    raise SettingsError(f"cannot read {env_name.upper()}_FILE={path}: {exc}") from exc
                _warn_if_others_may_read(Path(path), f"{env_name.upper()}_FILE")
                return value, field_name, False
        return None, field_name, False

    def _env_names(self, field: FieldInfo, field_name: str) -> list[str]:
        return [name for _, name, _ in self._extract_field_info(field, field_name)]


_WARNED_FILES: set[Path] = set()


def _warn_if_others_may_read(path: Path, variable: str) -> None:
    """Once per file and process (settings are read by every unit). Group access is left alone:
    `root:crontopus 0640` is a deliberate way to share a secret with the service's group."""
    mode = path.stat().st_mode
    if mode & 0o007 and path.resolve() not in _WARNED_FILES:
        _WARNED_FILES.add(path.resolve())
        log.warning(
            "%s=%s can be read by every user of this host (mode %s): `chmod 600 %s`, owned by the service's user",
            variable, path, oct(mode & 0o777)[2:], path,
        )  # fmt: skip


class CrontopusSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRONTOPUS_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    data_dir: Path = Path(".crontopus")
    nats_url: str | None = None
    # Copies of each stream on a NATS cluster: 3 keeps every stored check-in through the loss
    # of a node. Streams created earlier are brought to it at start-up.
    nats_stream_replicas: int = Field(default=1, ge=1, le=5)
    database_url: str | None = None
    database_schema_prefix: str = ""
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    allow_private_networks: bool = Field(
        default=False,
        # The alerting service's older name is still read.
        validation_alias=AliasChoices("CRONTOPUS_ALLOW_PRIVATE_NETWORKS", "CRONTOPUS_ALERTING_ALLOW_PRIVATE_TARGETS"),
        description="let what a team names (notification targets, external repositories) reach private, "
        "loopback or link-local addresses; off: refused, against SSRF",
    )
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, FileSecretsSource(settings_cls))

    @model_validator(mode="after")
    def _derive_nats_passwords(self) -> CrontopusSettings:
        """``CRONTOPUS_NATS_URL=nats://runs@nats:4222``: the password is derived from the secret."""
        if self.nats_url:
            self.nats_url = with_derived_passwords(self.nats_url, self.secret_bytes)
        return self

    @property
    def embedded(self) -> bool:
        """The single-process development default: no external NATS, no PostgreSQL."""
        return self.nats_url is None and not self.uses_postgres

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url and self.database_url.startswith("postgresql"))

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def database_url_for(self, service: str) -> str:
        """``CRONTOPUS_<SERVICE>_DATABASE_URL``, else the shared URL, else a SQLite file per service."""
        specific = os.environ.get(f"CRONTOPUS_{service.upper()}_DATABASE_URL")
        url = specific or self.database_url
        if url:
            return normalise_database_url(url)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    def database_schema_for(self, service: str) -> str:
        return f"{self.database_schema_prefix}{service}"

    def secret_bytes(self, *, for_production: bool = False) -> bytes:
        """The key for keyed hashes, token signing material and encryption at rest. Outside the
        embedded default, or ``for_production`` (what is made with it serves other processes:
        `crontopus-server nats-config`), it must be given and strong (``secret_weakness``)."""
        checked = for_production or not self.embedded
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if checked:
                check_secret(value)
            return value.encode()
        if checked:
            raise SettingsError(
                "CRONTOPUS_SECRET_KEY (or CRONTOPUS_SECRET_KEY_FILE) must be set outside the embedded default; "
                f"make one with `{MAKE_A_SECRET}`"
            )
        return _embedded_secret(self.data_dir)


def _embedded_secret(data_dir: Path) -> bytes:
    """Generated once per data dir (mode 0600): each local install gets its own key."""
    path = data_dir / "secret.key"
    private_dir(data_dir)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # created earlier, or by a sibling process just now
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def normalise_database_url(url: str) -> str:
    """Accept the plain ``postgresql://`` form users copy from elsewhere; we need asyncpg."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
