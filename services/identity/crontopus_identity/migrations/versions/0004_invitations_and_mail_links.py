"""invitations, mailed links (password reset, email verification), verified emails

Accounts made before this have no verified email (NULL): they verify it from their profile, or
when they accept an invitation sent to it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("users", _at("email_verified_at"))
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.id"), nullable=False, index=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("invited_by", sa.String(32), nullable=False),
        _at("created_at", False),
        _at("expires_at", False),
        _at("accepted_at"),
        sa.Column("accepted_by", sa.String(32), nullable=True),
        _at("revoked_at"),
    )
    op.create_table(
        "user_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        _at("created_at", False),
        _at("expires_at", False),
        _at("used_at"),
    )


def downgrade() -> None:
    op.drop_table("user_tokens")
    op.drop_table("invitations")
    op.execute(sa.text("ALTER TABLE users DROP COLUMN email_verified_at"))
