"""The gitops service as a unit: its database, router, the tenants consumer and the poll."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from faststream.nats import NatsBroker

from crontopus_gitops.handlers import Syncer, build_router
from crontopus_gitops.service import HookCommand
from crontopus_gitops.settings import GitopsSettings
from crontopus_kit.db import Database
from crontopus_kit.unit import cancel_and_wait
from crontopus_schemas.private_files import private_dir
from crontopus_schemas.subjects import GITOPS_STREAM, TENANTS_STREAM

NAME = "gitops"
MIGRATIONS = Path(__file__).parent / "migrations"


class GitopsUnit:
    name = NAME
    streams = (TENANTS_STREAM, GITOPS_STREAM)

    def __init__(self, settings: GitopsSettings | None = None, *, broker: NatsBroker) -> None:
        self.broker = broker
        self.settings = settings or GitopsSettings()
        self.db = Database(self.settings.database_url_for(NAME), schema=self.settings.database_schema_for(NAME))
        hook = HookCommand(
            python=sys.executable,
            nats_url=self.settings.nats_url,
            nats_url_file=self.settings.data_dir.resolve() / "nats.url",
        )
        self.syncer = Syncer(db=self.db, settings=self.settings, hook=hook, publisher=broker)
        self.router = build_router(db=self.db, syncer=self.syncer)
        self.tenants = self.syncer.tenants_puller()
        self._poll: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        # The repositories hold every team's jobs and their environment: the data dir is private,
        # and so is CRONTOPUS_GITOPS_REPOS_DIR when it lies elsewhere.
        private_dir(self.settings.repositories)
        await self.db.migrate(script_location=MIGRATIONS, version_table="alembic_version_gitops")

    async def started(self) -> None:
        state = self.broker.config.connection_state
        await self.tenants.start(state.connection, state.stream)
        self._poll = asyncio.create_task(self.syncer.poll_forever(), name="gitops poll")

    async def close(self) -> None:
        await cancel_and_wait(self._poll)
        await self.syncer.close()
        await self.tenants.stop()
        await self.db.dispose()
