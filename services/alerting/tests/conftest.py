"""Fixtures of the alerting tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from crontopus_alerting.settings import AlertingSettings
from crontopus_alerting.unit import MIGRATIONS, NAME, AlertingUnit
from crontopus_kit.db import Database
from crontopus_schemas.subjects import manifests_changed_subject

ManifestsChanged = Callable[[AlertingUnit, str], Awaitable[None]]


@pytest.fixture
async def db(settings_factory: Callable[..., Any]) -> AsyncIterator[Database]:
    """The alerting database, migrated, on SQLite and on PostgreSQL (``database_backend``)."""
    settings = settings_factory(AlertingSettings)
    database = Database(settings.database_url_for(NAME), schema=settings.database_schema_for(NAME))
    await database.migrate(script_location=MIGRATIONS, version_table="alembic_version_alerting")
    yield database
    await database.dispose()


@dataclass
class ManifestsChangedMessage:
    """What alerting reads of a ManifestsChanged message: its subject; and it acks it."""

    subject: str

    async def ack(self) -> None:
        pass


@pytest.fixture
def manifests_changed() -> ManifestsChanged:
    """Tell a unit that a team's manifests changed, as its consumer of the GITOPS stream would:
    ``await manifests_changed(unit, tenant_id)``."""

    async def changed(unit: AlertingUnit, tenant_id: str) -> None:
        await unit._on_manifests([ManifestsChangedMessage(manifests_changed_subject(tenant_id))])  # type: ignore[list-item]

    return changed
