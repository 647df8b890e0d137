from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from typer.testing import CliRunner

from crontopus_cli.context import AppState
from crontopus_cli.main import app

Route = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def database_backend() -> str:
    """The live-gateway tests' stack: the CLI sees only HTTP, so one database backend is enough."""
    return "sqlite"


@pytest.fixture(autouse=True)
def server_logs_apart_from_the_cli_output() -> Iterator[None]:
    """The live tests' stack runs in this process and logs through structlog, whose default
    writes each line to whatever ``sys.stdout`` is at that moment: while CliRunner held it, a line
    from the stack's thread landed in a command's output (`jobs problems --json` began with
    "2026-12-07 ..."). Here the stack's lines go to the real stderr."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.__stderr__))
    yield
    structlog.configure(**saved)


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config folder and no ambient server or API key."""
    folder = tmp_path / "config"
    monkeypatch.setenv("CRONTOPUS_CONFIG_DIR", str(folder))
    monkeypatch.delenv("CRONTOPUS_SERVER", raising=False)
    monkeypatch.delenv("CRONTOPUS_API_KEY", raising=False)
    return folder


class FakeGateway:
    """A gateway stand-in: routes keyed by "METHOD /path", every request recorded."""

    url = "http://gateway.test"

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, status: int = 200, json: Any = None) -> None:
        self.routes[f"{method} {path}"] = lambda _: httpx.Response(status, json=json)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get(f"{request.method} {request.url.path}")
        return route(request) if route else httpx.Response(404, json={"detail": "Not Found"})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    @staticmethod
    def json_body(request: httpx.Request) -> Any:
        return json.loads(request.content)

    @staticmethod
    def form_body(request: httpx.Request) -> dict[str, str]:
        return dict(httpx.QueryParams(request.content.decode()))


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def cli(gateway: FakeGateway) -> Callable[..., Any]:
    """Run `crontopus ARGS` against the fake gateway (CRONTOPUS_SERVER points at it)."""

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        environment = {"CRONTOPUS_SERVER": gateway.url, **(env or {})}
        state = AppState(transport=gateway.transport)
        return CliRunner().invoke(app, list(args), obj=state, input=input, env=environment)

    return invoke


def make_run(run_id: str = "r-1", **overrides: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "job": "production/backup",
        "status": "success",
        "started_at": "2024-05-01T12:00:00+00:00",
        "finished_at": "2024-05-01T12:01:30+00:00",
        "duration_ms": 90_000,
        "exit_code": 0,
        "source": "agent",
        "manifest_commit": None,
        "output_size": 12,
        **overrides,
    }


@pytest.fixture
def a_run() -> Callable[..., dict[str, Any]]:
    return make_run
