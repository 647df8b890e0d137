"""The check-in ingest benchmark and its baseline, one repetition each.

- baseline: the publisher alone, into a file stream on its own nats-server.
- ingest: the same publisher into the real pipeline: JetStream -> the runs service's consumer
  (``RunsUnit``, started as the server starts it) -> database commit. Done when every run is
  committed with its finish merged.

``CRONTOPUS_BENCH_CONSUMERS`` (default 2, one per core here) runs that many runs-service
consumers on the shared durable, as several instances of the service would: this process and
N-1 child processes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nats
from sqlalchemy import text

from bench.consumers import ConsumerProcesses, stored_so_far
from bench.publisher import Published, PublisherProcess
from bench.workload import Workload
from crontopus_kit.broker import make_broker, stream_config
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_kit.testing import drop_schemas
from crontopus_kit.unit import start_units, stop_units
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit
from crontopus_schemas.subjects import CHECKINS_STREAM


@dataclass(frozen=True)
class Sample:
    name: str
    checkins: int
    seconds: float  # first publish -> done
    publish_seconds: float  # first publish -> last PubAck
    consumers: int = 1  # runs-service processes on the durable (ingest only)

    @property
    def rate(self) -> float:
        return self.checkins / self.seconds

    @property
    def publish_rate(self) -> float:
        return self.checkins / self.publish_seconds


def _timeout(checkins: int) -> float:
    return 60 + checkins / 200  # far beyond any sane rate; only there so a hang ends


async def run_baseline(workload: Workload, messages_file: Path, workdir: Path) -> Sample:
    with NatsServerProcess(store_dir=workdir / "nats", log_file=workdir / "nats.log") as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(config=stream_config(CHECKINS_STREAM))
        published = await _publish(server.url, messages_file, workload.checkins)
        stored = (await js.stream_info(CHECKINS_STREAM.name)).state.messages
        await nc.close()
    _check_published(published, stored, workload.checkins)
    return Sample("baseline", workload.checkins, published.seconds, published.seconds)


async def _publish(nats_url: str, messages_file: Path, checkins: int) -> Published:
    publisher = PublisherProcess(nats_url, messages_file)
    try:
        await publisher.start()
        publisher.go()
        return await publisher.result(_timeout(checkins))
    finally:
        publisher.kill()


def _check_published(published: Published, stored: int, expected: int) -> None:
    if published.failed or stored != expected:
        raise RuntimeError(f"publish lost messages: {published.failed} failed, {stored}/{expected} in the stream")


def consumers_wanted() -> int:
    return int(os.environ.get("CRONTOPUS_BENCH_CONSUMERS", "2"))


async def run_ingest(backend: str, workload: Workload, messages_file: Path, workdir: Path, postgres_url: str) -> Sample:
    settings = _settings(backend, workdir, postgres_url)
    with NatsServerProcess(store_dir=workdir / "nats", log_file=workdir / "nats.log") as server:
        unit = RunsUnit(settings)
        broker = make_broker(server.url, name="bench-runs")
        await start_units(broker, [unit])  # migrates and creates the streams before the others start
        others = ConsumerProcesses(server.url, settings, consumers_wanted() - 1)
        publisher = PublisherProcess(server.url, messages_file)
        try:
            await others.start()
            await publisher.start()
            stored_before = stored_so_far()
            publisher.go()
            done = await _wait_until_committed(
                unit, workload, lambda: stored_so_far() - stored_before + others.stored()
            )
            published = await publisher.result(_timeout(workload.checkins))
        finally:
            publisher.kill()
            await others.stop()
            if others.retried:
                print(f"  {backend}: {others.retried:.0f} batches retried in the other consumers", file=sys.stderr)
            await stop_units(broker, [unit])
            if backend == "postgresql":
                await drop_schemas(postgres_url, settings.database_schema_prefix)
    return Sample(backend, workload.checkins, done - published.first, published.seconds, consumers_wanted())


def _settings(backend: str, workdir: Path, postgres_url: str) -> RunsSettings:
    if backend == "sqlite":
        return RunsSettings(data_dir=workdir / "data")
    prefix = f"bench{uuid.uuid4().hex[:10]}_"
    return RunsSettings(data_dir=workdir / "data", database_url=postgres_url, database_schema_prefix=prefix)


async def _wait_until_committed(unit: RunsUnit, workload: Workload, stored: Callable[[], float]) -> float:
    """The consumers count a batch only after commit and ack, so watching their counters costs
    the database nothing; the database then confirms every run is there with its finish merged."""
    deadline = time.monotonic() + _timeout(workload.checkins)
    while stored() < workload.checkins:
        if time.monotonic() > deadline:
            raise TimeoutError(f"ingest stalled: (runs, finished) = {await _committed(unit)} of {workload.runs}")
        await asyncio.sleep(0.01)
    done = time.monotonic()
    # Only if the counter ran ahead of the data (it never should) does polling decide the time.
    while (counts := await _committed(unit)) != (workload.runs, workload.runs):
        if time.monotonic() > deadline:
            raise RuntimeError(f"counter says all stored, but (runs, finished) = {counts}, not {workload.runs}")
        await asyncio.sleep(0.05)
        done = time.monotonic()
    return done


async def _committed(unit: RunsUnit) -> tuple[int, int]:
    """(runs, runs with their finish merged); every run of the workload has exactly one finish."""
    async with unit.db.session() as session:
        rows, finished = (await session.execute(text("SELECT count(*), count(finished_at) FROM runs"))).one()
    return int(rows), int(finished)
