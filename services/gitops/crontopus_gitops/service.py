"""gitops domain logic: each tenant's repository, syncing its commits into the job index, and
answering job queries. No broker imports; Git work runs in threads (pygit2 blocks)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import literal, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select

from crontopus_gitops import pings, repo
from crontopus_gitops.models import JobIndex, Repository
from crontopus_gitops.schedules import NextFireCache, Scheduled, next_runs, upcoming
from crontopus_gitops.settings import GitopsSettings
from crontopus_kit.errors import NotFound
from crontopus_kit.logging import get_logger
from crontopus_schemas.cron import ScheduleError, describe
from crontopus_schemas.gitops import (
    CommitPublic,
    FileError,
    JobDetail,
    JobGetRequest,
    JobListRequest,
    JobPage,
    JobState,
    JobStatePage,
    JobSummary,
    ManifestsChanged,
    RepositoryLocation,
    RepositoryPublic,
    UpcomingRequest,
    UpcomingRuns,
)
from crontopus_schemas.manifests import LoadedJob, load_files
from crontopus_schemas.private_files import private_dir, private_file

log = get_logger(__name__)
SEED = Path(__file__).parent / "seed"
SYSTEM_AUTHOR = ("Crontopus", "crontopus@localhost")


@dataclass(frozen=True)
class HookCommand:
    """How a repository's post-receive hook reaches the service (see hook.py). The hook names
    the file holding the NATS URL, never the URL itself: it may carry a password, and the hook
    file and a command line are readable by every local user."""

    python: str
    nats_url_file: Path

    def for_tenant(self, tenant_id: str) -> list[str]:
        return [self.python, "-m", "crontopus_gitops.hook", "--nats-url-file", str(self.nats_url_file), tenant_id]


def write_hook_nats_url(path: Path, nats_url: str) -> None:
    """The URL hooks log in with, in a file only this service's user may read; written anew at
    every start, so a changed secret or NATS address reaches the next push. Replaced whole: a
    hook reading it meanwhile sees the old URL or the new one."""
    private_dir(path.parent)
    partial = private_file(path.with_name(path.name + ".crontopus-tmp"))
    partial.write_text(nats_url + "\n")
    os.replace(partial, path)


async def refresh_hooks(*, session: AsyncSession, hook: HookCommand) -> int:
    """Rewrite the hook of each built-in repository whose hook is not the one this process
    would write (an upgrade moved the interpreter, the URL's file moved, an older version wrote
    the URL into it); the others are only read. Returns how many were rewritten."""
    rows = [row for row in await all_repositories(session=session) if row.kind == "embedded"]
    hooks = [(Path(row.path), hook.for_tenant(row.tenant_id)) for row in rows]
    return await asyncio.to_thread(_refresh_hooks, hooks)


def _refresh_hooks(hooks: list[tuple[Path, list[str]]]) -> int:
    rewritten = 0
    for path, command in hooks:
        try:
            rewritten += repo.install_post_receive_hook(path, command=command)
        except (OSError, repo.GitError) as exc:  # one team's missing folder must not stop the service
            log.warning("could not update a repository's post-receive hook", path=str(path), error=str(exc))
    return rewritten


def seed_files() -> dict[str, str]:
    return {path.relative_to(SEED).as_posix(): path.read_text() for path in sorted(SEED.rglob("*.yaml"))}


# --- repositories ---------------------------------------------------------------


async def ensure_repository(
    *, session: AsyncSession, settings: GitopsSettings, hook: HookCommand, tenant_id: str
) -> Repository:
    """The tenant's repository, created (bare, seeded, with its hook) on first need."""
    row = await session.get(Repository, tenant_id)
    if row is not None:
        return row
    path = settings.repositories / f"{tenant_id}.git"
    await asyncio.to_thread(_create_embedded, path, settings.branch, hook.for_tenant(tenant_id))
    row = Repository(tenant_id=tenant_id, path=str(path), branch=settings.branch, created_at=datetime.now(UTC))
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()  # created a moment ago by a sibling; the Git side is idempotent
        row = await session.get(Repository, tenant_id)
        assert row is not None
    return row


def _create_embedded(path: Path, branch: str, hook_command: list[str]) -> None:
    repo.init_bare(path, branch=branch)
    repo.install_post_receive_hook(path, command=hook_command)
    if repo.head(path, branch=branch) is None:
        repo.commit_files(
            path, branch=branch, changes=dict(seed_files()), author=SYSTEM_AUTHOR,
            message="Example jobs\n\nEdit or delete them; every push is validated and synced.", expected_head=None,
        )  # fmt: skip


async def tenant_ids(*, session: AsyncSession) -> list[str]:
    return list((await session.execute(select(Repository.tenant_id).order_by(Repository.tenant_id))).scalars())


async def all_repositories(*, session: AsyncSession) -> list[Repository]:
    return list((await session.execute(select(Repository))).scalars())


def clone_url(row: Repository) -> str:
    """What agents fetch: the Git host's URL (without its secret) for an external repository,
    the bare repository's path for the built-in one."""
    return repo.redact_url(row.url) if row.kind == "external" and row.url else row.path


def repository_location(row: Repository) -> RepositoryLocation:
    """Where agents fetch the team's jobs from."""
    return RepositoryLocation(clone_url=clone_url(row), branch=row.branch, folder=row.folder)


def repository_public(row: Repository) -> RepositoryPublic:
    return RepositoryPublic(
        kind=row.kind, clone_url=clone_url(row), branch=row.branch, folder=row.folder,
        head_commit=row.synced_commit, last_sync_at=row.synced_at, last_error=row.last_error,
        errors=[FileError(**error) for error in json.loads(row.file_errors)],
    )  # fmt: skip


# --- sync -------------------------------------------------------------------------


async def sync(*, session: AsyncSession, row: Repository, secret: bytes) -> ManifestsChanged | None:
    """Index the branch head if it moved; return what changed (None when nothing did)."""
    path = Path(row.path)
    head = await asyncio.to_thread(repo.head, path, branch=row.branch)
    if head is None or head == row.synced_commit:
        return None
    files = await asyncio.to_thread(repo.read_manifest_files, path, commit=head, folder=row.folder)
    current = await _indexed(session, row.tenant_id)
    # A job defined twice stays where the synced commit had it: a new file reusing its name is
    # the one reported, and the running job does not change.
    defined_in = {ref: job.file for ref, job in current.items()}
    # A thread, not the event loop: a first parse costs ~1 ms per manifest (3 s for 3,000), and
    # the all-in-one process serves everything else from this loop meanwhile.
    loaded = await asyncio.to_thread(partial(load_files, files, defined_in=defined_in))
    sources = {file: text for file, text in files if text is not None}  # an unread file has no jobs
    added, changed, removed = await _replace_index(session, current, row.tenant_id, head, loaded.jobs, sources, secret)
    previous = row.synced_commit
    row.synced_commit, row.synced_at, row.last_error = head, datetime.now(UTC), None
    row.file_errors = json.dumps([FileError(**vars(error)).model_dump() for error in loaded.errors])
    session.add(row)
    await session.commit()
    info = await asyncio.to_thread(repo.commit_info, path, commit=head)
    return ManifestsChanged(
        commit=head, previous_commit=previous, author=f"{info.author_name} <{info.author_email}>",
        message=info.message.strip(), added=added, changed=changed, removed=removed, errors=len(loaded.errors),
        repository=repository_location(row),
    )  # fmt: skip


async def _indexed(session: AsyncSession, tenant_id: str) -> dict[str, JobIndex]:
    """The team's index rows (the jobs at the synced commit) by ``namespace/name``."""
    stmt = select(JobIndex).where(col(JobIndex.tenant_id) == tenant_id)
    return {f"{job.namespace}/{job.name}": job for job in (await session.execute(stmt)).scalars()}


async def indexed_files(*, session: AsyncSession, tenant_id: str) -> dict[str, str]:
    """Which file each of the team's indexed jobs is defined in, by ``namespace/name``."""
    stmt = select(JobIndex.namespace, JobIndex.name, JobIndex.file).where(col(JobIndex.tenant_id) == tenant_id)
    return {f"{namespace}/{name}": file for namespace, name, file in (await session.execute(stmt)).all()}


async def _replace_index(
    session: AsyncSession,
    current: dict[str, JobIndex],
    tenant_id: str,
    commit: str,
    jobs: list[LoadedJob],
    sources: dict[str, str],
    secret: bytes,
) -> tuple[list[str], list[str], list[str]]:
    """Make the index ``jobs``; ``current`` (the rows now, by ref) is consumed."""
    now = datetime.now(UTC)
    added, changed = [], []
    for job in jobs:
        ref, manifest = job.manifest.ref, job.manifest.model_dump(mode="json", by_alias=True)
        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
        values: dict[str, Any] = {"file": job.file, "line": job.line, "commit": commit, "updated_at": now,
                  "manifest": json.dumps(manifest), "digest": digest, "source": sources[job.file],
                  "ping_hash": pings.ping_hash(secret, pings.ping_key(secret, tenant_id, ref))}  # fmt: skip
        row = current.pop(ref, None)
        if row is None:
            metadata = job.manifest.metadata
            row = JobIndex(tenant_id=tenant_id, namespace=metadata.namespace, name=metadata.name, **values)
            added.append(ref)
        else:
            changed += [ref] if row.digest != digest else []
            for key, value in values.items():
                setattr(row, key, value)
        session.add(row)
    if current:
        await session.execute(delete(JobIndex).where(col(JobIndex.id).in_([row.id for row in current.values()])))
    return sorted(added), sorted(changed), sorted(current)


async def record_sync_error(*, session: AsyncSession, row: Repository, error: str) -> None:
    row.last_error, row.synced_at = error[:2000], datetime.now(UTC)
    session.add(row)
    await session.commit()


# --- queries ------------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    """What a job's public URLs are made of."""

    base_url: str
    secret: bytes

    def ping_url(self, tenant_id: str, job_ref: str) -> str:
        return pings.ping_url(self.base_url, pings.ping_key(self.secret, tenant_id, job_ref))


def _summary(row: JobIndex, links: Links, schedules: NextFireCache, now: datetime) -> dict[str, Any]:
    manifest = json.loads(row.manifest)
    spec, metadata = manifest["spec"], manifest["metadata"]
    return {
        "job": f"{row.namespace}/{row.name}", "namespace": row.namespace, "name": row.name,
        "schedule": spec["schedule"], "schedule_description": _describe(spec["schedule"]),
        "timezone": spec["timezone"], "next_run": schedules.next_run(_scheduled(row, spec), now=now),
        "enabled": spec["enabled"], "paused": spec["paused"], "labels": metadata["labels"], "command": spec["command"],
        "commit": row.commit, "file": row.file,
        "ping_url": links.ping_url(row.tenant_id, f"{row.namespace}/{row.name}"),
        "timeout": spec.get("timeout"), "monitor": spec.get("monitor") or {},
    }  # fmt: skip


def _scheduled(row: JobIndex, spec: dict[str, Any]) -> Scheduled:
    return Scheduled(job=f"{row.namespace}/{row.name}", schedule=spec["schedule"], timezone=spec["timezone"],
                     enabled=spec["enabled"], paused=spec["paused"])  # fmt: skip


def _describe(schedule: str) -> str:
    try:
        return describe(schedule)
    except ScheduleError:  # indexed manifests are valid; an older index may hold what is no longer
        return schedule


async def list_jobs(*, session: AsyncSession, query: JobListRequest, links: Links, schedules: NextFireCache) -> JobPage:
    """One page of the team's jobs in (namespace, name) order, keyset-paginated on that key."""
    page, next_after = await _page_of_jobs(session, query)
    now = datetime.now(UTC)
    jobs = [JobSummary(**_summary(row, links, schedules, now)) for row in page]
    wanted = [job for job in jobs if _matches(query, enabled=job.enabled, paused=job.paused, labels=job.labels)]
    return JobPage(jobs=wanted, next_after=next_after)


async def job_states(*, session: AsyncSession, query: JobListRequest) -> JobStatePage:
    """One page of the team's jobs as JobList pages them, each only enabled and paused: what a
    count of them needs (no ping URL, next run or description to make)."""
    page, next_after = await _page_of_jobs(session, query)
    states = []
    for row in page:
        manifest = json.loads(row.manifest)
        enabled, paused = manifest["spec"]["enabled"], manifest["spec"]["paused"]
        if _matches(query, enabled=enabled, paused=paused, labels=manifest["metadata"]["labels"]):
            states.append(JobState(job=f"{row.namespace}/{row.name}", enabled=enabled, paused=paused))
    return JobStatePage(states=states, next_after=next_after)


async def _page_of_jobs(session: AsyncSession, query: JobListRequest) -> tuple[list[JobIndex], str | None]:
    """The index rows of one page in (namespace, name) order, and the ``after`` of the next page."""
    stmt = select(JobIndex).where(col(JobIndex.tenant_id) == query.tenant_id)
    if query.namespace:
        stmt = stmt.where(col(JobIndex.namespace) == query.namespace)
    if query.after:
        namespace, _, name = query.after.partition("/")
        stmt = stmt.where(
            tuple_(col(JobIndex.namespace), col(JobIndex.name)) > tuple_(literal(namespace), literal(name))
        )
    stmt = stmt.order_by(col(JobIndex.namespace), col(JobIndex.name)).limit(query.limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    page, more = rows[: query.limit], len(rows) > query.limit
    return page, (f"{page[-1].namespace}/{page[-1].name}" if more else None)


async def upcoming_runs(*, session: AsyncSession, query: UpcomingRequest, schedules: NextFireCache) -> UpcomingRuns:
    """The team's next fire times across its enabled, unpaused jobs, soonest first."""
    rows = (await session.execute(select(JobIndex).where(col(JobIndex.tenant_id) == query.tenant_id))).scalars()
    jobs = [_scheduled(row, json.loads(row.manifest)["spec"]) for row in rows]
    return UpcomingRuns(runs=upcoming(jobs, now=datetime.now(UTC), limit=query.limit, cache=schedules))


def _matches(query: JobListRequest, *, enabled: bool, paused: bool, labels: dict[str, str]) -> bool:
    if query.enabled is not None and enabled != query.enabled:
        return False
    if query.paused is not None and paused != query.paused:
        return False
    return all(labels.get(key) == value for key, value in query.labels.items())


async def get_job(
    *, session: AsyncSession, query: JobGetRequest, row: Repository, links: Links, schedules: NextFireCache
) -> JobDetail:
    stmt = select(JobIndex).where(
        col(JobIndex.tenant_id) == query.tenant_id,
        col(JobIndex.namespace) == query.namespace,
        col(JobIndex.name) == query.name,
    )
    job = (await session.execute(stmt)).scalar_one_or_none()
    if job is None:
        raise NotFound(f"job {query.namespace}/{query.name} not found")
    history = await asyncio.to_thread(
        repo.history, Path(row.path), commit=job.commit, file_path=_in_repo(row, job.file)
    )
    now = datetime.now(UTC)
    manifest = json.loads(job.manifest)
    return JobDetail(
        **_summary(job, links, schedules, now), manifest=manifest, yaml=job.source,
        history=[CommitPublic(sha=c.sha, author=c.author_name, message=c.message.strip(), committed_at=c.committed_at)
                 for c in history],
        next_runs=next_runs(_scheduled(job, manifest["spec"]), now=now),
    )  # fmt: skip


def _in_repo(row: Repository, file: str) -> str:
    return f"{row.folder.strip('/')}/{file}" if row.folder.strip("/") else file
