"""Fixtures of the alerting tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from crontopus_alerting.settings import AlertingSettings
from crontopus_alerting.unit import MIGRATIONS, NAME
from crontopus_kit.db import Database


@pytest.fixture
async def db(settings_factory: Callable[..., Any]) -> AsyncIterator[Database]:
    """The alerting database, migrated, on SQLite and on PostgreSQL (``database_backend``)."""
    settings = settings_factory(AlertingSettings)
    database = Database(settings.database_url_for(NAME), schema=settings.database_schema_for(NAME))
    await database.migrate(script_location=MIGRATIONS, version_table="alembic_version_alerting")
    yield database
    await database.dispose()
