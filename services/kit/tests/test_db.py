"""The PostgreSQL connection pool: pinged only after idling, and reads outside a transaction."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncSession

from crontopus_kit import db as db_module
from crontopus_kit.db import Database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(postgres_url: str, postgres_schema_prefix: str) -> AsyncIterator[Database]:
    database = Database(postgres_url, schema=f"{postgres_schema_prefix}kit", pool_size=1)
    yield database
    await database.dispose()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the driver-level pings."""
    counted: list[int] = []
    ping = AsyncAdapt_asyncpg_connection.ping

    def counting(self: AsyncAdapt_asyncpg_connection) -> None:
        counted.append(1)
        ping(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counting)
    return counted


async def backend_pid(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_in_steady_use_is_not_pinged(database: Database, pings: list[int]) -> None:
    first = await backend_pid(database)
    for _ in range(5):
        assert await backend_pid(database) == first  # the one pooled connection, reused
    assert pings == []


async def test_a_connection_killed_while_idle_is_replaced_before_use(
    database: Database, pings: list[int], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = await backend_pid(database)
    admin = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", lost)
    finally:
        await admin.close()
    monkeypatch.setattr(db_module, "IDLE_BEFORE_PING", 0.0)  # it has idled long enough
    replacement = await backend_pid(database)  # no error: the ping found it dead
    assert replacement != lost
    assert pings == [1]


async def test_a_read_runs_without_a_transaction_around_it(database: Database) -> None:
    async def holds_a_transaction(session: AsyncSession) -> bool:
        await session.execute(text("SELECT 1"))
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        return bool(driver.is_in_transaction())  # a BEGIN was sent, a ROLLBACK will be

    async with database.read() as session:
        assert not await holds_a_transaction(session)
    async with database.session() as session:
        assert await holds_a_transaction(session)
