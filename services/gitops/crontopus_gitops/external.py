"""External repositories (Forgejo, Gitea, GitHub, GitLab, any Git server): connecting one, fetching
it, and what the API shows of it.

The repository is mirrored with pygit2 into a local bare repository and read from its commit
trees. Credentials and the webhook secret are stored sealed (crontopus_gitops.sealed) and never
echoed back. Its push webhooks are handled in crontopus_gitops.external_handlers.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from crontopus_gitops import repo
from crontopus_gitops.models import Repository
from crontopus_gitops.remote_url import RefusedUrl
from crontopus_gitops.remotes import Remotes
from crontopus_gitops.sealed import (
    credentials_kind,
    open_credentials,
    seal_credentials,
    seal_webhook_secret,
    webhook_secret,
)
from crontopus_gitops.settings import GitopsSettings
from crontopus_kit.crypto import mask
from crontopus_kit.errors import Invalid
from crontopus_kit.logging import get_logger
from crontopus_schemas.gitops import RepositoryPublic, RepositoryUpdateRequest

log = get_logger(__name__)


async def fetch(remotes: Remotes, row: Repository, secret: bytes) -> str:
    """Bring the mirror up to date, within every bound of crontopus_gitops.remotes. RefusedUrl
    for a URL stored before the rule existed (a local path, git://): it is never used again."""
    if row.url is None:
        raise repo.GitError(f"the repository of {row.tenant_id} is external but has no URL")
    try:
        return await remotes.fetch(
            path=Path(row.path), url=row.url, branch=row.branch, credentials=open_credentials(secret, row.credentials)
        )
    except RefusedUrl as refused:  # connect() checks first, so only a URL stored earlier gets here
        raise RefusedUrl(
            f"{refused.message}. The repository was connected before such URLs were refused: connect it again "
            "with an https:// or ssh:// URL (PUT /api/gitops/repository)"
        ) from None


async def connect(
    *,
    session: AsyncSession,
    settings: GitopsSettings,
    remotes: Remotes,
    secret: bytes,
    row: Repository,
    request: RepositoryUpdateRequest,
) -> str:
    """Point the tenant at an external repository after one successful fetch; returns the webhook
    secret (shown to the user this once). Nothing is stored when the URL is refused or the fetch
    fails: not the row, and no mirror on disk either."""
    await remotes.check(request.url)  # before anything touches the disk: a clear 422 naming `url`
    path = settings.repositories / f"{row.tenant_id}.external.git"
    candidate = Repository(
        tenant_id=row.tenant_id, kind="external", path=str(path), branch=request.branch,
        folder=request.folder.strip("/"), url=request.url, created_at=row.created_at,
        credentials=seal_credentials(secret, request.credentials),
    )  # fmt: skip
    # A team switching its external repository to another URL or branch fetches into the mirror
    # it syncs from now: a failed fetch leaves that mirror's refs as they were, so it keeps
    # working and must stay. Any other mirror there is this attempt's (or an earlier failed one's).
    in_use = row.kind == "external" and row.path == str(path)
    try:
        return await _adopt(session=session, remotes=remotes, secret=secret, row=row, candidate=candidate,
                            request=request)  # fmt: skip
    except Exception:  # a cancelled request may still be fetching in its thread: left alone
        if not in_use:
            await asyncio.to_thread(_discard, path)
        raise


async def _adopt(
    *,
    session: AsyncSession,
    remotes: Remotes,
    secret: bytes,
    row: Repository,
    candidate: Repository,
    request: RepositoryUpdateRequest,
) -> str:
    """Fetch the candidate once, then store it as the tenant's repository."""
    try:
        await fetch(remotes, candidate, secret)
    except repo.RemoteError as exc:
        raise Invalid(f"url: {exc.message}") from exc
    hook_secret = request.webhook_secret or secrets.token_urlsafe(32)
    for field in ("kind", "path", "branch", "folder", "url", "credentials"):
        setattr(row, field, getattr(candidate, field))
    row.webhook_secret = seal_webhook_secret(secret, hook_secret)
    row.synced_commit, row.file_errors, row.last_error = None, "[]", None
    session.add(row)
    await session.commit()
    return hook_secret


def _discard(path: Path) -> None:
    """Remove a mirror no repository uses; a failure to is logged, never raised over the
    refusal the user should see."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass  # refused before anything was written
    except OSError as exc:
        log.warning("could not remove the mirror of a failed external repository", path=str(path), error=str(exc))


def describe(public: RepositoryPublic, row: Repository, *, secret: bytes, base_url: str) -> RepositoryPublic:
    """Add what only external repositories have, with secrets masked."""
    if row.kind != "external" or row.url is None:
        return public
    hook = webhook_secret(secret, row)
    return public.model_copy(
        update={
            "webhook_url": f"{base_url.rstrip('/')}/api/gitops/webhooks/{row.tenant_id}",
            "webhook_secret": mask(hook) if hook else None,
            "credentials": credentials_kind(secret, row.credentials),
        }
    )
