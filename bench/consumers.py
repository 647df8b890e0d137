"""Extra runs-service consumers for the ingest benchmark, each a child process running
``RunsUnit`` as the server does, all on the same durable.

Each child reports its stored-check-ins counter over a pipe whenever it changes (checked every
10 ms), so the parent knows when ingest is done without asking the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from crontopus_kit.broker import make_broker
from crontopus_kit.logging import configure_logging
from crontopus_kit.unit import start_units, stop_units
from crontopus_runs.handlers import BATCHES_RETRIED, CHECKINS_STORED
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit

READY, STOP = "ready", "stop"


def stored_so_far() -> float:
    # This counter alone: collecting the whole registry reads /proc each time and steals the
    # consumer's CPU.
    return _total(CHECKINS_STORED)


def _total(counter: Any) -> float:
    return sum(sample.value for sample in counter.collect()[0].samples if sample.name.endswith("_total"))


class ConsumerProcesses:
    """``count`` child consumers: ``start()`` returns once every one is pulling."""

    def __init__(self, nats_url: str, settings: RunsSettings, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._processes = []
        self._stored = [0.0] * count
        self.retried = 0.0
        for index in range(count):
            parent_conn, child_conn = context.Pipe()
            fields = settings.model_dump(mode="json", exclude_unset=True)
            args = (nats_url, fields, f"bench-runs-{index + 2}", child_conn)
            self._processes.append(context.Process(target=_main, args=args, daemon=True))
            self._conns.append(parent_conn)

    async def start(self) -> None:
        for process in self._processes:
            process.start()
        for conn in self._conns:
            if not await asyncio.to_thread(conn.poll, 60) or conn.recv() != READY:
                raise RuntimeError("a consumer process did not start")

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes if process.pid is not None]

    def stored(self) -> float:
        """Check-ins stored by the children so far (the newest report of each)."""
        for index, conn in enumerate(self._conns):
            while conn.poll():
                self._stored[index] = conn.recv()[0]
        return sum(self._stored)

    async def stop(self) -> None:
        for conn in self._conns:
            conn.send(STOP)
        for index, (process, conn) in enumerate(zip(self._processes, self._conns, strict=True)):
            await asyncio.to_thread(process.join, 30)
            with contextlib.suppress(EOFError, OSError):  # a child that died said nothing more
                while conn.poll():
                    self._stored[index], retried = conn.recv()
                    self.retried += retried
            if process.is_alive():
                process.kill()


def _main(nats_url: str, fields: dict[str, Any], name: str, conn: Connection) -> None:
    configure_logging(fmt="console", level="WARNING")
    logging.getLogger("faststream").setLevel(logging.WARNING)
    asyncio.run(_consume(nats_url, RunsSettings(**fields), name, conn))


async def _consume(nats_url: str, settings: RunsSettings, name: str, conn: Connection) -> None:
    broker = make_broker(nats_url, name=name)
    unit = RunsUnit(settings, broker=broker)
    await start_units(broker, [unit])
    conn.send(READY)
    reported = 0.0
    try:
        while not conn.poll():
            if (stored := stored_so_far()) != reported:
                conn.send((stored, 0.0))
                reported = stored
            await asyncio.sleep(0.01)
        conn.recv()  # STOP; read, or closing the pipe would reset it before the parent reads our last report
    finally:
        await stop_units(broker, [unit])
        conn.send((stored_so_far(), _total(BATCHES_RETRIED)))
