"""gitops tables: each tenant's repository settings and the index of the jobs at its synced commit.
The index is a cache of Git, never a source: it is rebuilt from the commit on every sync."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Repository(SQLModel, table=True):
    __tablename__ = "repositories"

    tenant_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(default="embedded", max_length=16)
    path: str = Field(sa_column=Column(Text, nullable=False))
    branch: str = Field(default="main", max_length=255)
    folder: str = Field(default="", max_length=255)
    synced_commit: str | None = Field(default=None, max_length=64)
    synced_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    file_errors: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # External repositories only (kind "external"): where to fetch from, and sealed secrets
    # (crontopus_kit.crypto.SecretBox), never stored in the clear.
    url: str | None = Field(default=None, sa_column=Column(Text))
    credentials: str | None = Field(default=None, sa_column=Column(Text))
    webhook_secret: str | None = Field(default=None, sa_column=Column(Text))


class JobIndex(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("tenant_id", "namespace", "name", name="uq_jobs_tenant_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64, index=True)
    namespace: str = Field(max_length=63)
    name: str = Field(max_length=63)
    file: str = Field(sa_column=Column(Text, nullable=False))
    line: int = 1
    commit: str = Field(max_length=64)
    manifest: str = Field(sa_column=Column(Text, nullable=False))  # JSON, by alias
    source: str = Field(sa_column=Column(Text, nullable=False))  # the YAML file it was read from
    digest: str = Field(max_length=64)
    ping_hash: str | None = Field(default=None, max_length=64, index=True)  # see pings.py: keyed hash of the key
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WebhookDelivery(SQLModel, table=True):
    """Delivery ids already handled, so a replayed delivery is ignored."""

    __tablename__ = "webhook_deliveries"

    tenant_id: str = Field(primary_key=True, max_length=64)
    delivery_id: str = Field(primary_key=True, max_length=128)
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
