"""The check-in ingest benchmark and its baseline, one repetition each.

- baseline: the publisher alone, into a file stream on its own nats-server.
- ingest: the same publisher into the real pipeline: JetStream -> the runs service's consumer
  (``RunsUnit``, started as the server starts it) -> database commit. Done when every run is
  committed with its finish merged.
- drain: the stream is filled first (not timed), then one runs-service consumer stores it all:
  the consumer's own rate, without sharing the CPU with the publisher or other consumers.

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
from dataclasses import dataclass, field
from pathlib import Path

import nats
from sqlalchemy import text

from bench.consumers import ConsumerProcesses, stored_so_far
from bench.cpu import Meter
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
    # CPU microseconds per check-in by process, over the timed part (bench/cpu.py)
    cpu_us: dict[str, float] = field(default_factory=dict)

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
        meter = Meter({"nats-server": _pid(server)}, postgres=False)
        published = await _publish(server.url, messages_file, workload.checkins, meter)
        stored = (await js.stream_info(CHECKINS_STREAM.name)).state.messages
        await nc.close()
    _check_published(published, stored, workload.checkins)
    cpu = _with_publisher(meter.per_item_us(workload.checkins), published, workload.checkins)
    return Sample("baseline", workload.checkins, published.seconds, published.seconds, cpu_us=cpu)


async def _publish(nats_url: str, messages_file: Path, checkins: int, meter: Meter | None = None) -> Published:
    publisher = PublisherProcess(nats_url, messages_file)
    try:
        await publisher.start()
        if meter:
            meter.start()
        publisher.go()
        published = await publisher.result(_timeout(checkins))
        if meter:
            meter.stop()
        return published
    finally:
        publisher.kill()


def _with_publisher(cpu_us: dict[str, float], published: Published, checkins: int) -> dict[str, float]:
    """The publisher measures its own CPU: it has exited by the time the parent could read it."""
    return {"publisher": round(published.cpu_seconds / checkins * 1e6, 1), **cpu_us}


def _pid(server: NatsServerProcess) -> int:
    assert server.process is not None, "nats-server not started"
    return server.process.pid


def _check_published(published: Published, stored: int, expected: int) -> None:
    if published.failed or stored != expected:
        raise RuntimeError(f"publish lost messages: {published.failed} failed, {stored}/{expected} in the stream")


def consumers_wanted() -> int:
    return int(os.environ.get("CRONTOPUS_BENCH_CONSUMERS", "2"))


async def run_ingest(backend: str, workload: Workload, messages_file: Path, workdir: Path, postgres_url: str) -> Sample:
    settings = _settings(backend, workdir, postgres_url)
    with NatsServerProcess(store_dir=workdir / "nats", log_file=workdir / "nats.log") as server:
        broker = make_broker(server.url, name="bench-runs")
        unit = RunsUnit(settings, broker=broker)
        await start_units(broker, [unit])  # migrates and creates the streams before the others start
        others = ConsumerProcesses(server.url, settings, consumers_wanted() - 1)
        publisher = PublisherProcess(server.url, messages_file)
        try:
            await others.start()
            await publisher.start()
            consumers = {f"consumer {index + 1}": pid for index, pid in enumerate([os.getpid(), *others.pids])}
            meter = Meter({"nats-server": _pid(server), **consumers}, postgres=backend == "postgresql")
            stored_before = stored_so_far()
            meter.start()
            publisher.go()
            done = await _wait_until_committed(
                unit, workload, lambda: stored_so_far() - stored_before + others.stored()
            )
            meter.stop()
            published = await publisher.result(_timeout(workload.checkins))
        finally:
            publisher.kill()
            await others.stop()
            if others.retried:
                print(f"  {backend}: {others.retried:.0f} batches retried in the other consumers", file=sys.stderr)
            await stop_units(broker, [unit])
            if backend == "postgresql":
                await drop_schemas(postgres_url, settings.database_schema_prefix)
    cpu = _with_publisher(meter.per_item_us(workload.checkins), published, workload.checkins)
    return Sample(backend, workload.checkins, done - published.first, published.seconds, consumers_wanted(), cpu)


async def run_drain(backend: str, workload: Workload, messages_file: Path, workdir: Path, postgres_url: str) -> Sample:
    settings = _settings(backend, workdir, postgres_url)
    with NatsServerProcess(store_dir=workdir / "nats", log_file=workdir / "nats.log") as server:
        broker = make_broker(server.url, name="bench-runs")  # connects in start_units, timed
        unit = RunsUnit(settings, broker=broker)
        await unit.prepare()  # migrations outside the timed part
        nc = await nats.connect(server.url)
        await nc.jetstream().add_stream(config=stream_config(CHECKINS_STREAM))
        await nc.close()
        published = await _publish(server.url, messages_file, workload.checkins)
        meter = Meter({"nats-server": _pid(server), "consumer 1": os.getpid()}, postgres=backend == "postgresql")
        stored_before = stored_so_far()
        started = time.monotonic()  # includes connecting, a few ms
        meter.start()
        await start_units(broker, [unit])
        try:
            done = await _wait_until_committed(unit, workload, lambda: stored_so_far() - stored_before)
            meter.stop()
        finally:
            await stop_units(broker, [unit])
            if backend == "postgresql":
                await drop_schemas(postgres_url, settings.database_schema_prefix)
    cpu = meter.per_item_us(workload.checkins)
    return Sample(f"drain-{backend}", workload.checkins, done - started, published.seconds, cpu_us=cpu)


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
