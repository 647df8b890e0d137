"""repositories and the job index

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
        "repositories",
        sa.Column("tenant_id", sqlmodel.AutoString(64), primary_key=True),
        sa.Column("kind", sqlmodel.AutoString(16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("branch", sqlmodel.AutoString(255), nullable=False),
        sa.Column("folder", sqlmodel.AutoString(255), nullable=False),
        sa.Column("synced_commit", sqlmodel.AutoString(64)),
        sa.Column("synced_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("file_errors", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sqlmodel.AutoString(64), nullable=False),
        sa.Column("namespace", sqlmodel.AutoString(63), nullable=False),
        sa.Column("name", sqlmodel.AutoString(63), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("commit", sqlmodel.AutoString(64), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("digest", sqlmodel.AutoString(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "namespace", "name", name="uq_jobs_tenant_ref"),
    )
    op.create_index("ix_jobs_tenant_id", "jobs", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("repositories")
