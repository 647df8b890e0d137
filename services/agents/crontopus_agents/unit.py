"""The agents service as a unit: its database, router, and the offline sweep."""

from __future__ import annotations

import asyncio
from pathlib import Path

from faststream.nats import NatsBroker

from crontopus_agents import service
from crontopus_agents.callout import AuthCallout
from crontopus_agents.handlers import AgentEvents, Kicker, build_router
from crontopus_agents.settings import AgentsSettings
from crontopus_kit.db import Database
from crontopus_kit.logging import get_logger
from crontopus_kit.nats_security import issuer_keypair, without_credentials
from crontopus_kit.unit import cancel_and_wait
from crontopus_schemas.subjects import AGENTS_STREAM

NAME = "agents"
MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)


class AgentsUnit:
    name = NAME
    streams = (AGENTS_STREAM,)

    def __init__(self, settings: AgentsSettings | None = None, *, broker: NatsBroker) -> None:
        self.settings = settings or AgentsSettings()
        self.secret = self.settings.secret_bytes()
        self.db = Database(self.settings.database_url_for(NAME), schema=self.settings.database_schema_for(NAME))
        self.events = AgentEvents(broker)
        callout = AuthCallout(
            secret=self.secret, issuer=issuer_keypair(self.secret), credential_ttl=self.settings.credential_ttl
        )
        nats_urls = agent_nats_urls(self.settings)
        kicker = Kicker(secret=self.secret, nats_url=nats_urls[0] if nats_urls else None)
        self.router = build_router(
            db=self.db, secret=self.secret, events=self.events, callout=callout, kicker=kicker, nats_urls=nats_urls
        )
        self._sweep: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        await self.db.migrate(script_location=MIGRATIONS, version_table="alembic_version_agents")

    async def started(self) -> None:
        self._sweep = asyncio.create_task(self._sweep_forever(), name="agents offline sweep")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                async with self.db.session() as session:
                    gone = await service.sweep_offline(session=session, offline_after=self.settings.offline_after)
                for agent in gone:
                    await self.events.publish("offline", agent)
            except Exception:
                log.exception("offline sweep failed; retrying at the next interval")

    async def close(self) -> None:
        await cancel_and_wait(self._sweep)
        await self.db.dispose()


def agent_nats_urls(settings: AgentsSettings) -> list[str]:
    """Where agents connect: CRONTOPUS_AGENTS_NATS_URLS, else the services' own NATS (the
    embedded one's URL is in <data dir>/nats.url), never with the services' password."""
    if settings.agent_nats_urls:
        return [url.strip() for url in settings.agent_nats_urls.split(",") if url.strip()]
    url = settings.nats_url
    url_file = settings.data_dir / "nats.url"
    if url is None and url_file.exists():
        url = url_file.read_text().strip()
    return without_credentials(url).split(",") if url else []
