"""Ping keys resolve to their job and tenant (SQLite and PostgreSQL); anything else is NotFound."""

from pathlib import Path

import pytest
from faststream.nats import NatsBroker

from crontopus_gitops import pings, repo, service
from crontopus_gitops.models import Repository
from crontopus_gitops.settings import GitopsSettings
from crontopus_gitops.unit import GitopsUnit
from crontopus_kit.errors import NotFound
from crontopus_schemas.pings import PingTarget

ALICE, BOB = "a" * 32, "b" * 32


@pytest.fixture
async def gitops(settings_factory):
    unit = GitopsUnit(settings_factory(GitopsSettings), broker=NatsBroker())
    await unit.prepare()
    for tenant_id in (ALICE, BOB):
        await sync(unit, tenant_id)
    yield unit
    await unit.close()


async def sync(unit: GitopsUnit, tenant_id: str) -> None:
    async with unit.db.session() as session:
        row = await service.ensure_repository(
            session=session, settings=unit.settings, hook=unit.syncer.hook, tenant_id=tenant_id
        )
        await service.sync(session=session, row=row, secret=unit.syncer.secret)


async def resolve(unit: GitopsUnit, key: str) -> PingTarget:
    async with unit.db.session() as session:
        return await pings.resolve(session=session, secret=unit.syncer.secret, key=key)


def key_of(unit: GitopsUnit, tenant_id: str, job: str) -> str:
    return pings.ping_key(unit.syncer.secret, tenant_id, job)


async def test_a_jobs_key_resolves_to_its_tenant_and_job(gitops):
    target = await resolve(gitops, key_of(gitops, ALICE, "staging/hello"))
    async with gitops.db.session() as session:
        synced = (await session.get(Repository, ALICE)).synced_commit
    assert target == PingTarget(tenant_id=ALICE, job="staging/hello", commit=synced)


async def test_the_same_job_of_two_tenants_has_two_keys_each_resolving_to_its_own_tenant(gitops):
    alice_key, bob_key = key_of(gitops, ALICE, "staging/hello"), key_of(gitops, BOB, "staging/hello")
    assert alice_key != bob_key
    assert (await resolve(gitops, bob_key)).tenant_id == BOB


@pytest.mark.parametrize("key", ["A" * 22, "short", "x" * 200, "", "../../etc/passwd"])
async def test_a_key_no_job_has_is_not_found(gitops, key):
    with pytest.raises(NotFound, match="not found"):
        await resolve(gitops, key)


async def test_a_key_made_with_another_secret_is_not_found(gitops):
    with pytest.raises(NotFound):
        await resolve(gitops, pings.ping_key(b"another secret", ALICE, "staging/hello"))


async def test_a_job_deleted_from_git_stops_resolving_after_the_sync(gitops):
    key = key_of(gitops, ALICE, "staging/hello")
    async with gitops.db.session() as session:
        row = await service.ensure_repository(
            session=session, settings=gitops.settings, hook=gitops.syncer.hook, tenant_id=ALICE
        )
    path = Path(row.path)
    repo.commit_files(path, branch=row.branch, changes={"staging/hello.yaml": None}, author=("Alice", "a@example.com"),
                      message="Drop hello", expected_head=repo.head(path, branch=row.branch))  # fmt: skip
    await sync(gitops, ALICE)
    with pytest.raises(NotFound):
        await resolve(gitops, key)
