"""What the logs show of a failure in a terminal."""

import io
import logging
import sys

import pytest
import structlog

from crontopus_kit.logging import configure_logging, get_logger


@pytest.fixture
def console(monkeypatch):
    """What the console renderer writes, restored afterwards for the tests that follow."""
    saved_config, saved_handlers = structlog.get_config(), logging.getLogger().handlers[:]
    written = io.StringIO()
    monkeypatch.setattr(sys, "stderr", written)
    configure_logging(fmt="console")
    yield written
    structlog.configure(**saved_config)
    logging.getLogger().handlers[:] = saved_handlers


def fail_with_a_secret_in_scope() -> None:
    secret_key = "s3cr3t-value-in-a-local"  # noqa: F841 (what a frame's locals may hold)
    raise RuntimeError("boom")


@pytest.mark.parametrize("through", ["structlog", "stdlib"])
def test_a_traceback_in_the_terminal_never_shows_local_variables(console, through):
    try:
        fail_with_a_secret_in_scope()
    except RuntimeError:
        if through == "structlog":
            get_logger("test").exception("sync failed")
        else:  # what libraries (uvicorn, faststream) log
            logging.getLogger("library").exception("sync failed")
    shown = console.getvalue()
    assert "RuntimeError: boom" in shown and "fail_with_a_secret_in_scope" in shown
    assert "s3cr3t-value-in-a-local" not in shown
