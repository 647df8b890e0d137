"""The identity service as a unit: its database, signing key and router."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from faststream.nats import NatsBroker

from crontopus_identity import service
from crontopus_identity.audit import AuditCollector, forget_old
from crontopus_identity.handlers import AccessAnnouncer, Auditor, TenantAnnouncer, build_router
from crontopus_identity.mail import MailQueue, MailSender, Outbox, transport_for
from crontopus_identity.service import Context
from crontopus_identity.settings import IdentitySettings
from crontopus_identity.tokens import TokenIssuer
from crontopus_kit.db import Database
from crontopus_kit.logging import get_logger
from crontopus_kit.unit import cancel_and_wait
from crontopus_schemas.subjects import ACCESS_STREAM, AUDIT_STREAM, MAIL_STREAM, TENANTS_STREAM

NAME = "identity"
MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)
THROTTLE_SWEEP_SECONDS = 3600.0


class IdentityUnit:
    name = NAME
    streams = (TENANTS_STREAM, ACCESS_STREAM, MAIL_STREAM, AUDIT_STREAM)

    def __init__(self, settings: IdentitySettings | None = None, *, broker: NatsBroker) -> None:
        self.settings = settings or IdentitySettings()
        secret = self.settings.secret_bytes()  # refuses to start without a proper secret
        self.db = Database(self.settings.database_url_for(NAME), schema=self.settings.database_schema_for(NAME))
        self.issuer = TokenIssuer(
            issuer=self.settings.issuer, ttl_seconds=self.settings.access_token_ttl, secret=secret
        )
        self.ctx = Context(settings=self.settings, issuer=self.issuer, secret=secret)
        self.announcer = TenantAnnouncer(broker)
        self.broker = broker
        self.router = build_router(
            db=self.db, ctx=self.ctx, announcer=self.announcer, access=AccessAnnouncer(broker), mail=MailQueue(broker),
            auditor=Auditor(broker),
        )  # fmt: skip
        self.audit_collector = AuditCollector(self.db)
        smtp_url = self.settings.smtp_url.get_secret_value() if self.settings.smtp_url else None
        self.mail_sender = MailSender(
            transport=transport_for(smtp_url, self.settings.data_dir), secret=secret, base_url=self.settings.base_url,
            sender=self.settings.mail_from, max_attempts=self.settings.mail_max_attempts,
            retry_delay=self.settings.mail_retry_delay,
        )  # fmt: skip
        self._tasks: list[asyncio.Task[None]] = []

    async def prepare(self) -> None:
        await self.db.migrate(script_location=MIGRATIONS, version_table="alembic_version_identity")
        async with self.db.session() as session:
            await self.issuer.load(session=session)

    async def started(self) -> None:
        state = self.broker.config.connection_state
        await self.mail_sender.start(state.connection, state.stream)
        await self.audit_collector.start(state.connection, state.stream)
        if isinstance(self.mail_sender.transport, Outbox):
            log.warning(
                "no CRONTOPUS_SMTP_URL: mail is written to the outbox", folder=str(self.mail_sender.transport.folder)
            )
        self._tasks = [
            asyncio.create_task(self._reload_keys_forever(), name="identity signing keys"),
            asyncio.create_task(self._sweep_throttles_forever(), name="identity throttle sweep"),
        ]

    async def close(self) -> None:
        await self.mail_sender.stop()
        await self.audit_collector.stop()
        await cancel_and_wait(*self._tasks)
        await self.db.dispose()

    async def _sweep_throttles_forever(self) -> None:
        """Every hour, the sign-in and sign-up counters whose window ended go, and the audit
        entries older than the retention."""
        while True:
            await asyncio.sleep(THROTTLE_SWEEP_SECONDS)
            try:
                async with self.db.session() as session:
                    gone = await service.forget_spent_throttles(
                        session=session, settings=self.settings, now=datetime.now(UTC)
                    )
                    old = await forget_old(session=session, now=datetime.now(UTC),
                                           retention_days=self.settings.audit_retention_days)  # fmt: skip
                log.info("spent sign-in counters and old audit entries deleted", counters=gone, audit_entries=old)
            except Exception:
                log.warning("deleting spent sign-in counters or old audit entries failed; next time", exc_info=True)

    async def _reload_keys_forever(self) -> None:
        """Pick up a rotated key (`crontopus-server rotate-signing-key`) and retire replaced ones."""
        while True:
            await asyncio.sleep(self.settings.key_reload_interval)
            try:
                async with self.db.session() as session:
                    await self.issuer.load(session=session)
            except Exception:
                log.warning("reloading the signing keys failed; the current ones stay in use", exc_info=True)
