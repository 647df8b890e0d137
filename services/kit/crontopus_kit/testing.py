"""Pytest plugin with the fixtures every test suite uses (loaded by ``-p crontopus_kit.testing``).

- ``nats_server``: a real nats-server with JetStream on a free port in a temp dir.
- ``postgres_url``: a real PostgreSQL; ``CRONTOPUS_TEST_DATABASE_URL`` or the local server.
- ``database_url``: parametrised over SQLite and PostgreSQL for storage tests.
- ``settings_factory``: settings pointing at those, isolated per test (own schemas/files).

It also runs the tests marked ``slow`` first: xdist hands tests out in collection order, and the
slow ones (whole stacks, browsers, waits for the next minute) sat at the end of it, where a
worker that drew one of them kept the run going alone after the others had finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from faststream.nats import NatsBroker, TestNatsBroker

from crontopus_kit.broker import make_broker
from crontopus_kit.nats_server import NatsServerProcess, free_port
from crontopus_kit.settings import CrontopusSettings
from crontopus_kit.unit import ServiceUnit

DEFAULT_TEST_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TEST_SECRET = "test-secret-0123456789-" + "x" * 30  # 10+ different characters: strong enough
S = TypeVar("S", bound=CrontopusSettings)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: otherwise as collected


@contextlib.contextmanager
def nats_cluster(folder: Path, *, nodes: int = 3, config: str = "") -> Iterator[list[NatsServerProcess]]:
    """``nodes`` nats-servers routed to each other (JetStream clustered; each advertises the others
    to clients, NATS's default), each with ``config`` added to its configuration."""
    route_ports = [free_port() for _ in range(nodes)]
    servers = []
    for index, port in enumerate(route_ports):
        routes = ", ".join(f"nats://127.0.0.1:{other}" for other in route_ports if other != port)
        config_file = folder / f"n{index}.conf"
        config_file.write_text(
            f'server_name: "n{index}"\n{config}'
            f'cluster {{ name: "crontopus-test", listen: "127.0.0.1:{port}", routes: [{routes}] }}\n'
        )
        servers.append(NatsServerProcess(store_dir=folder / f"n{index}", config_file=config_file,
                                         log_file=folder / f"n{index}.log"))  # fmt: skip
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    server = NatsServerProcess(store_dir=tmp_path / "nats", log_file=tmp_path / "nats.log")
    server.start()
    yield server
    server.stop()


def _postgres_reachable(url: str) -> str | None:
    """None when reachable, else why not."""
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("CRONTOPUS_TEST_DATABASE_URL", DEFAULT_TEST_POSTGRES)
    url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    problem = _postgres_reachable(url)
    if problem:
        pytest.skip(f"no PostgreSQL at {url} ({problem}); set CRONTOPUS_TEST_DATABASE_URL or start one")
    return url


@pytest.fixture
async def postgres_schema_prefix(postgres_url: str) -> AsyncIterator[str]:
    """A unique schema prefix per test: services create `<prefix><service>` schemas; dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield prefix
    await drop_schemas(postgres_url, prefix)


async def drop_schemas(postgres_url: str, prefix: str) -> None:
    """Drop every schema whose name starts with ``prefix`` (a test's or a benchmark's)."""
    import asyncpg

    conn = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        # starts_with, not LIKE: a prefix's "_" would match any character
        rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", prefix)
        for row in rows:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{row["nspname"]}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_overrides(database_backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings fields for the parametrised backend: nothing for SQLite (files in data_dir)."""
    if database_backend == "sqlite":
        return {}
    url = request.getfixturevalue("postgres_url")
    prefix = request.getfixturevalue("postgres_schema_prefix")
    return {"database_url": url, "database_schema_prefix": prefix}


@pytest.fixture
def settings_factory(tmp_path: Path, database_overrides: dict[str, Any]) -> Callable[..., Any]:
    """Build any settings class against this test's data dir, database and a strong secret."""

    def build(cls: type[S], **overrides: Any) -> S:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "secret_key": TEST_SECRET,
            **database_overrides,
            **overrides,
        }
        return cls(**values)

    return build


def in_memory_broker(name: str) -> NatsBroker:
    """A broker for FastStream's TestNatsBroker: configured as the services' own, never dialled."""
    return make_broker("nats://127.0.0.1:4222", name=name)


@contextlib.asynccontextmanager
async def in_memory(broker: NatsBroker, unit: ServiceUnit) -> AsyncIterator[None]:
    """``unit``'s handlers on FastStream's in-memory test broker, for tests of what the handlers
    decide without a NATS server: the unit prepared (its database), and closed after. Subscribers
    a test adds to ``broker`` before entering see what the unit publishes."""
    broker.include_router(unit.router)
    await unit.prepare()
    try:
        async with TestNatsBroker(broker):
            yield
    finally:
        await unit.close()
