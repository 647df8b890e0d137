"""What the logs show of a failure in a terminal."""

import io
import json
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


@pytest.fixture
def json_lines(monkeypatch):
    """What JSON logging writes; FastStream's own logger is put back as it was afterwards."""
    faststream_logger = logging.getLogger("faststream")
    saved = (
        structlog.get_config(),
        logging.getLogger().handlers[:],
        faststream_logger.handlers[:],
        faststream_logger.propagate,
    )
    written = io.StringIO()
    monkeypatch.setattr(sys, "stderr", written)
    configure_logging(fmt="json")
    yield lambda: written.getvalue().splitlines()
    structlog.configure(**saved[0])
    logging.getLogger().handlers[:] = saved[1]
    faststream_logger.handlers[:], faststream_logger.propagate = saved[2], saved[3]


def test_in_json_faststream_and_nats_lines_are_one_json_object_each_without_colour_codes(json_lines):
    from faststream import FastStream

    from crontopus_kit.broker import make_broker

    broker = make_broker("nats://127.0.0.1:4222", name="test")
    FastStream(broker).logger.info("FastStream app shutting down...")  # type: ignore[union-attr]
    try:
        raise TimeoutError("nats: timeout")
    except TimeoutError as exc:  # as FastStream's subscriber supervisor logs a failed add_consumer
        logging.getLogger("faststream.access").error("Task-7 raised an exception, retrying...", exc_info=exc)
        logging.getLogger("nats.aio.client").error("nats: encountered error", exc_info=exc)

    lines = json_lines()
    assert not any("\x1b" in line for line in lines)
    records = [json.loads(line) for line in lines]  # one object per line: a traceback is not loose text
    assert [(r["logger"], r["level"], r["event"]) for r in records] == [
        ("faststream", "info", "FastStream app shutting down..."),
        ("faststream.access", "error", "Task-7 raised an exception, retrying..."),
        ("nats.aio.client", "error", "nats: encountered error"),
    ]
    assert records[1]["exception"].endswith("TimeoutError: nats: timeout")
