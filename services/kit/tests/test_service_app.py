"""A service run alone (`crontopus-server run <service>`, compose's way) starts as the all-in-one
server does: the same preparation, the garbage-collector tuning included, and its units built on
the broker the app connects."""

from __future__ import annotations

import gc
from collections.abc import Sequence

from faststream.nats import NatsBroker, NatsRouter

from crontopus_kit.nats_server import NatsServerProcess
from crontopus_kit.service_app import service_app
from crontopus_kit.settings import CrontopusSettings
from crontopus_kit.unit import GC_THRESHOLDS
from crontopus_schemas.subjects import StreamSpec


class RecordingUnit:
    name = "recording"
    streams: Sequence[StreamSpec] = ()

    def __init__(self, settings: CrontopusSettings, *, broker: NatsBroker) -> None:
        self.settings = settings
        self.broker = broker
        self.router = NatsRouter()
        self.calls: list[str] = []

    async def prepare(self) -> None:
        self.calls.append("prepare")

    async def started(self) -> None:
        self.calls.append("started" if self.broker.config.connection_state.connection.is_connected else "not connected")

    async def close(self) -> None:
        self.calls.append("close")


async def test_a_service_alone_prepares_and_starts_its_units_like_the_all_in_one_server(
    nats_server: NatsServerProcess, monkeypatch
) -> None:
    monkeypatch.setenv("CRONTOPUS_NATS_URL", nats_server.url)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    settings = CrontopusSettings()
    units: list[RecordingUnit] = []

    def build(broker: NatsBroker) -> list[RecordingUnit]:
        units.append(RecordingUnit(settings, broker=broker))
        return units

    app = service_app(build, settings, name="recording")
    [unit] = units
    try:
        await app.start()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert unit.calls == ["prepare", "started"]
        await app.stop()
        assert unit.calls == ["prepare", "started", "close"]
    finally:
        gc.set_threshold(*before)
