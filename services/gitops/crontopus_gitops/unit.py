"""The gitops service as a unit: its database, router, the tenants consumer and the poll."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from faststream.nats import NatsBroker

from crontopus_gitops.handlers import Syncer, build_router
from crontopus_gitops.service import HookCommand, refresh_hooks, write_hook_nats_url
from crontopus_gitops.settings import GitopsSettings
from crontopus_kit.db import Database
from crontopus_kit.logging import get_logger
from crontopus_kit.unit import cancel_and_wait
from crontopus_schemas.private_files import private_dir
from crontopus_schemas.subjects import GITOPS_STREAM, TENANTS_STREAM

NAME = "gitops"
MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)


def hook_nats_url_file(settings: GitopsSettings) -> Path:
    """Where hooks read the NATS URL: the all-in-one server writes its own into ``nats.url`` at
    each start; a gitops service of its own (CRONTOPUS_NATS_URL set) writes its URL here."""
    data_dir = settings.data_dir.resolve()
    return data_dir / "gitops-hook-nats.url" if settings.nats_url else data_dir / "nats.url"


class GitopsUnit:
    name = NAME
    streams = (TENANTS_STREAM, GITOPS_STREAM)

    def __init__(self, settings: GitopsSettings | None = None, *, broker: NatsBroker) -> None:
        self.broker = broker
        self.settings = settings or GitopsSettings()
        self.db = Database(self.settings.database_url_for(NAME), schema=self.settings.database_schema_for(NAME))
        self.hook = HookCommand(python=sys.executable, nats_url_file=hook_nats_url_file(self.settings))
        self.syncer = Syncer(db=self.db, settings=self.settings, hook=self.hook, publisher=broker)
        self.router = build_router(db=self.db, syncer=self.syncer)
        self.tenants = self.syncer.tenants_puller()
        self._poll: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        # The repositories hold every team's jobs and their environment: the data dir is private,
        # and so is CRONTOPUS_GITOPS_REPOS_DIR when it lies elsewhere.
        private_dir(self.settings.repositories)
        await self.db.migrate(script_location=MIGRATIONS, version_table="alembic_version_gitops")
        await self._refresh_hooks()

    async def _refresh_hooks(self) -> None:
        """The repositories' hooks, brought to this process's interpreter and NATS URL file, and
        that file to its current URL, before any push could run them."""
        if self.settings.nats_url:
            write_hook_nats_url(self.hook.nats_url_file, self.settings.nats_url)
        async with self.db.session() as session:
            rewritten = await refresh_hooks(session=session, hook=self.hook)
        if rewritten:
            log.info("repositories' post-receive hooks updated", repositories=rewritten)

    async def started(self) -> None:
        state = self.broker.config.connection_state
        await self.tenants.start(state.connection, state.stream)
        self._poll = asyncio.create_task(self.syncer.poll_forever(), name="gitops poll")

    async def close(self) -> None:
        await cancel_and_wait(self._poll)
        await self.syncer.close()
        await self.tenants.stop()
        await self.db.dispose()
