"""A team's sync lock: one sync at a time per team, and no lock kept for every team ever synced."""

import asyncio

import pytest

from crontopus_gitops.settings import GitopsSettings
from crontopus_gitops.unit import GitopsUnit
from crontopus_kit.broker import make_broker
from crontopus_kit.unit import start_units, stop_units


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # the locks are in memory


async def test_a_teams_lock_lives_while_it_is_used_and_is_gone_after(settings_factory, nats_server):
    broker = make_broker(nats_server.url, name="test")
    unit = GitopsUnit(settings_factory(GitopsSettings), broker=broker)
    await start_units(broker, [unit])
    try:
        syncer = unit.syncer
        for i in range(50):
            await syncer.sync(f"{i:032x}")
        assert len(syncer._locks) == 0, "fifty teams synced: nothing kept for them"

        team = "f" * 32
        async with syncer.lock(team):
            assert syncer.busy(team) and syncer.lock(team) is syncer.lock(team)
            waiting = asyncio.create_task(syncer.sync(team))
            await asyncio.sleep(0.05)
            assert not waiting.done(), "a second sync of the team waits for the first"
        await waiting
        assert not syncer.busy(team)
    finally:
        await stop_units(broker, [unit])
