"""Syncing a team's repository into the job index, on SQLite and PostgreSQL and real bare
repositories: a bad file is a problem of that file, and a job defined twice never moves."""

import json
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import NatsBroker

from crontopus_gitops import editing, repo, service
from crontopus_gitops.settings import GitopsSettings
from crontopus_gitops.unit import GitopsUnit
from crontopus_schemas.gitops import JobGetRequest
from crontopus_schemas.job_edits import CommitAuthor, JobCreateRequest, JobUpdateRequest
from crontopus_schemas.manifests import TOO_DEEP

TENANT = "b" * 32
ALICE = CommitAuthor(name="alice", email="alice@example.com")
BOB = ("bob", "bob@example.com")
DEEP = "x: " + "[" * 1000 + "]" * 1000 + "\n"  # QA's file
HELLO_AGAIN = """\
apiVersion: crontopus.io/v1
kind: Job
metadata:
  name: hello
  namespace: staging
spec: {schedule: "0 0 * * *", command: /bin/true}
"""


class RecordingBroker(NatsBroker):
    """Never connected: the syncer's manifests-changed events are collected instead."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, message: Any = None, subject: str = "", *_: Any, **__: Any) -> None:  # type: ignore[override]
        self.published.append((subject, message))


@pytest.fixture
async def gitops(settings_factory):
    unit = GitopsUnit(settings_factory(GitopsSettings), broker=RecordingBroker())
    await unit.prepare()
    await unit.syncer.sync(TENANT)  # the seeded examples, staging/hello among them
    yield unit
    await unit.close()


async def push(unit: GitopsUnit, changes: dict[str, str | None]) -> str:
    """A commit on the team's branch as a push makes it, then the sync its hook asks for."""
    row = await unit.syncer.repository(TENANT)
    path = Path(row.path)
    sha = repo.commit_files(path, branch=row.branch, changes=changes, author=BOB, message="push",
                            expected_head=repo.head(path, branch=row.branch))  # fmt: skip
    await unit.syncer.sync(TENANT)
    return sha


async def problems(unit: GitopsUnit) -> list[str]:
    row = await unit.syncer.repository(TENANT)
    assert row.last_error is None, row.last_error
    return [f"{e.file}:{e.line}: {e.message}" for e in service.repository_public(row).errors]


async def job(unit: GitopsUnit, ref: str):
    namespace, name = ref.split("/")
    row = await unit.syncer.repository(TENANT)
    async with unit.db.session() as session:
        return await service.get_job(
            session=session, query=JobGetRequest(tenant_id=TENANT, namespace=namespace, name=name), row=row,
            links=unit.syncer.links, schedules=unit.syncer.schedules,
        )  # fmt: skip


async def refs(unit: GitopsUnit) -> set[str]:
    async with unit.db.session() as session:
        return set(await service.indexed_files(session=session, tenant_id=TENANT))


def last_event(unit: GitopsUnit) -> dict[str, Any]:
    return json.loads(unit.broker.published[-1][1])  # type: ignore[attr-defined]


# --- a file nested too deeply -------------------------------------------------------------------


async def test_a_file_nested_too_deeply_is_reported_and_every_other_job_still_loads(gitops):
    seeded = await refs(gitops)
    deep_commit = await push(gitops, {"staging/deep.yaml": DEEP, "staging/later.yaml": HELLO_AGAIN.replace(
        "name: hello", "name: later")})  # fmt: skip
    row = await gitops.syncer.repository(TENANT)
    assert row.synced_commit == deep_commit
    assert f"staging/deep.yaml:1: {TOO_DEEP}" in await problems(gitops)
    assert await refs(gitops) == seeded | {"staging/later"}
    # later pushes are synced, and edits through the API of other jobs work
    next_commit = await push(gitops, {"staging/next.yaml": HELLO_AGAIN.replace("name: hello", "name: next")})
    assert (await gitops.syncer.repository(TENANT)).synced_commit == next_commit
    created = await editing.create_job(db=gitops.db, syncer=gitops.syncer, request=JobCreateRequest(
        tenant_id=TENANT, author=ALICE, manifest=HELLO_AGAIN.replace("name: hello", "name: created")))  # fmt: skip
    assert created.job == "staging/created" and "staging/created" in await refs(gitops)


# --- one job defined in two files ---------------------------------------------------------------


async def test_a_new_file_reusing_a_running_jobs_name_changes_nothing_and_is_the_one_reported(gitops):
    """QA: dup.yaml sorts before hello.yaml; the running job took its schedule and command, and the
    problem was blamed on hello.yaml."""
    before = await job(gitops, "staging/hello")
    await push(gitops, {"staging/dup.yaml": HELLO_AGAIN})
    after = await job(gitops, "staging/hello")
    assert (after.file, after.schedule, after.command) == ("staging/hello.yaml", "* * * * *", "/bin/sh")
    assert after.yaml == before.yaml
    assert await problems(gitops) == ["staging/dup.yaml:4: staging/hello is already defined in staging/hello.yaml:5"]
    assert last_event(gitops)["changed"] == [] and last_event(gitops)["errors"] == 1


async def test_an_update_through_the_api_edits_the_definition_that_runs_not_the_duplicate(gitops):
    await push(gitops, {"staging/dup.yaml": HELLO_AGAIN})
    hello = await job(gitops, "staging/hello")
    text = hello.yaml.split("---\n")[0].replace('"* * * * *"', '"*/5 * * * *"')  # the file holds two jobs
    request = JobUpdateRequest(tenant_id=TENANT, namespace="staging", name="hello", author=ALICE,
                               manifest=text, base_commit=hello.commit)  # fmt: skip
    updated = await editing.update_job(db=gitops.db, syncer=gitops.syncer, request=request)
    assert (updated.file, updated.schedule) == ("staging/hello.yaml", "*/5 * * * *")
    row = await gitops.syncer.repository(TENANT)
    files = dict(repo.read_manifest_files(Path(row.path), commit=updated.commit))
    assert files["staging/dup.yaml"] == HELLO_AGAIN


async def test_a_job_defined_in_two_new_files_at_once_comes_from_the_first_by_name(gitops):
    new = HELLO_AGAIN.replace("name: hello", "name: twice")
    await push(gitops, {"staging/b.yaml": new, "staging/a.yaml": new.replace("0 0 * * *", "@hourly")})
    twice = await job(gitops, "staging/twice")
    assert (twice.file, twice.schedule) == ("staging/a.yaml", "@hourly")
    assert await problems(gitops) == ["staging/b.yaml:4: staging/twice is already defined in staging/a.yaml:4"]
