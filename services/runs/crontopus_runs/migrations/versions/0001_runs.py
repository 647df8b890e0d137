"""runs table

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("job", sa.String(130), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("reported_duration_ms", sa.BigInteger()),
        sa.Column("exit_code", sa.Integer()),
        sa.Column("output", sa.Text()),
        sa.Column("output_size", sa.BigInteger()),
        sa.Column("source", sa.String(64)),
        sa.Column("manifest_commit", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "run_id", name="uq_runs_tenant_run"),
    )
    op.create_index("ix_runs_tenant_id_desc", "runs", ["tenant_id", "id"])
    op.create_index("ix_runs_tenant_job_id", "runs", ["tenant_id", "job", "id"])
    op.create_index("ix_runs_tenant_status_id", "runs", ["tenant_id", "status", "id"])


def downgrade() -> None:
    op.drop_table("runs")
