"""Job edits through the API: a create, update or delete becomes one commit in the tenant's
repository, authored by the user and committed by Crontopus.

Git stays the only source: the edit is validated like a push (same messages, with file, line
and field), committed on top of the branch head with a compare-and-swap (`expected_head`), and
only then indexed. An edit based on an old copy of a job is refused when that job's file changed
since (`base_commit`); commits to other files do not matter. For an external repository the
commit is pushed before it counts; a refused push leaves nothing behind.

A file with several jobs (`---`) is edited document by document. When that cannot be done
safely (the result would change any other job of the file), the edit is refused with a 422
that says to edit the file with Git.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faststream.nats import NatsRouter
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from crontopus_gitops import external, repo, sealed, service
from crontopus_gitops.models import Repository
from crontopus_gitops.settings import RPC_WORKERS
from crontopus_kit.broker import rpc_handler
from crontopus_kit.db import Database
from crontopus_kit.errors import Conflict, Invalid, NotFound
from crontopus_kit.logging import get_logger
from crontopus_schemas.gitops import JobDetail, JobGetRequest
from crontopus_schemas.job_edits import (
    CommitAuthor,
    JobCreateRequest,
    JobDeleted,
    JobDeleteRequest,
    JobUpdateRequest,
)
from crontopus_schemas.manifest import JobManifest
from crontopus_schemas.manifests import LoadedJob, load_document, load_files, yaml_reader
from crontopus_schemas.names import DNS_LABEL
from crontopus_schemas.subjects import GitopsRpc

if TYPE_CHECKING:
    from crontopus_gitops.syncer import Syncer

log = get_logger(__name__)
DOCUMENT_START = re.compile(r"^---(?:[ \t]|$)")
LABEL = re.compile(DNS_LABEL)
# Plans the changes for a given head (None: the branch has no commit yet): in-repo path -> text
# (None deletes). Called again when the head moved in between, so it re-checks everything.
Plan = Callable[[str | None], dict[str, str | None]]


# --- manifests in, validated ---------------------------------------------------------------


def manifest_text(manifest: str | dict[str, Any]) -> str:
    """The YAML that gets committed: the text as sent, or a JSON object written as YAML."""
    if isinstance(manifest, str):
        return manifest if manifest.endswith("\n") else manifest + "\n"
    out = io.StringIO()
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.dump(manifest, out)
    return out.getvalue()


def validate(file: str, text: str) -> JobManifest:
    """The one job in `text`, checked as if it were `file` in the repository; Invalid names
    file, line and field exactly like `crontopus jobs validate`."""
    loaded = load_files([(file, text)])
    if loaded.errors:
        raise Invalid("\n".join(str(error) for error in loaded.errors))
    if len(loaded.jobs) != 1:
        raise Invalid(f"manifest: send exactly one Job document, not {len(loaded.jobs)}")
    return loaded.jobs[0].manifest


def file_for(text: str, *, default: str = "manifest.yaml") -> str:
    """`<namespace>/<name>.yaml` from the manifest's metadata, where a new job's file goes. When
    they are missing or malformed, validation reports that; `default` only has to be harmless."""
    try:
        first = next(iter(yaml_reader().load_all(text)), None)
    except YAMLError:  # nested too deeply too: validation says so, with the line
        return default
    metadata = first.get("metadata") if isinstance(first, dict) else None
    names = [metadata.get(key) for key in ("namespace", "name")] if isinstance(metadata, dict) else []
    if len(names) == 2 and all(isinstance(part, str) and LABEL.match(part) for part in names):
        return f"{names[0]}/{names[1]}.yaml"
    return default


# --- several documents in one file ------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    marker: str  # the "---" line that opens it ("" for text before the first marker)
    body: str

    @property
    def text(self) -> str:
        return self.marker + self.body


def segments(text: str) -> list[Segment]:
    """The file cut at its `---` lines. A `---` at the start of a line always starts a document
    in YAML (scalars cannot hold one), so the cut never falls inside a value."""
    found: list[Segment] = []
    marker, body = "", list[str]()
    for line in text.splitlines(keepends=True):
        if DOCUMENT_START.match(line):
            found.append(Segment(marker, "".join(body)))
            marker, body = line if line.endswith("\n") else line + "\n", []
        else:
            body.append(line)
    found.append(Segment(marker, "".join(body)))
    return found


def _refs(file: str, text: str) -> list[str]:
    return [job.manifest.ref for job in load_document(file, text)[0]]


def _has_document(file: str, segment: Segment) -> bool:
    try:
        return any(doc is not None for doc in yaml_reader().load_all(segment.text))
    except YAMLError:
        return True  # a broken document is still one: never drop it silently


def splice(file: str, source: str, *, ref: str, new: str | None) -> str | None:
    """`source` with the document of `ref` replaced by `new` (None: removed); None when no
    document is left (the file is deleted)."""
    parts = segments(source)
    documents = [part for part in parts if _has_document(file, part)]
    if len(documents) <= 1:
        return new
    hits = [i for i, part in enumerate(parts) if ref in _refs(file, part.text)]
    if len(hits) != 1:
        raise _unsafe(file, ref)
    index = hits[0]
    if new is None:
        kept = parts[:index] + parts[index + 1 :]
    else:
        kept = [*parts[:index], Segment(parts[index].marker, new), *parts[index + 1 :]]
    result = "".join(part.text for part in kept)
    _check_others_unchanged(file, source, result, ref=ref, new=new)
    return result if any(_has_document(file, part) for part in kept) else None


def _check_others_unchanged(file: str, before: str, after: str, *, ref: str, new: str | None) -> None:
    def jobs(text: str) -> list[tuple[str, Any]]:  # a list: a job smuggled in twice must show
        return sorted((job.manifest.ref, job.manifest.model_dump_json()) for job in load_document(file, text)[0])

    replacement = [job for job in jobs(new) if job[0] == ref][:1] if new is not None else []
    expected = [job for job in jobs(before) if job[0] != ref] + replacement
    if jobs(after) != sorted(expected):
        raise _unsafe(file, ref)


def _unsafe(file: str, ref: str) -> Invalid:
    return Invalid(
        f"{file}: holds several documents and {ref} cannot be changed in it without touching the others; "
        "edit the file with Git (clone_url in GET /api/gitops/repository)"
    )


# --- planning an edit against a head (blocking: pygit2) ------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the tenant's jobs live: the bare repository, its branch and the jobs folder; and
    which file each indexed job is defined in, so that an edit changes the definition the index
    (and the sync, see ``load_files``) keeps when a job is defined twice."""

    path: Path
    branch: str
    folder: str
    defined_in: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, row: Repository, *, defined_in: Mapping[str, str] | None = None) -> Target:
        return cls(path=Path(row.path), branch=row.branch, folder=row.folder.strip("/"), defined_in=defined_in or {})

    def in_repo(self, file: str) -> str:
        return f"{self.folder}/{file}" if self.folder else file

    def files(self, head: str | None) -> dict[str, str]:
        files = repo.read_manifest_files(self.path, commit=head, folder=self.folder) if head else []
        return {file: text for file, text in files if text is not None}  # one over the size limit has no jobs


def find_job(files: dict[str, str], ref: str, *, defined_in: Mapping[str, str] | None = None) -> LoadedJob | None:
    loaded = load_files(files.items(), defined_in=defined_in)
    return next((job for job in loaded.jobs if job.manifest.ref == ref), None)


def plan_create(target: Target, *, file: str, text: str, ref: str) -> Plan:
    def plan(head: str | None) -> dict[str, str | None]:
        files = target.files(head)
        existing = find_job(files, ref)
        if existing is not None:
            raise Conflict(f"{ref} already exists (in {existing.file}): change it with PUT /api/jobs/{ref}, or in Git")
        if file in files:
            raise Conflict(
                f"{file} already exists and defines other jobs; add {ref} to that file in Git, or give it another name"
            )
        if head and repo.blob_id(target.path, commit=head, file_path=target.in_repo(file)) is not None:
            # a file too large to read as manifests (or a folder) holds the path: never overwrite it
            raise Conflict(f"{file} already exists and holds no job Crontopus can read; move it or use Git")
        return {target.in_repo(file): text}

    return plan


def plan_change(target: Target, *, ref: str, base_commit: str, new: str | None) -> Plan:
    """Update (`new` text) or delete (`new` None) the job `ref`, unless its file changed since
    `base_commit`."""

    def plan(head: str | None) -> dict[str, str | None]:
        files = target.files(head)
        job = find_job(files, ref, defined_in=target.defined_in)
        if job is None or head is None:
            raise NotFound(f"job {ref} not found")
        _check_unchanged(target, file=target.in_repo(job.file), ref=ref, base_commit=base_commit, head=head)
        if new is not None:
            _check_same_job(validate(job.file, new), ref)
        return {target.in_repo(job.file): splice(job.file, files[job.file], ref=ref, new=new)}

    return plan


def _check_unchanged(target: Target, *, file: str, ref: str, base_commit: str, head: str) -> None:
    """Compare the file's blob, not the commits: other files may change as they like."""
    try:
        before = repo.blob_id(target.path, commit=base_commit, file_path=file)
    except repo.UnknownRevision:
        raise Conflict(f"{ref}: base_commit {base_commit} is not in the repository: reload and retry") from None
    if before != repo.blob_id(target.path, commit=head, file_path=file):
        raise Conflict(f"{ref} changed since {base_commit}: reload and retry")


def _check_same_job(manifest: JobManifest, ref: str) -> None:
    if manifest.ref != ref:
        raise Invalid(
            f"metadata: this is {manifest.ref}, not {ref}; "
            "to rename or move a job, create the new one and delete this one"
        )


def commit_edit(target: Target, plan: Plan, *, author: CommitAuthor, message: str) -> tuple[str | None, str]:
    """Plan against the head and commit on it; when someone committed in between, plan again
    (re-checking the file) and retry once. Returns (the head it was based on, the new head)."""
    for attempt in (1, 2):
        head = repo.head(target.path, branch=target.branch)
        changes = plan(head)
        try:
            sha = repo.commit_files(
                target.path, branch=target.branch, changes=changes, author=(author.name, author.email),
                committer=service.SYSTEM_AUTHOR, message=message, expected_head=head,
            )  # fmt: skip
        except repo.HeadMoved:
            if attempt == 2:
                raise Conflict("the repository kept changing while saving: reload and retry") from None
            continue
        return head, sha
    raise AssertionError("unreachable")


def commit_message(verb: str, ref: str, extra: str | None) -> str:
    title = f"{verb} {ref} via the API"
    return f"{title}\n\n{extra.strip()}\n" if extra and extra.strip() else f"{title}\n"


# --- external repositories ------------------------------------------------------------------------


async def push_or_undo(syncer: Syncer, row: Repository, *, before: str | None, after: str) -> None:
    """Push the new commit; when the push fails (or its URL or host is refused now), move the
    local branch back so the index never shows a job the external repository does not have."""
    url = row.url or ""
    try:
        await syncer.remotes.push(path=Path(row.path), url=url, branch=row.branch,
                                  credentials=sealed.open_credentials(syncer.secret, row.credentials))  # fmt: skip
    except (repo.GitError, Invalid) as exc:
        if before is not None:
            await asyncio.to_thread(repo.reset_branch, Path(row.path), branch=row.branch, expected=after, target=before)
        if isinstance(exc, repo.HeadMoved):
            raise Conflict(f"{repo.redact_url(url)} changed meanwhile: reload and retry") from None
        raise


# --- service functions ------------------------------------------------------------------------------


async def create_job(*, db: Database, syncer: Syncer, request: JobCreateRequest) -> JobDetail:
    text = manifest_text(request.manifest)
    file = file_for(text)
    manifest = validate(file, text)
    plan = partial(plan_create, file=file, text=text, ref=manifest.ref)
    message = commit_message("Create", manifest.ref, request.message)
    row, _ = await _commit(syncer, request.tenant_id, request.author, plan_for=plan, message=message)
    return await _detail(db, syncer, row, manifest.metadata.namespace, manifest.metadata.name)


async def update_job(*, db: Database, syncer: Syncer, request: JobUpdateRequest) -> JobDetail:
    ref, text = f"{request.namespace}/{request.name}", manifest_text(request.manifest)
    # Early, before any Git work; the plan checks again under the job's actual file name.
    _check_same_job(validate(file_for(text, default=f"{ref}.yaml"), text), ref)
    plan = partial(plan_change, ref=ref, base_commit=request.base_commit, new=text)
    message = commit_message("Update", ref, request.message)
    row, _ = await _commit(syncer, request.tenant_id, request.author, plan_for=plan, message=message)
    return await _detail(db, syncer, row, request.namespace, request.name)


async def delete_job(*, syncer: Syncer, request: JobDeleteRequest) -> JobDeleted:
    ref = f"{request.namespace}/{request.name}"
    plan = partial(plan_change, ref=ref, base_commit=request.base_commit, new=None)
    message = commit_message("Delete", ref, request.message)
    _, commit = await _commit(syncer, request.tenant_id, request.author, plan_for=plan, message=message)
    return JobDeleted(commit=commit)


async def _commit(
    syncer: Syncer, tenant_id: str, author: CommitAuthor, *, plan_for: Callable[[Target], Plan], message: str
) -> tuple[Repository, str]:
    """Commit (and push) under the tenant's sync lock, so a fetch of an external repository never
    resets the branch between our commit and its push; then index the new head at once."""
    async with syncer.lock(tenant_id):
        row = await syncer.repository(tenant_id)
        async with syncer.db.session() as session:
            target = Target.of(row, defined_in=await service.indexed_files(session=session, tenant_id=tenant_id))
        if _is_external(row):
            await external.fetch(syncer.remotes, row, syncer.secret)  # edit on what the host has now
        before, after = await asyncio.to_thread(commit_edit, target, plan_for(target), author=author, message=message)
        if _is_external(row) and after != before:
            await push_or_undo(syncer, row, before=before, after=after)
    log.info("job edit committed", tenant_id=tenant_id, commit=after, message=message.splitlines()[0])
    await syncer.sync(tenant_id)
    return row, after


def _is_external(row: Repository) -> bool:
    return row.kind == "external" and row.url is not None


async def _detail(db: Database, syncer: Syncer, row: Repository, namespace: str, name: str) -> JobDetail:
    query = JobGetRequest(tenant_id=row.tenant_id, namespace=namespace, name=name)
    async with db.session() as session:
        return await service.get_job(
            session=session, query=query, row=row, links=syncer.links, schedules=syncer.schedules
        )


# --- handlers ---------------------------------------------------------------------------------------


def add_editing_handlers(router: NatsRouter, *, db: Database, syncer: Syncer) -> None:
    @router.subscriber(GitopsRpc.JOB_CREATE, queue=GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(JobCreateRequest)
    async def create(request: JobCreateRequest) -> JobDetail:
        return await create_job(db=db, syncer=syncer, request=request)

    @router.subscriber(GitopsRpc.JOB_UPDATE, queue=GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(JobUpdateRequest)
    async def update(request: JobUpdateRequest) -> JobDetail:
        return await update_job(db=db, syncer=syncer, request=request)

    @router.subscriber(GitopsRpc.JOB_DELETE, queue=GitopsRpc.QUEUE, max_workers=RPC_WORKERS)
    @rpc_handler(JobDeleteRequest)
    async def delete(request: JobDeleteRequest) -> JobDeleted:
        return await delete_job(syncer=syncer, request=request)
