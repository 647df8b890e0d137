"""Secrets of an external repository at rest: its credentials and its webhook secret, sealed with
purpose-bound keys (crontopus_kit.crypto.SecretBox) and never echoed back."""

from __future__ import annotations

import json

from crontopus_gitops import repo
from crontopus_gitops.models import Repository
from crontopus_kit.crypto import SecretBox
from crontopus_schemas.gitops import RepositoryCredentials

CREDENTIALS_PURPOSE = "gitops credentials v1"
WEBHOOK_PURPOSE = "gitops webhook secret v1"


def seal_credentials(secret: bytes, credentials: RepositoryCredentials | None) -> str | None:
    return SecretBox(secret, CREDENTIALS_PURPOSE).seal(credentials.model_dump_json()) if credentials else None


def open_credentials(secret: bytes, sealed: str | None) -> repo.Credentials | None:
    """The pygit2-side credentials of a repository row."""
    if not sealed:
        return None
    data = json.loads(SecretBox(secret, CREDENTIALS_PURPOSE).open(sealed))
    kind = data.pop("kind")
    if kind == "token":
        return repo.TokenAuth(**data)
    if kind == "basic":
        return repo.BasicAuth(**data)
    return repo.SshKeyAuth(**data)


def credentials_kind(secret: bytes, sealed: str | None) -> str | None:
    if not sealed:
        return None
    return str(json.loads(SecretBox(secret, CREDENTIALS_PURPOSE).open(sealed))["kind"])


def seal_webhook_secret(secret: bytes, value: str) -> str:
    return SecretBox(secret, WEBHOOK_PURPOSE).seal(value)


def webhook_secret(secret: bytes, row: Repository) -> str | None:
    return SecretBox(secret, WEBHOOK_PURPOSE).open(row.webhook_secret) if row.webhook_secret else None
