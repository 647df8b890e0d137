"""Serving HTTP with several gateway processes on one port (``CRONTOPUS_WORKERS``).

One Python process serves HTTP on one core. With ``CRONTOPUS_WORKERS=N`` this process binds the
port and serves it as before (the gateway, and in `run all` every service), and N - 1 more
processes, each a gateway alone on its own NATS connection, serve the same port. On Linux each
process listens on a socket of its own bound with ``SO_REUSEPORT``, and the kernel spreads new
connections evenly over them. (On one shared listening socket, the process whose event loop woke
first accepted every connection waiting, so fifty keep-alive connections opened at once could
all land on one process and stay there: two processes measured anywhere from 0.6x to 2x one.)
Elsewhere they accept on one shared socket. They share next to nothing, and need not:
a check-in goes to JetStream whichever process took it (a finish ping is paired with its start by
the runs service, in stream order), API key revocations and manifest changes reach every gateway
over NATS. The rate limits' counters are the one thing shared in memory (``Counters``, made by the
caller before any process starts), so the processes allow the configured rate between them. What
is per process: the caches those broadcasts keep fresh, and the cap on a team's live event streams.

The extra processes are started with ``spawn`` (a fresh interpreter: nothing of this process's
event loop or NATS connection is inherited), end with this process, and are stopped when it stops.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from crontopus_gateway.ratelimit import Counters
from crontopus_kit.logging import get_logger
from crontopus_kit.settings import SettingsError
from crontopus_kit.unit import StoppableStartup

log = get_logger("crontopus.server")

# Every uvicorn we start. proxy_headers off: uvicorn would otherwise rewrite the peer address
# from X-Forwarded-For (trusting 127.0.0.1 by default) before the gateway sees it, and a client
# next to the server could rotate that header past the per-address limits;
# CRONTOPUS_GATEWAY_TRUSTED_PROXIES alone decides. No `server: uvicorn` header either.
# timeout_graceful_shutdown: open live event streams (GET /api/events) never end by themselves;
# at shutdown they are cut after this, and their consoles reconnect elsewhere with Last-Event-ID.
UVICORN_OPTIONS: dict[str, Any] = {
    "proxy_headers": False, "server_header": False, "log_config": None, "timeout_graceful_shutdown": 5,
    "access_log": False,
}  # fmt: skip
STOP_SECONDS = 10.0
# Linux balances a port's SO_REUSEPORT sockets; macOS and the BSDs hand every connection to one.
REUSE_PORT = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def serve(
    app: Any,
    *,
    host: str,
    port: int,
    nats_url: str,
    workers: int,
    sock: socket.socket | None = None,
    counters: Counters | None = None,
) -> None:
    """Serve ``app`` here, and ``workers - 1`` gateway processes on the same port: on ``sock``
    when the caller bound it already (``bind_port`` with the same ``workers``), else on a socket
    bound now (a port in use ends the process with uvicorn's STARTUP_FAILURE). ``counters``: the
    rate limits' tables ``app`` uses, shared with the other processes."""
    if workers <= 1:
        run_server(app, host=host, port=port, sockets=[sock] if sock else None)
        return
    if sock is None:
        sock = _bind_first(host, port) if REUSE_PORT else uvicorn.Config(app, host=host, port=port).bind_socket()
    # Each worker binds the port this process got (``--port 0`` picks one), or shares its socket.
    listen: socket.socket | tuple[str, int] = (host, sock.getsockname()[1]) if REUSE_PORT else sock
    context = multiprocessing.get_context("spawn")
    others = [
        context.Process(
            target=gateway_worker,
            args=(listen, nats_url, counters, os.getpid()),
            name=f"crontopus-gateway-{n}",
            daemon=True,
        )
        for n in range(2, workers + 1)
    ]
    with _sigint_ignored_by_children():
        for process in others:
            process.start()
    log.info("gateway processes started", workers=workers, pids=[process.pid for process in others])
    try:
        run_server(app, host=host, port=port, sockets=[sock])
    finally:
        _stop(others)
        sock.close()


def run_server(app: Any, *, sockets: list[socket.socket] | None = None, **options: Any) -> None:
    """uvicorn serving ``app`` with ``UVICORN_OPTIONS`` until it stops. A start-up stopped while it
    waited for NATS logs one line and ends the process with status 0, as a stop does."""
    with _HeldSignals() as held:
        startup = StoppableStartup(_RefusalsInOneLine(app), before_startup=held.hand_over)
        try:
            uvicorn.Server(uvicorn.Config(startup, **UVICORN_OPTIONS, **options)).run(sockets=sockets)
        except SystemExit:
            if startup.stopped:
                raise SystemExit(0) from None
            raise


class _RefusalsInOneLine:
    """A start-up that fails for a ``SettingsError`` (the process refuses these settings: e.g. a
    secret that does not open the identity database's keys) is logged as its one sentence, where
    uvicorn would log the framework's traceback; uvicorn still ends with its start-up failure
    status (3)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_one_line(message: Any) -> None:
            refused = sys.exc_info()[1]  # the framework sends "startup.failed" while handling it
            if message["type"] == "lifespan.startup.failed" and isinstance(refused, SettingsError):
                message = {**message, "message": str(refused)}
            await send(message)

        await self.app(scope, receive, send_one_line)


class _HeldSignals:
    """SIGINT and SIGTERM that come while uvicorn builds its event loop, kept until its own
    handlers are in place (``hand_over``, at the start of the application's start-up). Handled
    at once, the caller's handler (SystemExit) would interrupt the loop's construction, and the
    half-made loop's clean-up prints a traceback. What was never handed over goes to the caller's
    handlers at the end. An ignored signal stays ignored."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: list[int] = []
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _HeldSignals:
        with contextlib.suppress(ValueError):  # not the main thread: nothing to hold
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self.previous[sig] = signal.signal(sig, self._hold)
        return self

    def _hold(self, sig: int, _: object) -> None:
        self.received.append(sig)

    def hand_over(self) -> None:
        received, self.received = self.received, []
        for sig in received:
            signal.raise_signal(sig)

    def __exit__(self, *_: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self.hand_over()


def bind_port(host: str, port: int, *, workers: int) -> socket.socket:
    """The port's first socket, for ``serve(sock=...)``: bound before anything else starts, so a
    port in use is refused (``OSError``) before any service or banner. Any server already
    listening there is refused, as uvicorn refuses it, even one sharing its port with
    ``SO_REUSEPORT``: with ``workers`` > 1 this socket shares it too, and would otherwise quietly
    join that server's group."""
    probe = _socket(host)
    try:
        probe.bind((host, port))
    except OSError:
        probe.close()
        raise
    if workers <= 1 or not REUSE_PORT:
        probe.set_inheritable(True)  # as uvicorn binds it (a shared socket goes to the workers)
        return probe
    port = probe.getsockname()[1]  # ``--port 0``: the one the kernel chose
    probe.close()
    return _bind(host, port)


def _bind_first(host: str, port: int) -> socket.socket:
    """``bind_port`` for ``serve`` itself: a port in use ends the process, as uvicorn ends it."""
    try:
        return bind_port(host, port, workers=2)
    except OSError as exc:
        log.error("cannot listen", host=host, port=port, error=str(exc))
        sys.exit(STARTUP_FAILURE)


def _socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def _bind(host: str, port: int) -> socket.socket:
    """A socket of this process's own in the port's ``SO_REUSEPORT`` group (as uvicorn binds one)."""
    sock = _socket(host)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def gateway_worker(
    listen: socket.socket | tuple[str, int], nats_url: str, counters: Counters | None, parent: int
) -> None:
    """One more gateway, in a spawned process of ``parent``'s: settings from the same environment."""
    from crontopus_gateway.app import create_app
    from crontopus_gateway.settings import GatewaySettings
    from crontopus_kit.broker import exit_process, make_broker
    from crontopus_kit.logging import configure_logging
    from crontopus_kit.nats_server import die_with_parent

    if os.getppid() != parent:
        return  # the server was gone before this process got here
    die_with_parent()  # a parent killed outright takes its workers with it
    _end_after_parent(parent, STOP_SECONDS)
    settings = GatewaySettings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    broker = make_broker(nats_url, name="crontopus-gateway", when_gone=exit_process)  # a supervisor restarts it
    app = create_app(settings=settings, broker=broker, counters=counters)
    sock = listen if isinstance(listen, socket.socket) else _bind(*listen)
    # SIGINT came ignored (_sigint_ignored_by_children): uvicorn handles it while it serves, then
    # puts back "ignored", so the SIGINT it raises again at the end ends nothing with a traceback.
    run_server(app, sockets=[sock])


@contextlib.contextmanager
def _sigint_ignored_by_children() -> Iterator[None]:
    """A terminal's Ctrl-C reaches every process of the group, a worker still starting too, where
    it would end Python's start-up with a KeyboardInterrupt traceback. An ignored signal stays
    ignored through exec: the workers start with SIGINT ignored until uvicorn handles it (the
    parent, which handles it, stops them with SIGTERM)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _end_after_parent(parent: int, grace: float) -> None:
    """A worker whose server is gone ends ``grace`` seconds later, whatever it is doing:
    die_with_parent's SIGTERM starts a graceful shutdown, which one stuck on a NATS that died with
    the server might never finish, and which a parent that died before prctl never asks for."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        time.sleep(grace)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _stop(processes: Sequence[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn's graceful shutdown
    for process in processes:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
