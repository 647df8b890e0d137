"""Each service's migrations build exactly the tables its models declare (on SQLite and
PostgreSQL), so a model change without a migration fails here rather than in production."""

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from faststream.nats import NatsBroker
from sqlmodel import SQLModel

from crontopus_kit.testing import TEST_SECRET
from crontopus_server.platform import SERVICES, unit_factory


@pytest.fixture(params=sorted(SERVICES))
def service_name(request):
    return request.param


async def test_migrations_match_the_models(service_name, database_overrides, tmp_path, monkeypatch):
    monkeypatch.setenv("CRONTOPUS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", TEST_SECRET)
    for key, value in database_overrides.items():
        monkeypatch.setenv(f"CRONTOPUS_{key.upper()}", value)
    unit = unit_factory(service_name)(broker=NatsBroker())
    await unit.prepare()
    try:
        async with unit.db.engine.connect() as conn:
            diff = await conn.run_sync(_diff, _tables_of(service_name))
    finally:
        await unit.close()
    assert diff == []


def _diff(connection, tables: set[str]) -> list:
    """Compare only this service's tables: all models share one SQLModel.metadata."""

    def include_name(name, type_, _parent):
        return type_ != "table" or name in tables

    def include_object(obj, name, type_, _reflected, _compare_to):
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in tables

    opts = {"include_name": include_name, "include_object": include_object}
    context = MigrationContext.configure(connection, opts=opts)
    return compare_metadata(context, SQLModel.metadata)


def _tables_of(service_name: str) -> set[str]:
    models = importlib.import_module(f"crontopus_{service_name}.models")
    return {value.__tablename__ for value in vars(models).values() if hasattr(value, "__table__")}


def _expression_indexes(service_name: str) -> dict[str, str]:
    """Indexes on expressions the models declare (name -> the expression as SQL, unqualified):
    Alembic's comparison skips them, on SQLite entirely."""
    found = {}
    tables = _tables_of(service_name)  # imports the models: their tables join the metadata
    for table in SQLModel.metadata.tables.values():
        if table.name not in tables:
            continue
        for index in table.indexes:
            expressions = [e for e in index.expressions if not hasattr(e, "table") or e.table is not table]
            if expressions:
                found[index.name] = str(expressions[0].compile(compile_kwargs={"literal_binds": True}))
    return found


async def test_indexes_on_expressions_exist_as_the_models_declare_them(service_name, database_overrides, tmp_path,
                                                                      monkeypatch):  # fmt: skip
    monkeypatch.setenv("CRONTOPUS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", TEST_SECRET)
    for key, value in database_overrides.items():
        monkeypatch.setenv(f"CRONTOPUS_{key.upper()}", value)
    declared = _expression_indexes(service_name)
    unit = unit_factory(service_name)(broker=NatsBroker())
    await unit.prepare()
    try:
        async with unit.db.engine.connect() as conn:
            built = await conn.run_sync(_index_definitions)
    finally:
        await unit.close()
    assert service_name != "runs" or declared, "the runs table's moment indexes are expressions"
    for name, expression in declared.items():
        unqualified = _squeeze(expression).replace("runs.", "")
        assert unqualified in _squeeze(built.get(name, "")), (name, built.get(name))


def _index_definitions(connection) -> dict[str, str]:
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        )
    else:
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    return {name: definition for name, definition in rows}


def _squeeze(sql: str) -> str:
    return "".join(sql.lower().split())
