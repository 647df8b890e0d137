"""Job edits through the service on SQLite and PostgreSQL, on real bare repositories: each edit is
one commit by the user, checked against the commit the user's copy came from."""

from pathlib import Path
from typing import Any

import pygit2
import pytest
from faststream.nats import NatsBroker

from crontopus_gitops import editing, repo, service
from crontopus_gitops.models import Repository
from crontopus_gitops.settings import GitopsSettings
from crontopus_gitops.testing import GitHttp
from crontopus_gitops.unit import GitopsUnit
from crontopus_kit.errors import Conflict, Invalid, NotFound
from crontopus_schemas.gitops import JobGetRequest
from crontopus_schemas.job_edits import CommitAuthor, JobCreateRequest, JobDeleteRequest, JobUpdateRequest
from crontopus_server.testing import NIGHTLY_EXPORT

TENANT = "a" * 32
ALICE = CommitAuthor(name="alice", email="alice@example.com")
BOB = CommitAuthor(name="bob", email="bob@example.com")
BOB_SIG = ("bob", "bob@example.com")
SHARED = """\
# two jobs in one file
apiVersion: crontopus.io/v1
kind: Job
metadata: {name: first, namespace: ops}
spec: {schedule: "@hourly", command: /bin/true}  # keep me
---
apiVersion: crontopus.io/v1
kind: Job
metadata: {name: second, namespace: ops}
spec: {schedule: "@daily", command: /bin/true}
"""


class RecordingBroker(NatsBroker):
    """Never connected: the syncer's manifests-changed events are collected instead."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, message: Any = None, subject: str = "", *_: Any, **__: Any) -> None:
        self.published.append((subject, message))


@pytest.fixture
async def gitops(settings_factory):
    # The external repositories here are served over http:// on loopback.
    settings = settings_factory(GitopsSettings, allow_http=True, allow_private_networks=True)
    unit = GitopsUnit(settings, broker=RecordingBroker())
    await unit.prepare()
    await unit.syncer.sync(TENANT)
    yield unit
    await unit.close()


async def row_of(unit: GitopsUnit) -> Repository:
    return await unit.syncer.repository(TENANT)


async def head(unit: GitopsUnit) -> str:
    row = await row_of(unit)
    sha = repo.head(Path(row.path), branch=row.branch)
    assert sha is not None
    return sha


async def create(unit: GitopsUnit, manifest: Any = NIGHTLY_EXPORT, author: CommitAuthor = ALICE, **extra: Any):
    request = JobCreateRequest(tenant_id=TENANT, author=author, manifest=manifest, **extra)
    return await editing.create_job(db=unit.db, syncer=unit.syncer, request=request)


async def update(unit: GitopsUnit, ref: str, manifest: Any, base_commit: str, author: CommitAuthor = ALICE):
    namespace, name = ref.split("/")
    request = JobUpdateRequest(tenant_id=TENANT, namespace=namespace, name=name, author=author,
                               manifest=manifest, base_commit=base_commit)  # fmt: skip
    return await editing.update_job(db=unit.db, syncer=unit.syncer, request=request)


async def delete(unit: GitopsUnit, ref: str, base_commit: str):
    namespace, name = ref.split("/")
    request = JobDeleteRequest(tenant_id=TENANT, namespace=namespace, name=name, author=ALICE, base_commit=base_commit)
    return await editing.delete_job(syncer=unit.syncer, request=request)


async def indexed(unit: GitopsUnit, ref: str):
    namespace, name = ref.split("/")
    query = JobGetRequest(tenant_id=TENANT, namespace=namespace, name=name)
    row = await row_of(unit)
    async with unit.db.session() as session:
        return await service.get_job(
            session=session, query=query, row=row, links=unit.syncer.links, schedules=unit.syncer.schedules
        )


def git_commit(unit_row: Repository, sha: str) -> pygit2.Commit:
    commit = pygit2.Repository(unit_row.path).get(sha)
    assert isinstance(commit, pygit2.Commit)
    return commit


# --- create ---------------------------------------------------------------------------------


async def test_creating_a_job_commits_its_file_as_the_user_and_indexes_it_at_once(gitops):
    job = await create(gitops, message="for the finance team")
    assert job.job == "production/nightly-export" and job.commit == await head(gitops)
    assert job.yaml == NIGHTLY_EXPORT and job.file == "production/nightly-export.yaml"
    assert job.history[0].author == "alice"
    commit = git_commit(await row_of(gitops), job.commit)
    assert (commit.author.name, commit.author.email) == ("alice", "alice@example.com")
    assert commit.committer.name == "Crontopus"
    assert commit.message == "Create production/nightly-export via the API\n\nfor the finance team\n"
    subject, body = gitops.broker.published[-1]
    assert subject.endswith(TENANT) and b"production/nightly-export" in body


async def test_a_job_can_be_sent_as_a_json_object(gitops):
    manifest = {"apiVersion": "crontopus.io/v1", "kind": "Job",
                "metadata": {"name": "from-json", "namespace": "ops"},
                "spec": {"schedule": "*/5 * * * *", "command": "/bin/true"}}  # fmt: skip
    job = await create(gitops, manifest)
    assert job.schedule == "*/5 * * * *" and job.file == "ops/from-json.yaml"
    assert "schedule: '*/5 * * * *'" in job.yaml or 'schedule: "*/5 * * * *"' in job.yaml


async def test_creating_an_existing_job_is_a_conflict_and_commits_nothing(gitops):
    before = await head(gitops)
    with pytest.raises(Conflict, match="production/backup-database already exists"):
        await create(gitops, NIGHTLY_EXPORT.replace("nightly-export", "backup-database"))
    assert await head(gitops) == before


async def test_creating_a_job_never_overwrites_a_file_too_large_to_read(gitops):
    row = await row_of(gitops)
    huge = "# notes kept beside the jobs\n" + "#" * (256 * 1024)
    before = repo.commit_files(
        Path(row.path), branch=row.branch, changes={"production/nightly-export.yaml": huge}, author=BOB_SIG,
        message="a big file", expected_head=await head(gitops),
    )  # fmt: skip
    with pytest.raises(Conflict, match=r"production/nightly-export\.yaml already exists"):
        await create(gitops)
    assert await head(gitops) == before
    files = dict(repo.read_manifest_files(Path(row.path), commit=before))
    assert "production/nightly-export.yaml" in files  # still there, unread (over the size limit)


async def test_an_invalid_manifest_names_file_line_and_field_and_commits_nothing(gitops):
    before = await head(gitops)
    with pytest.raises(Invalid) as error:
        await create(gitops, NIGHTLY_EXPORT.replace('"15 3 * * *"', '"0 0 31 2 *"'))
    assert error.value.message == (
        "production/nightly-export.yaml:7: spec.schedule: never fires: day 31 does not exist in month 2"
    )
    with pytest.raises(Invalid, match=r"production/nightly-export.yaml:9: spec.comand: unknown field"):
        await create(gitops, NIGHTLY_EXPORT.replace("  command:", "  comand:"))
    assert await head(gitops) == before


# --- update ---------------------------------------------------------------------------------


async def test_an_update_based_on_the_current_commit_rewrites_the_file(gitops):
    job = await create(gitops)
    updated = await update(gitops, job.job, NIGHTLY_EXPORT.replace("15 3", "45 4"), job.commit, author=BOB)
    assert updated.schedule == "45 4 * * *" and updated.commit != job.commit
    assert [c.author for c in updated.history] == ["bob", "alice"]
    assert updated.history[0].message == "Update production/nightly-export via the API"


async def test_an_update_from_a_stale_copy_is_a_conflict_and_changes_nothing(gitops):
    job = await create(gitops)
    await update(gitops, job.job, NIGHTLY_EXPORT.replace("15 3", "45 4"), job.commit, author=BOB)
    current = await head(gitops)
    with pytest.raises(Conflict, match=f"production/nightly-export changed since {job.commit}: reload and retry"):
        await update(gitops, job.job, NIGHTLY_EXPORT.replace("15 3", "0 5"), job.commit)
    assert await head(gitops) == current
    assert (await indexed(gitops, job.job)).schedule == "45 4 * * *"


async def test_an_edit_of_another_job_in_between_does_not_block_an_update(gitops):
    job = await create(gitops)
    backup = await indexed(gitops, "production/backup-database")
    await update(gitops, backup.job, backup.yaml.replace('"0 2 * * *"', '"0 3 * * *"'), backup.commit, author=BOB)
    updated = await update(gitops, job.job, NIGHTLY_EXPORT.replace("15 3", "45 4"), job.commit)
    assert updated.schedule == "45 4 * * *"
    assert (await indexed(gitops, backup.job)).schedule == "0 3 * * *"


async def test_an_update_cannot_rename_a_job_or_reach_a_missing_one(gitops):
    job = await create(gitops)
    with pytest.raises(Invalid, match="this is production/renamed, not production/nightly-export"):
        await update(gitops, job.job, NIGHTLY_EXPORT.replace("nightly-export", "renamed"), job.commit)
    with pytest.raises(NotFound):
        await update(gitops, "production/missing", NIGHTLY_EXPORT.replace("nightly-export", "missing"), job.commit)


async def test_an_unknown_base_commit_asks_to_reload(gitops):
    job = await create(gitops)
    with pytest.raises(Conflict, match="base_commit 0123456789abcdef is not in the repository"):
        await update(gitops, job.job, NIGHTLY_EXPORT, "0123456789abcdef")


async def test_a_head_that_moves_between_read_and_commit_is_retried_once(gitops):
    row = await row_of(gitops)
    target = editing.Target.of(row)
    job = await create(gitops)
    inner = editing.plan_change(target, ref=job.job, base_commit=job.commit, new=NIGHTLY_EXPORT.replace("15 3", "45 4"))
    calls = []

    def racing_plan(current: str | None):
        calls.append(current)
        if len(calls) == 1:  # someone pushes an unrelated file right after we read the head
            repo.commit_files(target.path, branch=target.branch, changes={"other/x.txt": "x"}, author=BOB_SIG,
                              message="unrelated", expected_head=current)  # fmt: skip
        return inner(current)

    before, after = editing.commit_edit(target, racing_plan, author=ALICE, message="Update")
    assert len(calls) == 2 and before == calls[1] != calls[0]
    assert git_commit(row, after).parents[0].id == pygit2.Oid(hex=before)


# --- files with several jobs -------------------------------------------------------------------


async def shared_file(unit: GitopsUnit) -> str:
    row = await row_of(unit)
    repo.commit_files(Path(row.path), branch=row.branch, changes={"ops/shared.yaml": SHARED}, author=BOB_SIG,
                      message="two jobs", expected_head=await head(unit))  # fmt: skip
    await unit.syncer.sync(TENANT)
    return await head(unit)


async def test_updating_one_job_of_a_shared_file_keeps_the_other_document_verbatim(gitops):
    base = await shared_file(gitops)
    second = SHARED.split("---\n")[1]
    updated = await update(gitops, "ops/second", second.replace("@daily", "@weekly"), base)
    assert updated.yaml == SHARED.replace("@daily", "@weekly")
    assert (await indexed(gitops, "ops/first")).schedule == "@hourly"


async def test_deleting_one_job_of_a_shared_file_keeps_the_other(gitops):
    base = await shared_file(gitops)
    await delete(gitops, "ops/first", base)
    remaining = await indexed(gitops, "ops/second")
    assert remaining.yaml == "---\n" + SHARED.split("---\n")[1]
    with pytest.raises(NotFound):
        await indexed(gitops, "ops/first")


def test_splice_refuses_when_other_documents_would_change():
    with pytest.raises(Invalid, match="edit the file with Git"):
        # a replacement that smuggles in a second document would change the file's other jobs
        editing.splice("ops/shared.yaml", SHARED, ref="ops/second",
                       new=SHARED.split("---\n")[1] + "---\n" + SHARED.split("---\n")[0])  # fmt: skip


# --- delete ---------------------------------------------------------------------------------


async def test_deleting_a_job_removes_its_file_and_index_entry(gitops):
    job = await create(gitops)
    deleted = await delete(gitops, job.job, job.commit)
    assert deleted.commit == await head(gitops)
    row = await row_of(gitops)
    assert "production/nightly-export.yaml" not in dict(repo.read_manifest_files(Path(row.path), commit=deleted.commit))
    with pytest.raises(NotFound):
        await indexed(gitops, job.job)
    assert git_commit(row, deleted.commit).message.startswith("Delete production/nightly-export via the API")


async def test_deleting_from_a_stale_copy_is_a_conflict(gitops):
    job = await create(gitops)
    await update(gitops, job.job, NIGHTLY_EXPORT.replace("15 3", "45 4"), job.commit)
    with pytest.raises(Conflict, match="changed since"):
        await delete(gitops, job.job, job.commit)
    assert (await indexed(gitops, job.job)).schedule == "45 4 * * *"


# --- external repositories -------------------------------------------------------------------


async def external_remote(unit: GitopsUnit, tmp_path: Path, git_http: GitHttp) -> Path:
    """Point the tenant at a bare repository served over smart HTTP, standing in for a Git host."""
    remote = git_http.root / "host.git"
    repo.init_bare(remote, branch="main")
    hello = NIGHTLY_EXPORT.replace("nightly-export", "hello").replace("production", "ops")
    repo.commit_files(remote, branch="main", changes={"ops/hello.yaml": hello}, author=BOB_SIG,
                      message="first", expected_head=None)  # fmt: skip
    async with unit.db.session() as session:
        row = await session.get(Repository, TENANT)
        assert row is not None
        row.kind, row.url, row.path = "external", git_http.url("host.git"), str(tmp_path / "mirror.git")
        row.synced_commit = None
        session.add(row)
        await session.commit()
    await unit.syncer.sync(TENANT, fetch_remote=True)
    return remote


async def test_an_edit_of_an_external_repository_is_pushed(gitops, tmp_path, git_http):
    remote = await external_remote(gitops, tmp_path, git_http)
    job = await create(gitops)
    assert repo.head(remote, branch="main") == job.commit


async def test_a_push_refused_because_the_host_moved_leaves_nothing_behind(gitops, tmp_path, git_http, monkeypatch):
    remote = await external_remote(gitops, tmp_path, git_http)
    original_fetch = editing.external.fetch

    # The host gets a commit right after our fetch, before our push.
    async def fetch_then_someone_pushes(remotes, row, secret):
        sha = await original_fetch(remotes, row, secret)
        repo.commit_files(remote, branch="main", changes={"ops/other.yaml": "# other\n"}, author=BOB_SIG,
                          message="meanwhile", expected_head=sha)  # fmt: skip
        return sha

    monkeypatch.setattr(editing.external, "fetch", fetch_then_someone_pushes)
    before = await head(gitops)
    with pytest.raises(Conflict, match="changed meanwhile: reload and retry"):
        await create(gitops)
    assert await head(gitops) == before
    assert "production/nightly-export.yaml" not in dict(
        repo.read_manifest_files(remote, commit=repo.head(remote, branch="main") or "")
    )
