"""What the kit writes into the data dir (SQLite files with their -wal and -shm, the embedded
nats-server's store and log) only the user running Crontopus can read, whatever the umask."""

import os
import stat

import pytest
from sqlalchemy import text

from crontopus_kit.db import Database
from crontopus_kit.nats_server import NatsServerProcess


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def no_migrations(tmp_path):
    """An Alembic folder without revisions: migrate() still prepares the database file."""
    folder = tmp_path / "migrations"
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text("from crontopus_kit.db import run_migrations_online\nrun_migrations_online(None)\n")
    return folder


@pytest.mark.parametrize("existing_mode", [None, 0o644])
async def test_a_sqlite_database_and_its_wal_and_shm_are_private(tmp_path, no_migrations, existing_mode):
    data = tmp_path / "data"
    if existing_mode:  # left by an older version
        data.mkdir(mode=0o755)
        (data / "runs.db").touch(mode=existing_mode)
        (data / "runs.db").chmod(existing_mode)
    db = Database(f"sqlite+aiosqlite:///{data / 'runs.db'}", schema="runs")
    try:
        await db.migrate(script_location=no_migrations, version_table="alembic_version_runs")
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        files = {path.name: mode(path) for path in data.iterdir()}
    finally:
        await db.dispose()
    assert mode(data) == 0o700
    assert files == {"runs.db": 0o600, "runs.db-wal": 0o600, "runs.db-shm": 0o600}


def test_the_embedded_nats_server_keeps_its_store_and_log_private(tmp_path):
    store, log = tmp_path / "nats", tmp_path / "nats-server.log"
    with NatsServerProcess(store_dir=store, log_file=log):
        written = [store, *store.rglob("*")]
    assert len(written) > 1, "nats-server wrote its JetStream store"
    assert {str(path): oct(mode(path)) for path in written if mode(path) & 0o077} == {}
    assert mode(log) == 0o600
