"""enrollment tokens and agents

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrollment_tokens",
        sa.Column("id", sqlmodel.AutoString(32), primary_key=True),
        sa.Column("tenant_id", sqlmodel.AutoString(64), nullable=False, index=True),
        sa.Column("token_hash", sqlmodel.AutoString(64), nullable=False, unique=True),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sqlmodel.AutoString(32), primary_key=True),
        sa.Column("tenant_id", sqlmodel.AutoString(64), nullable=False, index=True),
        sa.Column("name", sqlmodel.AutoString(128), nullable=False),
        sa.Column("hostname", sqlmodel.AutoString(255), nullable=False),
        sa.Column("platform", sqlmodel.AutoString(255), nullable=False),
        sa.Column("version", sqlmodel.AutoString(255), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("secret_hash", sqlmodel.AutoString(64), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrollment_token_id", sqlmodel.AutoString(32)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True)),
        sa.Column("scheduler", sqlmodel.AutoString(16)),
        sa.Column("applied_commit", sqlmodel.AutoString(64)),
        sa.Column("last_sync_at", sa.DateTime(timezone=True)),
        sa.Column("sync_error", sa.Text()),
        sa.Column("jobs", sa.Text(), nullable=False),
        sa.Column("drift", sa.Text(), nullable=False),
        sa.Column("drift_detected_at", sa.DateTime(timezone=True)),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.Column("spool_pending", sa.Integer(), nullable=False),
        sa.Column("spool_dropped", sa.Integer(), nullable=False),
        sa.Column("nats_server_id", sqlmodel.AutoString(64)),
        sa.Column("nats_client_id", sa.Integer()),
    )
    # The offline sweep looks only at agents that are online.
    op.create_index("ix_agents_online_seen", "agents", ["online", "last_seen_at"])


def downgrade() -> None:
    op.drop_table("agents")
    op.drop_table("enrollment_tokens")
