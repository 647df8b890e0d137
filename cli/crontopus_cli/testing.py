"""For tests that drive the CLI against a live gateway (``crontopus_server.testing`` starts one)."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from crontopus_cli.main import app


def crontopus(*args: str, input: str | None = None, expect: int = 0) -> Any:
    """Run `crontopus ARGS` as a user would (its config file names the server); fail the test
    with the command's output unless it exits with ``expect``."""
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exit_code == expect, f"crontopus {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result
