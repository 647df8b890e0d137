"""The runs service's unit on the test's database (SQLite or PostgreSQL), without a broker."""

import pytest
from faststream.nats import NatsBroker

from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit


@pytest.fixture
async def runs(settings_factory):
    unit = RunsUnit(settings_factory(RunsSettings), broker=NatsBroker())
    await unit.prepare()
    yield unit
    await unit.close()
