"""What every command needs: the resolved server, the stored config, and an API client.

Tests pass their own `AppState` (with an httpx MockTransport) as the Click context object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated

import httpx
import typer

from crontopus_cli.client import DEFAULT_SERVER, ApiClient, normalize_server
from crontopus_cli.config import Config, load_config


@dataclass
class AppState:
    server_flag: str | None = None
    transport: httpx.BaseTransport | None = None
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config()
        return self._config

    def server(self, override: str | None = None) -> str:
        """--server (on the command, then the global one), CRONTOPUS_SERVER, the config file, the default."""
        chosen = override or self.server_flag or os.environ.get("CRONTOPUS_SERVER") or self.config.server
        return normalize_server(chosen or DEFAULT_SERVER)

    def client(self, server: str | None = None, *, use_api_key: bool = True) -> ApiClient:
        api_key = os.environ.get("CRONTOPUS_API_KEY") if use_api_key else None
        return ApiClient(server=self.server(server), config=self.config, api_key=api_key, transport=self.transport)


ServerOption = Annotated[
    str | None,
    typer.Option("--server", help="Gateway URL (else CRONTOPUS_SERVER, the config file, http://127.0.0.1:8080)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the raw JSON and nothing else.")]


def state(ctx: typer.Context) -> AppState:
    return ctx.ensure_object(AppState)
