"""The identity service as a unit: its database, signing key and router."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsBroker

from crontopus_identity.handlers import TenantAnnouncer, build_router
from crontopus_identity.service import Context
from crontopus_identity.settings import IdentitySettings
from crontopus_identity.tokens import TokenIssuer
from crontopus_kit.db import Database
from crontopus_schemas.subjects import TENANTS_STREAM

NAME = "identity"
MIGRATIONS = Path(__file__).parent / "migrations"


class IdentityUnit:
    name = NAME
    streams = (TENANTS_STREAM,)

    def __init__(self, settings: IdentitySettings | None = None) -> None:
        self.settings = settings or IdentitySettings()
        secret = self.settings.secret_bytes()  # refuses to start without a proper secret
        self.db = Database(self.settings.database_url_for(NAME), schema=self.settings.database_schema_for(NAME))
        self.issuer = TokenIssuer(
            issuer=self.settings.issuer, ttl_seconds=self.settings.access_token_ttl, secret=secret
        )
        self.ctx = Context(settings=self.settings, issuer=self.issuer, secret=secret)
        self.announcer = TenantAnnouncer()
        self.router = build_router(db=self.db, ctx=self.ctx, announcer=self.announcer)

    async def prepare(self) -> None:
        await self.db.migrate(script_location=MIGRATIONS, version_table="alembic_version_identity")
        async with self.db.session() as session:
            await self.issuer.load(session=session)

    async def started(self, broker: NatsBroker) -> None:
        self.announcer.broker = broker

    async def close(self) -> None:
        await self.db.dispose()
