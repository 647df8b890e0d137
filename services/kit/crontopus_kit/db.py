"""Async database access for one service: PostgreSQL (asyncpg, one schema per service) or
SQLite (aiosqlite, one file per service), and its Alembic migrations."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from crontopus_schemas.private_files import private_dir, private_file, tighten

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Database:
    """Engine, session factory and migrations of one service's own database."""

    def __init__(self, url: str, *, schema: str, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.schema = schema
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"bad schema name {schema!r}")
        self.engine: AsyncEngine = self._create_engine(pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # No transaction around each statement: a single read spares BEGIN and ROLLBACK, two
        # round trips that cost PostgreSQL more than a page of run history does.
        autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._reads = async_sessionmaker(autocommit, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    def _create_engine(self, pool_size: int) -> AsyncEngine:
        if self.is_postgres:
            # Unqualified table names resolve to the service's own schema.
            engine = create_async_engine(
                self.url, pool_size=pool_size, connect_args={"server_settings": {"search_path": self.schema}}
            )
            _ping_when_idle(engine)
            return engine
        engine = create_async_engine(self.url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for one read statement: each statement sees what was committed when it
        began, no more (several statements that must agree belong in ``session()``)."""
        async with self._reads() as session:
            yield session

    async def migrate(self, *, script_location: Path, version_table: str, revision: str = "head") -> None:
        """Upgrade to head (or to ``revision``, for a migration's test). On PostgreSQL an advisory
        lock keeps concurrent instances in line."""
        if not self.is_postgres and self.url.database:
            _private_sqlite_file(Path(self.url.database))
        async with self.engine.begin() as conn:
            if self.is_postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": self.schema})
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            await conn.run_sync(_upgrade, str(script_location), version_table, revision)

    async def dispose(self) -> None:
        await self.engine.dispose()


# A pooled connection is checked before use only after it sat idle this long: one in steady use is
# known good, and SQLAlchemy's pre-ping (BEGIN, a query, ROLLBACK on asyncpg) took three round trips
# before every request. A connection that breaks while busy (a database restart) fails its request,
# and SQLAlchemy then replaces every connection of the pool.
IDLE_BEFORE_PING = 10.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")  # cleared with the connection: a new one is not pinged
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:  # whatever the driver raised, the pool retries with a new connection
            raise DisconnectionError(f"idle connection lost: {exc}") from exc


def _private_sqlite_file(path: Path) -> None:
    """The database file is made (empty is a valid SQLite database) before SQLite opens it, so it
    is 0600 whatever the umask; SQLite gives the -wal and -shm files the same mode. Files an
    older version made readable by others are tightened."""
    if str(path) == ":memory:":
        return
    private_dir(path.parent)
    private_file(path)
    for companion in ("-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + companion))


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (run-history queries) proceed while the ingester writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _upgrade(connection: Connection, script_location: str, version_table: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    command.upgrade(config, revision)


def run_migrations_online(target_metadata: Any) -> None:
    """Body of every service's ``migrations/env.py``: migrate on the connection we were given."""
    from alembic import context

    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=context.config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
