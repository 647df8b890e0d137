"""Stopping a process's units: one that hangs in close() must not keep Ctrl-C from ending it."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from faststream.nats import NatsBroker
from structlog.testing import capture_logs

from crontopus_kit.broker import make_broker
from crontopus_kit.nats_server import NatsServerProcess, free_port
from crontopus_kit.unit import NatsWaitStopped, connect, stop_units


class Unit:
    def __init__(self, name: str, hangs: bool = False) -> None:
        self.name, self.hangs, self.closed = name, hangs, False

    async def close(self) -> None:
        if self.hangs:
            await asyncio.Event().wait()  # a close that never returns
        self.closed = True


async def test_a_unit_that_hangs_on_close_is_left_and_the_others_still_close() -> None:
    first, stuck, last = Unit("runs"), Unit("gitops", hangs=True), Unit("alerting")
    started = time.monotonic()

    await stop_units(NatsBroker(), [first, stuck, last], unit_timeout=0.2)  # type: ignore[list-item]

    assert time.monotonic() - started < 5
    assert first.closed and last.closed and not stuck.closed


async def test_units_stop_without_an_error_when_nats_is_already_gone(nats_server) -> None:
    """A Ctrl-C of the whole process group may stop a nats-server of the group before the services."""
    broker = make_broker(nats_server.url, name="test")
    await broker.connect()
    connection = broker._connection
    nats_server.stop()
    for _ in range(100):  # until the client noticed the server is gone and started reconnecting
        if connection.is_reconnecting:
            break
        await asyncio.sleep(0.05)
    assert connection.is_reconnecting
    unit = Unit("runs")

    await asyncio.wait_for(stop_units(broker, [unit]), timeout=5)  # type: ignore[list-item]

    assert unit.closed and connection.is_closed


async def test_start_up_waits_for_a_nats_that_is_not_there_yet_and_says_so(tmp_path) -> None:
    server = NatsServerProcess(store_dir=tmp_path / "nats", log_file=tmp_path / "nats.log")  # not started yet
    broker = make_broker(server.url, name="test")
    with capture_logs() as logged:
        connecting = asyncio.ensure_future(connect(broker, report_every=0.2))
        await asyncio.sleep(0.7)
    try:
        assert not connecting.done()
        assert [entry for entry in logged if "waiting for NATS" in entry["event"]], "the wait is in the log"
        server.start()
        await asyncio.wait_for(connecting, timeout=10)
        assert await broker.ping(timeout=5)
    finally:
        connecting.cancel()
        await broker.stop()
        server.stop()


async def test_a_sigterm_while_waiting_for_nats_ends_the_wait(tmp_path) -> None:
    """uvicorn heeds SIGTERM only once start-up is over: `docker stop` would otherwise go unheard."""
    broker = make_broker(f"nats://127.0.0.1:{free_port()}", name="test")
    before = signal.getsignal(signal.SIGTERM)
    asyncio.get_running_loop().call_later(0.5, os.kill, os.getpid(), signal.SIGTERM)
    with pytest.raises(NatsWaitStopped):
        await asyncio.wait_for(connect(broker, report_every=0.2), timeout=10)
    assert signal.getsignal(signal.SIGTERM) == before, "the handler before the wait is back"
    await broker.stop()
