"""Structured logging: JSON in production, readable in a terminal; every line carries the
correlation id of the request or message being handled."""

from __future__ import annotations

import logging
import sys
import uuid
from contextvars import ContextVar

import structlog
from structlog.typing import EventDict, Processor

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

CORRELATION_HEADER = "X-Correlation-Id"


def current_correlation_id() -> str | None:
    return correlation_id_var.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def _add_correlation_id(_: object, __: str, event: EventDict) -> EventDict:
    cid = correlation_id_var.get()
    if cid and "correlation_id" not in event:
        event["correlation_id"] = cid
    return event


def configure_logging(*, fmt: str = "auto", level: str = "INFO") -> None:
    """Idempotent; call once per process before the first log line."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer = structlog.processors.JSONRenderer() if use_json else _console_renderer()
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_correlation_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries (uvicorn, faststream, nats-py, alembic) log through the stdlib: route them alike,
    # a traceback as one field of the line in JSON (what a log shipper takes as one event).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.format_exc_info] if use_json else []),
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _take_over_library_handlers()
    for noisy in ("faststream.access", "alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# Loggers that libraries give handlers of their own, printing beside ours: FastStream, at import,
# gives "faststream" (its apps' logger, and the parent of "faststream.access", the brokers' logger
# that make_broker hands them) a stderr handler with ANSI colours, and stops it propagating.
_LIBRARIES = ("faststream", "nats", "uvicorn")


def _take_over_library_handlers() -> None:
    """Every line of these libraries through the root handler alone. FastStream is imported first,
    so that its import, coming later, does not put its handler back."""
    import faststream  # noqa: F401

    for name in [*_LIBRARIES, *logging.root.manager.loggerDict]:
        if name.split(".", 1)[0] in _LIBRARIES:
            library = logging.getLogger(name)
            library.handlers.clear()
            library.propagate = True


def _console_renderer() -> structlog.dev.ConsoleRenderer:
    """Tracebacks without local variables: rich's default shows them, and a frame's locals hold
    secrets (the server key, a Git token, a password being checked)."""
    return structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
