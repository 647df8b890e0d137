"""single sign-on: accounts at providers linked to users, teams that require it, and how each
sign-in began (refresh tokens made before: by password)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_identities",
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("tenants", sa.Column("sso_required", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("refresh_tokens", sa.Column("via", sa.String(16), nullable=False, server_default="password"))


def downgrade() -> None:
    op.execute(sa.text("ALTER TABLE refresh_tokens DROP COLUMN via"))
    op.execute(sa.text("ALTER TABLE tenants DROP COLUMN sso_required"))
    op.drop_table("external_identities")
