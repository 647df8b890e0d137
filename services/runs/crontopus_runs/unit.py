"""The runs service as a unit: its database, router and streams."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsBroker
from sqlalchemy import event

from crontopus_kit.broker import jetstream, publish_batch
from crontopus_kit.db import Database
from crontopus_runs import sketch
from crontopus_runs.handlers import CheckinIngester, build_router
from crontopus_runs.retention import Pruner
from crontopus_runs.settings import RunsSettings
from crontopus_schemas.subjects import CHECKINS_STREAM, RUNS_STREAM

NAME = "runs"
MIGRATIONS = Path(__file__).parent / "migrations"


class RunsUnit:
    name = NAME
    streams = (CHECKINS_STREAM, RUNS_STREAM)

    def __init__(self, settings: RunsSettings | None = None, *, broker: NatsBroker) -> None:
        self.broker = broker
        self.settings = settings or RunsSettings()
        self.db = Database(self.settings.database_url_for(NAME), schema=self.settings.database_schema_for(NAME))
        if not self.db.is_postgres:
            event.listen(self.db.engine.sync_engine, "connect", sketch.add_sqlite_functions)  # the statistics' ln
        self.router = build_router(db=self.db)
        self.ingester = CheckinIngester(db=self.db, settings=self.settings, announce=self._announce)
        self.pruner = Pruner(db=self.db, settings=self.settings)

    async def prepare(self) -> None:
        await self.db.migrate(script_location=MIGRATIONS, version_table="alembic_version_runs")

    async def started(self) -> None:
        state = self.broker.config.connection_state
        await self.ingester.puller.start(state.connection, state.stream)
        self.pruner.start()

    async def _announce(self, messages: list[tuple[str, bytes, str]]) -> None:
        await publish_batch(jetstream(self.broker), messages)

    async def close(self) -> None:
        await self.pruner.stop()
        await self.ingester.puller.stop()
        await self.db.dispose()
