"""agents tables: enrollment tokens and enrolled agents (with what they last reported)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


class EnrollmentToken(SQLModel, table=True):
    __tablename__ = "enrollment_tokens"

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=64, index=True)
    token_hash: str = Field(max_length=64, unique=True)  # keyed hash; the token itself is shown once
    labels: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    max_uses: int = 1
    uses: int = 0
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Agent(SQLModel, table=True):
    __tablename__ = "agents"
    # The offline sweep looks only at agents that are online.
    __table_args__ = (Index("ix_agents_online_seen", "online", "last_seen_at"),)

    id: str = Field(primary_key=True, max_length=32)  # uuid hex: also its NATS user name
    tenant_id: str = Field(max_length=64, index=True)
    name: str = Field(max_length=128)
    hostname: str = Field(default="", max_length=255)
    platform: str = Field(default="", max_length=255)
    version: str = Field(default="", max_length=255)
    labels: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    secret_hash: str = Field(max_length=64)  # keyed hash of the agent's NATS password
    enrolled_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    enrollment_token_id: str | None = Field(default=None, max_length=32)
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    online: bool = False
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # The agent's last report (AgentStatusReport), flattened for filtering and display.
    scheduler: str | None = Field(default=None, max_length=16)
    applied_commit: str | None = Field(default=None, max_length=64)
    last_sync_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    sync_error: str | None = Field(default=None, sa_column=Column(Text))
    jobs: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list of refs
    drift: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list of DriftItem
    drift_detected_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    errors: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list
    spool_pending: int = 0
    spool_dropped: int = 0
    # Where its live NATS connection is, so revoking it can kick that connection.
    nats_server_id: str | None = Field(default=None, max_length=64)
    nats_client_id: int | None = None
