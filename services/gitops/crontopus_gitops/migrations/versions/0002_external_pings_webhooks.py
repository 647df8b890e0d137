"""external repositories, ping key hashes, webhook deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.add_column(sa.Column("url", sa.Text()))
        batch.add_column(sa.Column("credentials", sa.Text()))
        batch.add_column(sa.Column("webhook_secret", sa.Text()))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("ping_hash", sqlmodel.AutoString(64)))
        batch.create_index("ix_jobs_ping_hash", ["ping_hash"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("tenant_id", sqlmodel.AutoString(64), primary_key=True),
        sa.Column("delivery_id", sqlmodel.AutoString(128), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_ping_hash")
        batch.drop_column("ping_hash")
    with op.batch_alter_table("repositories") as batch:
        batch.drop_column("webhook_secret")
        batch.drop_column("credentials")
        batch.drop_column("url")
