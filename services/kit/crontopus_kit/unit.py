"""A service unit: what a service contributes to a process (its router, its database, its
streams), so one service can run alone or many can share one broker in the all-in-one mode."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import nats.errors
from faststream.nats import NatsBroker, NatsRouter

from crontopus_kit.broker import ensure_streams
from crontopus_kit.logging import get_logger
from crontopus_kit.settings import CrontopusSettings
from crontopus_schemas.subjects import StreamSpec

log = get_logger(__name__)
# A unit closes in well under a second (it finishes and acknowledges the batch in hand).
UNIT_CLOSE_SECONDS = 5.0
NATS_WAIT_REPORT_SECONDS = 10.0
NATS_WAIT = (
    "waiting for NATS: not reachable yet (is it running? is CRONTOPUS_NATS_URL right?); "
    "this process starts once it answers"
)


class ServiceUnit(Protocol):
    """A unit is built with the broker it runs on (``Unit(settings, broker=broker)``), so what
    it publishes through never waits to be handed one. A unit may also have
    ``problems() -> list[str]``: sentences /health reports with a 503 while they last
    (``crontopus_kit.http.health_payload``)."""

    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> CrontopusSettings:
        """What the unit was built with (a service run alone is served on its host and port)."""

    @property
    def streams(self) -> Sequence[StreamSpec]: ...

    @property
    def router(self) -> NatsRouter: ...

    async def prepare(self) -> None:
        """Before the broker starts: migrate the database, load keys."""

    async def started(self) -> None:
        """After the broker started: begin background consumers."""

    async def close(self) -> None:
        """After the broker stopped: release the database."""


# A young-generation collection every 20,000 allocations instead of CPython's 700 (and the older
# generations correspondingly rarer). A check-in batch allocates tens of thousands of
# short-lived objects, freed by reference counting anyway; at the default the collector kept
# rescanning them and took ~15% of the runs consumer's CPU (docs/benchmarks.md).
GC_THRESHOLDS = (20_000, 20, 20)


async def start_units(broker: NatsBroker, units: Sequence[ServiceUnit], *, stream_replicas: int = 1) -> None:
    """Migrate every unit, make sure the streams exist (with ``stream_replicas`` copies each),
    then start consuming. The all-in-one server and the gateway start this way; a service alone
    (``service_app``) runs the same two halves around FastStream's own start of the broker."""
    for unit in units:
        broker.include_router(unit.router)
    await prepare_units(broker, units, stream_replicas=stream_replicas)
    await broker.start()
    await units_started(units)


async def prepare_units(broker: NatsBroker, units: Sequence[ServiceUnit], *, stream_replicas: int) -> None:
    """Before the broker starts: the process's collector tuning, every unit's migrations and keys,
    the connection, and the streams the units need."""
    gc.set_threshold(*GC_THRESHOLDS)
    for unit in units:
        await unit.prepare()
    await connect(broker)
    await ensure_unit_streams(broker, units, replicas=stream_replicas)


async def connect(broker: NatsBroker, *, report_every: float = NATS_WAIT_REPORT_SECONDS) -> None:
    """``broker.connect()``, which waits as long as NATS takes to answer (a platform's processes
    may start in any order); meanwhile a warning every ``report_every`` seconds, so a wrong
    ``CRONTOPUS_NATS_URL`` or a NATS that is down is not a silent "Waiting for application startup"."""
    connecting = asyncio.ensure_future(broker.connect())
    started = time.monotonic()
    try:
        with _stopped_by_signals(connecting):
            while not (await asyncio.wait({connecting}, timeout=report_every))[0]:
                waited = round(time.monotonic() - started)
                log.warning(NATS_WAIT, waited_seconds=waited)
    finally:
        connecting.cancel()  # when this start-up itself is cancelled; a no-op once connected
    if connecting.cancelled():
        raise NatsWaitStopped("stopped (SIGINT or SIGTERM) while waiting for NATS; nothing had started")
    connecting.result()


class NatsWaitStopped(Exception):
    """SIGINT or SIGTERM while a start-up waited for NATS: the process ends instead of starting."""


class StoppableStartup:
    """An ASGI app whose start-up may wait for NATS (``connect``), as its server should run it:
    stopped meanwhile, the server's log says so in one line, where uvicorn would log the start-up's
    traceback (it logs whatever message a failed start-up sends, and the frameworks send the
    traceback); and ``stopped`` tells the runner, which ends with status 0, as after any stop,
    rather than uvicorn's 3 for a start-up that failed."""

    def __init__(self, app: Any, *, before_startup: Callable[[], None] | None = None) -> None:
        self.app = app
        self.stopped = False
        self._before_startup = before_startup

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        if self._before_startup is not None:
            self._before_startup()

        async def send_one_line(message: Any) -> None:
            # The framework sends "startup.failed" while it handles the exception, so it is the
            # one being handled here.
            stopped = sys.exc_info()[1]
            if message["type"] == "lifespan.startup.failed" and isinstance(stopped, NatsWaitStopped):
                self.stopped = True
                message = {**message, "message": str(stopped)}
            await send(message)

        await self.app(scope, receive, send_one_line)


@contextlib.contextmanager
def _stopped_by_signals(task: asyncio.Future[Any]) -> Iterator[None]:
    """SIGINT and SIGTERM cancel ``task`` meanwhile. uvicorn's own handlers only set a flag it
    reads once start-up is over, which a wait for NATS may never be: Ctrl-C, ``docker stop`` and
    a dead parent's SIGTERM would go unheard."""
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for sig in previous:
            loop.add_signal_handler(sig, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


async def units_started(units: Sequence[ServiceUnit]) -> None:
    """After the broker started: the units' background consumers."""
    for unit in units:
        await unit.started()
    log.info("services started", services=[unit.name for unit in units])


async def ensure_unit_streams(broker: NatsBroker, units: Sequence[ServiceUnit], *, replicas: int) -> None:
    """The streams the units need, each once (several units may share one)."""
    specs = {spec.name: spec for unit in units for spec in unit.streams}.values()
    await ensure_streams(broker, specs, replicas=replicas)


async def stop_units(
    broker: NatsBroker, units: Sequence[ServiceUnit], *, unit_timeout: float = UNIT_CLOSE_SECONDS
) -> None:
    """Close units first: a consumer finishes its batch (and acks it) while NATS is still there.
    A unit that does not close in time is left, named in the log, so Ctrl-C always ends the
    process: what it had not acknowledged, JetStream delivers again at the next start."""
    for unit in units:
        try:
            await asyncio.wait_for(unit.close(), timeout=unit_timeout)
        except TimeoutError:
            log.error("a service did not stop in time; stopping without it", service=unit.name, seconds=unit_timeout)
    await stop_broker(broker)


async def stop_broker(broker: NatsBroker) -> None:
    """Drain the connection and stop. NATS may be gone already (a Ctrl-C of the whole process
    group reaches a nats-server of the same group too, maybe first): then there is nothing left
    to drain, and the connection, still trying to reconnect, is closed instead."""
    connection = broker._connection  # the client FastStream drains (it keeps no public handle)
    try:
        await broker.stop()
    except (nats.errors.ConnectionReconnectingError, nats.errors.ConnectionClosedError):
        log.warning("NATS was gone before the services stopped; closing without draining")
        if connection is not None:
            await connection.close()  # ends its reconnect loop
        broker._connection = None
        broker.config.disconnect()


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Stop background tasks (a unit's loops) and wait until each has stopped."""
    for task in tasks:
        if task is None:
            continue
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
