"""The local config file: which server to talk to and the session tokens.

It lives at ``$XDG_CONFIG_HOME/crontopus/config.json`` (``~/.config/crontopus``), or in
``$CRONTOPUS_CONFIG_DIR``. It holds bearer tokens (and the device token of the last sign-in), so
the file is created 0600 in a 0700 folder and replaced atomically: a crash mid-write never leaves
a half-written or world-readable copy.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from crontopus_cli.errors import CliError

CONFIG_FILE = "config.json"
FIELDS = ("server", "access_token", "refresh_token", "device_token")


@dataclass
class Config:
    server: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    # Marks this CLI as a client that signed in before (sent as the crontopus_device cookie on
    # sign-in): it can still sign in while the account is locked against unknown clients.
    # Kept across logout, since it proves nothing without the password.
    device_token: str | None = None

    @property
    def signed_in(self) -> bool:
        return bool(self.access_token or self.refresh_token)

    def clear_tokens(self) -> None:
        self.access_token = None
        self.refresh_token = None


def config_dir() -> Path:
    if override := os.environ.get("CRONTOPUS_CONFIG_DIR"):
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "crontopus"


def config_path() -> Path:
    return config_dir() / CONFIG_FILE


def load_config() -> Config:
    path = config_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise CliError(f"cannot read the config file {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(f"the config file {path} is not valid JSON ({exc}): fix it or delete it") from None
    if not isinstance(data, dict):
        raise CliError(f"the config file {path} must hold a JSON object: fix it or delete it")
    return Config(**{key: _str_or_none(data.get(key)) for key in FIELDS})


def save_config(config: Config) -> Path:
    path = config_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(path, json.dumps({k: v for k, v in asdict(config).items() if v}, indent=2) + "\n")
    except OSError as exc:
        raise CliError(f"cannot write the config file {path}: {exc.strerror}") from None
    return path


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):  # a leftover tmp file may have had a wider mode
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
