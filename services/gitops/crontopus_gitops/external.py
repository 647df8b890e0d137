"""External repositories (Forgejo, Gitea, GitHub, GitLab, any Git server): connecting one, fetching
it, and what the API shows of it.

The repository is mirrored with pygit2 into a local bare repository and read from its commit
trees. Credentials and the webhook secret are stored sealed (crontopus_gitops.sealed) and never
echoed back. Its push webhooks are handled in crontopus_gitops.external_handlers.
"""

from __future__ import annotations

import secrets
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
from crontopus_schemas.gitops import RepositoryPublic, RepositoryUpdateRequest


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
    fails."""
    await remotes.check(request.url)  # before anything touches the disk: a clear 422 naming `url`
    candidate = Repository(
        tenant_id=row.tenant_id, kind="external", path=str(settings.repositories / f"{row.tenant_id}.external.git"),
        branch=request.branch, folder=request.folder.strip("/"), url=request.url, created_at=row.created_at,
        credentials=seal_credentials(secret, request.credentials),
    )  # fmt: skip
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
